/*
 * quantize_f32_s8_dsp.c: float32 -> int8 QUANTIZE for Cortex-M cores with an FPU, the semantics of
 * te_quantize_f32_s8 (TFLite's AffineQuantize: x / (float)scale in float32, round half away from
 * zero, + zero point, saturate; NaN -> zero point, |x / scale| >= 4096 saturates) with the range
 * test folded into one comparison pair and SSAT for the int8 clamp. Element order as the portable
 * kernel (out[i] written after in[i] is read).
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

void te_quantize_f32_s8_dsp(int32_t n, const float* in, int8_t* out, double scale, int32_t zero_point) {
  const float fscale = (float)scale;
  int32_t i;
  for (i = 0; i < n; ++i) {
    const float v = in[i] / fscale;
    int32_t r;
    if (v > -4096.0f && v < 4096.0f) { /* false for NaN */
      const int32_t t = (int32_t)v;     /* truncation toward zero */
      const float frac = v - (float)t;  /* exact */
      r = t + (frac >= 0.5f ? 1 : 0) - (frac <= -0.5f ? 1 : 0);
    } else {
      r = v != v ? 0 : (v > 0.0f ? 4096 : -4096);
    }
    out[i] = (int8_t)ssat8(r + zero_point);
  }
}
