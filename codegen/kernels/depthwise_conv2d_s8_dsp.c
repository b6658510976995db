/*
 * depthwise_conv2d_s8_dsp.c: int8 depthwise conv2d (depth multiplier 1, no dilation, any kernel
 * size and stride) for Armv7E-M DSP cores. Channel by channel: the input rows a channel needs are
 * widened once into a small ring of k_h zero-padded 16-bit rows (x + in_offset; padding cells 0),
 * and every output sums k_h rows of SMLADs over adjacent 16-bit pairs (an unaligned 32-bit load
 * picks any pair). The weights of the channel are widened into 16-bit pairs per kernel row
 * ([w0,w1],[w2,w3],...,[w_{k-1},0]; the zero pairs the extra ring column read past the row).
 *
 * Weights are HWC [k_h][k_w][channels] as for te_depthwise_conv2d_s8; qp/sh are the fast
 * requantization tables described in conv2d_1x1_s8_dsp.c (bias, multiplier; left + 1, right).
 * The output is written channel by channel, so unlike te_depthwise_conv2d_s8 this kernel must not
 * overlap its input (the compiler only emits it when the memory plan keeps them apart).
 * Scratch: TE_DW_RING int16 on the stack (the compiler checks k_h * padded width fits).
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

static inline int32_t requant(int32_t acc, int32_t mult, int32_t lsh, int32_t rsh, int32_t out_offset,
                              int32_t act_min, int32_t act_max) {
  const int32_t y = smmulr((int32_t)((uint32_t)acc << lsh), mult);
  int32_t r = (int32_t)((uint32_t)y * 2u + ((uint32_t)1 << rsh) + (uint32_t)(y >> 31)) >> (rsh + 1);
  r += out_offset;
  r = r < act_min ? act_min : r;
  return r > act_max ? act_max : r;
}


#define TE_DW_RING 1024
#define TE_DW_MAX_K 8

/* Sum over one kernel row: kp pairs of 16-bit inputs starting at r, times packed weight pairs. */
static inline __attribute__((always_inline)) int32_t row_dot(const int16_t* r, const int32_t* wp, int32_t kp,
                                                             int32_t acc) {
  int32_t j;
  for (j = 0; j < kp; ++j) {
    int32_t v;
    memcpy(&v, r + 2 * j, 4);
    acc = smlad(v, wp[j], acc);
  }
  return acc;
}

static inline __attribute__((always_inline)) void out_row(const te_dw_params* p, int16_t* const* rows,
                                                          const int32_t* wp, int32_t kp, int32_t bias,
                                                          int32_t mult, int32_t lsh, int32_t rsh, int8_t* o) {
  const int32_t out_w = p->out_w, s = p->stride_w, c = p->c, k_h = p->k_h;
  const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
  int32_t ox, ky;
  for (ox = 0; ox < out_w; ++ox) {
    int32_t acc = bias;
    for (ky = 0; ky < k_h; ++ky) acc = row_dot(rows[ky] + ox * s, wp + ky * kp, kp, acc);
    *o = (int8_t)requant(acc, mult, lsh, rsh, out_offset, act_min, act_max);
    o += c;
  }
}

void te_depthwise_conv2d_s8_dsp(const te_dw_params* p, const int8_t* in, const int8_t* weights,
                                const int32_t* qp, const int8_t* sh, int8_t* out) {
  int16_t ring[TE_DW_RING];
  int32_t wp[TE_DW_MAX_K * (TE_DW_MAX_K / 2)];
  int16_t* rows[TE_DW_MAX_K];
  const int32_t c = p->c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
  const int32_t kp = (k_w + 1) >> 1;
  const int32_t pw = p->pad_left + in_w + p->pad_right + 1; /* +1: the zero-weighted column past odd k */
  const int32_t off = p->in_offset;
  int32_t ch, oy, ky, kx, ix;

  if (k_h > TE_DW_MAX_K || k_w > TE_DW_MAX_K || k_h * pw > TE_DW_RING) return; /* never emitted */
  for (ch = 0; ch < c; ++ch) {
    const int32_t bias = qp[2 * ch], mult = qp[2 * ch + 1], lsh = sh[2 * ch], rsh = sh[2 * ch + 1];
    int32_t loaded = -1; /* highest padded input row held in the ring */
    for (ky = 0; ky < k_h; ++ky) {
      for (kx = 0; kx < kp; ++kx) {
        const int32_t w0 = weights[(ky * k_w + 2 * kx) * c + ch];
        const int32_t w1 = 2 * kx + 1 < k_w ? weights[(ky * k_w + 2 * kx + 1) * c + ch] : 0;
        wp[ky * kp + kx] = (int32_t)(((uint32_t)w0 & 0xFFFFu) | ((uint32_t)w1 << 16));
      }
    }
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t top = oy * p->stride_h; /* first padded row of the window */
      for (ky = 0; ky < k_h; ++ky) {
        const int32_t prow = top + ky;
        int16_t* r = ring + (prow % k_h) * pw;
        if (prow > loaded) { /* load padded row prow */
          const int32_t iy = prow - p->pad_top;
          if (iy < 0 || iy >= in_h) {
            memset(r, 0, (size_t)pw * sizeof(int16_t));
          } else {
            const int8_t* x = in + iy * in_w * c + ch;
            int16_t* d = r + p->pad_left;
            for (ix = 0; ix < p->pad_left; ++ix) r[ix] = 0;
            for (ix = 0; ix < in_w; ++ix) {
              d[ix] = (int16_t)(*x + off);
              x += c;
            }
            for (ix = p->pad_left + in_w; ix < pw; ++ix) r[ix] = 0;
          }
          loaded = prow;
        }
        rows[ky] = r;
      }
      {
        int8_t* o = out + oy * p->out_w * c + ch;
        switch (kp) { /* constant pair counts let the compiler unroll the row sums */
          case 1: out_row(p, rows, wp, 1, bias, mult, lsh, rsh, o); break;
          case 2: out_row(p, rows, wp, 2, bias, mult, lsh, rsh, o); break;
          case 3: out_row(p, rows, wp, 3, bias, mult, lsh, rsh, o); break;
          case 4: out_row(p, rows, wp, 4, bias, mult, lsh, rsh, o); break;
          default: break;
        }
      }
    }
  }
}
