/*
 * mul_s8_gate_dsp.c: the excitation of an SE block, out[p][c] = in1[p][c] * gate[c] (te_mul_s8 with in1
 * [pixels][c] and a per-channel in2), for Armv7E-M DSP cores. TFLite's arithmetic (TFLite-imported
 * graphs only; onnxruntime-arithmetic graphs never reach this kernel):
 *   acc = (x + in1_offset) * (g + in2_offset)          |acc| <= 255 * 255
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, out_mult, out_shift) + out_offset)
 * computed per element as MLA (2 acc = x * G2 + K2 with G2 = 2 (g + in2_offset), K2 = in1_offset * G2,
 * both per channel) and te_dsp.h's rq_dw8: SSAT8((SMMLAR(2 acc, mult, rnd) + (2 acc >> 31)) >> right),
 * exact where codegen/dsp.py's fast_requant_ok holds for |acc| <= 255 * 255 (no left shift, right >= 1).
 *
 * Channel-major order (each channel's gate stays in registers, four pixels per step): every output byte is
 * written right after its own input byte is read, and no other output reads that byte, so the kernel is
 * safe in place (out == in1); the compiler emits it only in place or with out apart from both inputs
 * (its order differs from te_mul_s8's, whose overlap contract the planner may have used otherwise).
 */
#include "tinyengine_kernels.h"

#include "te_dsp.h"

#define INLINE_MUL static inline __attribute__((always_inline))

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
INLINE_MUL int32_t mla_(int32_t x, int32_t y, int32_t acc) {
  int32_t r;
  __asm__("mla %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
  return r;
}
#else
INLINE_MUL int32_t mla_(int32_t x, int32_t y, int32_t acc) { return (int32_t)((uint32_t)x * (uint32_t)y + (uint32_t)acc); }
#endif

INLINE_MUL int32_t one(int32_t x, int32_t g2, int32_t k2, int32_t mult, int32_t rnd, int32_t right, int clamp,
                       int32_t lo, int32_t hi) {
  int32_t r = rq_dw8(mla_(x, g2, k2), mult, rnd, right);
  if (clamp) r = r < lo ? lo : (r > hi ? hi : r);
  return r;
}

INLINE_MUL void body(const te_mul_params* p, int32_t pixels, int32_t c, const int8_t* in1, const int8_t* in2,
                     int8_t* out, int clamp) {
  const int32_t mult = p->out_mult, right = -p->out_shift, lo = p->act_min, hi = p->act_max;
  const int32_t rnd = TE_DW_RND(1 + 2 * p->out_offset, right);
  int32_t ch, k;
  for (ch = 0; ch < c; ++ch) {
    const int32_t g2 = 2 * ((int32_t)in2[ch] + p->in2_offset), k2 = p->in1_offset * g2;
    const int8_t* x = in1 + ch;
    int8_t* y = out + ch;
    for (k = pixels >> 2; k > 0; --k) {
      const int32_t x0 = x[0], x1 = x[c], x2 = x[2 * c], x3 = x[3 * c];
      y[0] = (int8_t)one(x0, g2, k2, mult, rnd, right, clamp, lo, hi);
      y[c] = (int8_t)one(x1, g2, k2, mult, rnd, right, clamp, lo, hi);
      y[2 * c] = (int8_t)one(x2, g2, k2, mult, rnd, right, clamp, lo, hi);
      y[3 * c] = (int8_t)one(x3, g2, k2, mult, rnd, right, clamp, lo, hi);
      x += 4 * c;
      y += 4 * c;
    }
    for (k = pixels & 3; k > 0; --k) {
      y[0] = (int8_t)one(x[0], g2, k2, mult, rnd, right, clamp, lo, hi);
      x += c;
      y += c;
    }
  }
}

void te_mul_s8_gate_dsp(const te_mul_params* p, int32_t pixels, int32_t c, const int8_t* in1, const int8_t* in2,
                        int8_t* out) {
  if (p->act_min > -128 || p->act_max < 127)
    body(p, pixels, c, in1, in2, out, 1);
  else
    body(p, pixels, c, in1, in2, out, 0);
}
