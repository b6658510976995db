/* pad_s8.c: constant padding of an NHWC (batch 1) int8 tensor (TFLite PAD / PADV2). */
#include <string.h>

#include "tinyengine_kernels.h"

void te_pad_s8(const te_pad_params* p, const int8_t* in, int8_t* out) {
  const int32_t c = p->c;
  const int32_t out_w = p->pad_left + p->in_w + p->pad_right;
  const int32_t out_row = out_w * c;
  const int32_t left = p->pad_left * c, mid = p->in_w * c, right = p->pad_right * c;
  int32_t y;
  if (p->pad_top > 0) memset(out, p->value, (size_t)(p->pad_top * out_row));
  out += p->pad_top > 0 ? p->pad_top * out_row : 0;
  for (y = 0; y < p->in_h; ++y) {
    if (left > 0) memset(out, p->value, (size_t)left);
    memcpy(out + left, in + y * mid, (size_t)mid);
    if (right > 0) memset(out + left + mid, p->value, (size_t)right);
    out += out_row;
  }
  if (p->pad_bottom > 0) memset(out, p->value, (size_t)(p->pad_bottom * out_row));
}
