/*
 * mul_s8_gate_dsp.c: the excitation of an SE block, out[p][c] = in1[p][c] * gate[c] (te_mul_s8 with in1
 * [pixels][c] and a per-channel in2), for Armv7E-M DSP cores. TFLite's arithmetic (TFLite-imported
 * graphs only; onnxruntime-arithmetic graphs never reach this kernel):
 *   acc = (x + in1_offset) * (g + in2_offset)          |acc| <= 255 * 255
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, out_mult, out_shift) + out_offset)
 * computed per element as 2 acc = (x + in1_offset) * G2 with G2 = 2 (g + in2_offset) from a per-channel
 * int16 table (|G2| <= 510) and te_dsp.h's rq_dw8: SSAT8((SMMLAR(2 acc, mult, rnd) + (2 acc >> 31)) >> right),
 * exact where codegen/dsp.py's fast_requant_ok holds for |acc| <= 255 * 255 (no left shift, right >= 1).
 *
 * te_mul_s8's order (pixel by pixel, channels inside), the gate read whole before the first write (c <=
 * TE_MUL_GATE_MAX_C, the table lives on the stack): reads no later and writes no earlier than te_mul_s8's,
 * so the planner's overlap contract for te_mul_s8 holds (in place, or any overlap it allowed).
 */
#include "tinyengine_kernels.h"

#include "te_dsp.h"

#define INLINE_MUL static inline __attribute__((always_inline))
#define TE_MUL_GATE_MAX_C 1024


INLINE_MUL int32_t one(int32_t x, int32_t off, int32_t g2, int32_t mult, int32_t rnd, int32_t right, int clamp,
                       int32_t lo, int32_t hi) {
  int32_t r = rq_dw8((x + off) * g2, mult, rnd, right);
  if (clamp) r = r < lo ? lo : (r > hi ? hi : r);
  return r;
}

INLINE_MUL void body(const te_mul_params* p, int32_t pixels, int32_t c, const int8_t* in1, const int16_t* g2,
                     int8_t* out, int clamp) {
  const int32_t mult = p->out_mult, right = -p->out_shift, lo = p->act_min, hi = p->act_max, off = p->in1_offset;
  const int32_t rnd = TE_DW_RND(1 + 2 * p->out_offset, right);
  int32_t px, ch;
  for (px = 0; px < pixels; ++px) {
    for (ch = 0; ch + 4 <= c; ch += 4) { /* four channels per step: all four read before any is written */
      const int32_t x0 = in1[ch], x1 = in1[ch + 1], x2 = in1[ch + 2], x3 = in1[ch + 3];
      out[ch] = (int8_t)one(x0, off, g2[ch], mult, rnd, right, clamp, lo, hi);
      out[ch + 1] = (int8_t)one(x1, off, g2[ch + 1], mult, rnd, right, clamp, lo, hi);
      out[ch + 2] = (int8_t)one(x2, off, g2[ch + 2], mult, rnd, right, clamp, lo, hi);
      out[ch + 3] = (int8_t)one(x3, off, g2[ch + 3], mult, rnd, right, clamp, lo, hi);
    }
    for (; ch < c; ++ch) out[ch] = (int8_t)one(in1[ch], off, g2[ch], mult, rnd, right, clamp, lo, hi);
    in1 += c;
    out += c;
  }
}

void te_mul_s8_gate_dsp(const te_mul_params* p, int32_t pixels, int32_t c, const int8_t* in1, const int8_t* in2,
                        int8_t* out) {
  int16_t g2[TE_MUL_GATE_MAX_C];
  int32_t ch;
  if (c > TE_MUL_GATE_MAX_C) return; /* never emitted (codegen/dsp.py checks c) */
  for (ch = 0; ch < c; ++ch) g2[ch] = (int16_t)(2 * ((int32_t)in2[ch] + p->in2_offset));
  if (p->act_min > -128 || p->act_max < 127)
    body(p, pixels, c, in1, g2, out, 1);
  else
    body(p, pixels, c, in1, g2, out, 0);
}
