/*
 * depthwise_conv2d_s8_ring4_dsp.c: int8 depthwise conv2d for Armv7E-M DSP cores, group of 4 channels by
 * group over a ring of widened rows; square k in {3, 5, 7}, stride s in {1, 2} (same in both directions),
 * depth multiplier 1, no dilation, channels a multiple of 4, activation range the whole int8 range.
 *
 * Why (instruction counts are what the QEMU benchmark measures): the other DSP depthwise kernels pay per
 * output for what could be paid once. te_depthwise_conv2d_s8_cg_dsp loads and widens an input word again
 * for every window it falls in (up to k^2 times) and walks its window bounds per output; the rows kernel
 * splits a row pass into function calls and a two-pass accumulator row per channel. Here each input word of
 * a 4-channel group is widened once, into a ring of k padded rows, and every output's k^2 taps are fully
 * unrolled at compile-time offsets from two pointers, so a tap is exactly: one LDRD of the widened input
 * ([x_c, x_c+2], [x_c+1, x_c+3], lanes x + in_offset), one LDRD of the group's doubled weights (widened once
 * per group on the stack) and four SMLABB / SMLATT. Padding is zero in the ring (x + in_offset of a pad
 * byte -in_offset), so windows need no bounds; the padded taps cost what a valid one costs, which the
 * cost model sees through the MAC count.
 *
 * Ring layout: [padded column][slot][2 words], column-major so that tap (slot s, column kx) of the output
 * whose window starts at column j sits (kx * k + s) * 2 words after column j, whatever the width. Padded
 * row pr lives in slot pr % k; the ring does not rotate, the weight rows do: the group's k weight rows
 * are stored twice, and an output row whose window starts at padded row top reads them from row
 * (k - top % k) % k, so slot s meets weight row (s - top) mod k.
 *
 * Requantization as the other depthwise DSP kernels (te_dsp.h rq_dw8: 2 acc, rq = {(2 * bias) << 8 |
 * right, mult}; codegen/dsp.py proves the bounds). Order: per group of 4 channels, per output row: widen
 * the padded rows that entered the window, then write the row's outputs (4 channels); codegen/dsp.py
 * checks that order against the memory plan (dw_ring4_safe). Stack: ring TE_DWR4_RING int32 (1.75 kB) +
 * weights 4 k^2 int32 (<= 784 B) + 16 int32.
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_DWR4_RING 448
#define TE_DWR4_MAX_K 7
#define INLINE static inline __attribute__((always_inline))

INLINE int32_t ld32(const int8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* One tap: x (ring words at the tap) against w (the tap's two weight words), 4 accumulators. */
#define TAP(x, w)                          \
  do {                                     \
    const int32_t x02_ = (x)[0], x13_ = (x)[1]; \
    const int32_t w02_ = (w)[0], w13_ = (w)[1]; \
    a0 = smlabb(x02_, w02_, a0);           \
    a2 = smlatt(x02_, w02_, a2);           \
    a1 = smlabb(x13_, w13_, a1);           \
    a3 = smlatt(x13_, w13_, a3);           \
  } while (0)

/* One output row of one group: out_w outputs, window columns j = ox * S. */
INLINE void ring4_row(const int32_t* restrict d, const int32_t* restrict wb, const int32_t* restrict kq,
                      int8_t* restrict o, int32_t out_w, int32_t c, const int32_t K, const int32_t S) {
  const int32_t* const end = d + out_w * S * K * 2;
  for (; d != end; d += S * K * 2, o += c) {
    int32_t a0 = kq[0], a1 = kq[1], a2 = kq[2], a3 = kq[3];
    int32_t s, kx;
#pragma GCC unroll 49
    for (s = 0; s < K; ++s) {
#pragma GCC unroll 7
      for (kx = 0; kx < K; ++kx) TAP(d + (kx * K + s) * 2, wb + (s * K + kx) * 2);
    }
    o[0] = (int8_t)rq_dw8(a0, kq[4], kq[5], kq[6]);
    o[1] = (int8_t)rq_dw8(a1, kq[7], kq[8], kq[9]);
    o[2] = (int8_t)rq_dw8(a2, kq[10], kq[11], kq[12]);
    o[3] = (int8_t)rq_dw8(a3, kq[13], kq[14], kq[15]);
  }
}

