/*
 * conv2d_s8.c: general int8 conv2d (any kernel size, stride, dilation, padding), NHWC input,
 * OHWI weights, per-output-channel requantization. Bit-exact with TFLite's
 * reference_integer_ops::ConvPerChannel: padding cells contribute nothing (they hold the input
 * zero point, i.e. 0 after adding in_offset).
 */
#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

void te_conv2d_s8(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                  const int32_t* bias, const int32_t* mult, const int32_t* shift, int8_t* out) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
  const int32_t out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w;
  const int32_t dil_h = p->dil_h > 0 ? p->dil_h : 1;
  const int32_t dil_w = p->dil_w > 0 ? p->dil_w : 1;
  const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
  const int32_t act_min = p->act_min, act_max = p->act_max;
  const int32_t groups = p->groups > 1 ? p->groups : 1;
  const int32_t icg = in_c / groups, ocg = out_c / groups; /* a grouped conv's channels per group */
  const int32_t w_oc_stride = k_h * k_w * icg;
  const int32_t in_row_stride = in_w * in_c;
  const int32_t out_skip = p->out_stride > 0 ? p->out_stride - p->out_c : 0; /* concat slice */
  int32_t oy, ox, oc, ky, kx, ic;

  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      if (oy | ox) out += out_skip; /* never past the slice's last pixel */
      for (oc = 0; oc < out_c; ++oc) {
        const int8_t* w_oc = weights + oc * w_oc_stride;
        const int32_t ic0 = (oc / ocg) * icg;
        int32_t acc = 0;
        for (ky = 0; ky < k_h; ++ky) {
          const int32_t iy = iy0 + ky * dil_h;
          const int8_t* in_row;
          const int8_t* w_row;
          if (iy < 0 || iy >= in_h) continue;
          in_row = in + iy * in_row_stride;
          w_row = w_oc + ky * k_w * icg;
          for (kx = 0; kx < k_w; ++kx) {
            const int32_t ix = ix0 + kx * dil_w;
            const int8_t* x;
            const int8_t* w;
            if (ix < 0 || ix >= in_w) continue;
            x = in_row + ix * in_c + ic0;
            w = w_row + kx * icg;
            for (ic = 0; ic < icg; ++ic) acc += ((int32_t)x[ic] + in_offset) * (int32_t)w[ic];
          }
        }
        if (bias) acc += bias[oc];
        acc = te_requantize(acc, mult[oc], shift[oc]) + out_offset;
        *out++ = (int8_t)clamp_i32(acc, act_min, act_max);
      }
    }
  }
}
