/*
 * quantize_f32_s8_dsp.c: float32 -> int8 QUANTIZE for Cortex-M cores with an FPU, the semantics of
 * te_quantize_f32_s8 (TFLite's AffineQuantize: x / (float)scale in float32, round half away from
 * zero, + zero point, saturate; NaN -> zero point, |x / scale| >= 4096 saturates). Element order as
 * the portable kernel (out[i] written after in[i] is read).
 *
 * FPv5 (Cortex-M7 with a double-precision FPU, every Armv8-M FPU) has VCVTA, a float -> int32
 * conversion that rounds half away from zero, saturates and maps NaN to 0: exactly roundf() plus
 * the portable kernel's NaN rule. QADD then adds the zero point without wrapping (int32-saturated
 * values stay far outside int8) and SSAT clamps. FPv4 (Cortex-M4) lacks VCVTA and keeps the
 * truncate-and-compare rounding.
 */
#include "tinyengine_kernels.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline int32_t ssat8(int32_t x) {
  int32_t r;
  __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x) : "cc");
  return r;
}
#else
static inline int32_t ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
/* Built with TE_SINGLE_ROUNDING (ONNX / PyTorch graphs): te_quantize_f32_s8 of that build, onnxruntime's
 * QuantizeLinear, rounds ties to even. VCVTR (the FPSCR rounding mode: round to nearest even by default)
 * does that on every single-precision FPU (FPv4 too), saturating and mapping NaN to 0 as VCVTA does, so the
 * QADD / SSAT steps below give the portable kernel's bytes (|v| >= 4096 and NaN alike); without an FPU
 * the fallback rounds with te_round_half_even_f32, the portable kernel's own rounding. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__ARM_FP) && ((__ARM_FP) & 4)
#define TE_Q_ASM 1
#define TE_Q_CVT "vcvtr.s32.f32 %0, %1"
#endif
#define TE_Q_ROUND_FALLBACK(t, v) ((t) = te_round_half_even_f32(v))
/* Armv7-M with a double-precision FPU is FPv5; Armv8-M's FP extension always has VCVTA. */
#elif defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__ARM_FP) && \
    (((__ARM_FP) & 8) || (defined(__ARM_ARCH) && __ARM_ARCH >= 8))
#define TE_Q_ASM 1
#define TE_Q_CVT "vcvta.s32.f32 %0, %1"
#endif

#ifdef TE_Q_ASM
static inline int32_t q_one(float v, int32_t zp) {
  float t;
  int32_t r;
  __asm__(TE_Q_CVT : "=t"(t) : "t"(v));
  __asm__("vmov %0, %1" : "=r"(r) : "t"(t));
  __asm__("qadd %0, %1, %2" : "=r"(r) : "r"(r), "r"(zp));
  return ssat8(r);
}
#endif

void te_quantize_f32_s8_dsp(int32_t n, const float* in, int8_t* out, double scale, int32_t zero_point) {
  const float fscale = (float)scale;
  int32_t i = 0;
#ifdef TE_Q_ASM
  /* four per iteration: one loop branch per four divisions */
  for (; i + 3 < n; i += 4) {
    const float v0 = in[i] / fscale, v1 = in[i + 1] / fscale, v2 = in[i + 2] / fscale, v3 = in[i + 3] / fscale;
    out[i] = (int8_t)q_one(v0, zero_point);
    out[i + 1] = (int8_t)q_one(v1, zero_point);
    out[i + 2] = (int8_t)q_one(v2, zero_point);
    out[i + 3] = (int8_t)q_one(v3, zero_point);
  }
  for (; i < n; ++i) out[i] = (int8_t)q_one(in[i] / fscale, zero_point);
#else
  for (; i < n; ++i) {
    const float v = in[i] / fscale;
    int32_t r;
    if (v > -4096.0f && v < 4096.0f) { /* false for NaN */
#ifdef TE_Q_ROUND_FALLBACK
      TE_Q_ROUND_FALLBACK(r, v);
#else
      const int32_t t = (int32_t)v;     /* truncation toward zero */
      const float frac = v - (float)t;  /* exact */
      r = t + (frac >= 0.5f ? 1 : 0) - (frac <= -0.5f ? 1 : 0);
#endif
    } else {
      r = v != v ? 0 : (v > 0.0f ? 4096 : -4096);
    }
    out[i] = (int8_t)ssat8(r + zero_point);
  }
#endif
}
