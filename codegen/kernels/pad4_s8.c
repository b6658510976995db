/*
 * pad4_s8.c: constant padding of an int8 tensor of up to 4 dimensions along any axes (TFLite PAD /
 * PADV2 over channels or batch; spatial-only pads take te_pad_s8): the output is filled with the pad
 * value, then every innermost run of the input is copied to its place. Exact (values only move).
 */
#include <string.h>

#include "tinyengine_kernels.h"

void te_pad4_s8(const te_pad4_params* p, const int8_t* in, int8_t* out) {
  const int32_t* d = p->in_dims;
  const int32_t* b = p->before;
  int32_t o[4], i0, i1, i2, k;
  for (k = 0; k < 4; ++k) o[k] = b[k] + d[k] + p->after[k];
  memset(out, p->value, (size_t)o[0] * (size_t)o[1] * (size_t)o[2] * (size_t)o[3]);
  for (i0 = 0; i0 < d[0]; ++i0)
    for (i1 = 0; i1 < d[1]; ++i1)
      for (i2 = 0; i2 < d[2]; ++i2) {
        const size_t dst = (((size_t)(i0 + b[0]) * o[1] + (size_t)(i1 + b[1])) * o[2] + (size_t)(i2 + b[2])) * o[3] + b[3];
        memcpy(out + dst, in, (size_t)d[3]);
        in += d[3];
      }
}
