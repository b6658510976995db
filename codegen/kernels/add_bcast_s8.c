/*
 * add_bcast_s8.c: int8 ADD / SUB with NHWC broadcasting, bit-exact with TFLite's reference
 * BroadcastAdd6DSlow / BroadcastSubSlow: te_add_s8's arithmetic per element (SUB is ADD with the
 * second input's multiplier negated, as sub.cc prepares it), the operands indexed through
 * te_bcast_params' four loops. Outputs are written in order.
 */
#include "tinyengine_kernels.h"

void te_add_bcast_s8(const te_add_params* p, const te_bcast_params* b, const int8_t* in1, const int8_t* in2,
                     int8_t* out) {
  const uint32_t scale = (uint32_t)1 << (p->left_shift & 31);
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < b->d[0]; ++i0) {
    for (i1 = 0; i1 < b->d[1]; ++i1) {
      for (i2 = 0; i2 < b->d[2]; ++i2) {
        const int8_t* x1 = in1 + i0 * b->s1[0] + i1 * b->s1[1] + i2 * b->s1[2];
        const int8_t* x2 = in2 + i0 * b->s2[0] + i1 * b->s2[1] + i2 * b->s2[2];
        for (i3 = 0; i3 < b->d[3]; ++i3) {
          /* (x + offset) in [-255, 255]: the shift by 20 stays inside int32 (done unsigned: no UB) */
          const int32_t a = (int32_t)((uint32_t)((int32_t)x1[i3 * b->s1[3]] + p->in1_offset) * scale);
          const int32_t c = (int32_t)((uint32_t)((int32_t)x2[i3 * b->s2[3]] + p->in2_offset) * scale);
          const int32_t sa = te_requantize(a, p->in1_mult, p->in1_shift);
          const int32_t sc = te_requantize(c, p->in2_mult, p->in2_shift);
          int32_t r = te_requantize(sa + sc, p->out_mult, p->out_shift) + p->out_offset;
          r = r < p->act_min ? p->act_min : (r > p->act_max ? p->act_max : r);
          *out++ = (int8_t)r;
        }
      }
    }
  }
}
