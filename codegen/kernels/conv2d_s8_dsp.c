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

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
/* onnxruntime's requantization (te_dsp.h rq_f32; rq[1] the float32 bits of scale / 2, k1 = 1 + 2 * out_offset). */
INLINE_RQ int32_t rq_out(int32_t acc2, const int32_t* rq, int32_t k1, int32_t act_min, int32_t act_max) {
  int32_t r = ssat8(rq_f32(acc2, rq[1]) + (k1 >> 1));
  r = r < act_min ? act_min : r;
  return r > act_max ? act_max : r;
}
#else
INLINE_RQ int32_t rq_out(int32_t acc2, const int32_t* rq, int32_t k1, int32_t act_min, int32_t act_max) {
  const int32_t rsh = rq[0] & 0xFF;
  const int32_t y = smmulr(acc2, rq[1]);
  int32_t r = ssat8((int32_t)((uint32_t)y + ((uint32_t)k1 << (rsh - 1)) + (uint32_t)(y >> 31)) >> rsh);
  r = r < act_min ? act_min : r;
  return r > act_max ? act_max : r;
}
#endif

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

/*
 * te_conv2d_s8_k<KH>s<SPAN>_dsp: the same convolution for small reductions with out_c even, the kernel
 * height KH and the row span SPAN = k_w * in_c compile-time constants (so the gather unrolls; the
 * column is KW = TE_CONV_KW(KH, SPAN) 32-bit words, even). Three changes make it cheap:
 *
 *   - the gather widens 4 input bytes per load: each kernel row's span (SPAN contiguous bytes when the
 *     window is inside the image) is read as words and split with SXTAB16 into lanes (b0, b2),
 *     (b1, b3) with the input offset added; the last SPAN % 4 bytes of every row go to shared tail
 *     words. The weights are packed at compile time in exactly this lane order (codegen/dsp.py
 *     conv_lane_order / pack_conv_kw), as 16-bit 2 * w so the accumulator is 2 * acc; windows that
 *     touch padding take a per-lane gather in the same order;
 *   - the two pixels' columns are interleaved in pairs of words ([p0 j, p0 j+1, p1 j, p1 j+1]) and each
 *     output channel pair's weights likewise ([a j, a j+1, b j, b j+1]), so the fully unrolled
 *     reduction is four LDRDs at constant offsets per eight SMLADs;
 *   - the requantization is conv2d_1x1_s8_dsp.c's five-instruction SMMLAR form, with its table
 *     (rq_table_m1: right - 1 in the low byte).
 * Both windows of a pixel pair are read before either output is written (te_conv2d_s8's contract); a
 * last odd pixel pairs with itself and both copies go to the same place.
 */
#define TE_CONV_KW_MAX 32

/* lane k of a pixel's column: word k / 2, half k % 2; word j of pixel p sits at (j / 2) * 4 + 2 p + j % 2 */
static inline int32_t col_index(int32_t j, int32_t p) { return ((j >> 1) << 2) + (p << 1) + (j & 1); }

