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
static inline int32_t smmlar(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
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
/* Used by depthwise_conv2d_s8_rows_dsp.c. */
static inline int32_t smlatb(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(hi16(x) * lo16(y)));
}
static inline int32_t smlabt(int32_t x, int32_t y, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)(lo16(x) * hi16(y)));
}
static inline int32_t smmlar(int32_t a, int32_t b, int32_t acc) {
  return (int32_t)(uint32_t)((((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * (int64_t)b) +
                              ((uint64_t)1 << 31)) >> 32);
}
#endif

#endif /* TE_DSP_H_ */
