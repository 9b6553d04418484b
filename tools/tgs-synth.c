/* tgs-synth: a synthetic dataset in Kaggle's TGS layout, from one seed.
 *
 * DIR/train/images/<id>.png (8-bit RGB, the gray value three times, as
 * Kaggle's), DIR/train/masks/<id>.png (8-bit gray, 0 or 255),
 * DIR/train.csv (id,rle_mask), DIR/depths.csv (id,z for every tile) and
 * DIR/test/images/<id>.png: enough for every pipeline of this project to
 * run, and a model to learn something, on a machine without the Kaggle data.
 *
 * What a tile holds, and how it is drawn from the seed: lib/common/synth.h.
 *
 * Whole or nothing: everything is written into DIR.tmp-XXXXXX beside DIR
 * and renamed to DIR at the end; an error or a signal removes it. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "pngio.h"
#include "progress.h"
#include "rle.h"
#include "rng.h"
#include "synth.h"

static const char usage[] =
    "usage: tgs-synth -o DIR [--train N] [--test N] [--size S] [--seed S]\n"
    "                 [--empty P] [-q]\n"
    "Write a synthetic dataset in Kaggle's TGS layout into DIR: seismic-like\n"
    "tiles (layered reflectors, folds, a fault, noise) with salt bodies (chaotic\n"
    "inside, a bright reflector on top) in DIR/train/images, their masks in\n"
    "DIR/train/masks, DIR/train.csv (id,rle_mask), DIR/depths.csv (id,z) and\n"
    "DIR/test/images. The same seed gives the same bytes.\n"
    "  -o, --output DIR  the directory to make (new, or empty); whole or not at all\n"
    "  --train N         training tiles, with masks (default 1000)\n"
    "  --test N          test tiles, images only (default 200)\n"
    "  --size S          tiles are S x S pixels, 16..1024 (default 101)\n"
    "  --seed S          random seed (default 0)\n"
    "  --empty P         fraction of tiles without salt, 0..1 (default 0.4)\n"
    "  -q, --quiet       no progress bar\n"
    "  -h, --help        this text;  -V, --version  the version\n";

#define MAX_TILES 1000000

typedef struct {
    const char *output;
    long ntrain, ntest;
    int size, quiet;
    double empty;
    uint64_t seed;
} options;

static options parse_args(int argc, char **argv) {
    options o = {.ntrain = 1000, .ntest = 200, .size = 101, .empty = 0.4};
    enum { OPT_TRAIN = 256, OPT_TEST, OPT_SIZE, OPT_SEED, OPT_EMPTY };
    static const struct option longopts[] = {
        {"train", required_argument, 0, OPT_TRAIN}, {"test", required_argument, 0, OPT_TEST},
        {"size", required_argument, 0, OPT_SIZE},   {"seed", required_argument, 0, OPT_SEED},
        {"empty", required_argument, 0, OPT_EMPTY}, TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TRAIN: o.ntrain = tgs_parse_long(optarg, "--train", 0, MAX_TILES); break;
        case OPT_TEST: o.ntest = tgs_parse_long(optarg, "--test", 0, MAX_TILES); break;
        case OPT_SIZE: o.size = (int)tgs_parse_long(optarg, "--size", 16, 1024); break;
        case OPT_SEED: o.seed = tgs_parse_seed(optarg); break;
        case OPT_EMPTY: o.empty = tgs_parse_double(optarg, "--empty", 0, 1); break;
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!o.output) die_usage("-o DIR, the directory to write, is required");
    if (strcmp(o.output, "-") == 0) die_usage("-o -: a dataset is a directory, not a stream");
    return o;
}

/* ---- the directory, whole or nothing ---- */

static char tmp_dir[4096]; /* "" when there is nothing to remove */
static volatile sig_atomic_t caught;

static void on_signal(int sig) { caught = sig; }

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tmp(void) {
    if (tmp_dir[0]) nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmp_dir[0] = 0;
}

/* die, with the temporary tree removed first and named as DIR in msg */
_Noreturn static void fail(const char *dir, const char *msg) {
    size_t n = strlen(tmp_dir);
    char text[4600];
    if (n && strncmp(msg, tmp_dir, n) == 0) snprintf(text, sizeof text, "%s%s", dir, msg + n);
    else snprintf(text, sizeof text, "%s", msg);
    remove_tmp();
    die("%s", text);
}

/* a signal caught meanwhile: remove the tree, then die of it */
static void check_signal(void) {
    int sig = caught;
    if (!sig) return;
    remove_tmp();
    tgs_outfile_abort_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* DIR must be new or an empty directory. */
static void check_target(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT) die("%s:", dir);
        return;
    }
    if (!S_ISDIR(st.st_mode)) die("%s: exists and is not a directory", dir);
    DIR *d = opendir(dir);
    if (!d) die("%s:", dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            closedir(d);
            die("%s: exists and is not empty; name a new or empty directory", dir);
        }
    closedir(d);
}

