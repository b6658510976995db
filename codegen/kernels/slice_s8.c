/*
 * slice_s8.c: int8 STRIDED_SLICE (and SPLIT / SPLIT_V outputs) of a tensor of up to 4 dimensions
 * (leading 1s): out[i0][i1][i2][i3] = in[b0 + i0*s0][b1 + i1*s1][b2 + i2*s2][b3 + i3*s3], out written
 * in order. A unit step on the last axis copies whole runs. Exact (values only move).
 */
#include <string.h>

#include "tinyengine_kernels.h"

void te_slice_s8(const te_slice_params* p, const int8_t* in, int8_t* out) {
  const int32_t* d = p->in_dims;
  const int32_t* o = p->out_dims;
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < o[0]; ++i0) {
    for (i1 = 0; i1 < o[1]; ++i1) {
      for (i2 = 0; i2 < o[2]; ++i2) {
        const int8_t* row = in + (((int32_t)(p->begin[0] + i0 * p->step[0]) * d[1] + p->begin[1] + i1 * p->step[1]) * d[2] +
                                  p->begin[2] + i2 * p->step[2]) * d[3] + p->begin[3];
        if (p->step[3] == 1) {
          memcpy(out, row, (size_t)o[3]);
          out += o[3];
        } else {
          for (i3 = 0; i3 < o[3]; ++i3) *out++ = row[i3 * p->step[3]];
        }
      }
    }
  }
}
