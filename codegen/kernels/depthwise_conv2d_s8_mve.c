/*
 * depthwise_conv2d_s8_mve.c: int8 depthwise conv (depth multiplier 1, no dilation) with Helium.
 *
 * Pixel by pixel, 16 channels per block as four 4-lane int32 accumulators: per kernel tap four VLDRB.S32
 * of input, four of weights, four multiply-adds. Weights are packed at compile time (codegen/mve.py
 * pack_depthwise): per 16-channel block, per tap, 16 bytes (zero channels pad the last block), so one
 * pointer walks them. The input offset is folded into the bias (te_mve.h); a window cell outside the
 * input then contributes zero_point * w (zero_point = -in_offset), which cancels its share of the fold,
 * so border pixels add zero_point * w (VMLA by the scalar) where the portable kernel skips the cell.
 * Channels past c in the last block are neither loaded nor stored (predicated).
 *
 * Keeps te_depthwise_conv2d_s8's overlap contract: an output byte is written after the reads of its
 * own window, and a pixel's blocks read only that pixel's windows.
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE

typedef struct {
  int32x4_t a0, a1, a2, a3;
} dw_acc;

/* One tap of 16 channels: acc += x * w lane by lane, w advanced by 16 (VLDRB.S32: low base registers). Inline asm: GCC 12 spends ~24
 * instructions on these 16 (address copies between the widening loads); this is the 16 plus none. */
#define TE_DW_TAP16(A, X, W)                                                                                    \
  do {                                                                                                         \
    int32x4_t t0_, t1_;                                                                                        \
    __asm__("vldrb.s32 %q[t0], [%[x]]\n\tvldrb.s32 %q[t1], [%[w]], #16\n\tvmul.i32 %q[t0], %q[t0], %q[t1]\n\t"        \
            "vadd.i32 %q[a0], %q[a0], %q[t0]\n\t"                                                                \
            "vldrb.s32 %q[t0], [%[x], #4]\n\tvldrb.s32 %q[t1], [%[w], #-12]\n\tvmul.i32 %q[t0], %q[t0], %q[t1]\n\t" \
            "vadd.i32 %q[a1], %q[a1], %q[t0]\n\t"                                                                \
            "vldrb.s32 %q[t0], [%[x], #8]\n\tvldrb.s32 %q[t1], [%[w], #-8]\n\tvmul.i32 %q[t0], %q[t0], %q[t1]\n\t" \
            "vadd.i32 %q[a2], %q[a2], %q[t0]\n\t"                                                                \
            "vldrb.s32 %q[t0], [%[x], #12]\n\tvldrb.s32 %q[t1], [%[w], #-4]\n\t"                                \
            "vmul.i32 %q[t0], %q[t0], %q[t1]\n\tvadd.i32 %q[a3], %q[a3], %q[t0]"                                 \
            : [a0] "+w"((A).a0), [a1] "+w"((A).a1), [a2] "+w"((A).a2), [a3] "+w"((A).a3), [w] "+l"(W),            \
              [t0] "=&w"(t0_), [t1] "=&w"(t1_)                                                                      \
            : [x] "l"(X)                                                                                        \
            : "memory");                                                                                        \
  } while (0)

static inline __attribute__((always_inline)) void dw_rq_store(dw_acc a, const int32_t* q, int8_t* o, int32_t ooff,
                                                              int32x4_t lo, int32x4_t hi, int32_t n, const int lsh) {
#define TE_DW_ONE(A, K)                                                                                         \
  {                                                                                                            \
    const int32_t* qq = q + (K) * TE_MVE_RQ_WORDS;                                                             \
    int32x4_t v = vaddq_s32(A, te_mve_rq_bias(qq));                                                           \
    v = lsh ? te_mve_rq_lsh(v, te_mve_rq_mult(qq), te_mve_rq_nrs(qq), te_mve_rq_left(qq))                     \
            : te_mve_rq(v, te_mve_rq_mult(qq), te_mve_rq_nrs(qq));                                            \
    v = te_mve_out(v, ooff, lo, hi);                                                                           \
    if (n >= 16)                                                                                               \
      vstrbq_s32(o + 4 * (K), v);                                                                              \
    else if (n > 4 * (K))                                                                                      \
      vstrbq_p_s32(o + 4 * (K), v, vctp32q((uint32_t)(n - 4 * (K))));                                          \
  }
  TE_DW_ONE(a.a0, 0)
  TE_DW_ONE(a.a1, 1)
  TE_DW_ONE(a.a2, 2)
  TE_DW_ONE(a.a3, 3)
#undef TE_DW_ONE
}