static void path_join(char *out, size_t cap, const char *a, const char *b) {
    if ((size_t)snprintf(out, cap, "%s/%s", a, b) >= cap) die("%s/%s: path too long", a, b);
}

static void path_png(char *out, size_t cap, const char *dir, const char *id) {
    if ((size_t)snprintf(out, cap, "%s/%s.png", dir, id) >= cap) die("%s/%s.png: path too long", dir, id);
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = parse_args(argc, argv);

    char dir[4000];
    size_t dn = strlen(o.output);
    if (dn >= sizeof dir) die("%.200s...: path too long", o.output);
    memcpy(dir, o.output, dn + 1);
    while (dn > 1 && dir[dn - 1] == '/') dir[--dn] = 0;
    const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(dir, "/") == 0)
        die_usage("-o %s: name the directory to make, not '%s'", o.output, base);
    check_target(dir);

    tgs_synth w;
    if (tgs_synth_init(&w, o.size) < 0) die("%s", tgs_errmsg());
    char *rle = malloc(tgs_rle_max_len(o.size, o.size));
    if (!rle) die("out of memory");

    /* the parent as mkdir -p (die() removes what it made, once empty) */
    char parent[4000];
    memcpy(parent, dir, dn + 1);
    if (base == dir) strcpy(parent, ".");
    else parent[base - dir > 1 ? base - dir - 1 : 1] = 0; /* "a/b" -> "a", "/b" -> "/" */
    if (tgs_outdir_make(parent) < 0) die("%s", tgs_errmsg());
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL), sigaction(SIGTERM, &sa, NULL), sigaction(SIGHUP, &sa, NULL);
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s.tmp-XXXXXX", dir);
    if (!mkdtemp(tmpl)) die("%s:", tmpl);
    memcpy(tmp_dir, tmpl, sizeof tmpl);
    mode_t um = umask(0);
    umask(um);
    chmod(tmp_dir, 0777 & ~um); /* mkdtemp makes 0700 */

    static const char *const sub[] = {"train", "train/images", "train/masks", "test", "test/images"};
    char path[4200], images[2][4200], masks[4200];
    for (int k = 0; k < 5; k++) {
        path_join(path, sizeof path, tmp_dir, sub[k]);
        if (mkdir(path, 0777) != 0) {
            tgs_err("%s:", path);
            fail(dir, tgs_errmsg());
        }
    }
    path_join(images[0], sizeof images[0], tmp_dir, "train/images");
    path_join(images[1], sizeof images[1], tmp_dir, "test/images");
    path_join(masks, sizeof masks, tmp_dir, "train/masks");
    tgs_outfile csv, depths;
    path_join(path, sizeof path, tmp_dir, "train.csv");
    if (tgs_outfile_open(&csv, path) < 0) fail(dir, tgs_errmsg());
    path_join(path, sizeof path, tmp_dir, "depths.csv");
    if (tgs_outfile_open(&depths, path) < 0) fail(dir, tgs_errmsg());
    fputs("id,rle_mask\n", csv.fp);
    fputs("id,z\n", depths.fp);

    tgs_progress bar;
    tgs_progress_start(&bar, "synth", "tiles", (uint64_t)(o.ntrain + o.ntest), o.quiet);
    uint64_t done = 0;
    for (int set = 0; set < 2; set++) {
        long count = set ? o.ntest : o.ntrain;
        for (long i = 0; i < count; i++) {
            char id[11], file[4300];
            tgs_synth_id(o.seed, set, (uint64_t)i, id);
            int z = tgs_synth_tile(&w, o.seed, set, (uint64_t)i, o.empty);
            path_png(file, sizeof file, images[set], id);
            if (tgs_png_write_rgb8(file, w.rgb, o.size, o.size) < 0) fail(dir, tgs_errmsg());
            if (set == 0) {
                path_png(file, sizeof file, masks, id);
                if (tgs_png_write_gray8(file, w.mask, o.size, o.size) < 0) fail(dir, tgs_errmsg());
                tgs_rle_encode(w.mask, o.size, o.size, rle);
                fprintf(csv.fp, "%s,%s\n", id, rle);
            }
            fprintf(depths.fp, "%s,%d\n", id, z);
            tgs_progress_update(&bar, ++done);
            check_signal();
        }
    }
    tgs_progress_end(&bar);
    if (tgs_outfile_commit(&csv) < 0 || tgs_outfile_commit(&depths) < 0) fail(dir, tgs_errmsg());
    check_signal();
    if (rename(tmp_dir, dir) != 0) {
        tgs_err("%s:", dir);
        fail(dir, tgs_errmsg());
    }
    tmp_dir[0] = 0;
    tgs_synth_free(&w);
    free(rle);
    return 0;
}
