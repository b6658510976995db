/*
 * te_dsp.h: the Armv7E-M DSP instructions the *_dsp.c kernels use, as static inline functions.
 *
 * On a core with __ARM_FEATURE_DSP each is one instruction (inline asm); elsewhere (the host,
 * where the DSP kernels are tested under ASan/UBSan) each is an exact C model of the
 * instruction's semantics, so the same kernel source runs and is checked on both.
 */
#ifndef TE_DSP_H_
#define TE_DSP_H_

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline int32_t sxtb16(int32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
  return r;
}
static inline int32_t sxtb16_ror8(int32_t x) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
static inline int32_t sxtab16(int32_t a, int32_t x) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(x));
  return r;
}
static inline int32_t sxtab16_ror8(int32_t a, int32_t x) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
  return r;
}
static inline int32_t smlad(int32_t x, int32_t y, int32_t acc) {
  int32_t r;
  __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
  return r;
}
static inline int32_t smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
static inline int32_t smlabb(int32_t x, int32_t y, int32_t acc) {
  int32_t r;
  __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
  return r;
}
static inline int32_t smlatt(int32_t x, int32_t y, int32_t acc) {
  int32_t r;
  __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
  return r;
}
static inline int32_t sadd16(int32_t a, int32_t b) {
  int32_t r;
  __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b) : "cc");
  return r;
}
static inline int32_t ssat8(int32_t x) {
  int32_t r;
  __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(x) : "cc");
  return r;
}
/* Lane-wise signed byte max / min: SSUB8 sets a GE flag per lane where a >= b, SEL picks by it. */
static inline int32_t max_s8x4(int32_t a, int32_t b) {
  int32_t r, t;
  __asm__("ssub8 %1, %2, %3\n\tsel %0, %2, %3" : "=r"(r), "=&r"(t) : "r"(a), "r"(b) : "cc");
  return r;
}
static inline int32_t min_s8x4(int32_t a, int32_t b) {
  int32_t r, t;
  __asm__("ssub8 %1, %2, %3\n\tsel %0, %3, %2" : "=r"(r), "=&r"(t) : "r"(a), "r"(b) : "cc");
  return r;
}
/* Used by depthwise_conv2d_s8_rows_dsp.c. */
static inline int32_t smlatb(int32_t x, int32_t y, int32_t acc) {
  int32_t r;
  __asm__("smlatb %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
  return r;
}
static inline int32_t smlabt(int32_t x, int32_t y, int32_t acc) {
  int32_t r;
  __asm__("smlabt %0, %1, %2, %3" : "=r"(r) : "r"(x), "r"(y), "r"(acc));
  return r;
}
#else
static inline int32_t lane(int32_t x, int k) { return (int32_t)(int8_t)(uint8_t)(((uint32_t)x >> (8 * k)) & 0xFFu); }
static inline int32_t pack16(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
static inline int32_t lo16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t hi16(int32_t x) { return (int32_t)(int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t sxtb16(int32_t x) { return pack16(lane(x, 0), lane(x, 2)); }
static inline int32_t sxtb16_ror8(int32_t x) { return pack16(lane(x, 1), lane(x, 3)); }
static inline int32_t sxtab16(int32_t a, int32_t x) { return pack16(lo16(a) + lane(x, 0), hi16(a) + lane(x, 2)); }
static inline int32_t sxtab16_ror8(int32_t a, int32_t x) { return pack16(lo16(a) + lane(x, 1), hi16(a) + lane(x, 3)); }
static inline int32_t smlad(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(lo16(x) * lo16(y)) + (uint32_t)(hi16(x) * hi16(y)));
}
static inline int32_t smmulr(int32_t a, int32_t b) {
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32);
}
static inline int32_t sadd16(int32_t a, int32_t b) { return pack16(lo16(a) + lo16(b), hi16(a) + hi16(b)); }
static inline int32_t smlabb(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(lo16(x) * lo16(y)));
}
static inline int32_t smlatt(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(hi16(x) * hi16(y)));
}
static inline int32_t ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
static inline int32_t bytes4(int32_t b0, int32_t b1, int32_t b2, int32_t b3) {
  return (int32_t)(((uint32_t)b0 & 0xFFu) | (((uint32_t)b1 & 0xFFu) << 8) | (((uint32_t)b2 & 0xFFu) << 16) |
                   ((uint32_t)b3 << 24));
}
static inline int32_t max_s8x4(int32_t a, int32_t b) {
  return bytes4(lane(a, 0) >= lane(b, 0) ? lane(a, 0) : lane(b, 0), lane(a, 1) >= lane(b, 1) ? lane(a, 1) : lane(b, 1),
                lane(a, 2) >= lane(b, 2) ? lane(a, 2) : lane(b, 2), lane(a, 3) >= lane(b, 3) ? lane(a, 3) : lane(b, 3));
}
static inline int32_t min_s8x4(int32_t a, int32_t b) {
  return bytes4(lane(a, 0) >= lane(b, 0) ? lane(b, 0) : lane(a, 0), lane(a, 1) >= lane(b, 1) ? lane(b, 1) : lane(a, 1),
                lane(a, 2) >= lane(b, 2) ? lane(b, 2) : lane(a, 2), lane(a, 3) >= lane(b, 3) ? lane(b, 3) : lane(a, 3));
}
/* Used by depthwise_conv2d_s8_rows_dsp.c. */
static inline int32_t smlatb(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(hi16(x) * lo16(y)));
}
static inline int32_t smlabt(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(lo16(x) * hi16(y)));
}
#endif

