/*
 * quantize_f32_s8_mve.c: te_quantize_f32_s8 (float32 -> int8, TFLite AffineQuantize / onnxruntime QuantizeLinear)
 * with Helium, 4 values per vector.
 *
 * MVE has no vector division, so q = x * (1 / scale) (two float32 roundings) stands in for the portable kernel's
 * x / scale (one): |q - fl(x / scale)| <= |x / scale| * 1.5 * 2^-23, below 2^-10 wherever |x / scale| < 4096 (past
 * that both saturate to the same int8). The rounding of q and of fl(x / scale) to an integer can differ only if
 * a half-integer lies between them, so a vector with a lane within TE_QUANT_MVE_GUARD (2^-9) of a half-integer,
 * or a NaN lane, is computed by the portable kernel instead; every other lane rounds q as the portable kernel
 * rounds (VCVTA ties away from zero; VCVTN ties to even in a TE_SINGLE_ROUNDING build), adds the zero point
 * (saturating) and clamps. codegen/mve.py emits it only for scales in [2^-60, 2^60] (no subnormal reciprocal or
 * product near a rounding boundary).
 *
 * Overlap: out[i..i+3] is written after in[i..i+3] is read, like the portable kernel.
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE && (__ARM_FEATURE_MVE & 2)

#define TE_QUANT_MVE_GUARD 0.001953125f /* 2^-9 */

void te_quantize_f32_s8_mve(int32_t n, const float* in, int8_t* out, double scale, int32_t zero_point) {
  const float rinv = 1.0f / (float)scale;
  const float32x4_t half = vdupq_n_f32(0.5f);
  const int32x4_t lo = vdupq_n_s32(-128), hi = vdupq_n_s32(127);
  int32_t i;
  for (i = 0; i + 4 <= n; i += 4) {
    const float32x4_t q = vmulq_n_f32(vld1q_f32(in + i), rinv);
    const float32x4_t h = vsubq_f32(q, vrndmq_f32(q)); /* q - floor(q): exact */
    /* false in a lane near a half-integer, and in a NaN lane (an unordered compare) */
    const mve_pred16_t clear = vcmpgeq_n_f32(vabdq_f32(h, half), TE_QUANT_MVE_GUARD);
    int32x4_t r;
    if (clear != 0xFFFF) {
      te_quantize_f32_s8(4, in + i, out + i, scale, zero_point);
      continue;
    }
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
    r = vcvtnq_s32_f32(q);
#else
    r = vcvtaq_s32_f32(q);
#endif
    r = vminq_s32(vmaxq_s32(vqaddq_n_s32(r, zero_point), lo), hi);
    vstrbq_s32(out + i, r);
  }
  if (i < n) te_quantize_f32_s8(n - i, in + i, out + i, scale, zero_point);
}

#else
typedef int te_quantize_f32_s8_mve_unused; /* not a core with floating-point MVE: nothing to build */
#endif
