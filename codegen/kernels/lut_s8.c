/*
 * lut_s8.c: an int8 -> int8 function of one tensor as a 256-entry table.
 *
 * An int8 input takes 256 values, so every elementwise unary op (and a binary op with a scalar
 * constant operand) is exactly its table; the compiler fills the table from the reference's own
 * arithmetic (codegen/lut.py), the kernel only indexes it. In-place safe (element order).
 */
#include "tinyengine_kernels.h"

void te_lut_s8(int32_t n, const int8_t* in, int8_t* out, const int8_t* table) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = table[(uint8_t)in[i]];
}
