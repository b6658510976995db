/*
 * conv2d_1x1_s8_mve.c: 1x1 stride-1 int8 conv (a GEMM over pixels) with Helium.
 *
 * Two pixels x four output channels per block: per 16 input channels, 2 input and 4 weight vector
 * loads feed 8 VMLADAVA (16 MACs each); the 8 sums are requantized as two 4-lane vectors (te_mve.h).
 * Weights are packed at compile time (codegen/mve.py pack_pointwise): per 4-channel group (zero rows
 * up to a whole group), per 16 input channels 4 x 16 bytes, then the in_c % 16 last bytes of the 4
 * rows one after the other, loaded predicated like the input's last partial chunk (no padding in
 * Flash). The requantization table is te_mve.h's.
 *
 * Overlap contract (the memory plan is made for te_conv2d_1x1_s8, pixel by pixel): while writing the
 * second pixel of a pair it still reads the first one's input, which that plan may overwrite; when
 * out overlaps in, the first pixel's input is copied to the stack first (in_c <= TE_PW_MVE_KEEP).
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE

static inline __attribute__((always_inline)) void pw_mve(const te_pw_params* p, const int8_t* in,
                                                         const int8_t* weights, const int32_t* rq, int8_t* out,
                                                         const int lsh) {
  const int32_t ic = p->in_c, oc = p->out_c, npx = p->pixels;
  const int32_t full = ic >> 4, tail = ic & 15;
  const int32_t wstride = full * 64 + tail * 4;
  const mve_pred16_t tp = vctp8q((uint32_t)tail);
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int32_t ooff = p->out_offset;
  const int overlap = (const int8_t*)out < in + npx * ic && in < (const int8_t*)out + npx * oc;
  int8_t keep[TE_PW_MVE_KEEP];
  int32_t px;

  for (px = 0; px < npx; px += 2) {
    const int two = px + 1 < npx;
    const int8_t* x0 = in + px * ic;
    const int8_t* x1 = two ? x0 + ic : x0;
    int8_t* o0 = out + px * oc;
    int8_t* o1 = o0 + oc;
    const int8_t* wg = weights;
    const int32_t* q = rq;
    int32_t g;
    if (overlap && two) {
      int32_t k;
      for (k = 0; k < ic; k += 16) vstrbq_p_s8(keep + k, vldrbq_s8(x0 + k), vctp8q((uint32_t)(ic - k)));
      x0 = keep;
    }
    for (g = 0; g < oc; g += 4, wg += wstride, q += TE_MVE_RQ_WORDS) {
      int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      const int8_t* pa = x0;
      const int8_t* pb = x1;
      const int8_t* pw = wg;
      int32x4_t va, vb;
      int32_t k;
      for (k = 0; k < full; ++k) {
        const int8x16_t xa = vldrbq_s8(pa), xb = vldrbq_s8(pb);
        int8x16_t w = vldrbq_s8(pw);
        a0 = vmladavaq_s8(a0, xa, w);
        b0 = vmladavaq_s8(b0, xb, w);
        w = vldrbq_s8(pw + 16);
        a1 = vmladavaq_s8(a1, xa, w);
        b1 = vmladavaq_s8(b1, xb, w);
        w = vldrbq_s8(pw + 32);
        a2 = vmladavaq_s8(a2, xa, w);
        b2 = vmladavaq_s8(b2, xb, w);
        w = vldrbq_s8(pw + 48);
        a3 = vmladavaq_s8(a3, xa, w);
        b3 = vmladavaq_s8(b3, xb, w);
        pa += 16;
        pb += 16;
        pw += 64;
      }
      if (tail) {
        const int8x16_t xa = vldrbq_z_s8(pa, tp), xb = vldrbq_z_s8(pb, tp);
        int8x16_t w = vldrbq_z_s8(pw, tp);
        a0 = vmladavaq_s8(a0, xa, w);
        b0 = vmladavaq_s8(b0, xb, w);
        w = vldrbq_z_s8(pw + tail, tp);
        a1 = vmladavaq_s8(a1, xa, w);
        b1 = vmladavaq_s8(b1, xb, w);
        w = vldrbq_z_s8(pw + 2 * tail, tp);
        a2 = vmladavaq_s8(a2, xa, w);
        b2 = vmladavaq_s8(b2, xb, w);
        w = vldrbq_z_s8(pw + 3 * tail, tp);
        a3 = vmladavaq_s8(a3, xa, w);
        b3 = vmladavaq_s8(b3, xb, w);
      }
      {
        const int32x4_t bias = te_mve_rq_bias(q), m = te_mve_rq_mult(q), nrs = te_mve_rq_nrs(q);
        va = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vsetq_lane_s32(a0, bias, 0), 1), 2), 3);
        vb = vsetq_lane_s32(b3, vsetq_lane_s32(b2, vsetq_lane_s32(b1, vsetq_lane_s32(b0, bias, 0), 1), 2), 3);
        va = vaddq_s32(va, bias);
        vb = vaddq_s32(vb, bias);
        if (lsh) {
          const int32x4_t l = te_mve_rq_left(q);
          va = te_mve_rq_lsh(va, m, nrs, l);
          vb = te_mve_rq_lsh(vb, m, nrs, l);
        } else {
          va = te_mve_rq(va, m, nrs);
          vb = te_mve_rq(vb, m, nrs);
        }
        va = te_mve_out(va, ooff, lo, hi);
        vb = te_mve_out(vb, ooff, lo, hi);
      }
      if (oc - g >= 4) {
        vstrbq_s32(o0 + g, va);
        if (two) vstrbq_s32(o1 + g, vb);
      } else {
        const mve_pred16_t op = vctp32q((uint32_t)(oc - g));
        vstrbq_p_s32(o0 + g, va, op);
        if (two) vstrbq_p_s32(o1 + g, vb, op);
      }
    }
  }
}

void te_conv2d_1x1_s8_mve(const te_pw_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                          int8_t* out) {
  pw_mve(p, in, weights, rq, out, 0);
}

void te_conv2d_1x1_s8_lsh_mve(const te_pw_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                              int8_t* out) {
  pw_mve(p, in, weights, rq, out, 1);
}

#else
typedef int te_conv2d_1x1_s8_mve_unused; /* not an MVE core: nothing to build */
#endif
