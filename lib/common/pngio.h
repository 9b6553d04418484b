/* pngio: reading tiles and writing masks with libpng.
 *
 * In: 8- or 16-bit gray, or 8/16-bit RGB or RGBA whose R, G and B agree
 * (the TGS images repeat the gray value; alpha is ignored). Anything else,
 * palette or gray+alpha or colour that is not gray, is refused with a
 * message rather than converted by a guess. */
#ifndef TGS_PNGIO_H
#define TGS_PNGIO_H

#include <stdint.h>

typedef struct {
    int w, h;
    int bit_depth;   /* 8 or 16: what the file held */
    uint16_t *px;    /* h*w gray values, row-major, in 0..2^bit_depth-1 */
} tgs_gray;

/* Read path into img (img->px is malloc'd; free with tgs_gray_free). */
int tgs_png_read_gray(const char *path, tgs_gray *img);
void tgs_gray_free(tgs_gray *img);

/* Write an 8-bit gray PNG, atomically (temporary name, then rename). */
int tgs_png_write_gray8(const char *path, const uint8_t *px, int w, int h);
/* The same for 8-bit RGB, px holding h*w*3 bytes (R, G, B per pixel). */
int tgs_png_write_rgb8(const char *path, const uint8_t *px, int w, int h);

#endif
