/*
 * mean_s8_dsp.c: int8 MEAN over the middle axis of [outer][reduce][inner] (the squeeze of an SE
 * block: H*W pixels of C channels) for Armv7E-M DSP cores, TFLite's arithmetic (te_mean_s8 with
 * exact == 0): the same integer sums, the same folded multiplier (te_mean_fold), the same
 * requantization.
 *
 * Sixteen channels per step: four words per pixel, each added into two 16-bit lane pairs with
 * SXTAB16 (bytes 0, 2 and, rotated, 1, 3). A lane sums at most 256 pixels before it is flushed
 * into an int32 sum (|sum| <= 256 * 128 = 32768 fits: the lowest is -32768, the highest 32512), so
 * the sums are exact. Then groups of four channels, then channels one by one.
 * Contract: a channel group's outputs are written after all of its inputs are read and before any
 * later group's input is read, so reads come no later and writes no earlier than te_mean_s8's
 * (which writes each channel after reading it): the planner's overlap contract for te_mean_s8 holds.
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"

static inline int32_t word_at(const int8_t* p) {
  int32_t w;
  memcpy(&w, p, 4);
  return w;
}

/* rq_fast: te_dsp.h's rq_dw8 (SMMLAR) instead of te_requantize, where codegen/dsp.py has proven it equal
 * (fast_requant_ok for |sum - in_zp * n| <= n * 255 with the folded multiplier); rnd = TE_DW_RND(...). */
static inline int8_t finish(int32_t sum, const te_mean_params* p, int32_t n, int32_t mult, int32_t shift,
                            int32_t rq_fast, int32_t rnd) {
  int32_t v;
  if (rq_fast) return (int8_t)rq_dw8((int32_t)((uint32_t)(sum - p->in_zp * n) << 1), mult, rnd, -shift);
  v = te_requantize(sum - p->in_zp * n, mult, shift) + p->out_zp;
  return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

/* four channels at x, x + inner, ... (n pixels): sums[0..3] */
static void sum4(const int8_t* x, int32_t n, int32_t inner, int32_t* sums) {
  int32_t r = 0;
  while (r < n) {
    const int32_t stop = n - r > 256 ? r + 256 : n;
    int32_t s02 = 0, s13 = 0;
    for (; r < stop; ++r) {
      const int32_t w = word_at(x + r * inner);
      s02 = sxtab16(s02, w);
      s13 = sxtab16_ror8(s13, w);
    }
    sums[0] += (int16_t)(uint16_t)((uint32_t)s02 & 0xFFFFu);
    sums[1] += (int16_t)(uint16_t)((uint32_t)s13 & 0xFFFFu);
    sums[2] += (int16_t)(uint16_t)((uint32_t)s02 >> 16);
    sums[3] += (int16_t)(uint16_t)((uint32_t)s13 >> 16);
  }
}

/* sixteen channels: sums[0..15] */
static void sum16(const int8_t* x, int32_t n, int32_t inner, int32_t* sums) {
  int32_t r = 0, k;
  while (r < n) {
    const int32_t stop = n - r > 256 ? r + 256 : n;
    int32_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    const int8_t* px = x + r * inner;
    for (; r < stop; ++r) {
      const int32_t w0 = word_at(px), w1 = word_at(px + 4), w2 = word_at(px + 8), w3 = word_at(px + 12);
      a0 = sxtab16(a0, w0);
      a1 = sxtab16_ror8(a1, w0);
      a2 = sxtab16(a2, w1);
      a3 = sxtab16_ror8(a3, w1);
      a4 = sxtab16(a4, w2);
      a5 = sxtab16_ror8(a5, w2);
      a6 = sxtab16(a6, w3);
      a7 = sxtab16_ror8(a7, w3);
      px += inner;
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6, a[7] = a7;
    for (k = 0; k < 4; ++k) { /* word k: lanes (byte 0, byte 2) in a[2k], (byte 1, byte 3) in a[2k+1] */
      sums[4 * k + 0] += (int16_t)(uint16_t)((uint32_t)a[2 * k] & 0xFFFFu);
      sums[4 * k + 1] += (int16_t)(uint16_t)((uint32_t)a[2 * k + 1] & 0xFFFFu);
      sums[4 * k + 2] += (int16_t)(uint16_t)((uint32_t)a[2 * k] >> 16);
      sums[4 * k + 3] += (int16_t)(uint16_t)((uint32_t)a[2 * k + 1] >> 16);
    }
  }
}

void te_mean_s8_dsp(const te_mean_params* p, int32_t rq_fast, const int8_t* in, int8_t* out) {
  const int32_t outer = p->outer, n = p->reduce, inner = p->inner;
  int32_t mult = p->mult, shift = p->shift, rnd = 0;
  int32_t o, i, k, r;
  if (n <= 0) return;
  te_mean_fold(n, &mult, &shift);
  if (rq_fast) rnd = TE_DW_RND(1 + 2 * p->out_zp, -shift);
  for (o = 0; o < outer; ++o) {
    const int8_t* base = in + o * n * inner;
    for (i = 0; i + 16 <= inner; i += 16) {
      int32_t sums[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
      sum16(base + i, n, inner, sums);
      for (k = 0; k < 16; ++k) *out++ = finish(sums[k], p, n, mult, shift, rq_fast, rnd);
    }
    for (; i + 4 <= inner; i += 4) {
      int32_t sums[4] = {0, 0, 0, 0};
      sum4(base + i, n, inner, sums);
      for (k = 0; k < 4; ++k) *out++ = finish(sums[k], p, n, mult, shift, rq_fast, rnd);
    }
    for (; i < inner; ++i) {
      int32_t sum = 0;
      for (r = 0; r < n; ++r) sum += base[i + r * inner];
      *out++ = finish(sum, p, n, mult, shift, rq_fast, rnd);
    }
  }
}
