/*
 * conv2d_1x1_s8_dsp.c: pointwise (1x1, stride 1, no padding) int8 conv2d for Armv7E-M DSP cores
 * (Cortex-M4/M7/M33/M55): a GEMM over pixels with 4 pixels x 2 output channels per inner
 * iteration (in_c <= 256; pairs of pixels for larger in_c and a remainder, a last odd pixel alone)
 * and SMLAD doing two 16-bit MACs per instruction.
 *
 * Data layout, prepared at compile time by tinyengine_tvm.codegen.dsp:
 *   - weights, as int32 words, in the order the loop reads them: for each pair of output channels,
 *     for each group of 4 input channels, the 4 bytes of channel oc then the 4 of oc + 1 (a last odd
 *     channel follows alone, one word per group); in_c must be a multiple of 4;
 *   - rq[2*oc] = (2 * bias) << 8 | (right shift - 1), rq[2*oc + 1] = multiplier (TFLite's shift must
 *     be < 0 for every channel: a right shift of at least 1; codegen/dsp.py rq_table_m1).
 * The two pixels' inputs are widened once to 16 bits as 2 * (x + in_offset) (SXTAB16, SADD16; lanes
 * [x0,x2] and [x1,x3], interleaved pixel 0 / pixel 1 per group), and the weights with the same lane
 * order (SXTB16), so SMLAD pairs them without reordering and the accumulator holds 2 * acc.
 *
 * Requantization is TFLite's MultiplyByQuantizedMultiplier(acc, mult, -right) + out_offset:
 *   y = SMMULR(2 * acc, mult)                                         (= SaturatingRoundingDoublingHighMul)
 *   r = (y + 2^(right-1) + out_offset * 2^right + (y >> 31)) >> right  (= RoundingDivideByPOT + offset)
 * exact when |2 acc| < 2^31, right >= 1 and the sum stays in int32: the compiler emits this kernel
 * only for layers where the weights and bias prove those bounds (codegen/dsp.py fast_requant_ok;
 * tests check the identity exhaustively near the rounding boundaries). The kernels compute it as
 * rq_m1 in te_dsp.h (SMMLAR folds the constant in; the sign of 2 * acc replaces the sign of y). Bytes
 * out equal te_conv2d_1x1_s8's.
 *
 * Without __ARM_FEATURE_DSP the instructions are exact C models, so the kernel also runs (and is
 * tested, with sanitizers) on the host.
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_PW_MAX_IN_C 512

#define INLINE static inline __attribute__((always_inline))


INLINE int32_t clamp_act(int32_t r, int clamp, int32_t act_min, int32_t act_max) {
  if (clamp) {
    r = r < act_min ? act_min : r;
    r = r > act_max ? act_max : r;
  }
  return r;
}

/* Two pixels (in0, in1) -> n4 groups of 4 words: [p0 x02, p0 x13, p1 x02, p1 x13], lanes 2 * (x + off). */
__attribute__((noinline)) static void widen2(const int8_t* in0, const int8_t* in1, int32_t n4, int32_t off2,
                                             int32_t* dst) {
  int32_t i;
  for (i = 0; i < n4; ++i) {
    int32_t v0, v1, t;
    memcpy(&v0, in0 + 4 * i, 4);
    memcpy(&v1, in1 + 4 * i, 4);
    t = sxtab16(off2, v0);
    dst[0] = sadd16(t, t);
    t = sxtab16_ror8(off2, v0);
    dst[1] = sadd16(t, t);
    t = sxtab16(off2, v1);
    dst[2] = sadd16(t, t);
    t = sxtab16_ror8(off2, v1);
    dst[3] = sadd16(t, t);
    dst += 4;
  }
}

/* 4 input channels of 2 pixels x 2 output channels: 8 SMLADs. */
#define PW_STEP(x, wa, wb)                \
  do {                                    \
    int32_t t_ = sxtb16(wa);              \
    a00 = smlad((x)[0], t_, a00);         \
    a10 = smlad((x)[2], t_, a10);         \
    t_ = sxtb16_ror8(wa);                 \
    a00 = smlad((x)[1], t_, a00);         \
    a10 = smlad((x)[3], t_, a10);         \
    t_ = sxtb16(wb);                      \
    a01 = smlad((x)[0], t_, a01);         \
    a11 = smlad((x)[2], t_, a11);         \
    t_ = sxtb16_ror8(wb);                 \
    a01 = smlad((x)[1], t_, a01);         \
    a11 = smlad((x)[3], t_, a11);         \
  } while (0)

