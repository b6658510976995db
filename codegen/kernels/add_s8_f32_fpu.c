/*
 * add_s8_f32_fpu.c: te_add_s8_f32 (onnxruntime's QDQ Add: its float Add, or QLinearAdd on uint8 data)
 * on a Cortex-M FPU, byte-identical with it: the same float32 operations per element (fmaf is
 * VFMA.F32, one rounding; the division VDIV.F32), the round half to even by VCVTR.S32.F32 in the
 * default rounding mode (te_dsp.h te_cvtr_s32_f32, equal to te_round_half_even_f32 below 2^30; the
 * results are clamped to +-4096 first either way), and the mode tested once, not per element.
 * Elementwise, in order: the portable kernel's overlap contract.
 */
#include <math.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

static int32_t round_sat(float q) {
  return q >= 4096.0f ? 4096 : (q <= -4096.0f ? -4096 : te_cvtr_s32_f32(q));
}

void te_add_s8_f32_fpu(const te_add_f32_params* p, const int8_t* in1, const int8_t* in2, const float* in1_tab,
                       const float* in2_tab, int8_t* out) {
  const int32_t n = p->n, lo = p->act_min, hi = p->act_max;
  int32_t i, r;
  if (p->fused) {
    const float r1 = p->ratio1, r2 = p->ratio2, fixed = p->fixed;
    for (i = 0; i < n; ++i) {
      r = round_sat(fmaf(r1, (float)((int32_t)in1[i] + 128), fmaf(r2, (float)((int32_t)in2[i] + 128), fixed))) - 128;
      out[i] = (int8_t)(r < lo ? lo : (r > hi ? hi : r));
    }
  } else {
    const float out_scale = p->out_scale;
    const int32_t zp = p->out_zp;
    for (i = 0; i < n; ++i) {
      r = round_sat((in1_tab[(int32_t)in1[i] + 128] + in2_tab[(int32_t)in2[i] + 128]) / out_scale) + zp;
      out[i] = (int8_t)(r < lo ? lo : (r > hi ? hi : r));
    }
  }
}