static inline int32_t pack_lanes(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

/* Gather of one pixel whose window touches padding (few pixels): per lane, padding cells 0, into
 * column pix of col (kw words). */
static void gather_kw_edge(const te_conv_params* p, const int8_t* in, int32_t iy0, int32_t ix0, int32_t kw,
                           int32_t pix, int32_t* col) {
  const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, span = p->k_w * p->in_c;
  const int32_t n4 = span >> 2, off = p->in_offset, main_words = 2 * k_h * n4;
  int32_t lanes[4 * TE_CONV_KW_MAX];
  int32_t ky, b, j, n = 0;
  for (j = 0; j < 2 * kw; ++j) lanes[j] = 0;
  for (ky = 0; ky < k_h; ++ky) {
    const int32_t iy = iy0 + ky;
    for (b = 0; b < span; ++b) {
      const int32_t ix = ix0 + b / in_c;
      const int32_t v = (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) ? (int32_t)in[(iy * in_w + ix) * in_c + b % in_c] + off : 0;
      if (b < 4 * n4) /* conv_lane_order: group g's bytes (0, 2, 1, 3) */
        lanes[2 * 2 * (ky * n4 + (b >> 2)) + ((b & 1) << 1) + ((b >> 1) & 1)] = v;
      else
        lanes[2 * main_words + n++] = v;
    }
  }
  for (j = 0; j < kw; ++j) col[col_index(j, pix)] = pack_lanes(lanes[2 * j], lanes[2 * j + 1]);
}

/* Gather of one pixel (window origin iy0, ix0) into column pix of col: whole rows of the window as words
 * split by SXTAB16 when the window lies inside the image, else gather_kw_edge. */
INLINE_RQ void gather_ks(const te_conv_params* p, const int8_t* in, int32_t iy0, int32_t ix0, int32_t pix,
                         int32_t* col, const int32_t kh, const int32_t span, const int32_t kw) {
  const int32_t n4 = span >> 2, rem = span & 3, row = p->in_w * p->in_c;
  int32_t* d = col + 2 * pix;
  int32_t ky, g, j;
  int16_t tl[2 * TE_CONV_KW_MAX + 2]; /* tail lanes in column order, then a zero */
  if (iy0 < 0 || iy0 + kh > p->in_h || ix0 < 0 || ix0 + p->k_w > p->in_w) {
    gather_kw_edge(p, in, iy0, ix0, kw, pix, col);
    return;
  }
  {
    const int32_t off = p->in_offset, off2 = pack_lanes(off, off);
    const int8_t* r = in + iy0 * row + ix0 * p->in_c;
#pragma GCC unroll 8
    for (ky = 0; ky < kh; ++ky) {
#pragma GCC unroll 8
      for (g = 0; g < n4; ++g) {
        int32_t v;
        memcpy(&v, r + ky * row + 4 * g, 4);
        d[4 * (ky * n4 + g)] = sxtab16(off2, v);
        d[4 * (ky * n4 + g) + 1] = sxtab16_ror8(off2, v);
      }
#pragma GCC unroll 4
      for (g = 0; g < rem; ++g) tl[ky * rem + g] = (int16_t)((int32_t)r[ky * row + 4 * n4 + g] + off);
    }
    tl[kh * rem] = 0;
#pragma GCC unroll 16
    for (j = 2 * kh * n4, g = 0; j < kw; ++j, g += 2) { /* tail words, then zero words up to kw */
      int32_t v = 0;
      if (g < kh * rem) memcpy(&v, tl + g, 4); /* lanes g (low half), g + 1 */
      col[col_index(j, pix)] = v;
    }
  }
}

/* Word pair S of the reduction: 4 LDRDs, 8 SMLADs (x: the interleaved columns, w post-incremented). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define CONV_KW_STEP(x, S, w, a00, a01, a10, a11)                                                        \
  do {                                                                                                 \
    int32_t x0_, x1_, x2_, x3_, w0_, w1_;                                                              \
    __asm__("ldrd %[x0], %[x1], [%[px], %[o0]]\n\t"                                                    \
            "ldrd %[x2], %[x3], [%[px], %[o1]]\n\t"                                                    \
            "ldrd %[w0], %[w1], [%[pw]], #8\n\t"                                                       \
            "smlad %[c00], %[x0], %[w0], %[c00]\n\t"                                                   \
            "smlad %[c10], %[x2], %[w0], %[c10]\n\t"                                                   \
            "smlad %[c00], %[x1], %[w1], %[c00]\n\t"                                                   \
            "smlad %[c10], %[x3], %[w1], %[c10]\n\t"                                                   \
            "ldrd %[w0], %[w1], [%[pw]], #8\n\t"                                                       \
            "smlad %[c01], %[x0], %[w0], %[c01]\n\t"                                                   \
            "smlad %[c11], %[x2], %[w0], %[c11]\n\t"                                                   \
            "smlad %[c01], %[x1], %[w1], %[c01]\n\t"                                                   \
            "smlad %[c11], %[x3], %[w1], %[c11]"                                                       \
            : [pw] "+r"(w), [c00] "+r"(a00), [c01] "+r"(a01), [c10] "+r"(a10), [c11] "+r"(a11),        \
              [x0] "=&r"(x0_), [x1] "=&r"(x1_), [x2] "=&r"(x2_), [x3] "=&r"(x3_), [w0] "=&r"(w0_),     \
              [w1] "=&r"(w1_)                                                                          \
            : [px] "r"(x), [o0] "i"(16 * (S)), [o1] "i"(16 * (S) + 8),                                 \
              "m"(*(const int32_t(*)[2 * TE_CONV_KW_MAX])(x))                                          \
            : "memory");                                                                               \
  } while (0)
/* CONV_KW_STEP for word pair 0: the second pixel's accumulators start from the first's (the bias) and
 * are outputs here, taking those values before they change (no copies beforehand). */
#define CONV_KW_STEP0(x, w, a00, a01, a10, a11)                                                          \
  do {                                                                                                 \
    int32_t x0_, x1_, x2_, x3_, w0_, w1_;                                                              \
    __asm__("ldrd %[x0], %[x1], [%[px]]\n\t"                                                          \
            "ldrd %[x2], %[x3], [%[px], #8]\n\t"                                                      \
            "ldrd %[w0], %[w1], [%[pw]], #8\n\t"                                                     \
            "smlad %[c10], %[x2], %[w0], %[c00]\n\t"                                                 \
            "smlad %[c00], %[x0], %[w0], %[c00]\n\t"                                                 \
            "smlad %[c00], %[x1], %[w1], %[c00]\n\t"                                                 \
            "smlad %[c10], %[x3], %[w1], %[c10]\n\t"                                                 \
            "ldrd %[w0], %[w1], [%[pw]], #8\n\t"                                                     \
            "smlad %[c11], %[x2], %[w0], %[c01]\n\t"                                                 \
            "smlad %[c01], %[x0], %[w0], %[c01]\n\t"                                                 \
            "smlad %[c01], %[x1], %[w1], %[c01]\n\t"                                                 \
            "smlad %[c11], %[x3], %[w1], %[c11]"                                                       \
            : [pw] "+r"(w), [c00] "+r"(a00), [c01] "+r"(a01), [c10] "=&r"(a10), [c11] "=&r"(a11),      \
              [x0] "=&r"(x0_), [x1] "=&r"(x1_), [x2] "=&r"(x2_), [x3] "=&r"(x3_), [w0] "=&r"(w0_),     \
              [w1] "=&r"(w1_)                                                                          \
            : [px] "r"(x), "m"(*(const int32_t(*)[2 * TE_CONV_KW_MAX])(x))                             \
            : "memory");                                                                               \
  } while (0)
#else
#define CONV_KW_STEP0(x, w, a00, a01, a10, a11) \
  do {                                           \
    a10 = a00;                                   \
    a11 = a01;                                   \
    CONV_KW_STEP(x, 0, w, a00, a01, a10, a11);   \
  } while (0)
#define CONV_KW_STEP(x, S, w, a00, a01, a10, a11)                 \
  do {                                                            \
    const int32_t* xs_ = (x) + 4 * (S);                           \
    a00 = smlad(xs_[0], w[0], a00);                               \
    a10 = smlad(xs_[2], w[0], a10);                               \
    a00 = smlad(xs_[1], w[1], a00);                               \
    a10 = smlad(xs_[3], w[1], a10);                               \
    a01 = smlad(xs_[0], w[2], a01);                               \
    a11 = smlad(xs_[2], w[2], a11);                               \
    a01 = smlad(xs_[1], w[3], a01);                               \
    a11 = smlad(xs_[3], w[3], a11);                               \
    w += 4;                                                       \
  } while (0)
#endif

/* Words per column for (KH, SPAN): every row's groups, the tail lanes two per word, even. */
#define TE_CONV_KW(KH, SPAN) ((2 * (KH) * ((SPAN) >> 2) + ((KH) * ((SPAN)&3) + 1) / 2 + 1) & ~1)

INLINE_RQ void conv_ks(const te_conv_params* p, const int8_t* in, const int32_t* weights, const int32_t* rq,
                       int8_t* out, const int32_t kh, const int32_t span) {
  const int32_t kw = TE_CONV_KW(kh, span);
  int32_t col[2 * TE_CONV_KW_MAX];
  const int32_t out_c = p->out_c, out_w = p->out_w, npix = p->out_h * p->out_w;
  const int32_t s_h = p->stride_h, s_w = p->stride_w;
  const int32_t k1 = 1 + 2 * p->out_offset;
  int32_t px, iy = -p->pad_top, ix = -p->pad_left, ox = 0; /* window origin of pixel px, its column */
  for (px = 0; px < npix; px += 2) {
    const int32_t* w = weights;
    const int32_t* q = rq;
    int8_t* o0 = out + px * out_c;
    int8_t* o1 = px + 1 < npix ? o0 + out_c : o0; /* a last odd pixel pairs with itself */
    int32_t oc2;
    gather_ks(p, in, iy, ix, 0, col, kh, span, kw);
    if (++ox < out_w) { /* advance to pixel px + 1 */
      ix += s_w;
    } else {
      ox = 0;
      ix = -p->pad_left;
      iy += s_h;
    }
    if (px + 1 < npix) {
      gather_ks(p, in, iy, ix, 1, col, kh, span, kw);
      if (++ox < out_w) {
        ix += s_w;
      } else {
        ox = 0;
        ix = -p->pad_left;
        iy += s_h;
      }
    } else { /* the pair's second column repeats the first (its outputs land on the same bytes) */
      int32_t j;
      for (j = 0; j < (kw >> 1); ++j) memcpy(col + 4 * j + 2, col + 4 * j, sizeof(int32_t) * 2);
    }
    for (oc2 = out_c >> 1; oc2 > 0; --oc2) {
      int32_t a00 = q[0] >> 8, a01 = q[2] >> 8, a10, a11;
      CONV_KW_STEP0(col, w, a00, a01, a10, a11);
      if (kw > 2) CONV_KW_STEP(col, 1, w, a00, a01, a10, a11);
      if (kw > 4) CONV_KW_STEP(col, 2, w, a00, a01, a10, a11);
      if (kw > 6) CONV_KW_STEP(col, 3, w, a00, a01, a10, a11);
      if (kw > 8) CONV_KW_STEP(col, 4, w, a00, a01, a10, a11);
      if (kw > 10) CONV_KW_STEP(col, 5, w, a00, a01, a10, a11);
      if (kw > 12) CONV_KW_STEP(col, 6, w, a00, a01, a10, a11);
      if (kw > 14) CONV_KW_STEP(col, 7, w, a00, a01, a10, a11);
      if (kw > 16) CONV_KW_STEP(col, 8, w, a00, a01, a10, a11);
      if (kw > 18) CONV_KW_STEP(col, 9, w, a00, a01, a10, a11);
      if (kw > 20) CONV_KW_STEP(col, 10, w, a00, a01, a10, a11);
      if (kw > 22) CONV_KW_STEP(col, 11, w, a00, a01, a10, a11);
      if (kw > 24) CONV_KW_STEP(col, 12, w, a00, a01, a10, a11);
      if (kw > 26) CONV_KW_STEP(col, 13, w, a00, a01, a10, a11);
      if (kw > 28) CONV_KW_STEP(col, 14, w, a00, a01, a10, a11);
      if (kw > 30) CONV_KW_STEP(col, 15, w, a00, a01, a10, a11);
      rq_m1_store_2x2(q, k1, a00, a01, a10, a11, o0, o1);
      q += 4;
      o0 += 2;
      o1 += 2;
    }
  }
}

/* One entry point per (kernel height, row span), for layers without an activation clamp (the int8
 * saturation is the whole clamp; others use te_conv2d_s8_dsp): one copy of the code per shape. */
#define TE_CONV_KS(KH, SPAN)                                                                                \
  void te_conv2d_s8_k##KH##s##SPAN##_dsp(const te_conv_params* p, const int8_t* in, const int32_t* weights,  \
                                         const int32_t* rq, int8_t* out) {                                   \
    if (p->k_h != (KH) || p->k_w * p->in_c != (SPAN)) return; /* never emitted for other layers */          \
    conv_ks(p, in, weights, rq, out, (KH), (SPAN));                                                         \
  }
TE_CONV_KS(3, 3)
TE_CONV_KS(3, 6)
TE_CONV_KS(3, 9)
TE_CONV_KS(3, 12)
TE_CONV_KS(5, 5)
TE_CONV_KS(5, 10)