/* n (> 0) groups of 4 input channels: x += 4 n words, w += 2 n words, accumulators updated. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* The loop body handles two groups (8 input channels) per iteration; an odd group runs first. */
#define PW_GROUPS(x, w, n, a00, a01, a10, a11)                                                           \
  do {                                                                                                   \
    int32_t x0_, x1_, x2_, x3_, wa_, wb_, t_;                                                            \
    __asm__ volatile(                                                                                    \
        "tst %[cnt], #1\n\t"                                                                             \
        "beq 2f\n\t"                                                                                     \
        "ldrd %[x0], %[x1], [%[px]], #8\n\t"                                                             \
        "ldrd %[x2], %[x3], [%[px]], #8\n\t"                                                             \
        "ldrd %[wa], %[wb], [%[pw]], #8\n\t"                                                             \
        "sxtb16 %[t], %[wa]\n\t"                                                                         \
        "smlad %[c00], %[x0], %[t], %[c00]\n\t"                                                          \
        "smlad %[c10], %[x2], %[t], %[c10]\n\t"                                                          \
        "sxtb16 %[t], %[wa], ror #8\n\t"                                                                 \
        "smlad %[c00], %[x1], %[t], %[c00]\n\t"                                                          \
        "smlad %[c10], %[x3], %[t], %[c10]\n\t"                                                          \
        "sxtb16 %[t], %[wb]\n\t"                                                                         \
        "smlad %[c01], %[x0], %[t], %[c01]\n\t"                                                          \
        "smlad %[c11], %[x2], %[t], %[c11]\n\t"                                                          \
        "sxtb16 %[t], %[wb], ror #8\n\t"                                                                 \
        "smlad %[c01], %[x1], %[t], %[c01]\n\t"                                                          \
        "smlad %[c11], %[x3], %[t], %[c11]\n\t"                                                          \
        "2:\n\t"                                                                                         \
        "lsrs %[cnt], %[cnt], #1\n\t"                                                                    \
        "beq 3f\n\t"                                                                                     \
        "1:\n\t"                                                                                         \
        "ldrd %[x0], %[x1], [%[px]], #8\n\t"                                                             \
        "ldrd %[x2], %[x3], [%[px]], #8\n\t"                                                             \
        "ldrd %[wa], %[wb], [%[pw]], #8\n\t"                                                             \
        "sxtb16 %[t], %[wa]\n\t"                                                                         \
        "smlad %[c00], %[x0], %[t], %[c00]\n\t"                                                          \
        "smlad %[c10], %[x2], %[t], %[c10]\n\t"                                                          \
        "sxtb16 %[t], %[wa], ror #8\n\t"                                                                 \
        "smlad %[c00], %[x1], %[t], %[c00]\n\t"                                                          \
        "smlad %[c10], %[x3], %[t], %[c10]\n\t"                                                          \
        "sxtb16 %[t], %[wb]\n\t"                                                                         \
        "smlad %[c01], %[x0], %[t], %[c01]\n\t"                                                          \
        "smlad %[c11], %[x2], %[t], %[c11]\n\t"                                                          \
        "sxtb16 %[t], %[wb], ror #8\n\t"                                                                 \
        "smlad %[c01], %[x1], %[t], %[c01]\n\t"                                                          \
        "smlad %[c11], %[x3], %[t], %[c11]\n\t"                                                          \
        "ldrd %[x0], %[x1], [%[px]], #8\n\t"                                                             \
        "ldrd %[x2], %[x3], [%[px]], #8\n\t"                                                             \
        "ldrd %[wa], %[wb], [%[pw]], #8\n\t"                                                             \
        "sxtb16 %[t], %[wa]\n\t"                                                                         \
        "smlad %[c00], %[x0], %[t], %[c00]\n\t"                                                          \
        "smlad %[c10], %[x2], %[t], %[c10]\n\t"                                                          \
        "sxtb16 %[t], %[wa], ror #8\n\t"                                                                 \
        "smlad %[c00], %[x1], %[t], %[c00]\n\t"                                                          \
        "smlad %[c10], %[x3], %[t], %[c10]\n\t"                                                          \
        "sxtb16 %[t], %[wb]\n\t"                                                                         \
        "smlad %[c01], %[x0], %[t], %[c01]\n\t"                                                          \
        "smlad %[c11], %[x2], %[t], %[c11]\n\t"                                                          \
        "sxtb16 %[t], %[wb], ror #8\n\t"                                                                 \
        "smlad %[c01], %[x1], %[t], %[c01]\n\t"                                                          \
        "smlad %[c11], %[x3], %[t], %[c11]\n\t"                                                          \
        "subs %[cnt], %[cnt], #1\n\t"                                                                    \
        "bne 1b\n\t"                                                                                     \
        "3:"                                                                                             \
        : [px] "+r"(x), [pw] "+r"(w), [cnt] "+r"(n), [c00] "+r"(a00), [c01] "+r"(a01), [c10] "+r"(a10),  \
          [c11] "+r"(a11), [x0] "=&r"(x0_), [x1] "=&r"(x1_), [x2] "=&r"(x2_), [x3] "=&r"(x3_),           \
          [wa] "=&r"(wa_), [wb] "=&r"(wb_), [t] "=&r"(t_)                                                \
        :                                                                                                \
        : "cc", "memory");                                                                               \
  } while (0)
#else
#define PW_GROUPS(x, w, n, a00, a01, a10, a11) \
  do {                                         \
    int32_t n_ = (n);                          \
    for (; n_ > 0; --n_) {                     \
      PW_STEP(x, w[0], w[1]);                  \
      x += 4;                                  \
      w += 2;                                  \
    }                                          \
  } while (0)
#endif

/* One pixel pair (widened in buf) against every output channel; o0 / o1 receive them (o1 == o0 for a last
 * odd pixel paired with itself: both copies are equal). The table is read again after the MACs (the
 * asm's memory clobber), so none of it stays live across them. */
INLINE void pw_pixels(const int32_t* buf, int32_t n4, const int32_t* restrict w, const int32_t* restrict rq,
                      int32_t out_c, int32_t k1, int8_t* o0, int8_t* o1, int clamp, int32_t act_min,
                      int32_t act_max) {
  int32_t oc2, i;
  for (oc2 = out_c >> 1; oc2 > 0; --oc2) {
    const int32_t* x = buf;
    int32_t a00 = rq[0] >> 8, a01 = rq[2] >> 8;
    int32_t a10 = a00, a11 = a01;
    {
      int32_t n = n4;
      PW_GROUPS(x, w, n, a00, a01, a10, a11);
    }
    { /* one channel at a time (see pw_small) */
      const int32_t q0 = rq[0], m0 = rq[1], rnd0 = lsl_lo8(k1, q0);
      const int32_t r00 = clamp_act(rq_m1(a00, m0, rnd0, q0), clamp, act_min, act_max);
      const int32_t r10 = clamp_act(rq_m1(a10, m0, rnd0, q0), clamp, act_min, act_max);
      o0[0] = (int8_t)r00;
      o1[0] = (int8_t)r10;
      {
        const int32_t q1 = rq[2], m1 = rq[3], rnd1 = lsl_lo8(k1, q1);
        const int32_t r01 = clamp_act(rq_m1(a01, m1, rnd1, q1), clamp, act_min, act_max);
        const int32_t r11 = clamp_act(rq_m1(a11, m1, rnd1, q1), clamp, act_min, act_max);
        o0[1] = (int8_t)r01;
        o1[1] = (int8_t)r11;
      }
    }
    rq += 4;
    o0 += 2;
    o1 += 2;
  }
  if (out_c & 1) { /* last odd channel: one weight word per group */
    const int32_t* x = buf;
    const int32_t q0 = rq[0], m0 = rq[1], rnd0 = lsl_lo8(k1, q0);
    int32_t a0 = q0 >> 8, a1 = a0, r0, r1;
    for (i = 0; i < n4; ++i) {
      const int32_t wa = *w++;
      a0 = smlad(x[0], sxtb16(wa), a0);
      a1 = smlad(x[2], sxtb16(wa), a1);
      a0 = smlad(x[1], sxtb16_ror8(wa), a0);
      a1 = smlad(x[3], sxtb16_ror8(wa), a1);
      x += 4;
    }
    r0 = clamp_act(rq_m1(a0, m0, rnd0, q0), clamp, act_min, act_max);
    r1 = clamp_act(rq_m1(a1, m0, rnd0, q0), clamp, act_min, act_max);
    o0[0] = (int8_t)r0;
    o1[0] = (int8_t)r1;
  }
}

