/*
 * conv2d_1x1_s8_f32_fpu.c: onnxruntime's unfused QDQ pointwise Conv (DequantizeLinear -> MLAS float
 * SGEMM -> QuantizeLinear) on a Cortex-M FPU with fused multiply-add (VFMA.F32), byte-identical with
 * te_conv2d_1x1_s8_f32 / te_conv2d_s8_f32 (row mode 0 everywhere) for the same layer:
 *
 *   per output, in k order, an fmaf chain from 0 over each depth block of f->seg_kblock[i] k (the
 *   block MLAS's SGEMM chose for the thread segment holding the pixel), the block sums added in float
 *   in block order, + the dequantized bias, / y_scale, rounded half to even, + y_zp, clamped.
 *
 * Every output's own operations and their order are the portable kernels'; what changes is which
 * outputs are in flight: four output channels of one pixel at a time, so each input value is read and
 * dequantized (in_tab) once for four filters. VFMA.F32 rounds once, as fmaf; the build must not
 * contract other float expressions (ISO C mode, -std=c99; the pragma asks the same of clang).
 * Overlap contract: the portable 1x1 order's (each pixel's outputs written in increasing address
 * order after its inputs are read; reads here only earlier, writes only later).
 */
#include <math.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#ifdef TE_CONV_F32_PROBE
/* Test builds only (tests/test_arithmetic.py): conv2d_s8_f32.c's probe, fed acc + b of every output in output
 * order, so the float sums can be compared with the portable kernel's bit for bit. */
extern float* te_conv_f32_probe;
#define TE_PROBE(v) \
  do { if (te_conv_f32_probe) *te_conv_f32_probe++ = (v); } while (0)
#else
#define TE_PROBE(v) ((void)0)
#endif

static int8_t quantize_out(const te_conv_params* p, float acc, float out_scale) {
  const float q = acc / out_scale; /* QuantizeLinear divides (no reciprocal) */
  int32_t r = q >= 4096.0f ? 4096 : (q <= -4096.0f ? -4096 : te_cvtr_s32_f32(q));
  TE_PROBE(acc);
  r += p->out_offset;
  return (int8_t)(r < p->act_min ? p->act_min : (r > p->act_max ? p->act_max : r));
}

static int32_t pixel_kblock(const te_conv_f32_params* f, int32_t pixel, int32_t depth) {
  int32_t i = 0, kb;
  while (i < 3 && pixel >= f->seg_end[i]) ++i;
  kb = f->seg_kblock[i];
  return kb <= 0 || kb > depth ? depth : kb;
}

void te_conv2d_1x1_s8_f32_fpu(const te_conv_params* p, const te_conv_f32_params* f, const int8_t* in,
                              const int8_t* weights, const float* in_tab, const float* w_scale, const float* bias_f,
                              int8_t* out) {
  const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->out_h * p->out_w;
  const float out_scale = f->out_scale;
  int32_t pix, oc, k0, k;

  for (pix = 0; pix < pixels; ++pix) {
    const int8_t* x = in + pix * in_c;
    const int32_t kb = pixel_kblock(f, pix, in_c);
    for (oc = 0; oc + 4 <= out_c; oc += 4) {
      const int8_t *w0 = weights + oc * in_c, *w1 = w0 + in_c, *w2 = w1 + in_c, *w3 = w2 + in_c;
      const float s0 = w_scale[oc], s1 = w_scale[oc + 1], s2 = w_scale[oc + 2], s3 = w_scale[oc + 3];
      float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
      for (k0 = 0; k0 < in_c; k0 += kb) {
        const int32_t k1 = in_c - k0 > kb ? k0 + kb : in_c;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (k = k0; k < k1; ++k) {
          const float xv = in_tab[(int32_t)x[k] + 128];
          a0 = fmaf(xv, (float)w0[k] * s0, a0);
          a1 = fmaf(xv, (float)w1[k] * s1, a1);
          a2 = fmaf(xv, (float)w2[k] * s2, a2);
          a3 = fmaf(xv, (float)w3[k] * s3, a3);
        }
        if (k0 == 0) {
          t0 = a0, t1 = a1, t2 = a2, t3 = a3;
        } else {
          t0 = t0 + a0, t1 = t1 + a1, t2 = t2 + a2, t3 = t3 + a3;
        }
      }
      if (bias_f) {
        t0 = t0 + bias_f[oc], t1 = t1 + bias_f[oc + 1], t2 = t2 + bias_f[oc + 2], t3 = t3 + bias_f[oc + 3];
      }
      out[0] = quantize_out(p, t0, out_scale);
      out[1] = quantize_out(p, t1, out_scale);
      out[2] = quantize_out(p, t2, out_scale);
      out[3] = quantize_out(p, t3, out_scale);
      out += 4;
    }
    for (; oc < out_c; ++oc) {
      const int8_t* w = weights + oc * in_c;
      const float s = w_scale[oc];
      float t = 0.0f;
      for (k0 = 0; k0 < in_c; k0 += kb) {
        const int32_t k1 = in_c - k0 > kb ? k0 + kb : in_c;
        float a = 0.0f;
        for (k = k0; k < k1; ++k) a = fmaf(in_tab[(int32_t)x[k] + 128], (float)w[k] * s, a);
        t = k0 == 0 ? a : t + a;
      }
      if (bias_f) t = t + bias_f[oc];
      *out++ = quantize_out(p, t, out_scale);
    }
  }
}
