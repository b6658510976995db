/*
 * clamp_s8.c: clamp int8 values in place to [lo, hi].
 *
 * A standalone TFLite RELU / RELU6 / RELU_N1_TO_1 is LiteRT's ReluX: requantize (te_requantize_s8), then
 * clamp to the activation's int8 range; the emitter calls this on the requantized output.
 */
#include "tinyengine_kernels.h"

void te_clamp_s8(int32_t n, int8_t* data, int32_t lo, int32_t hi) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t v = data[i];
    data[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
  }
}
