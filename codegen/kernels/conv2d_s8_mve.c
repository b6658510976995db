/*
 * conv2d_s8_mve.c: int8 conv2d with a small window (k_h * k_w * in_c <= 64, e.g. the first layer's 3x3x3)
 * with Helium, pixel by pixel.
 *
 * The pixel's window is copied into a 64-byte stack patch laid out like an OHWI weight row (zero_point =
 * -in_offset in cells outside the input, which cancels their share of te_mve.h's bias fold); the patch's
 * 16-byte chunks stay in registers while every output channel takes one VMLADAV per chunk. Windows of up to
 * 32 bytes run two pixels of a row at a time (each weight load feeds both). Weights are
 * packed per 4 output channels (codegen/mve.py pack_conv): each row zero-padded to whole chunks. The
 * requantization and table are te_mve.h's.
 *
 * Keeps te_conv2d_s8's overlap contract: a pixel's window is read (into the patch) before any of its
 * outputs is written (a pair's second window too: reading early is always safe).
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE

static inline __attribute__((always_inline)) int32_t cv_dot(const int8x16_t* x, const int8_t* w, const int CH) {
  int32_t a = vmladavq_s8(x[0], vldrbq_s8(w));
  if (CH > 1) a = vmladavaq_s8(a, x[1], vldrbq_s8(w + 16));
  if (CH > 2) a = vmladavaq_s8(a, x[2], vldrbq_s8(w + 32));
  if (CH > 3) a = vmladavaq_s8(a, x[3], vldrbq_s8(w + 48));
  return a;
}

/* The window of the output pixel at input (iy0, ix0) into patch (CH chunks, OHWI order, zero_point outside the
 * input). Interior windows with rows of at most 16 bytes: one predicated copy per row, over bytes the border
 * windows left as zero_point past the window (weights are zero there). */
static inline __attribute__((always_inline)) void cv_fill(int8_t* patch, const te_conv_params* p, const int8_t* in,
                                                          int32_t iy0, int32_t ix0, int8x16_t zp16, mve_pred16_t rowp,
                                                          const int CH) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, k_h = p->k_h, k_w = p->k_w;
  const int32_t span = k_w * in_c;
  const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
  int32_t ky, i;
  if (span <= 16 && kx0 == 0 && kx1 == k_w && iy0 >= 0 && iy0 + k_h <= in_h) {
    const int8_t* src = in + (iy0 * in_w + ix0) * in_c;
    for (ky = 0; ky < k_h; ++ky, src += in_w * in_c) vstrbq_p_s8(patch + ky * span, vldrbq_z_s8(src, rowp), rowp);
    return;
  }
  for (i = 0; i < CH; ++i) vstrbq_s8(patch + 16 * i, zp16);
  for (ky = 0; ky < k_h; ++ky) {
    const int32_t iy = iy0 + ky;
    if (iy >= 0 && iy < in_h && kx0 < kx1) {
      const int8_t* src = in + (iy * in_w + ix0 + kx0) * in_c;
      int8_t* dst = patch + ky * span + kx0 * in_c;
      const int32_t n = (kx1 - kx0) * in_c;
      for (i = 0; i < n; i += 16) {
        const mve_pred16_t m = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, m), m);
      }
    }
  }
}

static inline __attribute__((always_inline)) int32x4_t cv_rq(int32x4_t v, const int32_t* q, int32_t ooff,
                                                             int32x4_t lo, int32x4_t hi, const int lsh) {
  v = lsh ? te_mve_rq_lsh(v, te_mve_rq_mult(q), te_mve_rq_nrs(q), te_mve_rq_left(q))
          : te_mve_rq(v, te_mve_rq_mult(q), te_mve_rq_nrs(q));
  return te_mve_out(v, ooff, lo, hi);
}

static inline __attribute__((always_inline)) void cv_store(int8_t* o, int32x4_t v, int32_t left) {
  if (left >= 4)
    vstrbq_s32(o, v);
  else
    vstrbq_p_s32(o, v, vctp32q((uint32_t)left));
}

