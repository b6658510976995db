/*
 * conv2d_s8_k3s2c3_dsp.c: a network's RGB stem, int8 conv2d 3x3 stride 2 on 3 input channels, for Armv7E-M DSP
 * cores, without the per-pixel window gather (codegen/dsp_stem.py emits it: even out_c, no clamp beyond int8,
 * no dilation, requantization proven by dsp.fast_requant_ok).
 *
 * Why: te_conv2d_s8_dsp / _k3s9_dsp gather every output pixel's 27 window values into 16-bit lanes (the im2col),
 * about as many instructions as the window's MACs. Here each input row is widened once into a ring of 3 rows of
 * 16-bit lanes 2 (x + in_offset) (padding columns 0). With stride 2 and 3 channels a window row starts at lane
 * 6 ox: always on a word boundary, so a window row is 5 words read in place (9 lanes + the next pixel's first,
 * which meets a zero weight lane), and pixel ox + 1's row starts 3 words later. Per output channel pair
 * (a, b) the weights, widened at compile time, are per kernel row 5 word pairs [a_k, b_k] (lane 9 zero);
 * 2 pixels x 2 channels accumulate with SMLAD, requantized as te_conv2d_1x1_s8_dsp (te_dsp.h rq_m1; the
 * rq_table_m1 words).
 *
 * Order: per output row, widen the input rows that entered the window, then write the row; codegen/dsp_stem.py
 * checks that order against the memory plan. Stack: 3 x TE_STEM_RW int32 (2.4 kB).
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_STEM_RW 200 /* words per ring row: (cols * 3 + 1) lanes, cols = 2 (out_w - 1) + 3, and 3
                          * words read by an odd row's dropped twin pixel */

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* One kernel row: pixel 0's words 0..4 and pixel 1's 3..7 at d, the row's 5 weight word pairs [a_k, b_k] at w. */
#define STEM_MAC(xa, xb, wo)                     \
  "ldrd %[wa], %[wb], [%[w], #" #wo "]\n\t"      \
  "smlad %[c00], %[" #xa "], %[wa], %[c00]\n\t"  \
  "smlad %[c01], %[" #xa "], %[wb], %[c01]\n\t"  \
  "smlad %[c10], %[" #xb "], %[wa], %[c10]\n\t"  \
  "smlad %[c11], %[" #xb "], %[wb], %[c11]\n\t"
static inline __attribute__((always_inline)) void stem_row(const int32_t* d, const int32_t* w, int32_t* a00,
                                                             int32_t* a01, int32_t* a10, int32_t* a11) {
  int32_t x0, x1, y0, y1, wa, wb;
  __asm__("ldrd %[x0], %[x1], [%[d]]\n\t"
          "ldrd %[y0], %[y1], [%[d], #12]\n\t"
          STEM_MAC(x0, y0, 0) STEM_MAC(x1, y1, 8)
          "ldrd %[x0], %[x1], [%[d], #8]\n\t"
          "ldrd %[y0], %[y1], [%[d], #20]\n\t"
          STEM_MAC(x0, y0, 16) STEM_MAC(x1, y1, 24)
          "ldr %[x0], [%[d], #16]\n\t"
          "ldr %[y0], [%[d], #28]\n\t"
          STEM_MAC(x0, y0, 32)
          : [c00] "+r"(*a00), [c01] "+r"(*a01), [c10] "+r"(*a10), [c11] "+r"(*a11), [x0] "=&r"(x0), [x1] "=&r"(x1),
            [y0] "=&r"(y0), [y1] "=&r"(y1), [wa] "=&r"(wa), [wb] "=&r"(wb)
          : [d] "r"(d), [w] "r"(w), "m"(*(const int32_t(*)[8])d), "m"(*(const int32_t(*)[10])w));
}
#else
static inline void stem_row(const int32_t* d, const int32_t* w, int32_t* a00, int32_t* a01, int32_t* a10,
                            int32_t* a11) {
  int32_t k;
  for (k = 0; k < 5; ++k) {
    *a00 = smlad(d[k], w[2 * k], *a00);
    *a01 = smlad(d[k], w[2 * k + 1], *a01);
    *a10 = smlad(d[k + 3], w[2 * k], *a10);
    *a11 = smlad(d[k + 3], w[2 * k + 1], *a11);
  }
}
#endif

