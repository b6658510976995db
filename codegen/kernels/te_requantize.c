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
#include <string.h>

#include "tinyengine_kernels.h"

/* Nearest integer to v, ties to even (nearbyintf in the default rounding mode), saturated to int32,
 * from v's bits in integer arithmetic: no libm, and no float add that -ffast-math could fold away. */
int32_t te_round_half_even_f32(float v) {
  uint32_t u, m, rem, half;
  int32_t e, sh, q;
  memcpy(&u, &v, sizeof u);
  e = (int32_t)((u >> 23) & 0xFFu);
  if (e >= 127 + 30) return (u >> 31) ? INT32_MIN : INT32_MAX; /* |v| >= 2^30, NaN, inf: saturate */
  if (e < 126) return 0;                                          /* |v| < 0.5 */
  m = (u & 0x7FFFFFu) | 0x800000u;                                /* |v| = m * 2^(e - 150) */
  if (e >= 150) {
    q = (int32_t)(m << (e - 150));
  } else {
    sh = 150 - e;                                                 /* 1..24 */
    q = (int32_t)(m >> sh);
    rem = m & ((1u << sh) - 1u);
    half = 1u << (sh - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
  }
  return (u >> 31) ? -q : q;
}

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
/* onnxruntime's requantization (graphs from ONNX / PyTorch, "tinyengine.rounding" = "exact"; the
 * emitter defines TE_SINGLE_ROUNDING in every kernel file of such a project). MLAS's
 * MlasRequantizeOutput, which QLinearConv / QGemm / QLinearGlobalAveragePool run, computes
 *   nearbyint((float)acc * scale) (ties to even), scale a float32 (e.g. (x_scale * w_scale) / y_scale),
 * so `multiplier` carries the IEEE-754 bits of that float32 scale here and `shift` is unused.
 * Only one float operation happens, the product, so neither FMA contraction nor -ffast-math can
 * change it; the rounding works on the product's bits in integer arithmetic for the same reason (the
 * 1.5 * 2^23 magic-number add that MLAS uses could be folded away or fused under such flags). */
int32_t te_requantize(int32_t acc, int32_t multiplier, int32_t shift) {
  float scale;
  (void)shift;
  memcpy(&scale, &multiplier, sizeof scale);
  return te_round_half_even_f32((float)acc * scale);
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
