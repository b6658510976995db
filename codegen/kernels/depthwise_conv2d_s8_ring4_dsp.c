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

/* One output row of one group: out_w outputs, window columns j = ox * S; kq: bias2 x4, then per channel
 * mult, rnd, right. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING)
/* Tap (slot s, column kx): data (kx * K + s) * 8 bytes after the window's first column, weights (s * K + kx) * 8
 * bytes after the rotated weight rows (the lists below spell these offsets out per K). */
#define TAP_ASM(XO, WO)                          \
  "ldrd %[x0], %[x1], [%[d], #" #XO "]\n\t"      \
  "ldrd %[w0], %[w1], [%[w], #" #WO "]\n\t"      \
  "smlabb %[a0], %[x0], %[w0], %[a0]\n\t"        \
  "smlatt %[a2], %[x0], %[w0], %[a2]\n\t"        \
  "smlabb %[a1], %[x1], %[w1], %[a1]\n\t"        \
  "smlatt %[a3], %[x1], %[w1], %[a3]\n\t"
#define TAPS_K3 \
  TAP_ASM(0, 0) TAP_ASM(24, 8) TAP_ASM(48, 16) TAP_ASM(8, 24) TAP_ASM(32, 32) TAP_ASM(56, 40) TAP_ASM(16, 48) \
  TAP_ASM(40, 56) TAP_ASM(64, 64)
#define TAPS_K5 \
  TAP_ASM(0, 0) TAP_ASM(40, 8) TAP_ASM(80, 16) TAP_ASM(120, 24) TAP_ASM(160, 32) TAP_ASM(8, 40) TAP_ASM(48, 48) \
  TAP_ASM(88, 56) TAP_ASM(128, 64) TAP_ASM(168, 72) TAP_ASM(16, 80) TAP_ASM(56, 88) TAP_ASM(96, 96) \
  TAP_ASM(136, 104) TAP_ASM(176, 112) TAP_ASM(24, 120) TAP_ASM(64, 128) TAP_ASM(104, 136) TAP_ASM(144, 144) \
  TAP_ASM(184, 152) TAP_ASM(32, 160) TAP_ASM(72, 168) TAP_ASM(112, 176) TAP_ASM(152, 184) TAP_ASM(192, 192)
#define TAPS_K7 \
  TAP_ASM(0, 0) TAP_ASM(56, 8) TAP_ASM(112, 16) TAP_ASM(168, 24) TAP_ASM(224, 32) TAP_ASM(280, 40) \
  TAP_ASM(336, 48) TAP_ASM(8, 56) TAP_ASM(64, 64) TAP_ASM(120, 72) TAP_ASM(176, 80) TAP_ASM(232, 88) \
  TAP_ASM(288, 96) TAP_ASM(344, 104) TAP_ASM(16, 112) TAP_ASM(72, 120) TAP_ASM(128, 128) TAP_ASM(184, 136) \
  TAP_ASM(240, 144) TAP_ASM(296, 152) TAP_ASM(352, 160) TAP_ASM(24, 168) TAP_ASM(80, 176) TAP_ASM(136, 184) \
  TAP_ASM(192, 192) TAP_ASM(248, 200) TAP_ASM(304, 208) TAP_ASM(360, 216) TAP_ASM(32, 224) TAP_ASM(88, 232) \
  TAP_ASM(144, 240) TAP_ASM(200, 248) TAP_ASM(256, 256) TAP_ASM(312, 264) TAP_ASM(368, 272) TAP_ASM(40, 280) \
  TAP_ASM(96, 288) TAP_ASM(152, 296) TAP_ASM(208, 304) TAP_ASM(264, 312) TAP_ASM(320, 320) TAP_ASM(376, 328) \
  TAP_ASM(48, 336) TAP_ASM(104, 344) TAP_ASM(160, 352) TAP_ASM(216, 360) TAP_ASM(272, 368) TAP_ASM(328, 376) \
  TAP_ASM(384, 384)

/* rq_dw8 of accumulator A with channel J's constants (kq[4 + 3 J ..]), stored at o[J]; the accumulator's sign
 * joins SMMLAR's addend (it adds to the high word: the same sum modulo 2^32). */
