/*
 * conv2d_1x1_s8_mve.c: 1x1 stride-1 int8 conv (a GEMM over pixels) with Helium.
 *
 * One pixel x four output channels per block: per 16 input channels, 1 input and 4 weight vector loads
 * feed 4 VMLADAVA (16 MACs each); the 4 sums are requantized as one 4-lane vector (te_mve.h). With
 * in_c <= 48 the pixel's input (a pixel pair's with in_c <= 32) is loaded once into registers for all its
 * output channels, and the weights are plain rows (codegen/mve.py pack_pointwise).
 * Weights with in_c > 48 are packed at compile time (codegen/mve.py pack_pointwise): per 4-channel group
 * (zero rows up to a whole group), per 16 input channels 4 x 16 bytes, then the in_c % 16 last bytes of
 * the 4 rows one after the other, loaded predicated like the input's last partial chunk (no padding in
 * Flash). The requantization table is te_mve.h's.
 *
 * Above in_c 48 pixel pairs run through a hand-scheduled loop (2 input and 4 weight loads, 8 VMLADAVA per
 * 16 input channels).
 *
 * Overlap contract: te_conv2d_1x1_s8's plan may let the second pixel of a pair's outputs overwrite the first
 * one's input, which a group still reads after the previous groups' stores; where out overlaps in, the first
 * pixel's input is copied to the stack first (in_c <= TE_PW_MVE_KEEP). Elsewhere a pixel's (pair's) input
 * is in registers before any of its outputs is written.
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

/* Two pixels' sums of one group (bias not yet added), requantized and stored; o2 = o + out_c. */
static inline __attribute__((always_inline)) void pw_store2(int32x4_t va, int32x4_t vb, const int32_t* q, int8_t* o,
                                                            int32_t oc, int32_t left_c, int32_t ooff, int32x4_t lo,
                                                            int32x4_t hi, const int lsh) {
  const int32x4_t bias = te_mve_rq_bias(q), m = te_mve_rq_mult(q), nrs = te_mve_rq_nrs(q);
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
  if (left_c >= 4) {
    vstrbq_s32(o, va);
    vstrbq_s32(o + oc, vb);
  } else {
    const mve_pred16_t p = vctp32q((uint32_t)left_c);
    vstrbq_p_s32(o, va, p);
    vstrbq_p_s32(o + oc, vb, p);
  }
}

/* in_c <= 16 * CH: the input's CH chunks stay in registers across the channel groups (a pixel pair's for CH <= 2);
 * weights plain [out_c][in_c] rows (zero rows up to a whole group, 16 zero bytes after): a chunk load that runs
 * past its row reads the next row's bytes against zero lanes of x. */
static inline __attribute__((always_inline)) int32_t pw_dot(const int8x16_t* x, const int8_t* w, const int CH) {
  int32_t a = vmladavq_s8(x[0], vldrbq_s8(w));
  if (CH > 1) a = vmladavaq_s8(a, x[1], vldrbq_s8(w + 16));
  if (CH > 2) a = vmladavaq_s8(a, x[2], vldrbq_s8(w + 32));
  return a;
}

static inline __attribute__((always_inline)) void pw_load(int8x16_t* x, const int8_t* src, int32_t ic, const int CH) {
  int k;
  for (k = 0; k < CH; ++k) x[k] = vldrbq_z_s8(src + 16 * k, vctp8q((uint32_t)(ic - 16 * k)));
}

