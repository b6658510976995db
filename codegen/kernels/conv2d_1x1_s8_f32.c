/*
 * conv2d_1x1_s8_f32.c: a pointwise conv computed the way onnxruntime's CPU EP computes a QDQ Conv
 * it leaves unfused. On x86, ORT keeps int8 (not uint8) activations on a tensor read by several
 * nodes (a residual block's input and output) and then declines to fuse the DequantizeLinear ->
 * Conv -> QuantizeLinear group into QLinearConv: it dequantizes, runs MLAS's float SGEMM and
 * quantizes. Reproduced bit for bit (measured against onnxruntime, see tests/test_ort_arith.py):
 *   x[k] = (float)(q - x_zp) * x_scale, w[k] = (float)qw * w_scale[oc], b = (float)bias * b_scale[oc]
 *   acc  = for each block of 128 k (SGEMM's depth blocking): a fused multiply-add chain from 0.0f in
 *          k order, the block sums added in float
 *   out  = clamp(round_half_even((acc + b) / y_scale) + y_zp)
 * in_tab[q + 128] is x's DequantizeLinear and bias_f[oc] the bias's, precomputed in float32. fmaf is the point here (one rounding per
 * step, as MLAS's FMA kernels), so this file needs <math.h>; no other float expression has both a
 * product and a sum, so FMA contraction cannot alter anything. Same loop order and overlap contract
 * as te_conv2d_1x1_s8 (1x1, stride 1, no padding).
 */
#include <math.h>

#include "tinyengine_kernels.h"

#define TE_SGEMM_DEPTH_BLOCK 128

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

void te_conv2d_1x1_s8_f32(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                          const float* in_tab, const float* w_scale, const float* bias_f, float out_scale,
                          int8_t* out) {
  const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->out_h * p->out_w;
  int32_t pix, oc, k0, k;

  for (pix = 0; pix < pixels; ++pix) {
    const int8_t* x = in + pix * in_c;
    const int8_t* w = weights;
    for (oc = 0; oc < out_c; ++oc, w += in_c) {
      const float ws = w_scale[oc];
      float acc = 0.0f, q;
      int32_t r;
      for (k0 = 0; k0 < in_c; k0 += TE_SGEMM_DEPTH_BLOCK) {
        const int32_t k1 = in_c - k0 > TE_SGEMM_DEPTH_BLOCK ? k0 + TE_SGEMM_DEPTH_BLOCK : in_c;
        float block = 0.0f;
        for (k = k0; k < k1; ++k) block = fmaf(in_tab[(int32_t)x[k] + 128], (float)w[k] * ws, block);
        acc = k0 == 0 ? block : acc + block;
      }
      if (bias_f) acc = acc + bias_f[oc];
      q = acc / out_scale;
      r = q >= 4096.0f ? 4096 : (q <= -4096.0f ? -4096 : te_round_half_even_f32(q));
      *out++ = (int8_t)clamp_i32(r + p->out_offset, p->act_min, p->act_max);
    }
  }
}
