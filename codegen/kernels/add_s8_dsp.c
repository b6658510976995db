/*
 * add_s8_dsp.c: int8 ADD (TFLite's reference_integer_ops::Add with left_shift 20, same shapes) for
 * Armv7E-M DSP cores, the three MultiplyByQuantizedMultiplier steps computed with SMMULR:
 *   y = SMMULR(2 * v, mult) (= SaturatingRoundingDoublingHighMul(v, mult)), then
 *   RoundingDivideByPOT(y, right) = (y + 2^(right-1) + (y >> 31)) >> right   (right >= 1; y if 0).
 * Same parameters as te_add_s8; the compiler emits it only for layers with no left shifts whose
 * bounds make every step exact (codegen/dsp.py add_fast_ok). Element order as te_add_s8 (in-place safe).
 */
#include "tinyengine_kernels.h"

#include "te_dsp.h"

#define INLINE_ADD static inline __attribute__((always_inline))


/* RoundingDivideByPOT(y, right) for right in [0, 30]: h = 2^(right-1) (0 if right == 0), neg = -1
 * if right > 0 else 0. */
static inline int32_t rdbp(int32_t y, int32_t h, int32_t neg, int32_t right) {
  return (int32_t)((uint32_t)y + (uint32_t)h + (uint32_t)((y >> 31) & neg)) >> right;
}

void te_add_s8_dsp(const te_add_params* p, const int8_t* in1, const int8_t* in2, int8_t* out) {
  const int32_t off1 = p->in1_offset, off2 = p->in2_offset, m1 = p->in1_mult, m2 = p->in2_mult;
  const int32_t r1 = -p->in1_shift, r2 = -p->in2_shift, ro = -p->out_shift, mo = p->out_mult;
  const int32_t h1 = r1 > 0 ? (int32_t)((uint32_t)1 << (r1 - 1)) : 0, n1 = r1 > 0 ? -1 : 0;
  const int32_t h2 = r2 > 0 ? (int32_t)((uint32_t)1 << (r2 - 1)) : 0, n2 = r2 > 0 ? -1 : 0;
  const int32_t ho = (int32_t)((uint32_t)(1 + 2 * p->out_offset) << (ro - 1));
  const int32_t sh = p->left_shift + 1, act_min = p->act_min, act_max = p->act_max;
  int32_t i;
  for (i = 0; i < p->n; ++i) {
    const int32_t a = (int32_t)((uint32_t)((int32_t)in1[i] + off1) << sh);
    const int32_t b = (int32_t)((uint32_t)((int32_t)in2[i] + off2) << sh);
    const int32_t sa = rdbp(smmulr(a, m1), h1, n1, r1);
    const int32_t sb = rdbp(smmulr(b, m2), h2, n2, r2);
    const int32_t y = smmulr((int32_t)((uint32_t)(sa + sb) << 1), mo);
    int32_t r = ssat8((int32_t)((uint32_t)y + (uint32_t)ho + (uint32_t)(y >> 31)) >> ro);
    r = r < act_min ? act_min : r;
    out[i] = (int8_t)(r > act_max ? act_max : r);
  }
}

/*
 * te_add_s8_lin_dsp: the same ADD when the compiler has found integers (a, b, c, shift) with
 *   clamp((a * x1 + b * x2 + c) >> shift, act_min, act_max) == te_add_s8(x1, x2)
 * for all 65,536 int8 pairs (codegen/dsp.py add_linear checks every pair against an exact model of
 * te_add_s8 and that the sum stays inside int32). The output depends on the two inputs through a
 * near-linear step function, so an integer slope pair with enough fractional bits reproduces every
 * step; the search fails (and te_add_s8_dsp is used) when one does not exist.
 * Two elements per iteration, both read before either is written (keeps te_add_s8's contract).
 */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* one MLA each (GCC otherwise splits x * a + c into MUL and ADD) */
INLINE_ADD int32_t mla(int32_t x, int32_t y, int32_t acc) {
  int32_t r;
  __asm__("mla %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
  return r;
}
#else
INLINE_ADD int32_t mla(int32_t x, int32_t y, int32_t acc) { return x * y + acc; }
#endif

INLINE_ADD int32_t lin_one(int32_t x1, int32_t x2, int32_t a, int32_t b, int32_t c, int32_t sh) {
  return ssat8(mla(x2, b, mla(x1, a, c)) >> sh);
}

INLINE_ADD void lin_body(int32_t n, const int8_t* in1, const int8_t* in2, int8_t* out, int32_t a, int32_t b, int32_t c,
                         int32_t sh, int clamp, int32_t act_min, int32_t act_max) {
  int32_t k;
  for (k = n >> 1; k > 0; --k) {
    const int32_t x1a = in1[0], x1b = in1[1], x2a = in2[0], x2b = in2[1];
    int32_t ra = lin_one(x1a, x2a, a, b, c, sh), rb = lin_one(x1b, x2b, a, b, c, sh);
    if (clamp) {
      ra = ra < act_min ? act_min : (ra > act_max ? act_max : ra);
      rb = rb < act_min ? act_min : (rb > act_max ? act_max : rb);
    }
    out[0] = (int8_t)ra;
    out[1] = (int8_t)rb;
    in1 += 2;
    in2 += 2;
    out += 2;
  }
  if (n & 1) {
    int32_t r = lin_one(in1[0], in2[0], a, b, c, sh);
    r = r < act_min ? act_min : (r > act_max ? act_max : r);
    out[0] = (int8_t)r;
  }
}

void te_add_s8_lin_dsp(int32_t n, const int8_t* in1, const int8_t* in2, int8_t* out, int32_t a, int32_t b, int32_t c,
                       int32_t shift, int32_t act_min, int32_t act_max) {
  if (act_min > -128 || act_max < 127)
    lin_body(n, in1, in2, out, a, b, c, shift, 1, act_min, act_max);
  else
    lin_body(n, in1, in2, out, a, b, c, shift, 0, act_min, act_max);
}
