/*
 * mul_s8.c: int8 MUL with NHWC broadcasting, bit-exact with TFLite's reference_integer_ops::Mul /
 * BroadcastMul6DSlow: out = clamp(out_offset + MultiplyByQuantizedMultiplier((x1 + in1_offset) *
 * (x2 + in2_offset), out_mult, out_shift), act_min, act_max); |product| <= 255 * 255, no overflow.
 * The broadcast is te_bcast_params' four loops; outputs are written in order (in place over a
 * full-size in1 is safe).
 */
#include "tinyengine_kernels.h"

void te_mul_s8(const te_mul_params* p, const te_bcast_params* b, const int8_t* in1, const int8_t* in2, int8_t* out) {
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < b->d[0]; ++i0) {
    for (i1 = 0; i1 < b->d[1]; ++i1) {
      for (i2 = 0; i2 < b->d[2]; ++i2) {
        const int8_t* a = in1 + i0 * b->s1[0] + i1 * b->s1[1] + i2 * b->s1[2];
        const int8_t* c = in2 + i0 * b->s2[0] + i1 * b->s2[1] + i2 * b->s2[2];
        for (i3 = 0; i3 < b->d[3]; ++i3) {
          const int32_t v = ((int32_t)a[i3 * b->s1[3]] + p->in1_offset) * ((int32_t)c[i3 * b->s2[3]] + p->in2_offset);
          int32_t r = te_requantize(v, p->out_mult, p->out_shift) + p->out_offset;
          r = r < p->act_min ? p->act_min : (r > p->act_max ? p->act_max : r);
          *out++ = (int8_t)r;
        }
      }
    }
  }
}