INLINE void ring4(const te_dw_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq, int8_t* out,
                  const int32_t K, const int32_t S) {
  const int32_t c = p->c, in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
  const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
  const int32_t off = p->in_offset, offp = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
  const int32_t k1 = 1 + 2 * p->out_offset;
  const int32_t cols = (out_w - 1) * S + K; /* padded columns any window reads */
  /* padded columns [j0, j1) hold input columns; the others stay zero */
  const int32_t j0 = pad_left < cols ? pad_left : cols;
  const int32_t j1 = pad_left + in_w < cols ? pad_left + in_w : cols;
  int32_t ring[TE_DWR4_RING];
  int32_t wv[2 * TE_DWR4_MAX_K * TE_DWR4_MAX_K * 2]; /* 2k weight rows (the k rows twice) x k taps x 2 words */
  int32_t kq[16]; /* bias2 x4, then per channel mult, rnd, right */
  int32_t g, t, j, oy;

  memset(ring, 0, sizeof(int32_t) * (size_t)(cols * K * 2));
  for (g = 0; g < c; g += 4) {
    int32_t next = 0;
    for (t = 0; t < K * K; ++t) { /* [2 w_c, 2 w_c+2], [2 w_c+1, 2 w_c+3] */
      const int32_t wq = ld32(weights + t * c + g);
      const int32_t w02 = sxtb16(wq), w13 = sxtb16_ror8(wq);
      wv[2 * t] = sadd16(w02, w02);
      wv[2 * t + 1] = sadd16(w13, w13);
      wv[2 * (K * K + t)] = wv[2 * t];
      wv[2 * (K * K + t) + 1] = wv[2 * t + 1];
    }
    for (j = 0; j < 4; ++j) {
      const int32_t rsh = rq[2 * (g + j)] & 0xFF;
      kq[j] = rq[2 * (g + j)] >> 8;
      kq[4 + 3 * j] = rq[2 * (g + j) + 1];
      kq[5 + 3 * j] = TE_DW_RND(k1, rsh);
      kq[6 + 3 * j] = rsh;
    }
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t top = oy * S;
      int32_t pr = next > top ? next : top;
      for (; pr < top + K; ++pr) { /* padded row pr into slot pr % K */
        int32_t* dst = ring + (j0 * K + pr % K) * 2;
        const int32_t iy = pr - pad_top;
        if (iy < 0 || iy >= in_h) {
          for (j = j0; j < j1; ++j, dst += 2 * K) {
            dst[0] = 0;
            dst[1] = 0;
          }
        } else {
          const int8_t* x = in + (iy * in_w + (j0 - pad_left)) * c + g;
          for (j = j0; j < j1; ++j, dst += 2 * K, x += c) {
            const int32_t v = ld32(x);
            dst[0] = sxtab16(offp, v);
            dst[1] = sxtab16_ror8(offp, v);
          }
        }
      }
      next = top + K;
      ring4_row(ring, wv + ((K - top % K) % K) * K * 2, kq, out + oy * out_w * c + g, out_w, c, K, S);
    }
  }
}

static int ring4_ok(const te_dw_params* p, int32_t k, int32_t s) {
  return p->k_h == k && p->k_w == k && p->stride_h == s && p->stride_w == s && (p->c & 3) == 0 && p->out_w >= 1 &&
         p->out_h >= 1 && p->act_min == -128 && p->act_max == 127 && p->pad_left >= 0 && p->pad_top >= 0 &&
         ((p->out_w - 1) * s + k) * k * 2 <= TE_DWR4_RING;
}

/* One entry point per (k, stride): a firmware links only those it calls. */
#define DW_RING4_INSTANCE(K, S)                                                                                \
  void te_depthwise_conv2d_s8_ring4_k##K##s##S##_dsp(const te_dw_params* p, const int8_t* in, const int8_t* w, \
                                                     const int32_t* rq, int8_t* out) {                       \
    if (!ring4_ok(p, K, S)) return; /* never emitted */                                                        \
    ring4(p, in, w, rq, out, K, S);                                                                            \
  }
DW_RING4_INSTANCE(3, 1)
DW_RING4_INSTANCE(3, 2)
DW_RING4_INSTANCE(5, 1)
DW_RING4_INSTANCE(5, 2)
DW_RING4_INSTANCE(7, 1)
DW_RING4_INSTANCE(7, 2)
