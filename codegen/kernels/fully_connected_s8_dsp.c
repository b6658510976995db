/*
 * fully_connected_s8_dsp.c: int8 fully connected with the output scaling of LiteRT's reference
 * kernel (te_fully_connected_s8_dscale: per output round(acc * scale) in double) for Armv7E-M DSP
 * cores. The input row is widened once to 16-bit lanes (x + in_offset, SXTAB16), then two outputs
 * at a time take SMLADs against their weight rows, widened with SXTB16 in the same lane order.
 * Weights are the portable layout [out_n][in_n] as int32 words (in_n % 4 == 0, in_n <= 1024).
 * Reads the whole input row before writing any output of it (keeps the portable contract).
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
static inline int32_t ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif


#define TE_FC_MAX_IN 1024

/* round(acc * scale), ties away from zero, as the portable te_fully_connected_s8_dscale. */
static int32_t scale_round(int32_t acc, double scale) {
  const double v = (double)acc * scale;
  int32_t t;
  if (v >= 4096.0) return 4096;
  if (v <= -4096.0) return -4096;
  if (!(v == v)) return 0;
  t = (int32_t)v;
  if (v >= 0.0) {
    if (v >= (double)t + 0.5) ++t;
  } else {
    if (v <= (double)t - 0.5) --t;
  }
  return t;
}

static int8_t finish(int32_t acc, double scale, const te_fc_params* p) {
  int32_t r = scale_round(acc, scale) + p->out_offset;
  r = r < p->act_min ? p->act_min : r;
  return (int8_t)(r > p->act_max ? p->act_max : r);
}

void te_fully_connected_s8_dscale_dsp(const te_fc_params* p, const int8_t* in, const int32_t* weights,
                                      const int32_t* bias, const double* scale, int8_t* out) {
  int32_t buf[TE_FC_MAX_IN / 2];
  const int32_t in_n = p->in_n, out_n = p->out_n, n4 = p->in_n >> 2;
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  int32_t b, o, i;
  if (in_n > TE_FC_MAX_IN || (in_n & 3) != 0) return; /* never emitted */
  for (b = 0; b < p->batches; ++b) {
    const int8_t* x = in + b * in_n;
    for (i = 0; i < n4; ++i) {
      int32_t v;
      memcpy(&v, x + 4 * i, 4);
      buf[2 * i] = sxtab16(off2, v);
      buf[2 * i + 1] = sxtab16_ror8(off2, v);
    }
    for (o = 0; o + 1 < out_n; o += 2) {
      const int32_t* wa = weights + o * n4;
      const int32_t* wb = wa + n4;
      const int32_t* xb = buf;
      int32_t a0 = bias ? bias[o] : 0, a1 = bias ? bias[o + 1] : 0;
      for (i = n4; i > 0; --i) {
        const int32_t va = *wa++, vb = *wb++, x02 = xb[0], x13 = xb[1];
        xb += 2;
        a0 = smlad(x02, sxtb16(va), a0);
        a1 = smlad(x02, sxtb16(vb), a1);
        a0 = smlad(x13, sxtb16_ror8(va), a0);
        a1 = smlad(x13, sxtb16_ror8(vb), a1);
      }
      out[o] = finish(a0, scale[p->per_channel ? o : 0], p);
      out[o + 1] = finish(a1, scale[p->per_channel ? o + 1 : 0], p);
    }
    if (o < out_n) {
      const int32_t* wa = weights + o * n4;
      const int32_t* xb = buf;
      int32_t a0 = bias ? bias[o] : 0;
      for (i = n4; i > 0; --i) {
        const int32_t va = *wa++;
        a0 = smlad(xb[0], sxtb16(va), a0);
        a0 = smlad(xb[1], sxtb16_ror8(va), a0);
        xb += 2;
      }
      out[o] = finish(a0, scale[p->per_channel ? o : 0], p);
    }
    out += out_n;
  }
}
