/*
 * conv2d_s8_dsp.c: general int8 conv2d (any kernel, stride, padding; no dilation) for Armv7E-M
 * DSP cores, meant for small reductions such as a network's first layer on 3-channel input.
 * Per pair of output pixels, both receptive fields are gathered (im2col) into 16-bit lanes with
 * the input offset added (padding cells 0, length rounded up to even), then every pair of output
 * channels takes SMLADs of those lanes against the weights, pre-widened at compile time to 16-bit
 * pairs in the same [ky][kx][ic] order ([oc][K/2] int32 words, low half first, a zero pad for odd K).
 * rq is the requantization table of conv2d_1x1_s8_dsp.c ({(2 * bias) << 8 | right, mult}); lanes
 * hold 2 * (x + in_offset), so the accumulator is 2 * acc as that formula wants.
 * Both windows of a pixel pair are read before either output is written, so it keeps
 * te_conv2d_s8's overlap contract. Scratch: 2 * TE_CONV_MAX_K int16 on the stack.
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define INLINE_RQ static inline __attribute__((always_inline))
#define TE_CONV_MAX_K 256

/* im2col of one output pixel: K values (x + offset, 0 for padding) as 16-bit lanes, zero tail. */
static void gather(const te_conv_params* p, const int8_t* in, int32_t oy, int32_t ox, int32_t k2, int16_t* col) {
  const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
  const int32_t off2 = 2 * p->in_offset, span = k_w * in_c;
  const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
  int32_t ky, kx, ic, i, n = 0;
  if (ix0 >= 0 && ix0 + k_w <= in_w) { /* no padding columns: each kernel row is span contiguous bytes */
    for (ky = 0; ky < k_h; ++ky, n += span) {
      const int32_t iy = iy0 + ky;
      if (iy < 0 || iy >= in_h) {
        for (i = 0; i < span; ++i) col[n + i] = 0;
      } else {
        const int8_t* x = in + (iy * in_w + ix0) * in_c;
        for (i = 0; i < span; ++i) col[n + i] = (int16_t)(off2 + 2 * (int32_t)x[i]);
      }
    }
  } else {
    for (ky = 0; ky < k_h; ++ky) {
      const int32_t iy = iy0 + ky;
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = ix0 + kx;
        if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
          for (ic = 0; ic < in_c; ++ic) col[n++] = 0;
        } else {
          const int8_t* x = in + (iy * in_w + ix) * in_c;
          for (ic = 0; ic < in_c; ++ic) col[n++] = (int16_t)(off2 + 2 * (int32_t)x[ic]);
        }
      }
    }
  }
  while (n < k2) col[n++] = 0;
}

