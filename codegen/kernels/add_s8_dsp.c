/*
 * add_s8_dsp.c: int8 ADD (TFLite's reference_integer_ops::Add with left_shift 20, same shapes) for
 * Armv7E-M DSP cores, the three MultiplyByQuantizedMultiplier steps computed with SMMULR:
 *   y = SMMULR(2 * v, mult) (= SaturatingRoundingDoublingHighMul(v, mult)), then
 *   RoundingDivideByPOT(y, right) = (y + 2^(right-1) + (y >> 31)) >> right   (right >= 1; y if 0).
 * Same parameters as te_add_s8; the compiler emits it only for layers with no left shifts whose
 * bounds make every step exact (codegen/dsp.py add_fast_ok). Element order as te_add_s8 (in-place safe).
 */
#include "tinyengine_kernels.h"

#include "te_dsp.h"


/* RoundingDivideByPOT(y, right) for right in [0, 30]: h = 2^(right-1) (0 if right == 0), neg = -1
 * if right > 0 else 0. */
static inline int32_t rdbp(int32_t y, int32_t h, int32_t neg, int32_t right) {
  return (int32_t)((uint32_t)y + (uint32_t)h + (uint32_t)((y >> 31) & neg)) >> right;
}

void te_add_s8_dsp(const te_add_params* p, const int8_t* in1, const int8_t* in2, int8_t* out) {
  const int32_t off1 = p->in1_offset, off2 = p->in2_offset, m1 = p->in1_mult, m2 = p->in2_mult;
  const int32_t r1 = -p->in1_shift, r2 = -p->in2_shift, ro = -p->out_shift, mo = p->out_mult;
  const int32_t h1 = r1 > 0 ? (int32_t)((uint32_t)1 << (r1 - 1)) : 0, n1 = r1 > 0 ? -1 : 0;
  const int32_t h2 = r2 > 0 ? (int32_t)((uint32_t)1 << (r2 - 1)) : 0, n2 = r2 > 0 ? -1 : 0;
  const int32_t ho = (int32_t)((uint32_t)(1 + 2 * p->out_offset) << (ro - 1));
  const int32_t sh = p->left_shift + 1, act_min = p->act_min, act_max = p->act_max;
  int32_t i;
  for (i = 0; i < p->n; ++i) {
    const int32_t a = (int32_t)((uint32_t)((int32_t)in1[i] + off1) << sh);
    const int32_t b = (int32_t)((uint32_t)((int32_t)in2[i] + off2) << sh);
    const int32_t sa = rdbp(smmulr(a, m1), h1, n1, r1);
    const int32_t sb = rdbp(smmulr(b, m2), h2, n2, r2);
    const int32_t y = smmulr((int32_t)((uint32_t)(sa + sb) << 1), mo);
    int32_t r = ssat8((int32_t)((uint32_t)y + (uint32_t)ho + (uint32_t)(y >> 31)) >> ro);
    r = r < act_min ? act_min : r;
    out[i] = (int8_t)(r > act_max ? act_max : r);
  }
}
