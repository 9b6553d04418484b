#include "outfile.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

static tgs_outfile *open_list;

static void unlist(tgs_outfile *o) {
    for (tgs_outfile **p = &open_list; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            return;
        }
}

int tgs_outfile_open(tgs_outfile *o, const char *path) {
    memset(o, 0, sizeof *o);
    if (path == NULL || strcmp(path, "-") == 0) {
        o->fp = stdout;
        snprintf(o->path, sizeof o->path, "<stdout>");
        return 0;
    }
    if (strlen(path) + 16 >= sizeof o->tmp) return tgs_err("%s: path too long", path);
    snprintf(o->path, sizeof o->path, "%s", path);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) return tgs_err("%s: is a directory", path);
        /* a device or FIFO: nothing to keep whole, and a rename would
         * put a plain file in its place */
        if (!(o->fp = fopen(path, "wb"))) return tgs_err("%s:", path);
        return 0;
    }
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        o->tmp[0] = 0;
        return tgs_err("%s:", path);
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = 0;
        return tgs_err("%s:", path);
    }
    /* mkstemp makes 0600; give the file the usual mode under the umask */
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    o->next = open_list;
    open_list = o;
    return 0;
}

int tgs_outfile_commit(tgs_outfile *o) {
    if (!o->tmp[0]) { /* stdout or a special file */
        int bad = fflush(o->fp) != 0 || ferror(o->fp);
        if (o->fp != stdout) {
            bad |= fclose(o->fp) != 0;
            o->fp = NULL;
        }
        return bad ? tgs_err("%s: write error:", o->path) : 0;
    }
    int bad = ferror(o->fp);
    if (fclose(o->fp) != 0 || bad) {
        int e = errno;
        o->fp = NULL;
        tgs_outfile_abort(o);
        errno = e;
        return tgs_err("%s: write error:", o->path);
    }
    o->fp = NULL;
    if (rename(o->tmp, o->path) != 0) {
        int e = errno;
        tgs_outfile_abort(o);
        errno = e;
        return tgs_err("%s:", o->path);
    }
    unlist(o);
    o->tmp[0] = 0;
    return 0;
}

void tgs_outfile_abort(tgs_outfile *o) {
    if (o->fp && o->fp != stdout) fclose(o->fp);
    o->fp = NULL;
    if (o->tmp[0]) {
        unlink(o->tmp);
        o->tmp[0] = 0;
        unlist(o);
    }
}

/* The directories tgs_outdir_make made, parents first; fixed storage, so
 * that a signal handler can walk it without malloc. */
#define MADE_MAX 32
static char made_dirs[MADE_MAX][4096];
static int nmade;

void tgs_outfile_abort_all(void) {
    for (tgs_outfile *o = open_list; o; o = o->next)
        if (o->tmp[0]) unlink(o->tmp);
    /* deepest first; rmdir removes only an empty directory, and is
     * async-signal-safe */
    for (int i = nmade - 1; i >= 0; i--) rmdir(made_dirs[i]);
}

int tgs_outdir_make(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0) return tgs_err("an empty directory name");
    if (n >= sizeof path) return tgs_err("%.200s...: path too long", dir);
    memcpy(path, dir, n + 1);
    while (n > 1 && path[n - 1] == '/') path[--n] = 0; /* "a/b/" -> "a/b" */
    /* each prefix ending before a '/', then the whole: "a", "a/b", "a/b/c" */
    for (size_t i = 1; i <= n; i++) {
        if (i < n && path[i] != '/') continue;
        if (i < n && path[i - 1] == '/') continue; /* "a//b" */
        char saved = path[i];
        path[i] = 0;
        struct stat st;
        if (mkdir(path, 0777) == 0) {
            if (nmade < MADE_MAX) memcpy(made_dirs[nmade++], path, i + 1);
        } else if (errno != EEXIST || stat(path, &st) != 0) {
            return tgs_err("%s:", path);
        } else if (!S_ISDIR(st.st_mode)) {
            return tgs_err("%s: not a directory", path);
        }
        path[i] = saved;
    }
    return 0;
}
