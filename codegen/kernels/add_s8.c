/*
 * add_s8.c: elementwise int8 ADD (same shapes), bit-exact with TFLite's
 * reference_integer_ops::Add: both inputs are offset, shifted left by left_shift (20), rescaled to
 * a common scale (twice the larger input scale), summed and rescaled to the output.
 */
#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

void te_add_s8(const te_add_params* p, const int8_t* in1, const int8_t* in2, int8_t* out) {
  /* (in + offset) lies in [-255, 255], so (in + offset) << 20 cannot overflow int32; the
   * multiplication by 2^left_shift is done on the unsigned representation to stay UB-free even
   * for out-of-contract parameters. */
  const uint32_t scale = (uint32_t)1 << (p->left_shift & 31);
  int32_t i;
  for (i = 0; i < p->n; ++i) {
    const int32_t a = (int32_t)((uint32_t)((int32_t)in1[i] + p->in1_offset) * scale);
    const int32_t b = (int32_t)((uint32_t)((int32_t)in2[i] + p->in2_offset) * scale);
    const int32_t sa = te_requantize(a, p->in1_mult, p->in1_shift);
    const int32_t sb = te_requantize(b, p->in2_mult, p->in2_shift);
    const int32_t r = te_requantize(sa + sb, p->out_mult, p->out_shift) + p->out_offset;
    out[i] = (int8_t)clamp_i32(r, p->act_min, p->act_max);
  }
}