/*
 * Four pixels x 2 output channels per inner iteration (pixel blocks of 4; a remainder of 2 or 3 pixels
 * takes a pair through pw_pixels above, a last odd pixel pw_pixel1 below). The four pixels are widened
 * once into groups of 8 words, lane by lane: [p0 x02, p1 x02, p2 x02, p3 x02, p0 x13, p1 x13, p2 x13,
 * p3 x13], so one LDRD fetches a lane of two pixels, and each SXTB16'd weight word serves four pixels:
 * per 4 input channels, 2 LDRD of weights (the same pair read once per lane), 4 SXTB16, 4 LDRD of
 * inputs and 16 SMLAD for 32 MACs.
 */
#define TE_PW4_MAX_IN_C (TE_PW_MAX_IN_C / 2) /* four pixels fit the two-pixel buffer */

INLINE int32_t widen_lo(int32_t off2, int32_t v) {
  const int32_t t = sxtab16(off2, v);
  return sadd16(t, t);
}

INLINE int32_t widen_hi(int32_t off2, int32_t v) {
  const int32_t t = sxtab16_ror8(off2, v);
  return sadd16(t, t);
}

/* Not inlined: one linked copy for every entry point (called once per 4-pixel block). */
__attribute__((noinline)) static void widen4(const int8_t* in, int32_t in_c, int32_t n4, int32_t off2,
                                             int32_t* dst) {
  const int8_t* in1 = in + in_c;
  const int8_t* in2 = in1 + in_c;
  const int8_t* in3 = in2 + in_c;
  int32_t i;
  for (i = 0; i < n4; ++i) {
    int32_t v0, v1, v2, v3;
    memcpy(&v0, in + 4 * i, 4);
    memcpy(&v1, in1 + 4 * i, 4);
    memcpy(&v2, in2 + 4 * i, 4);
    memcpy(&v3, in3 + 4 * i, 4);
    dst[0] = widen_lo(off2, v0);
    dst[1] = widen_lo(off2, v1);
    dst[2] = widen_lo(off2, v2);
    dst[3] = widen_lo(off2, v3);
    dst[4] = widen_hi(off2, v0);
    dst[5] = widen_hi(off2, v1);
    dst[6] = widen_hi(off2, v2);
    dst[7] = widen_hi(off2, v3);
    dst += 8;
  }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* One group: x (8 words) post-incremented by 32 bytes, w by 8. */
#define PW4_GROUP_ASM                              \
  "ldrd %[wa], %[wb], [%[pw]]\n\t"                 \
  "sxtb16 %[wa], %[wa]\n\t"                        \
  "sxtb16 %[wb], %[wb]\n\t"                        \
  "ldrd %[x0], %[x1], [%[px]], #32\n\t"            \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "smlad %[c10], %[x1], %[wa], %[c10]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c11]\n\t"         \
  "ldrd %[x0], %[x1], [%[px], #-24]\n\t"           \
  "smlad %[c20], %[x0], %[wa], %[c20]\n\t"         \
  "smlad %[c21], %[x0], %[wb], %[c21]\n\t"         \
  "smlad %[c30], %[x1], %[wa], %[c30]\n\t"         \
  "smlad %[c31], %[x1], %[wb], %[c31]\n\t"         \
  "ldrd %[wa], %[wb], [%[pw]], #8\n\t"             \
  "sxtb16 %[wa], %[wa], ror #8\n\t"                \
  "sxtb16 %[wb], %[wb], ror #8\n\t"                \
  "ldrd %[x0], %[x1], [%[px], #-16]\n\t"           \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "smlad %[c10], %[x1], %[wa], %[c10]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c11]\n\t"         \
  "ldrd %[x0], %[x1], [%[px], #-8]\n\t"            \
  "smlad %[c20], %[x0], %[wa], %[c20]\n\t"         \
  "smlad %[c21], %[x0], %[wb], %[c21]\n\t"         \
  "smlad %[c30], %[x1], %[wa], %[c30]\n\t"         \
  "smlad %[c31], %[x1], %[wb], %[c31]\n\t"

/* The first group of a pair: the accumulators start from the bias (c00 / c01, live in registers) inside
 * the SMLADs, so no copies beforehand; the lanes of pixels 2 and 3 load into their own accumulators'
 * registers, and every accumulator reads c00 / c01 before those change. */
#define PW4_GROUP0_ASM                             \
  "ldrd %[wa], %[wb], [%[pw]]\n\t"                 \
  "sxtb16 %[wa], %[wa]\n\t"                        \
  "sxtb16 %[wb], %[wb]\n\t"                        \
  "ldrd %[c20], %[c30], [%[px], #8]\n\t"           \
  "smlad %[c21], %[c20], %[wb], %[c01]\n\t"        \
  "smlad %[c20], %[c20], %[wa], %[c00]\n\t"        \
  "smlad %[c31], %[c30], %[wb], %[c01]\n\t"        \
  "smlad %[c30], %[c30], %[wa], %[c00]\n\t"        \
  "ldrd %[x0], %[x1], [%[px]], #32\n\t"            \
  "smlad %[c10], %[x1], %[wa], %[c00]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c01]\n\t"         \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "ldrd %[wa], %[wb], [%[pw]], #8\n\t"             \
  "sxtb16 %[wa], %[wa], ror #8\n\t"                \
  "sxtb16 %[wb], %[wb], ror #8\n\t"                \
  "ldrd %[x0], %[x1], [%[px], #-16]\n\t"           \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "smlad %[c10], %[x1], %[wa], %[c10]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c11]\n\t"         \
  "ldrd %[x0], %[x1], [%[px], #-8]\n\t"            \
  "smlad %[c20], %[x0], %[wa], %[c20]\n\t"         \
  "smlad %[c21], %[x0], %[wb], %[c21]\n\t"         \
  "smlad %[c30], %[x1], %[wa], %[c30]\n\t"         \
  "smlad %[c31], %[x1], %[wb], %[c31]\n\t"

/* Fourteen registers: the 8 accumulators, both pointers and 4 scratch; the loop's end (the weight
 * pointer after the last group) is read from the stack into a scratch register at each iteration's end. */
#define PW4_OPERANDS                                                                                           \
  [px] "+r"(x), [pw] "+r"(w), [c00] "+r"(a00), [c01] "+r"(a01), [c10] "+r"(a10), [c11] "+r"(a11),              \
      [c20] "+r"(a20), [c21] "+r"(a21), [c30] "+r"(a30), [c31] "+r"(a31), [x0] "=&r"(x0_), [x1] "=&r"(x1_),     \
      [wa] "=&r"(wa_), [wb] "=&r"(wb_)

/* n (> 0) groups, two per iteration; an odd count enters at the second. The end (the weight pointer after
 * the last group) and the odd-count flag are read from the stack into a scratch register. */
#define PW4_GROUPS(x, w, n)                                                                   \
  do {                                                                                        \
    int32_t x0_, x1_, wa_, wb_;                                                               \
    const int32_t* const wend_ = (w) + 2 * (n);                                               \
    const int32_t odd_ = (n) & 1;                                                             \
    __asm__ volatile("ldr %[x0], %[odd]\n\t"                                                  \
                     "cmp %[x0], #0\n\t"                                                      \
                     "bne 2f\n\t"                                                             \
                     "1:\n\t" PW4_GROUP_ASM "2:\n\t" PW4_GROUP_ASM                            \
                     "ldr %[x0], %[end]\n\t"                                                  \
                     "cmp %[pw], %[x0]\n\t"                                                   \
                     "bne 1b"                                                                 \
                     : PW4_OPERANDS                                                           \
                     : [end] "m"(wend_), [odd] "m"(odd_)                                      \
                     : "cc", "memory");                                                       \
  } while (0)
#else
#define PW4_GROUPS(x, w, n)                    \
  do {                                         \
    int32_t g_;                                \
    for (g_ = (n); g_ > 0; --g_) {             \
      const int32_t lo0 = sxtb16(w[0]);        \
      const int32_t lo1 = sxtb16(w[1]);        \
      const int32_t hi0 = sxtb16_ror8(w[0]);   \
      const int32_t hi1 = sxtb16_ror8(w[1]);   \
      a00 = smlad(x[0], lo0, a00);             \
      a01 = smlad(x[0], lo1, a01);             \
      a10 = smlad(x[1], lo0, a10);             \
      a11 = smlad(x[1], lo1, a11);             \
      a20 = smlad(x[2], lo0, a20);             \
      a21 = smlad(x[2], lo1, a21);             \
      a30 = smlad(x[3], lo0, a30);             \
      a31 = smlad(x[3], lo1, a31);             \
      a00 = smlad(x[4], hi0, a00);             \
      a01 = smlad(x[4], hi1, a01);             \
      a10 = smlad(x[5], hi0, a10);             \
      a11 = smlad(x[5], hi1, a11);             \
      a20 = smlad(x[6], hi0, a20);             \
      a21 = smlad(x[6], hi1, a21);             \
      a30 = smlad(x[7], hi0, a30);             \
      a31 = smlad(x[7], hi1, a31);             \
      x += 8;                                  \
      w += 2;                                  \
    }                                          \
  } while (0)
#endif

/* Requantize the accumulators of one output channel for the four pixels and store them (o: pixel 0's
 * output for this channel, the next pixel out_c bytes on: the output pixel stride). */
INLINE void rq_store4(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const int32_t* q, int32_t k1, int8_t* o,
                      int32_t out_c, int clamp, int32_t act_min, int32_t act_max) {
  const int32_t q0 = q[0], m0 = q[1], rnd0 = lsl_lo8(k1, q0);
  const int32_t r0 = clamp_act(rq_m1(a0, m0, rnd0, q0), clamp, act_min, act_max);
  const int32_t r1 = clamp_act(rq_m1(a1, m0, rnd0, q0), clamp, act_min, act_max);
  const int32_t r2 = clamp_act(rq_m1(a2, m0, rnd0, q0), clamp, act_min, act_max);
  const int32_t r3 = clamp_act(rq_m1(a3, m0, rnd0, q0), clamp, act_min, act_max);
  o[0] = (int8_t)r0;
  o += out_c;
  o[0] = (int8_t)r1;
  o += out_c;
  o[0] = (int8_t)r2;
  o += out_c;
  o[0] = (int8_t)r3;
}

/* pw4_pairs_nc's asm requantizes in TFLite's fixed point; a TE_SINGLE_ROUNDING build (onnxruntime's float
 * requantization, rq_m1 in te_dsp.h) takes the C loop of pw_pixels4 instead. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING)
#define TE_PW4_ASM 1
#endif

#if defined(TE_PW4_ASM)
/* Requantize accumulator a in place (x0: the table word, x1: multiplier, wa: rnd, t: scratch); rq_m1 with the
 * sign of 2 acc folded into SMMLAR's addend (it adds to the high word: the same sum modulo 2^32). */
#define PW4_RQ(a, t)                                    \
  "add %[" #t "], %[wa], %[" #a "], asr #31\n\t"           \
  "smmlar %[" #a "], %[" #a "], %[x1], %[" #t "]\n\t"      \
  "asr %[" #a "], %[" #a "], %[x0]\n\t"                    \
  "ssat %[" #a "], #8, %[" #a "], asr #1\n\t"

/* Every output channel pair of a 4-pixel block without an activation clamp, in one asm block: the bias,
 * the MACs (PW4_GROUP_ASM), the requantization and the stores. The fourteen registers hold the accumulators
 * and, in turn, the loop's pointers or the requantization constants; the loop state lives on the stack.
 * For an even n4 (>= 2) only: the first group (PW4_GROUP0_ASM) starts the accumulators from the bias, the
 * remaining odd count enters the two-group loop at its second group. */
static void pw4_pairs_nc(const int32_t* buf, int32_t n4, const int32_t* w, const int32_t* rq, int32_t pairs,
                         int32_t out_c, int32_t k1, int8_t* o) {
  const int32_t* const xend = buf + 8 * n4;     /* the MAC loop's end (x pointer) */
  const int32_t* const rqend = rq + 4 * pairs;  /* the pair loop's end (table pointer) */
  int32_t a00, a01, a10, a11, a20, a21, a30, a31;
  const int32_t* x;
  int32_t x0_, x1_, wa_, wb_;
  const int32_t* pw_;
  __asm__ volatile(
      "ldr %[c00], %[rqm]\n\t"
      "ldr %[pw], %[wm]\n\t"
      /* per output channel pair; c00 holds the table pointer, pw the pair's weights */
      "0:\n\t"
      "ldr %[c01], [%[c00], #8]\n\t"
      "ldr %[c00], [%[c00]]\n\t"
      "asr %[c00], %[c00], #8\n\t"
      "asr %[c01], %[c01], #8\n\t"
      "ldr %[px], %[bufm]\n\t"
      PW4_GROUP0_ASM /* then an odd number of groups (n4 even): enter the loop at its second */
      "b 2f\n\t"
      "1:\n\t" PW4_GROUP_ASM "2:\n\t" PW4_GROUP_ASM
      "ldr %[x0], %[xend]\n\t"
      "cmp %[px], %[x0]\n\t"
      "bne 1b\n\t"
      /* channel 0: x0 = q, x1 = mult, wa = rnd, wb = o, px = the table pointer, then out_c */
      "ldr %[px], %[rqm]\n\t"
      "ldrd %[x0], %[x1], [%[px]]\n\t"
      "ldr %[wa], %[k1m]\n\t"
      "lsl %[wa], %[wa], %[x0]\n\t"
      "ldr %[wb], %[om]\n\t"
      PW4_RQ(c00, px) "strb %[c00], [%[wb]]\n\t"
      "ldr %[px], %[ocm]\n\t"
      PW4_RQ(c10, c00) "strb %[c10], [%[wb], %[px]]\n\t"
      "add %[wb], %[wb], %[px], lsl #1\n\t"
      PW4_RQ(c20, c00) "strb %[c20], [%[wb]]\n\t"
      PW4_RQ(c30, c00) "strb %[c30], [%[wb], %[px]]\n\t"
      /* channel 1: c00 = the table pointer, c10 scratch */
      "ldr %[c00], %[rqm]\n\t"
      "ldrd %[x0], %[x1], [%[c00], #8]\n\t"
      "ldr %[wa], %[k1m]\n\t"
      "lsl %[wa], %[wa], %[x0]\n\t"
      "sub %[wb], %[wb], %[px], lsl #1\n\t"
      "add %[wb], %[wb], #1\n\t"
      PW4_RQ(c01, c10) "strb %[c01], [%[wb]]\n\t"
      PW4_RQ(c11, c10) "strb %[c11], [%[wb], %[px]]\n\t"
      "add %[wb], %[wb], %[px], lsl #1\n\t"
      PW4_RQ(c21, c10) "strb %[c21], [%[wb]]\n\t"
      PW4_RQ(c31, c10) "strb %[c31], [%[wb], %[px]]\n\t"
      /* next pair: rq += 4 words, o += 2, until rq reaches its end (pw already at the next pair) */
      "add %[c00], %[c00], #16\n\t"
      "str %[c00], %[rqm]\n\t"
      "sub %[wb], %[wb], %[px], lsl #1\n\t"
      "add %[wb], %[wb], #1\n\t"
      "str %[wb], %[om]\n\t"
      "ldr %[x0], %[rqe]\n\t"
      "cmp %[c00], %[x0]\n\t"
      "bne 0b"
      : [px] "=&r"(x), [pw] "=&r"(pw_), [c00] "=&r"(a00), [c01] "=&r"(a01), [c10] "=&r"(a10),
        [c11] "=&r"(a11), [c20] "=&r"(a20), [c21] "=&r"(a21), [c30] "=&r"(a30), [c31] "=&r"(a31),
        [x0] "=&r"(x0_), [x1] "=&r"(x1_), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [rqm] "+m"(rq), [om] "+m"(o)
      : [wm] "m"(w), [xend] "m"(xend), [rqe] "m"(rqend), [bufm] "m"(buf), [k1m] "m"(k1),
        [ocm] "m"(out_c)
      : "cc", "memory");
}
#endif

/* Four pixels (widened in buf by widen4) against every output channel; o: the first pixel's outputs. */
INLINE void pw_pixels4(const int32_t* buf, int32_t n4, const int32_t* restrict w, const int32_t* restrict rq,
                       int32_t out_c, int32_t ostride, int32_t k1, int8_t* o, int clamp, int32_t act_min,
                       int32_t act_max) {
  int32_t oc2 = out_c >> 1, i;
#if defined(TE_PW4_ASM)
  if (!clamp && oc2 > 0) { /* without a clamp the callers take 4-pixel blocks only for an even n4 (>= 2) */
    pw4_pairs_nc(buf, n4, w, rq, oc2, ostride, k1, o);
    w += 2 * n4 * oc2;
    rq += 4 * oc2;
    o += 2 * oc2;
    oc2 = 0;
  }
#endif
  for (; oc2 > 0; --oc2) {
    const int32_t* x = buf;
    int32_t a00 = rq[0] >> 8, a01 = rq[2] >> 8;
    int32_t a10 = a00, a11 = a01, a20 = a00, a21 = a01, a30 = a00, a31 = a01;
    PW4_GROUPS(x, w, n4);
    /* the table is read again after the MACs (the asm's memory clobber), one channel at a time */
    rq_store4(a00, a10, a20, a30, rq, k1, o, ostride, clamp, act_min, act_max);
    rq_store4(a01, a11, a21, a31, rq + 2, k1, o + 1, ostride, clamp, act_min, act_max);
    rq += 4;
    o += 2;
  }
  if (out_c & 1) { /* last odd channel: one weight word per group */
    const int32_t* x = buf;
    int32_t a0 = rq[0] >> 8, a1 = a0, a2 = a0, a3 = a0;
    for (i = 0; i < n4; ++i) {
      const int32_t lo = sxtb16(w[0]), hi = sxtb16_ror8(w[0]);
      a0 = smlad(x[4], hi, smlad(x[0], lo, a0));
      a1 = smlad(x[5], hi, smlad(x[1], lo, a1));
      a2 = smlad(x[6], hi, smlad(x[2], lo, a2));
      a3 = smlad(x[7], hi, smlad(x[3], lo, a3));
      x += 8;
      ++w;
    }
    rq_store4(a0, a1, a2, a3, rq, k1, o, ostride, clamp, act_min, act_max);
  }
}

/* One 4-pixel block without a clamp (n4 even), one linked copy shared by the entry points. */
static void pw_block4_nc(const int32_t* buf, int32_t n4, const int32_t* w, const int32_t* rq, int32_t out_c,
                         int32_t ostride, int32_t k1, int8_t* o) {
  pw_pixels4(buf, n4, w, rq, out_c, ostride, k1, o, 0, -128, 127);
}

/*
 * A last single pixel (an odd pixel count): 1 pixel x 2 output channels per inner iteration instead of the
 * pixel paired with itself (half the MACs), its inputs widened as [x02, x13] per group of 4 channels.
 */
INLINE void widen1(const int8_t* in, int32_t n4, int32_t off2, int32_t* dst) {
  int32_t i;
  for (i = 0; i < n4; ++i) {
    int32_t v;
    memcpy(&v, in + 4 * i, 4);
    dst[0] = widen_lo(off2, v);
    dst[1] = widen_hi(off2, v);
    dst += 2;
  }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define PW1_GROUP_ASM                      \
  "ldrd %[x0], %[x1], [%[px]], #8\n\t"     \
  "ldrd %[wa], %[wb], [%[pw]], #8\n\t"     \
  "sxtb16 %[t], %[wa]\n\t"                 \
  "smlad %[c0], %[x0], %[t], %[c0]\n\t"    \
  "sxtb16 %[t], %[wa], ror #8\n\t"         \
  "smlad %[c0], %[x1], %[t], %[c0]\n\t"    \
  "sxtb16 %[t], %[wb]\n\t"                 \
  "smlad %[c1], %[x0], %[t], %[c1]\n\t"    \
  "sxtb16 %[t], %[wb], ror #8\n\t"         \
  "smlad %[c1], %[x1], %[t], %[c1]\n\t"
/* n (> 0) groups, two per iteration after an odd one. */
#define PW1_GROUPS(x, w, n, a0, a1)                                                                        \
  do {                                                                                                     \
    int32_t x0_, x1_, wa_, wb_, t_, n_ = (n);                                                              \
    __asm__ volatile("tst %[cnt], #1\n\t"                                                                  \
                     "beq 2f\n\t" PW1_GROUP_ASM                                                            \
                     "2:\n\t"                                                                              \
                     "lsrs %[cnt], %[cnt], #1\n\t"                                                         \
                     "beq 3f\n\t"                                                                          \
                     "1:\n\t" PW1_GROUP_ASM PW1_GROUP_ASM                                                  \
                     "subs %[cnt], %[cnt], #1\n\t"                                                         \
                     "bne 1b\n\t"                                                                          \
                     "3:"                                                                                  \
                     : [px] "+r"(x), [pw] "+r"(w), [cnt] "+r"(n_), [c0] "+r"(a0), [c1] "+r"(a1),           \
                       [x0] "=&r"(x0_), [x1] "=&r"(x1_), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [t] "=&r"(t_)   \
                     :                                                                                     \
                     : "cc", "memory");                                                                    \
  } while (0)
#else
#define PW1_GROUPS(x, w, n, a0, a1)                                       \
  do {                                                                    \
    int32_t n_;                                                           \
    for (n_ = (n); n_ > 0; --n_) {                                        \
      a0 = smlad(x[1], sxtb16_ror8(w[0]), smlad(x[0], sxtb16(w[0]), a0)); \
      a1 = smlad(x[1], sxtb16_ror8(w[1]), smlad(x[0], sxtb16(w[1]), a1)); \
      x += 2;                                                             \
      w += 2;                                                             \
    }                                                                     \
  } while (0)
#endif

INLINE void pw_pixel1(const int32_t* buf, int32_t n4, const int32_t* restrict w, const int32_t* restrict rq,
                      int32_t out_c, int32_t k1, int8_t* o, int clamp, int32_t act_min, int32_t act_max) {
  int32_t oc2, i;
  for (oc2 = out_c >> 1; oc2 > 0; --oc2) {
    const int32_t* x = buf;
    int32_t a0 = rq[0] >> 8, a1 = rq[2] >> 8;
    PW1_GROUPS(x, w, n4, a0, a1);
    { /* the table is read again after the MACs, one channel at a time */
      const int32_t q0 = rq[0], m0 = rq[1], rnd0 = lsl_lo8(k1, q0);
      o[0] = (int8_t)clamp_act(rq_m1(a0, m0, rnd0, q0), clamp, act_min, act_max);
      {
        const int32_t q1 = rq[2], m1 = rq[3], rnd1 = lsl_lo8(k1, q1);
        o[1] = (int8_t)clamp_act(rq_m1(a1, m1, rnd1, q1), clamp, act_min, act_max);
      }
    }
    rq += 4;
    o += 2;
  }
  if (out_c & 1) { /* last odd channel: one weight word per group */
    const int32_t* x = buf;
    const int32_t q0 = rq[0], m0 = rq[1], rnd0 = lsl_lo8(k1, q0);
    int32_t a0 = q0 >> 8;
    for (i = 0; i < n4; ++i) {
      const int32_t wa = *w++;
      a0 = smlad(x[1], sxtb16_ror8(wa), smlad(x[0], sxtb16(wa), a0));
      x += 2;
    }
    o[0] = (int8_t)clamp_act(rq_m1(a0, m0, rnd0, q0), clamp, act_min, act_max);
  }
}

INLINE void pw_body(const te_pw_params* p, const int8_t* in, const int32_t* weights, const int32_t* rq, int8_t* out,
                    int clamp) {
  int32_t buf[TE_PW_MAX_IN_C]; /* two pixels, in_c 16-bit lanes each; or four, in_c <= TE_PW4_MAX_IN_C */
  const int32_t in_c = p->in_c, out_c = p->out_c, n4 = p->in_c >> 2, pixels = p->pixels;
  const int32_t os = p->out_stride > 0 ? p->out_stride : out_c; /* > out_c: a channel slice of a concat */
  const int32_t act_min = p->act_min, act_max = p->act_max;
  /* 2^(right-1) + out_offset * 2^right = (1 + 2 * out_offset) << (right - 1) */
  const int32_t k1 = 1 + 2 * p->out_offset;
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  int32_t px = 0;

  /* Pixel blocks of 4 read their four input pixels before writing any of their outputs, and blocks go
   * in pixel order: reads never later and writes never earlier than te_conv2d_1x1_s8's. */
  if (in_c <= TE_PW4_MAX_IN_C && (clamp || (n4 & 1) == 0)) { /* pw4_pairs_nc: an even n4 */
    for (; px + 4 <= pixels; px += 4) {
      widen4(in + px * in_c, in_c, n4, off2, buf);
      if (clamp)
        pw_pixels4(buf, n4, weights, rq, out_c, os, k1, out + px * os, 1, act_min, act_max);
      else
        pw_block4_nc(buf, n4, weights, rq, out_c, os, k1, out + px * os);
    }
  }
  for (; px + 2 <= pixels; px += 2) {
    widen2(in + px * in_c, in + (px + 1) * in_c, n4, off2, buf);
    pw_pixels(buf, n4, weights, rq, out_c, k1, out + px * os, out + (px + 1) * os, clamp, act_min, act_max);
  }
  if (px < pixels) { /* odd pixel count: the last pixel alone */
    widen1(in + px * in_c, n4, off2, buf);
    pw_pixel1(buf, n4, weights, rq, out_c, k1, out + px * os, clamp, act_min, act_max);
  }
}

void te_conv2d_1x1_s8_dsp(const te_pw_params* p, const int8_t* in, const int32_t* weights, const int32_t* rq,
                          int8_t* out) {
  if (p->in_c > TE_PW_MAX_IN_C || (p->in_c & 3) != 0) return; /* never emitted for such layers */
  if (p->act_min > -128 || p->act_max < 127)
    pw_body(p, in, weights, rq, out, 1);
  else
    pw_body(p, in, weights, rq, out, 0);
}

/* The no-clamp copy alone, for layers whose activation range is all of int8: the compiler names it
 * directly, so a firmware without clamping layers links one copy of the loop, not two. */
void te_conv2d_1x1_s8_nc_dsp(const te_pw_params* p, const int8_t* in, const int32_t* weights, const int32_t* rq,
                             int8_t* out) {
  if (p->in_c > TE_PW_MAX_IN_C || (p->in_c & 3) != 0) return; /* never emitted for such layers */
  pw_body(p, in, weights, rq, out, 0);
}

/*
 * Small in_c (te_conv2d_1x1_s8_ic<N>_dsp, N = 8 .. 24): the same data layout and arithmetic with in_c
 * a compile-time constant, so the reduction is unrolled with no loop counter, the widened pixel pair
 * sits at fixed stack offsets, and the per-output requantization is five instructions:
 *   y' = SMMLAR(2 acc, mult, rnd)              (= SMMULR(2 acc, mult) + rnd, rnd = k1 << (right - 1))
 *   r  = SSAT8((y' + (2 acc >> 31)) >> right)
 * The sign of 2 acc stands in for the sign of y: they differ only when y == 0 and acc < 0, and then
 * (rnd - 1) >> right == rnd >> right == out_offset (right >= 1). The shift is taken from the low
 * byte of the table word (the register-shift instructions read only that byte; q - 1 holds right - 1
 * there, right >= 1), and rnd = k1 << (right - 1) is the constant fast_requant_ok keeps inside int32.
 * Only for layers with an even out_c and without an activation clamp (the int8 saturation is the whole
 * clamp).
 * A last odd pixel pairs with itself and both copies are stored to the same place.
 */

/* One group of 4 input channels (x: 4 words of the widened pair at byte offset 16 * G), 2 x 2
 * accumulators; the weight words come through w (post-incremented). Low lanes of both channels
 * first, then the high lanes, so only five scratch registers are live. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define PW_GROUP_K(x, G, w, a00, a01, a10, a11)                                                     \
  do {                                                                                              \
    int32_t wa_, wb_, ta_, tb_, v_;                                                                 \
    __asm__("ldrd %[wa], %[wb], [%[pw]], #8\n\t"                                                   \
            "sxtb16 %[ta], %[wa]\n\t"                                                              \
            "sxtb16 %[tb], %[wb]\n\t"                                                              \
            "ldr %[v], [%[px], %[o0]]\n\t"                                                         \
            "smlad %[c00], %[v], %[ta], %[c00]\n\t"                                                \
            "smlad %[c01], %[v], %[tb], %[c01]\n\t"                                                \
            "ldr %[v], [%[px], %[o2]]\n\t"                                                         \
            "smlad %[c10], %[v], %[ta], %[c10]\n\t"                                                \
            "smlad %[c11], %[v], %[tb], %[c11]\n\t"                                                \
            "sxtb16 %[ta], %[wa], ror #8\n\t"                                                      \
            "sxtb16 %[tb], %[wb], ror #8\n\t"                                                      \
            "ldr %[v], [%[px], %[o1]]\n\t"                                                         \
            "smlad %[c00], %[v], %[ta], %[c00]\n\t"                                                \
            "smlad %[c01], %[v], %[tb], %[c01]\n\t"                                                \
            "ldr %[v], [%[px], %[o3]]\n\t"                                                         \
            "smlad %[c10], %[v], %[ta], %[c10]\n\t"                                                \
            "smlad %[c11], %[v], %[tb], %[c11]"                                                      \
            : [pw] "+r"(w), [c00] "+r"(a00), [c01] "+r"(a01), [c10] "+r"(a10), [c11] "+r"(a11),     \
              [wa] "=&r"(wa_), [wb] "=&r"(wb_), [ta] "=&r"(ta_), [tb] "=&r"(tb_), [v] "=&r"(v_)     \
            : [px] "r"(x), [o0] "i"(16 * (G)), [o1] "i"(16 * (G) + 4), [o2] "i"(16 * (G) + 8),     \
              [o3] "i"(16 * (G) + 12), "m"(*(const int32_t(*)[24])(x))                              \
            : "memory");                                                                            \
  } while (0)
/* PW_GROUP_K for group 0: the second pixel's accumulators start from the first's (the bias), so they
 * are outputs here and take the first pixel's values before those change (no copies beforehand). */
#define PW_GROUP_K0(x, w, a00, a01, a10, a11)                                                      \
  do {                                                                                              \
    int32_t wa_, wb_, ta_, tb_, v_;                                                                 \
    __asm__("ldrd %[wa], %[wb], [%[pw]], #8\n\t"                                                   \
            "sxtb16 %[ta], %[wa]\n\t"                                                              \
            "sxtb16 %[tb], %[wb]\n\t"                                                              \
            "ldr %[v], [%[px], #8]\n\t"                                                            \
            "smlad %[c10], %[v], %[ta], %[c00]\n\t"                                                \
            "smlad %[c11], %[v], %[tb], %[c01]\n\t"                                                \
            "ldr %[v], [%[px]]\n\t"                                                                \
            "smlad %[c00], %[v], %[ta], %[c00]\n\t"                                                \
            "smlad %[c01], %[v], %[tb], %[c01]\n\t"                                                \
            "sxtb16 %[ta], %[wa], ror #8\n\t"                                                      \
            "sxtb16 %[tb], %[wb], ror #8\n\t"                                                      \
            "ldr %[v], [%[px], #4]\n\t"                                                            \
            "smlad %[c00], %[v], %[ta], %[c00]\n\t"                                                \
            "smlad %[c01], %[v], %[tb], %[c01]\n\t"                                                \
            "ldr %[v], [%[px], #12]\n\t"                                                           \
            "smlad %[c10], %[v], %[ta], %[c10]\n\t"                                                \
            "smlad %[c11], %[v], %[tb], %[c11]"                                                      \
            : [pw] "+r"(w), [c00] "+r"(a00), [c01] "+r"(a01), [c10] "=&r"(a10), [c11] "=&r"(a11),   \
              [wa] "=&r"(wa_), [wb] "=&r"(wb_), [ta] "=&r"(ta_), [tb] "=&r"(tb_), [v] "=&r"(v_)     \
            : [px] "r"(x), "m"(*(const int32_t(*)[24])(x))                                          \
            : "memory");                                                                            \
  } while (0)
#else
#define PW_GROUP_K0(x, w, a00, a01, a10, a11) \
  do {                                         \
    a10 = a00;                                 \
    a11 = a01;                                 \
    PW_GROUP_K(x, 0, w, a00, a01, a10, a11);   \
  } while (0)
#define PW_GROUP_K(x, G, w, a00, a01, a10, a11) \
  do {                                           \
    const int32_t* xg_ = (x) + 4 * (G);          \
    PW_STEP(xg_, w[0], w[1]);                    \
    w += 2;                                      \
  } while (0)
#endif

INLINE void pw_small(const te_pw_params* p, const int8_t* in, const int32_t* weights, const int32_t* rq, int8_t* out,
                     const int32_t ic) {
  int32_t buf[48]; /* two pixels, ic <= 24 16-bit lanes each; or four (pw_block4_nc) */
  const int32_t n4 = ic >> 2, out_c = p->out_c, pixels = p->pixels;
  const int32_t os = p->out_stride > 0 ? p->out_stride : out_c;
  const int32_t k1 = 1 + 2 * p->out_offset;
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  int32_t px;

  /* blocks of 4 pixels through the general 4 x 2 loop (same order argument as pw_body; an even n4: ic 8,
   * 16, 24), then pairs */
  for (px = 0; (n4 & 1) == 0 && px + 4 <= pixels; px += 4) {
    widen4(in + px * ic, ic, n4, off2, buf);
    pw_block4_nc(buf, n4, weights, rq, out_c, os, k1, out + px * os);
  }
  for (; px < pixels; px += 2) {
    const int32_t px1 = px + 1 < pixels ? px + 1 : px;
    const int32_t* w = weights;
    const int32_t* q = rq;
    int8_t* o0 = out + px * os;
    int8_t* o1 = out + px1 * os;
    int32_t oc2;
    widen2(in + px * ic, in + px1 * ic, n4, off2, buf);
    for (oc2 = out_c >> 1; oc2 > 0; --oc2) {
      int32_t a00 = q[0] >> 8, a01 = q[2] >> 8, a10, a11;
      PW_GROUP_K0(buf, w, a00, a01, a10, a11);
      PW_GROUP_K(buf, 1, w, a00, a01, a10, a11);
      if (n4 > 2) PW_GROUP_K(buf, 2, w, a00, a01, a10, a11);
      if (n4 > 3) PW_GROUP_K(buf, 3, w, a00, a01, a10, a11);
      if (n4 > 4) PW_GROUP_K(buf, 4, w, a00, a01, a10, a11);
      if (n4 > 5) PW_GROUP_K(buf, 5, w, a00, a01, a10, a11);
      rq_m1_store_2x2(q, k1, a00, a01, a10, a11, o0, o1); /* the table read again here (the asm's memory clobber) */
      q += 4;
      o0 += 2;
      o1 += 2;
    }
  }
}

/* One entry point per in_c, for an even out_c and no activation clamp (other layers use
 * te_conv2d_1x1_s8_dsp / _nc_dsp): the only copy of the loop each shape links. */
#define TE_PW_SMALL(IC)                                                                                         \
  void te_conv2d_1x1_s8_ic##IC##_dsp(const te_pw_params* p, const int8_t* in, const int32_t* weights,            \
                                     const int32_t* rq, int8_t* out) {                                           \
    if (p->in_c != (IC) || (p->out_c & 1)) return; /* never emitted for other layers */                         \
    pw_small(p, in, weights, rq, out, (IC));                                                                     \
  }
TE_PW_SMALL(8)
TE_PW_SMALL(12)
TE_PW_SMALL(16)
TE_PW_SMALL(20)
TE_PW_SMALL(24)
