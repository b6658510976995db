/*
 * mean_s8.c: int8 MEAN over the middle axis of a contiguous [outer][reduce][inner] view.
 *
 * Semantics of LiteRT's reference MEAN for int8 (tflite/kernels/reduce.cc EvalMean ->
 * reference_ops::QuantizedMeanOrSum with compute_sum = false), whatever the scales:
 *   multiplier, shift = QuantizeMultiplier(input_scale / output_scale)        (te_mean_params)
 *   s     = min(floor(log2(n)), 32, 31 + shift)     n = number of reduced elements
 *   mult' = (multiplier * 2^s) / n                  (int64, truncating)
 *   shift'= shift - s
 *   out   = clamp(MultiplyByQuantizedMultiplier(sum(in) - in_zp * n, mult', shift') + out_zp)
 * The same arithmetic is used when input and output share scale and zero point (the vww head).
 * Several reduced axes that are adjacent in memory (e.g. H and W of NHWC) are one `reduce` here.
 */
#include "tinyengine_kernels.h"

/* fold 1/n into the multiplier exactly as TFLite does (also used by te_mean_s8_dsp) */
void te_mean_fold(int32_t n, int32_t* mult, int32_t* shift) {
  int32_t s = 0;
  while (((uint32_t)n >> (s + 1)) != 0u && s < 30) ++s; /* floor(log2(n)) for n < 2^31 */
  if (s > 32) s = 32;
  if (s > 31 + *shift) s = 31 + *shift;
  if (s < 0) s = 0;
  *mult = (int32_t)((int64_t)(((uint64_t)(uint32_t)*mult) << s) / (int64_t)n);
  *shift = *shift - s;
}

void te_mean_s8(const te_mean_params* p, const int8_t* in, int8_t* out) {
  const int32_t outer = p->outer, n = p->reduce, inner = p->inner;
  int32_t mult = p->mult, shift = p->shift;
  int32_t o, r, i;

  if (n <= 0) return; /* empty reduction: TFLite leaves the zero-initialised output alone */
  if (p->exact == 2) {
    /* onnxruntime (QLinearGlobalAveragePool): (mult, shift) is already the float32 requantization of
     * te_requantize's TE_SINGLE_ROUNDING build, x_scale / (y_scale * n), 1/n included: no folding. */
    for (o = 0; o < outer; ++o) {
      const int8_t* base = in + o * n * inner;
      for (i = 0; i < inner; ++i) {
        int32_t sum = 0, v;
        const int8_t* x = base + i;
        for (r = 0; r < n; ++r) sum += x[r * inner];
        v = te_requantize(sum - p->in_zp * n, mult, shift) + p->out_zp;
        *out++ = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
      }
    }
    return;
  }
  if (p->exact) {
    /* one rounding of (sum - in_zp*n) * mult * 2^shift / (2^31 * n), ties away from zero */
    const int32_t e = 31 - shift;
    int64_t den;
    int32_t bits = 0;
    while (((uint32_t)n >> bits) != 0u && bits < 31) ++bits;
    if (e < 0 || e + bits > 62) { /* ratio outside what the int64 division below can hold */
      for (o = 0; o < outer * inner; ++o) {
        int32_t v = p->out_zp;
        out[o] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
      }
      return;
    }
    den = (int64_t)n << e;
    for (o = 0; o < outer; ++o) {
      const int8_t* base = in + o * n * inner;
      for (i = 0; i < inner; ++i) {
        int32_t sum = 0, v;
        int64_t num, q;
        const int8_t* x = base + i;
        for (r = 0; r < n; ++r) sum += x[r * inner];
        num = (int64_t)(sum - p->in_zp * n) * (int64_t)mult;
        q = num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
        v = (int32_t)(q > 1000 ? 1000 : (q < -1000 ? -1000 : q)) + p->out_zp;
        *out++ = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
      }
    }
    return;
  }
  te_mean_fold(n, &mult, &shift);

  for (o = 0; o < outer; ++o) {
    const int8_t* base = in + o * n * inner;
    for (i = 0; i < inner; ++i) {
      int32_t sum = 0, v;
      const int8_t* x = base + i;
      for (r = 0; r < n; ++r) sum += x[r * inner];
      v = te_requantize(sum - p->in_zp * n, mult, shift) + p->out_zp;
      *out++ = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
  }
}
