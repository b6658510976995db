/*
 * binary_s8_f32.c: int8 MUL / SUB / ADD with NHWC broadcasting in onnxruntime's arithmetic (graphs from ONNX /
 * PyTorch, TE_SINGLE_ROUNDING projects). onnxruntime's x86 CPU EP computes a QDQ Mul / Sub one of two ways:
 * - unfused (every Sub; a Mul touching a tensor with several readers, whose mixed int8 / uint8 QDQ group it
 *   does not fuse): DequantizeLinear -> float32 Mul / Sub -> QuantizeLinear. tab1 / tab2 [q + 128] are the
 *   DequantizeLinear tables, (float)(q - zp) * scale (compile time), then one float operation and
 *   nearbyint(v / out_scale) + out_zp (QuantizeLinear divides);
 * - fused QLinearMul on uint8 data (MLAS, SSE2 kernel): the exact integer product (a - za) * (b - zb),
 *   converted to float, times ratio = (float)(s_a * s_b) / s_out, plus (float)(out_zp + 128), rounded to
 *   nearest even (CVTPS2DQ), saturated through int16 to uint8;
 * - a broadcast Add: unfused as above, or fused QLinearAdd (add_s8_f32.c's FMA formula, fmaf from <math.h>).
 * Each float step is its own statement; the projects build with -std=c99 (no FP contraction into an FMA).
 */
#include <math.h>

#include "tinyengine_kernels.h"

static int32_t round_sat(float q) { /* nearest even, saturated to [-4096, 4096] (the results are clamped to 8 bits) */
  return q >= 4096.0f ? 4096 : (q <= -4096.0f ? -4096 : te_round_half_even_f32(q));
}

static int32_t one(const te_binary_f32_params* p, int32_t a, int32_t b, const float* tab1, const float* tab2) {
  float v, q;
  int32_t r;
  if (p->mode == TE_BINARY_F32_QLINEAR_MUL) {
    const int32_t prod = (a - p->in1_zp) * (b - p->in2_zp);
    v = (float)prod * p->ratio;
    q = v + p->zp_f;
    r = round_sat(q);
    r = (r < 0 ? 0 : (r > 255 ? 255 : r)) - 128; /* uint8 -> int8 */
  } else if (p->mode == TE_BINARY_F32_QLINEAR_ADD) { /* add_s8_f32.c's fused formula, one rounding per fmaf */
    q = fmaf(p->ratio, (float)(a + 128), fmaf(p->ratio2, (float)(b + 128), p->fixed));
    r = round_sat(q);
    r = (r < 0 ? 0 : (r > 255 ? 255 : r)) - 128;
  } else {
    v = p->mode == TE_BINARY_F32_SUB ? tab1[a + 128] - tab2[b + 128]
        : (p->mode == TE_BINARY_F32_ADD ? tab1[a + 128] + tab2[b + 128] : tab1[a + 128] * tab2[b + 128]);
    q = v / p->out_scale;
    r = round_sat(q) + p->out_zp;
  }
  return r < p->act_min ? p->act_min : (r > p->act_max ? p->act_max : r);
}

void te_binary_s8_f32(const te_binary_f32_params* p, const te_bcast_params* b, const int8_t* in1, const int8_t* in2,
                      const float* tab1, const float* tab2, int8_t* out) {
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < b->d[0]; ++i0) {
    for (i1 = 0; i1 < b->d[1]; ++i1) {
      for (i2 = 0; i2 < b->d[2]; ++i2) {
        const int8_t* x1 = in1 + i0 * b->s1[0] + i1 * b->s1[1] + i2 * b->s1[2];
        const int8_t* x2 = in2 + i0 * b->s2[0] + i1 * b->s2[1] + i2 * b->s2[2];
        for (i3 = 0; i3 < b->d[3]; ++i3) *out++ = (int8_t)one(p, x1[i3 * b->s1[3]], x2[i3 * b->s2[3]], tab1, tab2);
      }
    }
  }
}
