/*
 * transpose_s8.c: int8 TRANSPOSE of a tensor of up to 4 dimensions (leading 1s) that no pass could fold
 * away: output axis k is input axis perm[k]; the output is written in order, the input read through
 * its strides. Exact (values only move).
 */
#include "tinyengine_kernels.h"

void te_transpose_s8(const te_transpose_params* p, const int8_t* in, int8_t* out) {
  int32_t stride[4], s[4], o[4], k, i0, i1, i2, i3;
  stride[3] = 1;
  for (k = 2; k >= 0; --k) stride[k] = stride[k + 1] * p->in_dims[k + 1];
  for (k = 0; k < 4; ++k) {
    s[k] = stride[p->perm[k]];
    o[k] = p->in_dims[p->perm[k]];
  }
  for (i0 = 0; i0 < o[0]; ++i0)
    for (i1 = 0; i1 < o[1]; ++i1)
      for (i2 = 0; i2 < o[2]; ++i2) {
        const int8_t* x = in + i0 * s[0] + i1 * s[1] + i2 * s[2];
        for (i3 = 0; i3 < o[3]; ++i3) *out++ = x[i3 * s[3]];
      }
}
