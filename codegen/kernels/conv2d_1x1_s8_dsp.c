/*
 * conv2d_1x1_s8_dsp.c: pointwise (1x1, stride 1, no padding) int8 conv2d for Armv7E-M DSP cores
 * (Cortex-M4/M7/M33/M55): a GEMM over pixels with 2 pixels x 2 output channels per inner
 * iteration and SMLAD doing two 16-bit MACs per instruction.
 *
 * Data layout, prepared at compile time by tinyengine_tvm.codegen.dsp:
 *   - weights are packed in the order the loop reads them: for each pair of output channels,
 *     for each group of 4 input channels, 4 bytes of channel oc then 4 bytes of oc + 1 (a last odd
 *     channel follows alone, 4 bytes per group); in_c must be a multiple of 4;
 *   - qp[2*oc] = bias, qp[2*oc + 1] = multiplier;  sh[2*oc] = left shift + 1, sh[2*oc + 1] = right
 *     shift, where TFLite's shift s gives left = max(s, 0), right = max(-s, 0).
 * The two pixels' inputs are widened once to 16 bits with the input offset added (SXTAB16, lanes
 * [x0,x2] and [x1,x3]); the weights are widened with the same lane order (SXTB16), so SMLAD pairs
 * them without any reordering.
 *
 * Requantization is TFLite's MultiplyByQuantizedMultiplier, computed as
 *   y = SMMULR(acc << (left + 1), mult)                     (= SaturatingRoundingDoublingHighMul)
 *   r = (2y + 2^right + (y >> 31)) >> (right + 1)           (= RoundingDivideByPOT(y, right))
 * which is exact when |acc << (left + 1)| < 2^31 and 2|y| + 2^right < 2^31: the compiler emits
 * this kernel only for layers where the weights and bias prove those bounds (tests check the
 * identity exhaustively near every rounding boundary). Bytes out equal te_conv2d_1x1_s8's.
 *
 * Without __ARM_FEATURE_DSP the instructions are exact C models, so the kernel also runs (and is
 * tested, with sanitizers) on the host.
 */
#include <string.h>

#include "tinyengine_kernels.h"

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
#endif

#define TE_PW_MAX_IN_C 512

static inline int32_t requant(int32_t acc, int32_t mult, int32_t lsh, int32_t rsh, int32_t out_offset,
                              int32_t act_min, int32_t act_max) {
  const int32_t y = smmulr((int32_t)((uint32_t)acc << lsh), mult);
  int32_t r = (int32_t)((uint32_t)y * 2u + ((uint32_t)1 << rsh) + (uint32_t)(y >> 31)) >> (rsh + 1);
  r += out_offset;
  r = r < act_min ? act_min : r;
  return r > act_max ? act_max : r;
}

/* in: in_c int8 of one pixel -> in_c / 2 words of 16-bit lanes (x + offset), order [x0,x2],[x1,x3],... */
static inline void widen(const int8_t* in, int32_t n4, int32_t off2, int32_t* dst) {
  int32_t i;
  for (i = 0; i < n4; ++i) {
    int32_t v;
    memcpy(&v, in + 4 * i, 4);
    dst[2 * i] = sxtab16(off2, v);
    dst[2 * i + 1] = sxtab16_ror8(off2, v);
  }
}

void te_conv2d_1x1_s8_dsp(const te_pw_params* p, const int8_t* in, const int8_t* weights,
                          const int32_t* qp, const int8_t* sh, int8_t* out) {
  int32_t buf[TE_PW_MAX_IN_C]; /* two pixels, in_c 16-bit lanes each */
  const int32_t in_c = p->in_c, out_c = p->out_c, n4 = p->in_c >> 2, half = p->in_c >> 1;
  const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  int32_t px, oc, i;

  if (in_c > TE_PW_MAX_IN_C || (in_c & 3) != 0) return; /* never emitted for such layers */
  for (px = 0; px < p->pixels; px += 2) {
    const int two = px + 1 < p->pixels;
    const int8_t* w = weights;
    int8_t* o0 = out + px * out_c;
    int8_t* o1 = o0 + out_c;
    widen(in + px * in_c, n4, off2, buf);
    widen(in + (two ? px + 1 : px) * in_c, n4, off2, buf + half);
    for (oc = 0; oc + 1 < out_c; oc += 2) {
      const int32_t* x0 = buf;
      const int32_t* x1 = buf + half;
      int32_t a00 = qp[2 * oc], a01 = qp[2 * oc + 2];
      int32_t a10 = a00, a11 = a01;
      for (i = 0; i < n4; ++i) {
        int32_t wa, wb;
        memcpy(&wa, w, 4);
        memcpy(&wb, w + 4, 4);
        w += 8;
        {
          const int32_t wa02 = sxtb16(wa), wa13 = sxtb16_ror8(wa);
          const int32_t wb02 = sxtb16(wb), wb13 = sxtb16_ror8(wb);
          const int32_t x002 = x0[0], x013 = x0[1], x102 = x1[0], x113 = x1[1];
          x0 += 2;
          x1 += 2;
          a00 = smlad(x002, wa02, a00);
          a01 = smlad(x002, wb02, a01);
          a10 = smlad(x102, wa02, a10);
          a11 = smlad(x102, wb02, a11);
          a00 = smlad(x013, wa13, a00);
          a01 = smlad(x013, wb13, a01);
          a10 = smlad(x113, wa13, a10);
          a11 = smlad(x113, wb13, a11);
        }
      }
      {
        const int32_t m0 = qp[2 * oc + 1], m1 = qp[2 * oc + 3];
        const int32_t l0 = sh[2 * oc], r0 = sh[2 * oc + 1], l1 = sh[2 * oc + 2], r1 = sh[2 * oc + 3];
        o0[oc] = (int8_t)requant(a00, m0, l0, r0, out_offset, act_min, act_max);
        o0[oc + 1] = (int8_t)requant(a01, m1, l1, r1, out_offset, act_min, act_max);
        if (two) {
          o1[oc] = (int8_t)requant(a10, m0, l0, r0, out_offset, act_min, act_max);
          o1[oc + 1] = (int8_t)requant(a11, m1, l1, r1, out_offset, act_min, act_max);
        }
      }
    }
    if (oc < out_c) { /* last odd channel: 4 weight bytes per group */
      const int32_t* x0 = buf;
      const int32_t* x1 = buf + half;
      int32_t a0 = qp[2 * oc], a1 = a0;
      for (i = 0; i < n4; ++i) {
        int32_t wa;
        memcpy(&wa, w, 4);
        w += 4;
        a0 = smlad(x0[0], sxtb16(wa), a0);
        a1 = smlad(x1[0], sxtb16(wa), a1);
        a0 = smlad(x0[1], sxtb16_ror8(wa), a0);
        a1 = smlad(x1[1], sxtb16_ror8(wa), a1);
        x0 += 2;
        x1 += 2;
      }
      o0[oc] = (int8_t)requant(a0, qp[2 * oc + 1], sh[2 * oc], sh[2 * oc + 1], out_offset, act_min, act_max);
      if (two) o1[oc] = (int8_t)requant(a1, qp[2 * oc + 1], sh[2 * oc], sh[2 * oc + 1], out_offset, act_min, act_max);
    }
  }
}
