/* conv_tiles: the register tiles the direct convolutions (op_conv.c) and
 * the Winograd GEMMs (conv_wino.c) share; conv_tiles.c. */
#ifndef TGS_CONV_TILES_H
#define TGS_CONV_TILES_H

#include <stdint.h>

/* The direct path's register tile (AVX2 + FMA; only called where the CPU
 * has them): acc (4 rows of ld floats, 24 wide) = [acc +] the sum over cn
 * channels c and the taps t of w[c][t][0..3] (4 output channels) times
 * x[c*cs + off[t] + 0..23]. The Winograd GEMMs are this with one tap. */
void tgs_cpu_direct_tile(const float *x, int64_t cs, int32_t cn, const int32_t *off, int32_t taps, const float *w,
                         float *acc, int64_t ld, int load);
/* The direct weight gradient's register tile (AVX2 + FMA, as above):
 * sums[k*3 + t] = the sum over p < len (a multiple of 8) of d[k*ldd + p]
 * times x[off[t] + p], for 4 rows k of d and 3 offsets t. */
void tgs_cpu_dw_tile(const float *d, int64_t ldd, const float *x, const int32_t *off, int64_t len, float *sums);

#endif