/* Requantization helpers (conv2d_1x1_s8_dsp.c, conv2d_s8_dsp.c). asr_lo8 / lsl_lo8 shift by the low
 * byte of their second operand, as the register-shift instructions do, so a table word holding the
 * shift in its low byte needs no extraction; the models take that byte (the kernels keep it < 32). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
static inline int32_t smmlar(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
static inline int32_t asr_lo8(int32_t x, int32_t s) {
  int32_t r;
  __asm__("asr %0, %1, %2" : "=r"(r) : "r"(x), "r"(s));
  return r;
}
static inline int32_t lsl_lo8(int32_t x, int32_t s) {
  int32_t r;
  __asm__("lsl %0, %1, %2" : "=r"(r) : "r"(x), "r"(s));
  return r;
}
static inline int32_t ssat8_asr1(int32_t x) {
  int32_t r;
  __asm__("ssat %0, #8, %1, asr #1" : "=r"(r) : "r"(x) : "cc");
  return r;
}
#else
static inline int32_t smmlar(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)smmulr(a, b)); /* bits 63:32 of acc * 2^32 + a * b + 2^31 */
}
static inline int32_t asr_lo8(int32_t x, int32_t s) { return x >> (s & 0xFF); }
static inline int32_t lsl_lo8(int32_t x, int32_t s) { return (int32_t)((uint32_t)x << (s & 0xFF)); }
static inline int32_t ssat8_asr1(int32_t x) { return ssat8(x >> 1); }
#endif

/* Round half to even by VCVTR.S32.F32 in the FPSCR default rounding mode (the onnxruntime-arithmetic DSP
 * requantization below and the FPU float kernels, built in either arithmetic mode). */
#if defined(__ARM_FP) && (__ARM_FP & 4)
static inline int32_t te_cvtr_s32_f32(float v) {
  int32_t r;
  float t;
  __asm__("vcvtr.s32.f32 %1, %2\n\tvmov %0, %1" : "=r"(r), "=&t"(t) : "t"(v));
  return r;
}
#else
/* Elsewhere the portable kernels' own rounding (te_requantize.c): it equals VCVTR below 2^30, and the
 * DSP kernels are emitted only where |value| < 2^29. */
static inline int32_t te_cvtr_s32_f32(float v) { return te_round_half_even_f32(v); }
#endif

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
#include <string.h>
/* onnxruntime's requantization (TE_SINGLE_ROUNDING build: graphs from ONNX / PyTorch), for the DSP kernels'
 * accumulator 2 * acc. The table word after each channel's bias word holds the float32 bits of scale / 2
 * (codegen/dsp.py rq_table_f32, only where scale / 2 is exact), the bias word has 0 in its low byte:
 *   te_requantize(acc) = nearbyint((float)acc * scale) = nearbyint((float)(2 acc) * (scale / 2))
 * since (float)(2 acc) = 2 (float)acc and the two real products are equal, so they round alike. The
 * compiler emits this layer only when |acc| * scale < 2^29 for every reachable acc (dsp.ort_requant_ok):
 * te_round_half_even_f32's saturation (|v| >= 2^30) and the int32 overflow of adding out_offset to it
 * never happen, and the conversion below is exact round-half-even. On a core with a single-precision FPU:
 * VCVT.F32.S32, VMUL.F32, then VCVTR.S32.F32 (FPSCR rounding mode: round to nearest even by default, the
 * same mode the portable kernel's float conversion and product use). */
