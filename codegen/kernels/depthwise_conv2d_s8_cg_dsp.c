/*
 * depthwise_conv2d_s8_cg_dsp.c: int8 depthwise conv2d for Armv7E-M DSP cores on small output planes (depth
 * multiplier 1, no dilation, channels a multiple of 4, k_h * k_w <= 64, out_h * out_w <= 25, activation range
 * the whole int8 range).
 *
 * Why: on a 5x5 or 3x3 plane most of a 5x5 or 7x7 window is padding, which a kernel over widened padded rows
 * multiplies anyway; here only the taps inside the input are visited (HWC, 4 channels per 32-bit load, as in
 * depthwise_conv2d_s8_hwc_dsp.c). Unlike that kernel it runs group of 4 channels by group: the group's
 * weights are widened once, doubled (2 w, so the accumulator is 2 acc as SMMULR requantization wants) into
 * 16-bit pairs [w_c, w_c+2], [w_c+1, w_c+3] on the stack, and its requantization constants are computed once,
 * so a tap costs one input load, one LDRD of weights, two SXTAB16 and four multiply-accumulates, and an
 * output five instructions: r = SSAT8((SMMLAR(2 acc, mult, rnd) + (2 acc >> 31)) >> right) (the identity is
 * argued in depthwise_conv2d_s8_rows_dsp.c; rq = {(2 * bias) << 8 | right, mult} as in conv2d_1x1_s8_dsp.c).
 *
 * Writes group by group, so the compiler emits it only where the memory plan keeps input and output apart.
 * The windows (their parts inside the input) are worked out once per call for every output pixel
 * (out_h * out_w <= TE_DWCG_PIXELS). Stack: 2 * TE_DWCG_TAPS + 16 + 4 * TE_DWCG_PIXELS int32 (976 B).
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_DWCG_TAPS 64
#define TE_DWCG_PIXELS 25
#define INLINE static inline __attribute__((always_inline))

INLINE int32_t ld32(const int8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

void te_depthwise_conv2d_s8_cg_dsp(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                   const int32_t* rq, int8_t* out) {
  const int32_t c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
  const int32_t npx = p->out_h * p->out_w, row = in_w * c;
  const int32_t off = p->in_offset, offp = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
  const int32_t k1 = 1 + 2 * p->out_offset;
  int32_t wv[2 * TE_DWCG_TAPS]; /* per tap: [2 w_c, 2 w_c+2], [2 w_c+1, 2 w_c+3] */
  int32_t k[16];                /* per channel of the group: bias2, mult, rnd, right */
  int32_t win[TE_DWCG_PIXELS][4]; /* per output pixel: first input byte, first weight word, taps per row, rows */
  int32_t g, t, j, px;
  if ((c & 3) != 0 || k_h * k_w > TE_DWCG_TAPS || npx > TE_DWCG_PIXELS || p->act_min != -128 || p->act_max != 127)
    return; /* never emitted */
  for (px = 0; px < npx; ++px) { /* the windows' parts inside the input, the same for every channel group */
    const int32_t iy0 = px / p->out_w * p->stride_h - p->pad_top, ix0 = px % p->out_w * p->stride_w - p->pad_left;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in_h - iy0 < k_h ? in_h - iy0 : k_h;
    const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
    const int32_t inside = ky1 > ky0 && kx1 > kx0;
    win[px][0] = inside ? (iy0 + ky0) * row + (ix0 + kx0) * c : 0;
    win[px][1] = inside ? 2 * (ky0 * k_w + kx0) : 0;
    win[px][2] = kx1 - kx0;
    win[px][3] = inside ? ky1 - ky0 : 0;
  }
  for (g = 0; g < c; g += 4) {
    const int8_t* ing = in + g;
    int8_t* o = out + g;
    for (t = 0; t < k_h * k_w; ++t) {
      const int32_t wq = ld32(weights + t * c + g);
      const int32_t w02 = sxtb16(wq), w13 = sxtb16_ror8(wq);
      wv[2 * t] = sadd16(w02, w02);
      wv[2 * t + 1] = sadd16(w13, w13);
    }
    for (j = 0; j < 4; ++j) {
      const int32_t rsh = rq[2 * (g + j)] & 0xFF;
      k[4 * j] = rq[2 * (g + j)] >> 8;
      k[4 * j + 1] = rq[2 * (g + j) + 1];
      k[4 * j + 2] = TE_DW_RND(k1, rsh);
      k[4 * j + 3] = rsh;
    }
    for (px = 0; px < npx; ++px, o += c) {
      const int32_t n = win[px][2];
      const int8_t* x = ing + win[px][0];
      const int32_t* w = wv + win[px][1];
      int32_t a0 = k[0], a1 = k[4], a2 = k[8], a3 = k[12], r;
      for (r = win[px][3]; r > 0; --r, x += row, w += 2 * k_w) {
        const int8_t* xx = x;
        const int32_t* ww = w;
        int32_t m;
        for (m = n; m > 0; --m, xx += c, ww += 2) {
          const int32_t xv = ld32(xx);
          const int32_t x02 = sxtab16(offp, xv), x13 = sxtab16_ror8(offp, xv);
          a0 = smlabb(x02, ww[0], a0);
          a2 = smlatt(x02, ww[0], a2);
          a1 = smlabb(x13, ww[1], a1);
          a3 = smlatt(x13, ww[1], a3);
        }
      }
      o[0] = (int8_t)rq_dw8(a0, k[1], k[2], k[3]);
      o[1] = (int8_t)rq_dw8(a1, k[5], k[6], k[7]);
      o[2] = (int8_t)rq_dw8(a2, k[9], k[10], k[11]);
      o[3] = (int8_t)rq_dw8(a3, k[13], k[14], k[15]);
    }
  }
}
