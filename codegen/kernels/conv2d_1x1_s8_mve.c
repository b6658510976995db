/*
 * conv2d_1x1_s8_mve.c: 1x1 stride-1 int8 conv (a GEMM over pixels) with Helium.
 *
 * One pixel x four output channels per block: per 16 input channels, 1 input and 4 weight vector loads
 * feed 4 VMLADAVA (16 MACs each); the 4 sums are requantized as one 4-lane vector (te_mve.h). With
 * in_c <= 16 the pixel's input is loaded once for all its output channels.
 * Weights are packed at compile time (codegen/mve.py pack_pointwise): per 4-channel group (zero rows
 * up to a whole group), per 16 input channels 4 x 16 bytes, then the in_c % 16 last bytes of the 4
 * rows one after the other, loaded predicated like the input's last partial chunk (no padding in
 * Flash), and 16 zero bytes. The requantization table is te_mve.h's.
 *
 * Keeps te_conv2d_1x1_s8's overlap contract: pixel by pixel, a pixel's input read before any of its
 * outputs is written (the channel groups of one pixel read only that pixel).
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE

/* The 4-channel group's requantization and store (o: the pixel's outputs at the group). */
static inline __attribute__((always_inline)) void pw_store(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                           const int32_t* q, int8_t* o, int32_t left_c, int32_t ooff,
                                                           int32x4_t lo, int32x4_t hi, const int lsh) {
  const int32x4_t bias = te_mve_rq_bias(q);
  int32x4_t v = vaddq_s32(te_mve_lanes(bias, a0, a1, a2, a3), bias);
  v = lsh ? te_mve_rq_lsh(v, te_mve_rq_mult(q), te_mve_rq_nrs(q), te_mve_rq_left(q))
          : te_mve_rq(v, te_mve_rq_mult(q), te_mve_rq_nrs(q));
  v = te_mve_out(v, ooff, lo, hi);
  if (left_c >= 4)
    vstrbq_s32(o, v);
  else
    vstrbq_p_s32(o, v, vctp32q((uint32_t)left_c));
}

static inline __attribute__((always_inline)) void pw_mve(const te_pw_params* p, const int8_t* in,
                                                         const int8_t* weights, const int32_t* rq, int8_t* out,
                                                         const int lsh) {
  const int32_t ic = p->in_c, oc = p->out_c, npx = p->pixels;
  const int32_t full = ic >> 4, tail = ic & 15;
  const int32_t wstride = full * 64 + tail * 4;
  const mve_pred16_t tp = vctp8q((uint32_t)tail);
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int32_t ooff = p->out_offset;
  int32_t px;

  if (ic <= 16) { /* one chunk: the pixel's input stays in a register across the channel groups; a row's
                     16-byte load runs into the next rows (times zero lanes of x; 16 zero bytes end the array) */
    const mve_pred16_t xp = vctp8q((uint32_t)ic);
    for (px = 0; px < npx; ++px) {
      const int8x16_t x = vldrbq_z_s8(in + px * ic, xp);
      const int8_t* pw = weights;
      const int32_t* q = rq;
      int8_t* o = out + px * oc;
      int32_t g;
      for (g = 0; g < oc; g += 4, pw += 4 * ic, q += TE_MVE_RQ_WORDS) {
        const int32_t a0 = vmladavq_s8(x, vldrbq_s8(pw));
        const int32_t a1 = vmladavq_s8(x, vldrbq_s8(pw + ic));
        const int32_t a2 = vmladavq_s8(x, vldrbq_s8(pw + 2 * ic));
        const int32_t a3 = vmladavq_s8(x, vldrbq_s8(pw + 3 * ic));
        pw_store(a0, a1, a2, a3, q, o + g, oc - g, ooff, lo, hi, lsh);
      }
    }
    return;
  }
  for (px = 0; px < npx; ++px) {
    const int8_t* x0 = in + px * ic;
    const int8_t* wg = weights;
    const int32_t* q = rq;
    int8_t* o = out + px * oc;
    int32_t g;
    for (g = 0; g < oc; g += 4, wg += wstride, q += TE_MVE_RQ_WORDS) {
      int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      const int8_t* pa = x0;
      const int8_t* pw = wg;
      int32_t k;
      for (k = 0; k < full; ++k) {
        const int8x16_t xa = vldrbq_s8(pa);
        a0 = vmladavaq_s8(a0, xa, vldrbq_s8(pw));
        a1 = vmladavaq_s8(a1, xa, vldrbq_s8(pw + 16));
        a2 = vmladavaq_s8(a2, xa, vldrbq_s8(pw + 32));
        a3 = vmladavaq_s8(a3, xa, vldrbq_s8(pw + 48));
        pa += 16;
        pw += 64;
      }
      if (tail) {
        const int8x16_t xa = vldrbq_z_s8(pa, tp);
        a0 = vmladavaq_s8(a0, xa, vldrbq_z_s8(pw, tp));
        a1 = vmladavaq_s8(a1, xa, vldrbq_z_s8(pw + tail, tp));
        a2 = vmladavaq_s8(a2, xa, vldrbq_z_s8(pw + 2 * tail, tp));
        a3 = vmladavaq_s8(a3, xa, vldrbq_z_s8(pw + 3 * tail, tp));
      }
      pw_store(a0, a1, a2, a3, q, o + g, oc - g, ooff, lo, hi, lsh);
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