static inline __attribute__((always_inline)) void pw_regs(const te_pw_params* p, const int8_t* in,
                                                          const int8_t* weights, const int32_t* rq, int8_t* out,
                                                          const int lsh, const int CH) {
  const int32_t ic = p->in_c, oc = p->out_c, npx = p->pixels;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int32_t ooff = p->out_offset;
  int32_t px = 0;
  if (CH <= 2) {
    for (; px + 1 < npx; px += 2) {
      int8x16_t x0[2], x1[2];
      const int8_t* pw = weights;
      const int32_t* q = rq;
      int8_t* o = out + px * oc;
      int32_t g;
      pw_load(x0, in + px * ic, ic, CH);
      pw_load(x1, in + (px + 1) * ic, ic, CH);
      for (g = 0; g < oc; g += 4, pw += 4 * ic, q += TE_MVE_RQ_WORDS) {
        int32x4_t va = te_mve_rq_bias(q), vb = va;
        int r;
#pragma GCC unroll 4
        for (r = 0; r < 4; ++r) { /* each weight chunk loaded once for both pixels; two sums live at a time */
          const int8x16_t w0 = vldrbq_s8(pw + r * ic);
          int32_t sa = vmladavq_s8(x0[0], w0), sb = vmladavq_s8(x1[0], w0);
          if (CH > 1) {
            const int8x16_t w1 = vldrbq_s8(pw + r * ic + 16);
            sa = vmladavaq_s8(sa, x0[1], w1);
            sb = vmladavaq_s8(sb, x1[1], w1);
          }
          va = vsetq_lane_s32(sa, va, r);
          vb = vsetq_lane_s32(sb, vb, r);
        }
        pw_store2(va, vb, q, o + g, oc, oc - g, ooff, lo, hi, lsh);
      }
    }
  }
  for (; px < npx; ++px) {
    int8x16_t x[3];
    const int8_t* pw = weights;
    const int32_t* q = rq;
    int8_t* o = out + px * oc;
    int32_t g;
    pw_load(x, in + px * ic, ic, CH);
    for (g = 0; g < oc; g += 4, pw += 4 * ic, q += TE_MVE_RQ_WORDS)
      pw_store(pw_dot(x, pw, CH), pw_dot(x, pw + ic, CH), pw_dot(x, pw + 2 * ic, CH), pw_dot(x, pw + 3 * ic, CH), q,
               o + g, oc - g, ooff, lo, hi, lsh);
  }
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
  const int overlap = (const int8_t*)out < in + npx * ic && in < (const int8_t*)out + npx * oc;
  int8_t keep[TE_PW_MVE_KEEP];
  int32_t px;

  if (ic <= 16) {
    pw_regs(p, in, weights, rq, out, lsh, 1);
    return;
  }
  if (ic <= 32) {
    pw_regs(p, in, weights, rq, out, lsh, 2);
    return;
  }
  if (ic <= 48) {
    pw_regs(p, in, weights, rq, out, lsh, 3);
    return;
  }
  for (px = 0; px + 1 < npx; px += 2) { /* pixel pairs: the first pixel's input first copied (see above) */
    const int8_t* x1 = in + (px + 1) * ic;
    const int8_t* x0 = in + px * ic;
    int8_t* o = out + px * oc;
    const int8_t* wg = weights;
    const int32_t* q = rq;
    int32_t g, k;
    if (overlap) {
      for (k = 0; k < ic; k += 16) vstrbq_p_s8(keep + k, vldrbq_s8(x0 + k), vctp8q((uint32_t)(ic - k)));
      x0 = keep;
    }
    for (g = 0; g < oc; g += 4, wg += wstride, q += TE_MVE_RQ_WORDS) {
      register int32_t a0 __asm__("r0") = 0, a1 __asm__("r2") = 0, a2 __asm__("r4") = 0, a3 __asm__("r6") = 0;
      register int32_t b0 __asm__("r8") = 0, b1 __asm__("r10") = 0, b2 __asm__("r12") = 0, b3 __asm__("lr") = 0;
      const int8_t* pa = x0;
      const int8_t* pb = x1;
      const int8_t* pw = wg;
      int32_t n = full;
      int32x4_t va, vb;
      /* 16 instructions per 128 MACs; GCC 12 cannot keep 8 VMLADAVA sums (even registers only) in registers */
      __asm__("1:\n\t"
              "vldrb.u8 q0, [%[pa]], #16\n\t"
              "vldrb.u8 q1, [%[pb]], #16\n\t"
              "vldrb.u8 q2, [%[pw]], #64\n\t"
              "vmladava.s8 %[a0], q0, q2\n\t"
              "vmladava.s8 %[b0], q1, q2\n\t"
              "vldrb.u8 q2, [%[pw], #-48]\n\t"
              "vmladava.s8 %[a1], q0, q2\n\t"
              "vmladava.s8 %[b1], q1, q2\n\t"
              "vldrb.u8 q2, [%[pw], #-32]\n\t"
              "vmladava.s8 %[a2], q0, q2\n\t"
              "vmladava.s8 %[b2], q1, q2\n\t"
              "vldrb.u8 q2, [%[pw], #-16]\n\t"
              "vmladava.s8 %[a3], q0, q2\n\t"
              "vmladava.s8 %[b3], q1, q2\n\t"
              "subs %[n], %[n], #1\n\t"
              "bne 1b"
              : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0), [b1] "+r"(b1),
                [b2] "+r"(b2), [b3] "+r"(b3), [pa] "+r"(pa), [pb] "+r"(pb), [pw] "+r"(pw), [n] "+r"(n)
              :
              : "q0", "q1", "q2", "memory", "cc");
      va = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vsetq_lane_s32(a0, vdupq_n_s32(0), 0), 1), 2), 3);
      vb = vsetq_lane_s32(b3, vsetq_lane_s32(b2, vsetq_lane_s32(b1, vsetq_lane_s32(b0, vdupq_n_s32(0), 0), 1), 2), 3);
      if (tail) {
        const int8x16_t xa = vldrbq_z_s8(pa, tp), xb = vldrbq_z_s8(pb, tp);
        int8x16_t w = vldrbq_z_s8(pw, tp);
        int32x4_t ta = vdupq_n_s32(0), tb = ta;
        ta = vsetq_lane_s32(vmladavq_s8(xa, w), ta, 0);
        tb = vsetq_lane_s32(vmladavq_s8(xb, w), tb, 0);
        w = vldrbq_z_s8(pw + tail, tp);
        ta = vsetq_lane_s32(vmladavq_s8(xa, w), ta, 1);
        tb = vsetq_lane_s32(vmladavq_s8(xb, w), tb, 1);
        w = vldrbq_z_s8(pw + 2 * tail, tp);
        ta = vsetq_lane_s32(vmladavq_s8(xa, w), ta, 2);
        tb = vsetq_lane_s32(vmladavq_s8(xb, w), tb, 2);
        w = vldrbq_z_s8(pw + 3 * tail, tp);
        ta = vsetq_lane_s32(vmladavq_s8(xa, w), ta, 3);
        tb = vsetq_lane_s32(vmladavq_s8(xb, w), tb, 3);
        va = vaddq_s32(va, ta);
        vb = vaddq_s32(vb, tb);
      }
      pw_store2(va, vb, q, o + g, oc, oc - g, ooff, lo, hi, lsh);
    }
  }
  for (; px < npx; ++px) {
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
