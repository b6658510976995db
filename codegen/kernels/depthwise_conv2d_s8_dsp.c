/*
 * depthwise_conv2d_s8_dsp.c: int8 depthwise conv2d (depth multiplier 1, no dilation, square
 * kernel k <= 8, any stride) for Armv7E-M DSP cores. Channel by channel: the input rows of the
 * current window are widened into a ring of k zero-padded 16-bit rows holding 2 * (x + in_offset)
 * (padding cells 0; rows rotate as the window moves down, so each input row is widened once per
 * channel), and every output sums k rows of SMLADs over adjacent 16-bit pairs (an unaligned
 * 32-bit load picks any pair) against the channel's weights, widened to 16-bit pairs per kernel row
 * ([w0,w1],[w2,w3],...,[w_{k-1},0]: the zero pairs the one extra ring column).
 *
 * Weights are channel-major [c][k][k] (transposed at compile time); rq is the requantization table
 * of conv2d_1x1_s8_dsp.c ({(2 * bias) << 8 | right, mult}, right >= 1), here computed as
 *   y = SMMULR(2 * acc, mult),  r = (y + 2^(right-1) + out_offset * 2^right + (y >> 31)) >> right
 * (= RoundingDivideByPOT(y, right) + out_offset; bounds proven per layer by the compiler).
 * The output is written channel by channel: the compiler emits this kernel only where the memory
 * plan keeps input and output apart or an exact check of this order against the placement passes
 * (tinyengine_tvm.codegen.dsp.dw_channel_major_safe).
 * Scratch: TE_DW_RING int16 on the stack (the compiler checks k * padded width fits).
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_DW_RING 1024
#define TE_DW_MAX_K 8
#define INLINE static inline __attribute__((always_inline))

INLINE int32_t word_at(const int16_t* v) {
  int32_t w;
  memcpy(&w, v, 4);
  return w;
}

/* Padded row prow of this channel -> r (pw lanes). */
static __attribute__((noinline)) void load_row(const te_dw_params* p, const int8_t* in, int32_t prow, int32_t pw, int32_t off2, int16_t* r) {
  const int32_t iy = prow - p->pad_top, c = p->c, in_w = p->in_w;
  int32_t ix;
  if (iy < 0 || iy >= p->in_h) {
    for (ix = 0; ix < pw; ++ix) r[ix] = 0;
    return;
  }
  {
    const int8_t* x = in + iy * in_w * c;
    int16_t* d = r + p->pad_left;
    for (ix = 0; ix < p->pad_left; ++ix) r[ix] = 0;
    for (ix = 0; ix < in_w; ++ix) {
      d[ix] = (int16_t)(off2 + 2 * (int32_t)*x);
      x += c;
    }
    for (ix = p->pad_left + in_w; ix < pw; ++ix) r[ix] = 0;
  }
}

INLINE void dw_channel(const te_dw_params* p, const int8_t* in, const int8_t* w, int32_t q, int32_t mult, int8_t* out,
                       int16_t* ring, const int32_t K, const int clamp) {
  const int32_t KP = (K + 1) >> 1, s_h = p->stride_h, s_w = p->stride_w, c = p->c, out_w = p->out_w;
  const int32_t pw = p->pad_left + p->in_w + p->pad_right + 1;
  const int32_t off2 = 2 * p->in_offset, act_min = p->act_min, act_max = p->act_max;
  const int32_t bias2 = q >> 8, rsh = q & 0xFF;
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
  const int32_t rnd = p->out_offset; /* onnxruntime's requantization: te_dsp.h rq_f32, then + out_offset */
  (void)rsh;
#else
  const int32_t rnd = (int32_t)(((uint32_t)1 << (rsh - 1)) + ((uint32_t)p->out_offset << rsh));
#endif
  int32_t wv[TE_DW_MAX_K * (TE_DW_MAX_K / 2)];
  int16_t* rows[TE_DW_MAX_K];
  int16_t* tmp[TE_DW_MAX_K];
  int32_t ky, j, oy, ox, have = 0;

  for (ky = 0; ky < K; ++ky) {
    for (j = 0; j < KP; ++j) {
      const int32_t w0 = w[ky * K + 2 * j], w1 = 2 * j + 1 < K ? w[ky * K + 2 * j + 1] : 0;
      wv[ky * KP + j] = (int32_t)(((uint32_t)w0 & 0xFFFFu) | ((uint32_t)w1 << 16));
    }
    rows[ky] = ring + ky * pw;
  }
  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t top = oy * s_h;
    if (oy > 0) { /* slide the window down by s_h rows: reuse the rows still inside it */
      if (s_h >= K) {
        have = 0;
      } else {
        for (j = 0; j < s_h; ++j) tmp[j] = rows[j];
        for (j = 0; j + s_h < K; ++j) rows[j] = rows[j + s_h];
        for (j = 0; j < s_h; ++j) rows[K - s_h + j] = tmp[j];
        have = K - s_h;
      }
    }
    for (ky = have; ky < K; ++ky) load_row(p, in, top + ky, pw, off2, rows[ky]);
    have = K;
    {
      int8_t* o = out + oy * out_w * c;
      for (ox = 0; ox < out_w; ++ox) {
        int32_t acc = bias2, y, r;
        for (ky = 0; ky < K; ++ky) {
          const int16_t* rr = rows[ky] + ox * s_w;
          for (j = 0; j < KP; ++j) acc = smlad(word_at(rr + 2 * j), wv[ky * KP + j], acc);
        }
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
        y = rq_f32(acc, mult);
        r = ssat8(y + rnd);
#else
        y = smmulr(acc, mult);
        r = ssat8((int32_t)((uint32_t)y + (uint32_t)rnd + (uint32_t)(y >> 31)) >> rsh);
#endif
        if (clamp) {
          r = r < act_min ? act_min : r;
          r = r > act_max ? act_max : r;
        }
        *o = (int8_t)r;
        o += c;
      }
    }
  }
}

