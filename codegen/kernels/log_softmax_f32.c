/*
 * log_softmax_f32.c: float LOG_SOFTMAX over the last axis, TFLite reference formula:
 *   max = max_c x[c];  sum = sum_c expf(x[c] - max);  out[c] = x[c] - max - logf(sum)
 * evaluated in float32 in that order.
 */
#include <math.h>

#include "tinyengine_kernels.h"

void te_log_softmax_f32(int32_t rows, int32_t cols, const float* in, float* out) {
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    const float* x = in + r * cols;
    float* y = out + r * cols;
    float max = -3.40282347e+38f; /* std::numeric_limits<float>::lowest() */
    float sum = 0.0f, log_sum;
    for (c = 0; c < cols; ++c) max = x[c] > max ? x[c] : max;
    for (c = 0; c < cols; ++c) sum += expf(x[c] - max);
    log_sum = logf(sum);
    for (c = 0; c < cols; ++c) y[c] = x[c] - max - log_sum;
  }
}
