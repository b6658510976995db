/*
 * depthwise_conv2d_s8_inplace.c: te_depthwise_conv2d_s8 computed channel by channel, so that its
 * output may overwrite its own input (out == in), as TinyEngine does. For each channel c the input
 * plane in[.., c] is first copied into scratch (in_h * in_w bytes, inside the arena), then the
 * channel's outputs out[(oy * out_w + ox) * c_total + c] are computed from the copy. A write to
 * channel c only touches channel c's positions, whose input is already in scratch, so out == in is
 * safe for any stride / padding / dilation (out_h * out_w <= in_h * in_w). depth_multiplier must
 * be 1. Same accumulation order, so the same bytes as te_depthwise_conv2d_s8 (bit-exact with
 * TFLite's reference_integer_ops::DepthwiseConvPerChannel).
 */
#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

void te_depthwise_conv2d_s8_inplace(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                    const int32_t* bias, const int32_t* mult, const int32_t* shift,
                                    int8_t* out, int8_t* scratch) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c_total = p->in_c;
  const int32_t k_h = p->k_h, k_w = p->k_w;
  const int32_t dil_h = p->dil_h > 0 ? p->dil_h : 1;
  const int32_t dil_w = p->dil_w > 0 ? p->dil_w : 1;
  const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
  const int32_t act_min = p->act_min, act_max = p->act_max;
  const int32_t plane = in_h * in_w;
  int32_t c, i, oy, ox, ky, kx;

  for (c = 0; c < c_total; ++c) {
    for (i = 0; i < plane; ++i) scratch[i] = in[i * c_total + c];
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_top;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_left;
        int32_t acc = 0;
        for (ky = 0; ky < k_h; ++ky) {
          const int32_t iy = iy0 + ky * dil_h;
          if (iy < 0 || iy >= in_h) continue;
          for (kx = 0; kx < k_w; ++kx) {
            const int32_t ix = ix0 + kx * dil_w;
            if (ix < 0 || ix >= in_w) continue;
            acc += ((int32_t)scratch[iy * in_w + ix] + in_offset) *
                   (int32_t)weights[(ky * k_w + kx) * c_total + c];
          }
        }
        if (bias) acc += bias[c];
        acc = te_requantize(acc, mult[c], shift[c]) + out_offset;
        out[(oy * p->out_w + ox) * c_total + c] = (int8_t)clamp_i32(acc, act_min, act_max);
      }
    }
  }
}
