/*
 * conv2d_s8_mve.c: int8 conv2d with a small window (k_h * k_w * in_c <= 64, e.g. the first layer's 3x3x3)
 * with Helium, pixel by pixel.
 *
 * The pixel's window is copied into a 64-byte stack patch laid out like an OHWI weight row (zero_point =
 * -in_offset in cells outside the input, which cancels their share of te_mve.h's bias fold); the patch's
 * 16-byte chunks stay in registers while every output channel takes one VMLADAV per chunk. Weights are
 * packed per 4 output channels (codegen/mve.py pack_conv): each row zero-padded to whole chunks. The
 * requantization and table are te_mve.h's.
 *
 * Keeps te_conv2d_s8's overlap contract: a pixel's window is read (into the patch) before any of its
 * outputs is written.
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

static inline __attribute__((always_inline)) void cv_mve(const te_conv_params* p, const int8_t* in,
                                                         const int8_t* weights, const int32_t* rq, int8_t* out,
                                                         const int CH, const int lsh) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, k_h = p->k_h, k_w = p->k_w, oc = p->out_c;
  const int32_t span = k_w * in_c, rowb = CH * 16;
  const int32_t ooff = p->out_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int8x16_t zp16 = vdupq_n_s8((int8_t)(-p->in_offset));
  int8_t patch[64];
  int32_t oy, ox;

  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
      int8_t* o = out + (oy * p->out_w + ox) * oc;
      const int8_t* pw = weights;
      const int32_t* q = rq;
      int8x16_t x[4];
      int32_t ky, g, i;
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
      for (i = 0; i < CH; ++i) x[i] = vldrbq_s8(patch + 16 * i);
      for (g = 0; g < oc; g += 4, pw += 4 * rowb, q += TE_MVE_RQ_WORDS) {
        int32x4_t v = te_mve_rq_bias(q);
        const int32x4_t bias = v;
        v = vsetq_lane_s32(cv_dot(x, pw, CH), v, 0);
        v = vsetq_lane_s32(cv_dot(x, pw + rowb, CH), v, 1);
        v = vsetq_lane_s32(cv_dot(x, pw + 2 * rowb, CH), v, 2);
        v = vsetq_lane_s32(cv_dot(x, pw + 3 * rowb, CH), v, 3);
        v = vaddq_s32(v, bias);
        v = lsh ? te_mve_rq_lsh(v, te_mve_rq_mult(q), te_mve_rq_nrs(q), te_mve_rq_left(q))
                : te_mve_rq(v, te_mve_rq_mult(q), te_mve_rq_nrs(q));
        v = te_mve_out(v, ooff, lo, hi);
        if (oc - g >= 4)
          vstrbq_s32(o + g, v);
        else
          vstrbq_p_s32(o + g, v, vctp32q((uint32_t)(oc - g)));
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
    cv_mve(p, in, weights, rq, out, 3, lsh);
  else
    cv_mve(p, in, weights, rq, out, 4, lsh);
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
