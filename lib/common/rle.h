/* rle: Kaggle's run-length encoding of a mask.
 *
 * Pixels are numbered from 1, top to bottom down each column, then left to
 * right (column-major); a mask is written as "start length start length
 * ...", ascending, one space apart; an empty mask is the empty string. */
#ifndef TGS_RLE_H
#define TGS_RLE_H

#include <stddef.h>
#include <stdint.h>

/* An upper bound on the text length of a w*h mask (plus the NUL). */
size_t tgs_rle_max_len(int h, int w);

/* mask: h x w, row-major, nonzero is salt. Writes NUL-terminated text to
 * out (at least tgs_rle_max_len bytes) and returns its length. */
size_t tgs_rle_encode(const uint8_t *mask, int h, int w, char *out);

/* Parse text into mask (h x w, row-major, 0/1). Refuses what Kaggle would
 * not accept: a token that is not a positive integer, an odd count, runs
 * out of order or overlapping, or running past the last pixel. On error the
 * message names the run; the caller adds file and line. */
int tgs_rle_decode(const char *text, int h, int w, uint8_t *mask);

#endif