static inline __attribute__((always_inline)) void dw_mve(const te_conv_params* p, const int8_t* in,
                                                         const int8_t* weights, const int32_t* rq, int8_t* out,
                                                         const int lsh) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->in_c, k_h = p->k_h, k_w = p->k_w;
  const int32_t taps = k_h * k_w, row_skip = (in_w - k_w) * c;
  const int32_t ooff = p->out_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int32_t zp = -p->in_offset;
  const int32_t blocks = (c + 15) >> 4;
  int32_t oy, ox;

  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int rows_in = iy0 >= 0 && iy0 + k_h <= in_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int inside = rows_in && ix0 >= 0 && ix0 + k_w <= in_w;
      const int8_t* pix = in + (iy0 * in_w + ix0) * c; /* only dereferenced inside the input */
      int8_t* o = out + (oy * p->out_w + ox) * c;
      const int8_t* wb = weights;
      const int32_t* q = rq;
      int32_t b;
      for (b = 0; b < blocks; ++b, wb += taps * 16, q += 4 * TE_MVE_RQ_WORDS) {
        const int32_t n = c - 16 * b;
        const int8_t* w = wb;
        dw_acc a;
        int32_t ky, kx;
        a.a0 = a.a1 = a.a2 = a.a3 = vdupq_n_s32(0);
        if (inside && n >= 16) {
          const int8_t* x = pix + 16 * b;
          for (ky = 0; ky < k_h; ++ky, x += row_skip) {
            for (kx = 0; kx < k_w; ++kx, x += c) TE_DW_TAP16(a, x, w);
          }
        } else { /* border pixel or last partial block: cells outside the input take zero_point * w (VMLA by
                    the scalar), the others are loaded (predicated past c in the last block) */
          const mve_pred16_t p0 = vctp32q((uint32_t)(n > 0 ? n : 0)), p1 = vctp32q((uint32_t)(n > 4 ? n - 4 : 0));
          const mve_pred16_t p2 = vctp32q((uint32_t)(n > 8 ? n - 8 : 0)), p3 = vctp32q((uint32_t)(n > 12 ? n - 12 : 0));
          const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
          for (ky = 0; ky < k_h; ++ky) {
            const int32_t iy = iy0 + ky;
            const int row_in = iy >= 0 && iy < in_h;
            for (kx = 0; kx < k_w; ++kx, w += 16) {
              if (row_in && kx >= kx0 && kx < kx1) {
                const int8_t* x = in + (iy * in_w + ix0 + kx) * c + 16 * b;
                if (n >= 16) {
                  const int8_t* wt = w;
                  TE_DW_TAP16(a, x, wt);
                } else {
                  a.a0 = te_mve_mla(a.a0, vldrbq_z_s32(x, p0), vldrbq_s32(w));
                  a.a1 = te_mve_mla(a.a1, vldrbq_z_s32(x + 4, p1), vldrbq_s32(w + 4));
                  a.a2 = te_mve_mla(a.a2, vldrbq_z_s32(x + 8, p2), vldrbq_s32(w + 8));
                  a.a3 = te_mve_mla(a.a3, vldrbq_z_s32(x + 12, p3), vldrbq_s32(w + 12));
                }
              } else {
                a.a0 = vmlaq_n_s32(a.a0, vldrbq_s32(w), zp);
                a.a1 = vmlaq_n_s32(a.a1, vldrbq_s32(w + 4), zp);
                a.a2 = vmlaq_n_s32(a.a2, vldrbq_s32(w + 8), zp);
                a.a3 = vmlaq_n_s32(a.a3, vldrbq_s32(w + 12), zp);
              }
            }
          }
        }
        dw_rq_store(a, q, o + 16 * b, ooff, lo, hi, n, lsh);
      }
    }
  }
}

void te_depthwise_conv2d_s8_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                                int8_t* out) {
  dw_mve(p, in, weights, rq, out, 0);
}

void te_depthwise_conv2d_s8_lsh_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                    const int32_t* rq, int8_t* out) {
  dw_mve(p, in, weights, rq, out, 1);
}

#else
typedef int te_depthwise_conv2d_s8_mve_unused; /* not an MVE core: nothing to build */
#endif
