/*
 * resize_nearest_s8.c: nearest-neighbour resize (upsampling or downsampling) of an NHWC
 * (batch 1) int8 tensor, TFLite RESIZE_NEAREST_NEIGHBOR: no requantization (input and output
 * share their quantization parameters).
 *
 * Which input row / column each output row / column copies depends on align_corners,
 * half_pixel_centers and TFLite's float32 index arithmetic; the compiler evaluates that once
 * and passes the tables (rows[out_h], cols[out_w]). An output row whose source row equals the
 * previous one is a copy of the previous output row: for an integer upsampling factor f only
 * one row in f is gathered pixel by pixel.
 */
#include <string.h>

#include "tinyengine_kernels.h"

void te_resize_nearest_s8(const te_resize_params* p, const int16_t* rows, const int16_t* cols, const int8_t* in,
                          int8_t* out) {
  const int32_t c = p->c, out_row = p->out_w * c, in_row = p->in_w * c;
  int32_t oy, ox;
  for (oy = 0; oy < p->out_h; ++oy) {
    int8_t* o = out + oy * out_row;
    if (oy > 0 && rows[oy] == rows[oy - 1]) {
      memcpy(o, o - out_row, (size_t)out_row);
      continue;
    }
    {
      const int8_t* src = in + rows[oy] * in_row;
      for (ox = 0; ox < p->out_w; ++ox) memcpy(o + ox * c, src + cols[ox] * c, (size_t)c);
    }
  }
}
