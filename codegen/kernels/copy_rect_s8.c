/* copy_rect_s8.c: copy a rectangle of rows between two row-strided int8 buffers (a patch stage's input window
 * gathered from a tensor, its output patch scattered into the stage's output). */
#include <string.h>

#include "tinyengine_kernels.h"

void te_copy_rect_s8(int8_t* dst, int32_t dst_stride, const int8_t* src, int32_t src_stride, int32_t row_bytes,
                     int32_t rows) {
  int32_t r;
  for (r = 0; r < rows; ++r) memcpy(dst + r * dst_stride, src + r * src_stride, (size_t)row_bytes);
}
