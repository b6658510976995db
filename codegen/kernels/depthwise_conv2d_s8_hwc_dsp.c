/*
 * depthwise_conv2d_s8_hwc_dsp.c: int8 depthwise conv2d (depth multiplier 1, no dilation, any
 * kernel, stride and padding; channels a multiple of 4) for Armv7E-M DSP cores, in the portable
 * kernel's order: output pixel by output pixel, 4 channels at a time. Per kernel tap one 32-bit
 * load brings 4 channels of input and one 4 channels of weights (HWC, the portable layout); SXTAB16 /
 * SXTB16 widen them (x + in_offset) and SMLABB / SMLATT accumulate the 4 channels. Padding taps
 * are skipped (they contribute 0).
 * rq is the requantization table of conv2d_1x1_s8_dsp.c ({(2 * bias) << 8 | right, mult}): the
 * accumulator starts at bias and is doubled before y = SMMULR(2 * acc, mult).
 * It writes out[y][x][c..c+3] after reading those channels' windows, which keeps
 * te_depthwise_conv2d_s8's overlap contract (reads never later, writes never earlier).
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define INLINE static inline __attribute__((always_inline))

INLINE int32_t ld32(const int8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* One tap for 4 channels: x (4 int8 at in), w (4 int8), accumulators a0..a3 (channels c..c+3). */
#define DW_TAP(xp, wp)                   \
  do {                                   \
    const int32_t xv_ = ld32(xp);        \
    const int32_t wv_ = ld32(wp);        \
    const int32_t x02_ = sxtab16(off2, xv_), x13_ = sxtab16_ror8(off2, xv_); \
    const int32_t w02_ = sxtb16(wv_), w13_ = sxtb16_ror8(wv_);             \
    a0 = smlabb(x02_, w02_, a0);         \
    a2 = smlatt(x02_, w02_, a2);         \
    a1 = smlabb(x13_, w13_, a1);         \
    a3 = smlatt(x13_, w13_, a3);         \
  } while (0)

INLINE int8_t rq1(int32_t acc, int32_t q, int32_t mult, int32_t k1, int clamp, int32_t act_min, int32_t act_max) {
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
  /* onnxruntime's requantization (te_dsp.h rq_f32 of 2 acc; mult: the float32 bits of scale / 2) */
  int32_t r = ssat8(rq_f32((int32_t)((uint32_t)acc << 1), mult) + (k1 >> 1));
  (void)q;
#else
  const int32_t rsh = q & 0xFF;
  const int32_t y = smmulr((int32_t)((uint32_t)acc << 1), mult);
  int32_t r = ssat8((int32_t)((uint32_t)y + ((uint32_t)k1 << (rsh - 1)) + (uint32_t)(y >> 31)) >> rsh);
#endif
  if (clamp) {
    r = r < act_min ? act_min : r;
    r = r > act_max ? act_max : r;
  }
  return (int8_t)r;
}

INLINE void dw_hwc(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq, int8_t* out,
                   const int32_t K, int clamp) {
  const int32_t c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = K > 0 ? K : p->k_h, k_w = K > 0 ? K : p->k_w;
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  const int32_t k1 = 1 + 2 * p->out_offset, act_min = p->act_min, act_max = p->act_max;
  const int32_t row = in_w * c, wrow = k_w * c;
  int32_t oy, ox, ch, ky, kx;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in_h - iy0 < k_h ? in_h - iy0 : k_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
      const int full = K > 0 && ky0 == 0 && kx0 == 0 && ky1 == k_h && kx1 == k_w;
      const int8_t* base = in + iy0 * row + ix0 * c;
      const int32_t* q = rq;
      for (ch = 0; ch < c; ch += 4) {
        int32_t a0 = q[0] >> 9, a1 = q[2] >> 9, a2 = q[4] >> 9, a3 = q[6] >> 9;
        if (full) { /* whole window inside the input: constant trip counts, unrolled */
          for (ky = 0; ky < K; ++ky) {
            const int8_t* xr = base + ky * row + ch;
            const int8_t* wr = weights + ky * wrow + ch;
            for (kx = 0; kx < K; ++kx) DW_TAP(xr + kx * c, wr + kx * c);
          }
        } else {
          for (ky = ky0; ky < ky1; ++ky) {
            const int8_t* xr = base + ky * row + ch;
            const int8_t* wr = weights + ky * wrow + ch;
            for (kx = kx0; kx < kx1; ++kx) DW_TAP(xr + kx * c, wr + kx * c);
          }
        }
        out[0] = rq1(a0, q[0], q[1], k1, clamp, act_min, act_max);
        out[1] = rq1(a1, q[2], q[3], k1, clamp, act_min, act_max);
        out[2] = rq1(a2, q[4], q[5], k1, clamp, act_min, act_max);
        out[3] = rq1(a3, q[6], q[7], k1, clamp, act_min, act_max);
        out += 4;
        q += 8;
      }
    }
  }
}

void te_depthwise_conv2d_s8_hwc_dsp(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                    const int32_t* rq, int8_t* out) {
  const int clamp = p->act_min > -128 || p->act_max < 127;
  if ((p->in_c & 3) != 0) return; /* never emitted */
  if (clamp || p->k_h != p->k_w) {
    dw_hwc(p, in, weights, rq, out, 0, 1);
    return;
  }
  switch (p->k_h) {
    case 3: dw_hwc(p, in, weights, rq, out, 3, 0); break;
    case 5: dw_hwc(p, in, weights, rq, out, 5, 0); break;
    case 7: dw_hwc(p, in, weights, rq, out, 7, 0); break;
    default: dw_hwc(p, in, weights, rq, out, 0, 1); break; /* shares the clamping instance (smaller code) */
  }
}