static inline __attribute__((always_inline)) void cv_mve(const te_conv_params* p, const int8_t* in,
                                                         const int8_t* weights, const int32_t* rq, int8_t* out,
                                                         const int CH, const int lsh) {
  const int32_t k_w = p->k_w, in_c = p->in_c, oc = p->out_c, out_w = p->out_w;
  const int32_t rowb = CH * 16;
  const int32_t ooff = p->out_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int8x16_t zp16 = vdupq_n_s8((int8_t)(-p->in_offset));
  const mve_pred16_t rowp = vctp8q((uint32_t)(k_w * in_c <= 16 ? k_w * in_c : 16));
  int8_t pa[64], pb[64];
  int32_t oy, ox, i;

  for (i = 0; i < CH; ++i) { /* bytes past the window stay zero_point (their weights are zero) */
    vstrbq_s8(pa + 16 * i, zp16);
    vstrbq_s8(pb + 16 * i, zp16);
  }
  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (ox = 0; ox < out_w; ox += 2) { /* pixel pairs share the weight loads; an odd last pixel alone */
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int two = ox + 1 < out_w;
      int8_t* o = out + (oy * out_w + ox) * oc;
      const int8_t* pw = weights;
      const int32_t* q = rq;
      int8x16_t xa0, xa1 = vdupq_n_s8(0), xb0 = vdupq_n_s8(0), xb1 = vdupq_n_s8(0);
      int32_t g, r;
      cv_fill(pa, p, in, iy0, ix0, zp16, rowp, CH);
      if (two) cv_fill(pb, p, in, iy0, ix0 + p->stride_w, zp16, rowp, CH);
      xa0 = vldrbq_s8(pa);
      if (CH > 1) xa1 = vldrbq_s8(pa + 16);
      if (two) {
        xb0 = vldrbq_s8(pb);
        if (CH > 1) xb1 = vldrbq_s8(pb + 16);
      }
      for (g = 0; g < oc; g += 4, pw += 4 * rowb, q += TE_MVE_RQ_WORDS) {
        const int32x4_t bias = te_mve_rq_bias(q);
        int32x4_t va = bias, vb = bias;
#pragma GCC unroll 4
        for (r = 0; r < 4; ++r) { /* two sums live at a time: VMLADAV writes even registers only */
          const int8x16_t w0 = vldrbq_s8(pw + r * rowb);
          int32_t sa = vmladavq_s8(xa0, w0), sb = vmladavq_s8(xb0, w0);
          if (CH > 1) {
            const int8x16_t w1 = vldrbq_s8(pw + r * rowb + 16);
            sa = vmladavaq_s8(sa, xa1, w1);
            sb = vmladavaq_s8(sb, xb1, w1);
          }
          va = vsetq_lane_s32(sa, va, r);
          vb = vsetq_lane_s32(sb, vb, r);
        }
        cv_store(o + g, cv_rq(vaddq_s32(va, bias), q, ooff, lo, hi, lsh), oc - g);
        if (two) cv_store(o + oc + g, cv_rq(vaddq_s32(vb, bias), q, ooff, lo, hi, lsh), oc - g);
      }
    }
  }
}


/* CH 3, 4 (windows of 33..64 bytes): pixel by pixel. */
static inline __attribute__((always_inline)) void cv_mve1(const te_conv_params* p, const int8_t* in,
                                                          const int8_t* weights, const int32_t* rq, int8_t* out,
                                                          const int CH, const int lsh) {
  const int32_t oc = p->out_c, rowb = CH * 16;
  const int32_t ooff = p->out_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int8x16_t zp16 = vdupq_n_s8((int8_t)(-p->in_offset));
  const mve_pred16_t rowp = vctp8q((uint32_t)(p->k_w * p->in_c <= 16 ? p->k_w * p->in_c : 16));
  int8_t patch[64];
  int32_t oy, ox, i;

  for (i = 0; i < CH; ++i) vstrbq_s8(patch + 16 * i, zp16); /* bytes past the window stay zero_point */
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      int8_t* o = out + (oy * p->out_w + ox) * oc;
      const int8_t* pw = weights;
      const int32_t* q = rq;
      int8x16_t x[4];
      int32_t g;
      cv_fill(patch, p, in, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left, zp16, rowp, CH);
      for (i = 0; i < CH; ++i) x[i] = vldrbq_s8(patch + 16 * i);
      for (g = 0; g < oc; g += 4, pw += 4 * rowb, q += TE_MVE_RQ_WORDS) {
        const int32x4_t bias = te_mve_rq_bias(q);
        const int32x4_t v = te_mve_lanes(bias, cv_dot(x, pw, CH), cv_dot(x, pw + rowb, CH),
                                         cv_dot(x, pw + 2 * rowb, CH), cv_dot(x, pw + 3 * rowb, CH));
        cv_store(o + g, cv_rq(vaddq_s32(v, bias), q, ooff, lo, hi, lsh), oc - g);
      }
    }
  }
}

static void cv_any(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq, int8_t* out,
                   const int lsh) {
  const int32_t k = p->k_h * p->k_w * p->in_c;
  if (k <= 16)
    cv_mve(p, in, weights, rq, out, 1, lsh);
  else if (k <= 32)
    cv_mve(p, in, weights, rq, out, 2, lsh);
  else if (k <= 48)
    cv_mve1(p, in, weights, rq, out, 3, lsh);
  else
    cv_mve1(p, in, weights, rq, out, 4, lsh);
}

void te_conv2d_s8_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                      int8_t* out) {
  cv_any(p, in, weights, rq, out, 0);
}

void te_conv2d_s8_lsh_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                          int8_t* out) {
  cv_any(p, in, weights, rq, out, 1);
}

#else
typedef int te_conv2d_s8_mve_unused; /* not an MVE core: nothing to build */
#endif
