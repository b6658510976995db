/*
 * copy_rows_s8.c: strided int8 row copies, the data movement of CONCATENATION inputs that are not
 * written in place (graph inputs, a tensor given twice ...) and of channel slices (SPLIT,
 * STRIDED_SLICE): `rows` runs of `width` bytes, run r read at in + r * in_stride and written at
 * out + r * out_stride. Byte moves only: exact for equal input / output quantization (TFLite's int8
 * CONCATENATION requires it).
 */
#include <string.h>

#include "tinyengine_kernels.h"

void te_copy_rows_s8(int32_t rows, int32_t width, int32_t in_stride, int32_t out_stride, const int8_t* in,
                     int8_t* out) {
  int32_t r;
  if (in_stride == width && out_stride == width) {
    memcpy(out, in, (size_t)rows * (size_t)width);
    return;
  }
  for (r = 0; r < rows; ++r) memcpy(out + (size_t)r * out_stride, in + (size_t)r * in_stride, (size_t)width);
}

/* The same runs through a 256-entry table (out = table[(uint8_t)in]): a concat input whose quantization
 * differs from the output's, requantized as onnxruntime does (the table from the compiler). */
void te_copy_rows_lut_s8(int32_t rows, int32_t width, int32_t in_stride, int32_t out_stride, const int8_t* in,
                         int8_t* out, const int8_t* table) {
  int32_t r, i;
  for (r = 0; r < rows; ++r) {
    const int8_t* x = in + (size_t)r * in_stride;
    int8_t* y = out + (size_t)r * out_stride;
    for (i = 0; i < width; ++i) y[i] = table[(uint8_t)x[i]];
  }
}
