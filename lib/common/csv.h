/* csv: a small reader for the comma-separated files of this problem
 * (depths.csv, train.csv, submissions): one record per line, fields split
 * on commas, double-quoted fields with "" for a quote, CRLF tolerated,
 * blank lines skipped, a UTF-8 byte-order mark at the start of the file
 * (as Excel writes) skipped. */
#ifndef TGS_CSV_H
#define TGS_CSV_H

#include <stdio.h>

typedef struct {
    FILE *fp;
    char path[512];
    long line;      /* line number of the current row, 1-based */
    int owns_fp;
    char *buf;      /* the current line, split in place */
    size_t cap;
    char **field;   /* the current row's fields */
    int nfield, fcap;
} tgs_csv;

int tgs_csv_open(tgs_csv *c, const char *path); /* "-" or NULL: stdin */
/* Next row into c->field / c->nfield: 1, 0 at end, -1 on error. */
int tgs_csv_next(tgs_csv *c);
/* Read the header row and check it is exactly the given names. */
int tgs_csv_expect_header(tgs_csv *c, const char *const *names, int n);
void tgs_csv_close(tgs_csv *c);

#endif
