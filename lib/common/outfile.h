/* outfile: output files that appear whole or not at all.
 *
 * A named output is written to a temporary file beside it and renamed into
 * place on commit, so a failed or interrupted run never leaves a partial
 * file under the real name. Open temporaries are remembered so that die()
 * and a fatal signal remove them. "-" (or NULL) is stdout, written as is;
 * so is an existing name that is not a regular file (/dev/null, a FIFO, a
 * terminal): renaming over it would replace the device with a file. */
#ifndef TGS_OUTFILE_H
#define TGS_OUTFILE_H

#include <stdio.h>

typedef struct tgs_outfile {
    FILE *fp;
    char path[4096]; /* the final name; "<stdout>" for stdout */
    char tmp[4096];  /* the temporary name; "" when written as is */
    struct tgs_outfile *next;
} tgs_outfile;

int tgs_outfile_open(tgs_outfile *o, const char *path);
/* Flush, check for write errors, close and rename into place. */
int tgs_outfile_commit(tgs_outfile *o);
/* Close and remove the temporary file. */
void tgs_outfile_abort(tgs_outfile *o);
/* Remove every open temporary (for die() and signal handlers; the latter
 * use only unlink, which is async-signal-safe). */
void tgs_outfile_abort_all(void);

/* Output directories (tgs-train's -o DIR, tgs-rle decode --png DIR).
 * tgs_outdir_make makes dir and its missing parents, as mkdir -p, and
 * remembers the ones it made: die() and a fatal signal remove those that
 * are still empty (after the temporaries inside them), so a run that fails
 * before writing anything leaves no directory behind. An existing
 * directory is used as it is and never removed. */
int tgs_outdir_make(const char *dir);

#endif