/* kw words of two pixels' columns (x0, x1) against weight rows wa, wb: 2 x 2 accumulators. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define CONV_DOT(x0, x1, wa, wb, n, a00, a01, a10, a11)                                                      \
  do {                                                                                                      \
    int32_t v0_, v1_, va_, vb_;                                                                             \
    __asm__ volatile("1:\n\t"                                                                               \
                     "ldr %[v0], [%[p0]], #4\n\t"                                                           \
                     "ldr %[v1], [%[p1]], #4\n\t"                                                           \
                     "ldr %[va], [%[pa]], #4\n\t"                                                           \
                     "ldr %[vb], [%[pb]], #4\n\t"                                                           \
                     "smlad %[c00], %[v0], %[va], %[c00]\n\t"                                               \
                     "smlad %[c01], %[v0], %[vb], %[c01]\n\t"                                               \
                     "smlad %[c10], %[v1], %[va], %[c10]\n\t"                                               \
                     "smlad %[c11], %[v1], %[vb], %[c11]\n\t"                                               \
                     "subs %[cnt], %[cnt], #1\n\t"                                                          \
                     "bne 1b"                                                                               \
                     : [p0] "+r"(x0), [p1] "+r"(x1), [pa] "+r"(wa), [pb] "+r"(wb), [cnt] "+r"(n),           \
                       [c00] "+r"(a00), [c01] "+r"(a01), [c10] "+r"(a10), [c11] "+r"(a11), [v0] "=&r"(v0_), \
                       [v1] "=&r"(v1_), [va] "=&r"(va_), [vb] "=&r"(vb_)                                    \
                     :                                                                                      \
                     : "cc", "memory");                                                                     \
  } while (0)
#endif

static inline int32_t word(const int16_t* v) {
  int32_t w;
  memcpy(&w, v, 4);
  return w;
}

INLINE_RQ int32_t rq_out(int32_t acc2, const int32_t* rq, int32_t k1, int32_t act_min, int32_t act_max) {
  const int32_t rsh = rq[0] & 0xFF;
  const int32_t y = smmulr(acc2, rq[1]);
  int32_t r = ssat8((int32_t)((uint32_t)y + ((uint32_t)k1 << (rsh - 1)) + (uint32_t)(y >> 31)) >> rsh);
  r = r < act_min ? act_min : r;
  return r > act_max ? act_max : r;
}

void te_conv2d_s8_dsp(const te_conv_params* p, const int8_t* in, const int32_t* weights,
                      const int32_t* rq, int8_t* out) {
  int32_t colw[TE_CONV_MAX_K]; /* two pixels' columns, k2 lanes each (word aligned) */
  int16_t* cols = (int16_t*)(void*)colw;
  const int32_t k2 = (p->k_h * p->k_w * p->in_c + 1) & ~1, kw = k2 >> 1;
  const int32_t out_c = p->out_c, npix = p->out_h * p->out_w;
  const int32_t k1 = 1 + 2 * p->out_offset, act_min = p->act_min, act_max = p->act_max;
  int32_t px, oc;
#ifndef CONV_DOT
  int32_t j;
#endif

  if (k2 > TE_CONV_MAX_K) return; /* never emitted */
  for (px = 0; px < npix; px += 2) {
    const int two = px + 1 < npix;
    const int32_t px1 = two ? px + 1 : px;
    int8_t* o0 = out + px * out_c;
    int8_t* o1 = o0 + out_c;
    gather(p, in, px / p->out_w, px % p->out_w, k2, cols);
    gather(p, in, px1 / p->out_w, px1 % p->out_w, k2, cols + k2);
    for (oc = 0; oc < out_c; oc += 2) {
      const int pair = oc + 1 < out_c;
      const int32_t* wa = weights + oc * kw;
      const int32_t* wb = pair ? wa + kw : wa;
      const int16_t* x0 = cols;
      const int16_t* x1 = cols + k2;
      int32_t a00 = rq[2 * oc] >> 8, a01 = pair ? rq[2 * oc + 2] >> 8 : 0, a10 = a00, a11 = a01;
#ifdef CONV_DOT
      {
        int32_t n = kw;
        CONV_DOT(x0, x1, wa, wb, n, a00, a01, a10, a11);
      }
#else
      for (j = 0; j < kw; ++j) {
        const int32_t va = wa[j], vb = wb[j], v0 = word(x0 + 2 * j), v1 = word(x1 + 2 * j);
        a00 = smlad(v0, va, a00);
        a01 = smlad(v0, vb, a01);
        a10 = smlad(v1, va, a10);
        a11 = smlad(v1, vb, a11);
      }
#endif
      o0[oc] = (int8_t)rq_out(a00, rq + 2 * oc, k1, act_min, act_max);
      if (two) o1[oc] = (int8_t)rq_out(a10, rq + 2 * oc, k1, act_min, act_max);
      if (pair) {
        o0[oc + 1] = (int8_t)rq_out(a01, rq + 2 * oc + 2, k1, act_min, act_max);
        if (two) o1[oc + 1] = (int8_t)rq_out(a11, rq + 2 * oc + 2, k1, act_min, act_max);
      }
    }
  }
}