#define RQ_ASM(A, J, MO, SO)                     \
  "ldrd %[x0], %[x1], [%[kq], #" #MO "]\n\t"     \
  "ldr %[w0], [%[kq], #" #SO "]\n\t"             \
  "add %[x1], %[x1], %[" #A "], asr #31\n\t"      \
  "smmlar %[" #A "], %[" #A "], %[x0], %[x1]\n\t" \
  "asr %[" #A "], %[" #A "], %[w0]\n\t"          \
  "ssat %[" #A "], #8, %[" #A "]\n\t"            \
  "strb %[" #A "], [%[o], #" #J "]\n\t"

#define RING4_ROW_ASM(TAPS, STEP)                                                                             \
  __asm__ volatile("1:\n\t"                                                                                    \
                   "ldrd %[a0], %[a1], [%[kq]]\n\t"                                                            \
                   "ldrd %[a2], %[a3], [%[kq], #8]\n\t" TAPS RQ_ASM(a0, 0, 16, 24) RQ_ASM(a1, 1, 28, 36)           \
                       RQ_ASM(a2, 2, 40, 48) RQ_ASM(a3, 3, 52, 60)                                             \
                   "ldr %[x0], %[cm]\n\t"                                                                      \
                   "add %[o], %[o], %[x0]\n\t"                                                                 \
                   "add %[d], %[d], #" #STEP "\n\t"                                                            \
                   "ldr %[x0], %[endm]\n\t"                                                                    \
                   "cmp %[d], %[x0]\n\t"                                                                       \
                   "bne 1b"                                                                                    \
                   : [d] "+r"(d), [o] "+r"(o), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), \
                     [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1)                            \
                   : [w] "r"(wb), [kq] "r"(kq), [cm] "m"(c), [endm] "m"(end)                                  \
                   : "cc", "memory")

INLINE void ring4_row(const int32_t* d, const int32_t* wb, const int32_t* kq, int8_t* o, int32_t out_w, int32_t c,
                      const int32_t K, const int32_t S) {
  const int32_t* const end = d + out_w * S * K * 2;
  int32_t a0, a1, a2, a3, x0, x1, w0, w1;
  if (K == 3 && S == 1) RING4_ROW_ASM(TAPS_K3, 24);
  else if (K == 3) RING4_ROW_ASM(TAPS_K3, 48);
  else if (K == 5 && S == 1) RING4_ROW_ASM(TAPS_K5, 40);
  else if (K == 5) RING4_ROW_ASM(TAPS_K5, 80);
  else if (K == 7 && S == 1) RING4_ROW_ASM(TAPS_K7, 56);
  else RING4_ROW_ASM(TAPS_K7, 112);
}
#else
/* One tap: x (ring words at the tap) against w (the tap's two weight words), 4 accumulators. */
#define TAP(x, w)                               \
  do {                                          \
    const int32_t x02_ = (x)[0], x13_ = (x)[1]; \
    const int32_t w02_ = (w)[0], w13_ = (w)[1]; \
    a0 = smlabb(x02_, w02_, a0);                \
    a2 = smlatt(x02_, w02_, a2);                \
    a1 = smlabb(x13_, w13_, a1);                \
    a3 = smlatt(x13_, w13_, a3);                \
  } while (0)

INLINE void ring4_row(const int32_t* restrict d, const int32_t* restrict wb, const int32_t* restrict kq,
                      int8_t* restrict o, int32_t out_w, int32_t c, const int32_t K, const int32_t S) {
  const int32_t* const end = d + out_w * S * K * 2;
  for (; d != end; d += S * K * 2, o += c) {
    int32_t a0 = kq[0], a1 = kq[1], a2 = kq[2], a3 = kq[3];
    int32_t s, kx;
    for (s = 0; s < K; ++s) {
      for (kx = 0; kx < K; ++kx) TAP(d + (kx * K + s) * 2, wb + (s * K + kx) * 2);
    }
    o[0] = (int8_t)rq_dw8(a0, kq[4], kq[5], kq[6]);
    o[1] = (int8_t)rq_dw8(a1, kq[7], kq[8], kq[9]);
    o[2] = (int8_t)rq_dw8(a2, kq[10], kq[11], kq[12]);
    o[3] = (int8_t)rq_dw8(a3, kq[13], kq[14], kq[15]);
  }
}
#endif

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
