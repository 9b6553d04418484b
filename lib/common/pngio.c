#include "pngio.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "outfile.h"

/* libpng reports errors through a callback and longjmp; route its text into
 * our error message and unwind to the setjmp in the caller. */
static void on_png_error(png_structp png, png_const_charp msg) {
    const char *path = png_get_error_ptr(png);
    tgs_err("%s: not a valid PNG: %s", path, msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

int tgs_png_read_gray(const char *path, tgs_gray *img) {
    memset(img, 0, sizeof *img);
    FILE *fp = fopen(path, "rb");
    if (!fp) return tgs_err("%s:", path);
    unsigned char sig[8];
    if (fread(sig, 1, 8, fp) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        fclose(fp);
        return tgs_err("%s: not a PNG file", path);
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, (png_voidp)path, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        fclose(fp);
        return tgs_err("%s: out of memory", path);
    }
    /* volatile: these change between setjmp and a possible longjmp */
    uint16_t *volatile px = NULL;
    png_bytep volatile raw = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(px);
        free(raw);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        return -1;
    }
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    int interlace = png_get_interlace_type(png, info);
    int chans;
    const char *bad = NULL;
    if (depth != 8 && depth != 16) bad = "bit depth";
    switch (type) {
    case PNG_COLOR_TYPE_GRAY: chans = 1; break;
    case PNG_COLOR_TYPE_RGB: chans = 3; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: chans = 4; break;
    default: chans = 0, bad = "colour type"; break;
    }
    if (bad) {
        tgs_err("%s: unsupported PNG (%s: %d-bit, colour type %d); want 8/16-bit gray, RGB or RGBA", path, bad, depth, type);
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        return -1;
    }
    if (w > 65536 || h > 65536) {
        tgs_err("%s: image %ux%u is too large", path, (unsigned)w, (unsigned)h);
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        return -1;
    }
    if (depth == 16) png_set_swap(png); /* PNG is big-endian; read host order */
    if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    /* Whole image at once: png_read_image handles interlacing, and a tile
     * is small. (w, h <= 65536 bounds the sizes.) */
    px = malloc(sizeof(uint16_t) * w * h);
    raw = malloc(rowbytes * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!px || !raw || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + rowbytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    for (png_uint_32 y = 0; y < h; y++) {
        const png_bytep r = rows[y];
        for (png_uint_32 x = 0; x < w; x++) {
            uint16_t v[3];
            for (int c = 0; c < (chans < 3 ? 1 : 3); c++) {
                size_t i = (size_t)x * chans + c;
                if (depth == 8) v[c] = r[i];
                else memcpy(&v[c], r + 2 * i, 2);
            }
            if (chans >= 3 && (v[0] != v[1] || v[0] != v[2])) {
                tgs_err("%s: colour image (R,G,B = %u,%u,%u at x=%u y=%u); want gray, or RGB with R=G=B", path, v[0], v[1],
                        v[2], (unsigned)x, (unsigned)y);
                png_longjmp(png, 1);
            }
            px[(size_t)y * w + x] = v[0];
        }
    }
    free(raw);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    img->w = (int)w, img->h = (int)h, img->bit_depth = depth, img->px = px;
    return 0;
}

void tgs_gray_free(tgs_gray *img) {
    free(img->px);
    img->px = NULL;
}

/* An 8-bit PNG of color_type with chans bytes per pixel, atomically. */
static int write_png8(const char *path, const uint8_t *px, int w, int h, int color_type, int chans) {
    tgs_outfile out;
    if (tgs_outfile_open(&out, path) < 0) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, (png_voidp)path, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        tgs_outfile_abort(&out);
        return tgs_err("%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        tgs_outfile_abort(&out);
        return -1;
    }
    png_init_io(png, out.fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, px + (size_t)y * (size_t)w * (size_t)chans);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return tgs_outfile_commit(&out);
}

int tgs_png_write_gray8(const char *path, const uint8_t *px, int w, int h) {
    return write_png8(path, px, w, h, PNG_COLOR_TYPE_GRAY, 1);
}

int tgs_png_write_rgb8(const char *path, const uint8_t *px, int w, int h) {
    return write_png8(path, px, w, h, PNG_COLOR_TYPE_RGB, 3);
}
