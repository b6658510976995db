/*
 * softmax_s8.c: int8 SOFTMAX over the last axis, bit-exact with LiteRT's BUILTIN_REF int8 kernel
 * (reference_ops::Softmax: gemmlowp fixed point; LiteRT's float lookup table belongs to its
 * optimized kernel only). Per row, with m the row's maximum:
 *   e[c]  = exp_q31[255 + x[c] - m]      Q0.31 exp of the beta-scaled difference, from the compiler
 *                                        (0 where the difference is below LiteRT's diff_min)
 *   sum   = sum of RoundingDivideByPOT(e[c], 12)                      (Q12.19)
 *   inv   = 1 / sum as Q0.31 with sum's bits over 1.0 (GetReciprocal: Newton-Raphson on 1/(1+x))
 *   y[c]  = clamp(RoundingDivideByPOT(SRDHM(inv, e[c]), bits_over_unit + 23) - 128)
 * Integer arithmetic only; signed overflow is avoided where gemmlowp relies on wrapping.
 */
#include "tinyengine_kernels.h"

static int32_t srdhm(int32_t a, int32_t b) {
  int64_t ab, num;
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  num = ab + (ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30)));
  return (int32_t)(num >= 0 ? num >> 31 : -((-num) >> 31)); /* division truncating toward zero */
}

static int32_t rdbpot(int32_t x, int32_t e) {
  const int32_t mask = (int32_t)(((uint32_t)1 << e) - 1u);
  const int32_t rem = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  const int32_t q = x >= 0 ? x >> e : ~(~x >> e); /* arithmetic shift without implementation-defined >> */
  return q + (rem > threshold ? 1 : 0);
}

static int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int32_t wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

static int32_t sat_shl(int32_t x, int32_t e) { /* SaturatingRoundingMultiplyByPOT, e > 0 */
  if (x > (INT32_MAX >> e)) return INT32_MAX;
  if (x < (INT32_MIN >> e)) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: a in Q0.31, result Q0.31 (three Newton-Raphson steps in Q2.29). */
static int32_t one_over_one_plus_x(int32_t a) {
  const int64_t s = (int64_t)a + INT32_MAX;
  const int32_t half_den = (int32_t)((s + (s >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum(a, 1.0) */
  int32_t x = wrap_add(1515870810, srdhm(half_den, -1010580540)); /* 48/17 - 32/17 * d, Q2.29 */
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = wrap_sub((int32_t)1 << 29, srdhm(half_den, x));
    x = wrap_add(x, sat_shl(srdhm(x, one_minus), 2));
  }
  return sat_shl(x, 1);
}

static int32_t clz32(uint32_t v) {
  int32_t n = 0;
  if (v == 0) return 32;
  while (!(v & 0x80000000u)) {
    v <<= 1;
    ++n;
  }
  return n;
}

void te_softmax_s8(int32_t rows, int32_t cols, const int32_t* exp_q31, const int8_t* in, int8_t* out) {
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    const int8_t* x = in + (int32_t)r * cols;
    int8_t* y = out + (int32_t)r * cols;
    const int32_t* e;
    int32_t mx = -128, sum = 0, headroom, bits_over_unit, inv, exponent;
    for (c = 0; c < cols; ++c) mx = x[c] > mx ? x[c] : mx;
    e = exp_q31 + 255 - mx;
    for (c = 0; c < cols; ++c) sum += rdbpot(e[x[c]], 12); /* cols <= 4095 (compiler): no overflow */
    headroom = clz32((uint32_t)sum);
    bits_over_unit = 12 - headroom;
    inv = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
    /* LiteRT aborts (TFLITE_CHECK) past 31, i.e. when the row's exps sum to 256 or more; those
     * probabilities are all below 1/256, so capping the shift still gives their nearest step or 0. */
    exponent = bits_over_unit + 31 - 8;
    if (exponent > 31) exponent = 31;
    for (c = 0; c < cols; ++c) {
      const int32_t q = rdbpot(srdhm(inv, e[x[c]]), exponent) - 128;
      y[c] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
  }
}
