/*
 * quantize.c: quantization boundaries with TFLite QUANTIZE / DEQUANTIZE semantics.
 *
 * te_quantize_f32_s8   reference_ops::AffineQuantize: q = round(x / (float)scale) + zp, the
 *                      division done in float32 and rounded half away from zero (roundf), then
 *                      clamped to int8. Implemented without libm. Where TFLite's float->int32 cast
 *                      is undefined (|x/scale| >= 2^31, NaN) this saturates (+big -> 127,
 *                      -big -> -128) and maps NaN to the zero point.
 * te_dequantize_s8_f32 reference_ops::Dequantize: (float)(scale * (double)(q - zp)).
 * te_requantize_s8     reference_ops::Requantize for int8 -> int8.
 * In a TE_SINGLE_ROUNDING build (ONNX / PyTorch graphs) quantize rounds ties to even, as
 * onnxruntime's QuantizeLinear does, dequantize multiplies in float32 as its DequantizeLinear does, and
 * te_requantize_s8 is onnxruntime's float DequantizeLinear -> QuantizeLinear.
 */
#include <string.h>

#include "tinyengine_kernels.h"

static int32_t clamp_s8(int32_t v) { return v < -128 ? -128 : (v > 127 ? 127 : v); }

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
/* onnxruntime's QuantizeLinear (MLAS) rounds x / scale to nearest, ties to even. */
#define TE_QUANTIZE_ROUND(v) te_round_half_even_f32(v)
#else
/* roundf() for |v| < 2^23, ties away from zero, without libm. */
static int32_t round_half_away(float v) {
  int32_t t = (int32_t)v; /* truncation toward zero */
  const float frac = v - (float)t; /* exact (Sterbenz) */
  if (frac >= 0.5f) ++t;
  else if (frac <= -0.5f) --t;
  return t;
}
#define TE_QUANTIZE_ROUND(v) round_half_away(v)
#endif

void te_quantize_f32_s8(int32_t n, const float* in, int8_t* out, double scale, int32_t zero_point) {
  const float fscale = (float)scale; /* TFLite divides by static_cast<float>(scale) */
  int32_t i;
  for (i = 0; i < n; ++i) {
    const float v = in[i] / fscale;
    int32_t r;
    if (v != v) r = 0;                    /* NaN */
    else if (v >= 4096.0f) r = 4096;      /* far beyond int8 range after any zero point */
    else if (v <= -4096.0f) r = -4096;
    else r = TE_QUANTIZE_ROUND(v);
    out[i] = (int8_t)clamp_s8(r + zero_point);
  }
}

void te_dequantize_s8_f32(int32_t n, const int8_t* in, float* out, double scale, int32_t zero_point) {
  int32_t i;
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
  /* onnxruntime's DequantizeLinear multiplies in float32 */
  const float fscale = (float)scale;
  for (i = 0; i < n; ++i) out[i] = (float)((int32_t)in[i] - zero_point) * fscale;
#else
  for (i = 0; i < n; ++i) out[i] = (float)(scale * (double)((int32_t)in[i] - zero_point));
#endif
}

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
/* onnxruntime runs an int8 -> int8 DequantizeLinear -> QuantizeLinear pair as two float ops:
 * ((float)(q - in_zp) * in_scale) / out_scale, rounded half to even. `mult` and `shift` carry the bits
 * of the float32 in_scale and out_scale in this build (no sum anywhere, so nothing to contract). */
void te_requantize_s8(int32_t n, const int8_t* in, int8_t* out, int32_t in_zp, int32_t out_zp,
                      int32_t mult, int32_t shift) {
  float in_scale, out_scale;
  int32_t i;
  memcpy(&in_scale, &mult, sizeof in_scale);
  memcpy(&out_scale, &shift, sizeof out_scale);
  for (i = 0; i < n; ++i) {
    const float v = ((float)((int32_t)in[i] - in_zp) * in_scale) / out_scale;
    const int32_t r = v >= 4096.0f ? 4096 : (v <= -4096.0f ? -4096 : te_round_half_even_f32(v));
    out[i] = (int8_t)clamp_s8(r + out_zp);
  }
}
#else
void te_requantize_s8(int32_t n, const int8_t* in, int8_t* out, int32_t in_zp, int32_t out_zp,
                      int32_t mult, int32_t shift) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    out[i] = (int8_t)clamp_s8(te_requantize((int32_t)in[i] - in_zp, mult, shift) + out_zp);
  }
}
#endif