/* nearbyint((float)acc2 * f32(half_scale_bits)). */
static inline __attribute__((always_inline)) int32_t rq_f32(int32_t acc2, int32_t half_scale_bits) {
  float s;
  memcpy(&s, &half_scale_bits, sizeof s);
  return te_cvtr_s32_f32((float)acc2 * s);
}
/* The same interface as the fixed-point rq_m1 below: with the f32 table's low byte 0, rnd = k1 << 0
 * = 1 + 2 * out_offset, so rnd >> 1 = out_offset: SSAT8(nearbyint(acc * scale) + out_offset). */
static inline __attribute__((always_inline)) int32_t rq_m1(int32_t acc2, int32_t mult, int32_t rnd, int32_t q) {
  (void)q;
  return ssat8(rq_f32(acc2, mult) + (rnd >> 1));
}
/* The depthwise kernels' form (rq_table_f32: rnd = out_offset, rsh unused). */
static inline __attribute__((always_inline)) int32_t rq_dw8(int32_t acc2, int32_t mult, int32_t rnd, int32_t rsh) {
  (void)rsh;
  return ssat8(rq_f32(acc2, mult) + rnd);
}
#define TE_DW_RND(k1, rsh) ((k1) >> 1)
#else
/* Requantization of 2 * acc (q: the rq_table_m1 word, right - 1 in its low byte; rnd = k1 << (right - 1)):
 *   y' = SMMLAR(2 acc, mult, rnd)                              (= SMMULR(2 acc, mult) + rnd)
 *   r  = SSAT8(((y' + (2 acc >> 31)) >> (right - 1)) >> 1)      (= floor(./ 2^right): nested floors)
 * The sign of 2 acc stands in for the sign of y = SMMULR(2 acc, mult): they differ only when y == 0 and
 * acc < 0, and then (rnd - 1) >> right == rnd >> right == out_offset (right >= 1). The register-shift
 * instructions read only the low byte of q, so q shifts by right - 1 as it is, and SSAT takes the last
 * bit as its operand shift. */
static inline __attribute__((always_inline)) int32_t rq_m1(int32_t acc2, int32_t mult, int32_t rnd, int32_t q) {
  const int32_t y = smmlar(acc2, mult, rnd);
  return ssat8_asr1(asr_lo8((int32_t)((uint32_t)y + (uint32_t)(acc2 >> 31)), q));
}
/* The depthwise kernels' form: the same sum with rnd = TE_DW_RND(k1, rsh) and the whole shift rsh = right. */
static inline __attribute__((always_inline)) int32_t rq_dw8(int32_t acc2, int32_t mult, int32_t rnd, int32_t rsh) {
  return ssat8((int32_t)((uint32_t)smmlar(acc2, mult, rnd) + (uint32_t)(acc2 >> 31)) >> rsh);
}
#define TE_DW_RND(k1, rsh) ((int32_t)((uint32_t)(k1) << ((rsh) - 1)))
#endif

/* Two pixels x two output channels (a<pixel><channel>) requantized with the rq_table_m1 words q[0..3] and
 * stored at o0[0..1] / o1[0..1], one channel at a time: the int8 stores may alias the table, so channel 1's
 * words load after channel 0's stores and the two channels' constants are never live together. */
static inline __attribute__((always_inline)) void rq_m1_store_2x2(const int32_t* q, int32_t k1, int32_t a00,
                                                                    int32_t a01, int32_t a10, int32_t a11,
                                                                    int8_t* o0, int8_t* o1) {
  {
    const int32_t q0 = q[0], m0 = q[1], rnd0 = lsl_lo8(k1, q0);
    const int32_t r00 = rq_m1(a00, m0, rnd0, q0), r10 = rq_m1(a10, m0, rnd0, q0);
    o0[0] = (int8_t)r00;
    o1[0] = (int8_t)r10;
  }
  {
    const int32_t q1 = q[2], m1 = q[3], rnd1 = lsl_lo8(k1, q1);
    const int32_t r01 = rq_m1(a01, m1, rnd1, q1), r11 = rq_m1(a11, m1, rnd1, q1);
    o0[1] = (int8_t)r01;
    o1[1] = (int8_t)r11;
  }
}

#endif /* TE_DSP_H_ */
