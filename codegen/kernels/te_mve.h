/*
 * te_mve.h: the Helium (Armv8.1-M MVE) building blocks the *_mve.c kernels share.
 *
 * Only for cores with integer MVE (__ARM_FEATURE_MVE & 1): the host cannot run these, so the
 * kernels are checked against the portable ones under QEMU mps3-an547 (tests/test_mve.py).
 * Every *_mve.c file compiles to nothing elsewhere (TE_MVE is 0).
 *
 * Requantization tables (codegen/mve.py rq_table): per group of 4 output channels, 10 int32 words:
 * bias'[4], multiplier[4], then 4 int8 -right shifts and 4 int8 left shifts (one word each, loaded
 * widened by VLDRB.S32); bias' = bias + in_offset * sum(w) (the input offset folded away, exact
 * modulo 2^32 like the portable int32 sum). In a TE_SINGLE_ROUNDING build the multiplier words hold
 * the float32 scales' bits.
 */
#ifndef TE_MVE_H_
#define TE_MVE_H_

#include <stdint.h>

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define TE_MVE 1
#include <arm_mve.h>

#define TE_MVE_RQ_WORDS 10 /* int32 words of one 4-channel group of the table */
#define te_mve_rq_bias(q) vldrwq_s32(q)
#define te_mve_rq_mult(q) vldrwq_s32((q) + 4)
#define te_mve_rq_nrs(q) vldrbq_s32((const int8_t*)((q) + 8))
#define te_mve_rq_left(q) vldrbq_s32((const int8_t*)((q) + 9))

/* MultiplyByQuantizedMultiplier on 4 lanes, exact for every int32 acc and shift:
 *   VQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul (same nudge, same saturation);
 *   VRSHL by -right rounds ties up, RoundingDivideByPOT ties away from zero: subtracting 1 from a
 *   negative y first (saturating; right >= 1 only: (y & -right) >> 31 is 0 when right == 0) makes
 *   floor((y - 1 + 2^(right-1)) / 2^right), which is RoundingDivideByPOT for y < 0.
 * `lsh` (left shifts, wrapping like TFLite's int32 multiply) only where a channel shifts left.
 * TE_SINGLE_ROUNDING: onnxruntime's nearbyint((float)acc * scale), VCVTN rounding ties to even. */
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
static inline int32x4_t te_mve_rq(int32x4_t acc, int32x4_t mult, int32x4_t nrs) {
  (void)nrs;
  return vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(acc), vreinterpretq_f32_s32(mult)));
}
static inline int32x4_t te_mve_rq_lsh(int32x4_t acc, int32x4_t mult, int32x4_t nrs, int32x4_t lsh) {
  (void)lsh;
  return te_mve_rq(acc, mult, nrs);
}
#else
static inline int32x4_t te_mve_rq(int32x4_t acc, int32x4_t mult, int32x4_t nrs) {
  int32x4_t y = vqrdmulhq_s32(acc, mult);
  y = vqaddq_s32(y, vshrq_n_s32(vandq_s32(y, nrs), 31));
  return vrshlq_s32(y, nrs);
}
static inline int32x4_t te_mve_rq_lsh(int32x4_t acc, int32x4_t mult, int32x4_t nrs, int32x4_t lsh) {
  return te_mve_rq(vshlq_s32(acc, lsh), mult, nrs);
}
#endif

/* {a0, a1, a2, a3} (v: any vector, overwritten). */
static inline int32x4_t te_mve_lanes(int32x4_t v, int32_t a0, int32_t a1, int32_t a2, int32_t a3) {
  return vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vsetq_lane_s32(a0, v, 0), 1), 2), 3);
}

/* acc + x * w lane by lane (MVE has no vector-by-vector integer VMLA: VMUL then VADD). */
static inline int32x4_t te_mve_mla(int32x4_t acc, int32x4_t x, int32x4_t w) { return vaddq_s32(acc, vmulq_s32(x, w)); }

/* + out_offset, clamped to [lo, hi] (vectors of act_min / act_max). */
static inline int32x4_t te_mve_out(int32x4_t y, int32_t out_offset, int32x4_t lo, int32x4_t hi) {
  return vminq_s32(vmaxq_s32(vaddq_n_s32(y, out_offset), lo), hi);
}

#else
#define TE_MVE 0
#endif

#endif /* TE_MVE_H_ */
