/* conv_wino: 3x3, stride 1, pad 1 convolutions and their weight gradients
 * by Winograd's F(2x2, 3x3) or F(4x4, 3x3) (m, the output tile's side: 2
 * or 4), on the CPU (AVX2 + FMA kernels; op_conv.c decides when to take
 * them). */
#ifndef TGS_CONV_WINO_H
#define TGS_CONV_WINO_H

#include <stdint.h>

/* Whether a conv of this geometry can take the Winograd path on this build
 * (the caller also checks the CPU). */
int tgs_wino_applies(int kh, int kw, int stride, int dil, int ph, int pw);
/* Floats of workspace tgs_wino_conv3x3 needs for these sizes. */
int64_t tgs_wino_work(int m, int n, int c, int h, int w, int k, int threads);
/* out (N,K,H,W) = beta*out + conv(x (N,C,H,W), w) + b (K, or NULL), 3x3
 * pad 1; wd is W. w is (K,C,3,3); with flip it is the forward conv's
 * (C,K,3,3) and this the input-gradient conv, which turns each filter 180
 * degrees. */
void tgs_wino_conv3x3(int m, float *out, const float *x, const float *w, int flip, const float *b, int n, int c,
                      int h, int wd, int k, float beta, float *work, int threads);

/* Floats of workspace tgs_wino_dw3x3 needs for these sizes. */
int64_t tgs_wino_dw_work(int m, int n, int c, int h, int w, int k, int threads);
/* dw (K,C,3,3) += the weight gradient of the 3x3 pad-1 conv of x (N,C,H,W)
 * whose output gradient is dout (N,K,H,W); wd is W. */
void tgs_wino_dw3x3(int m, float *dw, const float *x, const float *dout, int n, int c, int h, int wd, int k,
                    float *work, int threads);

#endif
