/*
 * add_s8_mve.c: int8 ADD in te_add_s8_lin_dsp's exact linear form with Helium, 4 elements per vector:
 *   clamp((a * x1 + b * x2 + c) >> shift, act_min, act_max) == te_add_s8(x1, x2)
 * for every int8 pair, with the sum inside int32 (codegen/dsp.py add_linear proves both); act_min / act_max lie
 * in int8, so the clamp also does te_add_s8_lin_dsp's saturation to int8.
 * Overlap: out[i..i+3] is written after in1[i..i+3] and in2[i..i+3] are read (te_add_s8's contract).
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE

void te_add_s8_lin_mve(int32_t n, const int8_t* in1, const int8_t* in2, int8_t* out, int32_t a, int32_t b, int32_t c,
                       int32_t shift, int32_t act_min, int32_t act_max) {
  const int32x4_t cv = vdupq_n_s32(c), lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
  const int32_t right = -shift;
  int32_t i;
  for (i = 0; i + 4 <= n; i += 4) {
    int32x4_t v = vmlaq_n_s32(cv, vldrbq_s32(in1 + i), a);
    v = vshlq_r_s32(vmlaq_n_s32(v, vldrbq_s32(in2 + i), b), right);
    vstrbq_s32(out + i, vminq_s32(vmaxq_s32(v, lo), hi));
  }
  if (i < n) {
    const mve_pred16_t m = vctp32q((uint32_t)(n - i));
    int32x4_t v = vmlaq_n_s32(cv, vldrbq_z_s32(in1 + i, m), a);
    v = vshlq_r_s32(vmlaq_n_s32(v, vldrbq_z_s32(in2 + i, m), b), right);
    vstrbq_p_s32(out + i, vminq_s32(vmaxq_s32(v, lo), hi), m);
  }
}

#else
typedef int te_add_s8_mve_unused; /* not an MVE core: nothing to build */
#endif
