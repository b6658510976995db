/*
 * softmax_s8.c: int8 SOFTMAX over the last axis, the computation LiteRT's BUILTIN_REF runs for int8
 * (its float lookup-table softmax): per row, with m the row's maximum,
 *   e[c]   = table[255 - m + x[c]]          (table[255 - d] = expf(-d * in_scale * beta), float32, from
 *                                            the compiler: the host C library's expf, as LiteRT calls it)
 *   sum    = e[0] + e[1] + ... in float32, in order
 *   y[c]   = clamp(round(e[c] * (1 / (sum * out_scale))) + out_zp)   (round half away from zero)
 * All float32 (the C99 build does not contract a * b + c). No libm: e[c] * inv >= 0, so rounding is
 * the truncation of the exact double sum p + 0.5.
 */
#include "tinyengine_kernels.h"

void te_softmax_s8(int32_t rows, int32_t cols, const float* table, float out_scale, int32_t out_zp,
                   const int8_t* in, int8_t* out) {
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    const int8_t* x = in + (int32_t)r * cols;
    int8_t* y = out + (int32_t)r * cols;
    int32_t mx = -128;
    float sum = 0.0f, inv;
    for (c = 0; c < cols; ++c) mx = x[c] > mx ? x[c] : mx;
    for (c = 0; c < cols; ++c) sum += table[255 - mx + x[c]];
    inv = 1.0f / (sum * out_scale);
    for (c = 0; c < cols; ++c) {
      const float p = table[255 - mx + x[c]] * inv;
      int32_t q = (int32_t)((double)p + 0.5) + out_zp;
      y[c] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
    }
  }
}