/* k = 3 with the six weight pairs in registers and the three ring rows as plain pointers. */
INLINE void dw_channel3(const te_dw_params* p, const int8_t* in, const int8_t* w, int32_t q, int32_t mult, int8_t* out,
                        int16_t* ring) {
  const int32_t s_h = p->stride_h, s_w = p->stride_w, c = p->c, out_w = p->out_w;
  const int32_t pw = p->pad_left + p->in_w + p->pad_right + 1;
  const int32_t off2 = 2 * p->in_offset;
  const int32_t bias2 = q >> 8, rsh = q & 0xFF;
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
  const int32_t rnd = p->out_offset; /* onnxruntime's requantization: te_dsp.h rq_f32, then + out_offset */
  (void)rsh;
#else
  const int32_t rnd = (int32_t)((uint32_t)(1 + 2 * p->out_offset) << (rsh - 1));
#endif
#define PK(a, b) ((int32_t)(((uint32_t)(int32_t)(a) & 0xFFFFu) | ((uint32_t)(int32_t)(b) << 16)))
  const int32_t w00 = PK(w[0], w[1]), w01 = PK(w[2], 0), w10 = PK(w[3], w[4]), w11 = PK(w[5], 0);
  const int32_t w20 = PK(w[6], w[7]), w21 = PK(w[8], 0);
#undef PK
  int16_t* r0 = ring;
  int16_t* r1 = ring + pw;
  int16_t* r2 = ring + 2 * pw;
  int32_t oy, ox;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t top = oy * s_h;
    if (oy == 0 || s_h >= 3) {
      load_row(p, in, top, pw, off2, r0);
      load_row(p, in, top + 1, pw, off2, r1);
      load_row(p, in, top + 2, pw, off2, r2);
    } else if (s_h == 1) { /* rows top, top+1 are the old r1, r2 */
      int16_t* t = r0;
      r0 = r1;
      r1 = r2;
      r2 = t;
      load_row(p, in, top + 2, pw, off2, r2);
    } else { /* stride 2: row top is the old r2 */
      int16_t* t0 = r0;
      int16_t* t1 = r1;
      r0 = r2;
      r1 = t0;
      r2 = t1;
      load_row(p, in, top + 1, pw, off2, r1);
      load_row(p, in, top + 2, pw, off2, r2);
    }
    {
      const int16_t* a = r0;
      const int16_t* b = r1;
      const int16_t* d = r2;
      int8_t* o = out + oy * out_w * c;
      for (ox = out_w; ox > 0; --ox) {
        int32_t acc = bias2, y;
        acc = smlad(word_at(a), w00, acc);
        acc = smlad(word_at(a + 2), w01, acc);
        acc = smlad(word_at(b), w10, acc);
        acc = smlad(word_at(b + 2), w11, acc);
        acc = smlad(word_at(d), w20, acc);
        acc = smlad(word_at(d + 2), w21, acc);
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
        y = rq_f32(acc, mult);
        *o = (int8_t)ssat8(y + rnd);
#else
        y = smmulr(acc, mult);
        *o = (int8_t)ssat8((int32_t)((uint32_t)y + (uint32_t)rnd + (uint32_t)(y >> 31)) >> rsh);
#endif
        o += c;
        a += s_w;
        b += s_w;
        d += s_w;
      }
    }
  }
}

void te_depthwise_conv2d_s8_dsp(const te_dw_params* p, const int8_t* in, const int8_t* weights,
                                const int32_t* rq, int8_t* out) {
  int16_t ring[TE_DW_RING];
  const int32_t c = p->c, k = p->k_h, kk = p->k_h * p->k_w;
  const int clamp = p->act_min > -128 || p->act_max < 127;
  int32_t ch;
  if (k != p->k_w || k > TE_DW_MAX_K || k * (p->pad_left + p->in_w + p->pad_right + 1) > TE_DW_RING) return;
  for (ch = 0; ch < c; ++ch) {
    const int8_t* w = weights + ch * kk;
    const int32_t q = rq[2 * ch], m = rq[2 * ch + 1];
    if (clamp) {
      dw_channel(p, in + ch, w, q, m, out + ch, ring, k, 1);
    } else {
      switch (k) { /* constant kernel sizes unroll the row sums */
        case 3: dw_channel3(p, in + ch, w, q, m, out + ch, ring); break;
        default: dw_channel(p, in + ch, w, q, m, out + ch, ring, k, 0); break;
      }
    }
  }
}
