/*
 * te_requantize.c: TFLite's fixed-point requantization, default (double-rounding) variant.
 *
 *   MultiplyByQuantizedMultiplier(x, m, shift) =
 *     RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^max(shift,0), m), max(-shift,0))
 *
 * Written without undefined behaviour: the left shift wraps like TFLite does on two's-complement
 * targets (done in unsigned arithmetic), the INT32_MIN * INT32_MIN doubling high mul saturates, and
 * negative values are shifted right via bitwise complement.
 */
#include "tinyengine_kernels.h"

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
/* One rounding (graphs from ONNX / PyTorch, "tinyengine.rounding" = "exact"; the emitter defines
 * TE_SINGLE_ROUNDING at the top of this file in such a project):
 *   round(acc * multiplier * 2^shift / 2^31), ties away from zero, saturated to int32,
 * the real-valued rescale onnxruntime computes in float, without gemmlowp's second rounding. */
int32_t te_requantize(int32_t acc, int32_t multiplier, int32_t shift) {
  const int32_t total = 31 - shift;
  const int64_t prod = (int64_t)acc * (int64_t)multiplier; /* |prod| < 2^62 */
  int64_t q;
  if (total <= 0) {
    const int32_t up = total < -31 ? 31 : -total; /* a left shift: saturate before it can overflow */
    if (prod > ((int64_t)INT32_MAX >> up)) return INT32_MAX;
    if (prod < -((-(int64_t)INT32_MIN) >> up)) return INT32_MIN;
    q = prod * ((int64_t)1 << up);
  } else if (total > 62) {
    q = 0;
  } else {
    const int64_t half = (int64_t)1 << (total - 1);
    q = prod >= 0 ? (prod + half) >> total : -((-prod + half) >> total);
  }
  if (q > INT32_MAX) return INT32_MAX;
  if (q < INT32_MIN) return INT32_MIN;
  return (int32_t)q;
}
#else /* TFLite's double rounding */

/* gemmlowp SaturatingRoundingDoublingHighMul: floor(a * b / 2^31 + 1/2) (nearest, ties toward
 * +infinity), saturating the single overflow case INT32_MIN * INT32_MIN. */
static int32_t sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  {
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C99 division truncates toward zero, exactly as gemmlowp expects. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
  }
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero. 0 <= e <= 31. */
static int32_t rounding_divide_by_pot(int32_t x, int32_t e) {
  uint32_t mask;
  int32_t remainder, threshold, q;
  if (e <= 0) return x;
  if (e > 31) e = 31;
  mask = ((uint32_t)1 << e) - 1u;
  remainder = (int32_t)((uint32_t)x & mask);
  threshold = (int32_t)(mask >> 1) + (x < 0 ? 1 : 0);
  q = x >= 0 ? (x >> e) : ~(~x >> e); /* arithmetic shift, portably */
  return q + (remainder > threshold ? 1 : 0);
}

int32_t te_requantize(int32_t acc, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  /* x * (1 << left), wrapping as TFLite's (unsanitized) int32 multiply does. */
  const int32_t x = left > 0 ? (int32_t)((uint32_t)acc << (left > 31 ? 31 : left)) : acc;
  return rounding_divide_by_pot(sat_rounding_doubling_high_mul(x, multiplier), right);
}
#endif
