/*
 * fully_connected_s8.c: int8 fully connected, weights [out_n][in_n], per-tensor or per-channel
 * requantization. Bit-exact with TFLite's reference_integer_ops::FullyConnected /
 * FullyConnectedPerChannel (int8 weights are symmetric: weight zero point 0).
 */
#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

void te_fully_connected_s8(const te_fc_params* p, const int8_t* in, const int8_t* weights,
                           const int32_t* bias, const int32_t* mult, const int32_t* shift,
                           int8_t* out) {
  const int32_t in_n = p->in_n, out_n = p->out_n;
  const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
  const int32_t act_min = p->act_min, act_max = p->act_max;
  int32_t b, o, i;

  for (b = 0; b < p->batches; ++b) {
    const int8_t* x = in + b * in_n;
    const int8_t* w = weights;
    for (o = 0; o < out_n; ++o, w += in_n) {
      const int32_t ch = p->per_channel ? o : 0;
      int32_t acc = bias ? bias[o] : 0;
      for (i = 0; i < in_n; ++i) acc += ((int32_t)x[i] + in_offset) * (int32_t)w[i];
      acc = te_requantize(acc, mult[ch], shift[ch]) + out_offset;
      *out++ = (int8_t)clamp_i32(acc, act_min, act_max);
    }
  }
}
