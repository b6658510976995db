/*
 * conv2d_1x1_s8.c: pointwise int8 conv2d (1x1 kernel, no padding). With stride 1 it is a GEMM
 * over pixels: out[pix][oc] = requant(sum_ic (in[pix][ic] + in_offset) * w[oc][ic] + bias[oc]).
 * Strides > 1 are accepted too (the input pixel is (oy*stride_h, ox*stride_w)).
 * Bit-exact with TFLite's reference_integer_ops::ConvPerChannel for these shapes.
 */
#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

void te_conv2d_1x1_s8(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                      const int32_t* bias, const int32_t* mult, const int32_t* shift, int8_t* out) {
  const int32_t in_c = p->in_c, out_c = p->out_c;
  const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
  const int32_t act_min = p->act_min, act_max = p->act_max;
  const int32_t sh = p->stride_h > 0 ? p->stride_h : 1;
  const int32_t sw = p->stride_w > 0 ? p->stride_w : 1;
  const int32_t out_skip = p->out_stride > 0 ? p->out_stride - p->out_c : 0; /* concat slice */
  int32_t oy, ox, oc, ic;

  for (oy = 0; oy < p->out_h; ++oy) {
    const int8_t* in_row = in + (oy * sh) * p->in_w * in_c;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int8_t* x = in_row + (ox * sw) * in_c;
      if (oy | ox) out += out_skip; /* never past the slice's last pixel */
      const int8_t* w = weights;
      for (oc = 0; oc < out_c; ++oc, w += in_c) {
        int32_t acc = bias ? bias[oc] : 0;
        for (ic = 0; ic < in_c; ++ic) acc += ((int32_t)x[ic] + in_offset) * (int32_t)w[ic];
        acc = te_requantize(acc, mult[oc], shift[oc]) + out_offset;
        *out++ = (int8_t)clamp_i32(acc, act_min, act_max);
      }
    }
  }
}
