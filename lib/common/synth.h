/* synth: one synthetic tile and its salt mask, from (seed, set, index).
 *
 * A tile is sediment: sub-horizontal reflectors (a sparse reflectivity
 * series convolved with a Ricker wavelet, its amplitude varying with depth,
 * dim intervals among them), bent by a laterally varying dip and a fold,
 * offset by a fault, plus Gaussian noise. A tile with salt holds one or two
 * smooth star-shaped bodies (a dome rising from below the tile, a flank
 * from its side, a body filling it, a pod inside it), with a chaotic,
 * low-amplitude interior whose mean is the sediment's give or take, a
 * strong reflector along its top, and the sediment dragged up against it.
 * So salt shows in texture and shape, not in brightness alone. Deeper
 * tiles have salt more often (and longer, weaker wavelets).
 *
 * Tile i of each set is drawn from its own RNG stream of (seed, set, i):
 * the same whatever else is drawn. Its id is a 40-bit permutation of
 * (set, i) keyed by the seed, so ids never collide. The pixels use libm's
 * expf, sinf and atan2f: the same bytes where libm rounds the same. */
#ifndef TGS_SYNTH_H
#define TGS_SYNTH_H

#include <stdint.h>

/* The buffers of one side n, reused tile after tile. */
typedef struct {
    int n, pad, len; /* side; the trace covers u in [-pad, n + pad) */
    float *trace, *refl, *dist, *up, *chaos, *tmp, *fold;
    uint8_t *rgb, *mask; /* the last tile: n*n*3 gray-as-RGB bytes, n*n 0/255 */
} tgs_synth;

int tgs_synth_init(tgs_synth *w, int n);
void tgs_synth_free(tgs_synth *w);
/* Tile (seed, set, index), set 0 train or 1 test, salt with probability
 * 1 - empty: its pixels into w->rgb, its mask into w->mask; returns its
 * depth z, an integer in 51..959 as Kaggle's. */
int tgs_synth_tile(tgs_synth *w, uint64_t seed, int set, uint64_t index, double empty);
/* Tile i of set as 10 lowercase hex digits. */
void tgs_synth_id(uint64_t seed, int set, uint64_t i, char id[11]);

#endif