static inline __attribute__((always_inline)) void stem_pair(const int32_t* r0, const int32_t* r1, const int32_t* r2,
                                                              const int32_t* w, int32_t* a00, int32_t* a01,
                                                              int32_t* a10, int32_t* a11) {
  stem_row(r0, w, a00, a01, a10, a11);
  stem_row(r1, w + 10, a00, a01, a10, a11);
  stem_row(r2, w + 20, a00, a01, a10, a11);
}

void te_conv2d_s8_k3s2c3_dsp(const te_conv_params* p, const int8_t* in, const int32_t* w, const int32_t* rq,
                             int8_t* out) {
  const int32_t in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w, out_c = p->out_c;
  const int32_t pad_top = p->pad_top, pad_left = p->pad_left, off2 = 2 * p->in_offset;
  const int32_t cols = 2 * (out_w - 1) + 3, rw = (cols * 3 + 2) >> 1;
  const int32_t k1 = 1 + 2 * p->out_offset; /* rnd = k1 << (right - 1) */
  /* input columns [0, c1) land in padded columns pad_left + ix < cols */
  const int32_t c1 = in_w < cols - pad_left ? in_w : cols - pad_left;
  int32_t ring[3 * TE_STEM_RW];
  int32_t next = 0, oy, ox, oc, pr;
  if (p->k_h != 3 || p->k_w != 3 || p->stride_h != 2 || p->stride_w != 2 || p->in_c != 3 || (out_c & 1) ||
      rw + 3 > TE_STEM_RW || pad_left < 0 || pad_top < 0 || p->act_min > -128 || p->act_max < 127)
    return; /* never emitted */
  memset(ring, 0, sizeof ring);
  for (oy = 0; oy < out_h; ++oy) {
    const int32_t top = 2 * oy;
    for (pr = next > top ? next : top; pr < top + 3; ++pr) { /* padded row pr into slot pr % 3 */
      int32_t* d = ring + (pr % 3) * TE_STEM_RW;
      const int32_t iy = pr - pad_top, l0 = 3 * pad_left, l1 = 3 * (pad_left + c1);
      const int8_t* x = in + (iy * in_w - pad_left) * 3; /* lane l holds x[l] */
      int32_t i;
      if (iy < 0 || iy >= in_h) {
        for (i = 0; i < rw; ++i) d[i] = 0;
        continue;
      }
      for (i = 0; i < rw; ++i) {
        const int32_t l = 2 * i;
        const int32_t v0 = l >= l0 && l < l1 ? off2 + 2 * (int32_t)x[l] : 0;
        const int32_t v1 = l + 1 >= l0 && l + 1 < l1 ? off2 + 2 * (int32_t)x[l + 1] : 0;
        d[i] = (int32_t)(((uint32_t)v0 & 0xFFFFu) | ((uint32_t)v1 << 16));
      }
    }
    next = top + 3;
    {
      const int32_t* r0 = ring + (top % 3) * TE_STEM_RW;
      const int32_t* r1 = ring + ((top + 1) % 3) * TE_STEM_RW;
      const int32_t* r2 = ring + ((top + 2) % 3) * TE_STEM_RW;
      int8_t* o = out + oy * out_w * out_c;
      for (ox = 0; ox < out_w; ox += 2, r0 += 6, r1 += 6, r2 += 6, o += 2 * out_c) {
        /* an odd last pixel pairs with itself: its twin is computed from the ring's zero tail and dropped */
        const int32_t two = ox + 1 < out_w;
        const int32_t* wp = w;
        const int32_t* q = rq;
        for (oc = 0; oc < out_c; oc += 2, wp += 30, q += 4) {
          int32_t a00 = q[0] >> 8, a01 = q[2] >> 8, a10 = a00, a11 = a01;
          stem_pair(r0, r1, r2, wp, &a00, &a01, &a10, &a11);
          {
            const int32_t q0 = q[0], m0 = q[1], rnd0 = lsl_lo8(k1, q0);
            const int32_t q1 = q[2], m1 = q[3], rnd1 = lsl_lo8(k1, q1);
            o[oc] = (int8_t)rq_m1(a00, m0, rnd0, q0);
            o[oc + 1] = (int8_t)rq_m1(a01, m1, rnd1, q1);
            if (two) {
              o[out_c + oc] = (int8_t)rq_m1(a10, m0, rnd0, q0);
              o[out_c + oc + 1] = (int8_t)rq_m1(a11, m1, rnd1, q1);
            }
          }
        }
      }
    }
  }
}
