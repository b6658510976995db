/*
 * depthwise_conv2d_s8_mve.c: int8 depthwise conv (depth multiplier 1, no dilation) with Helium.
 *
 * Pixel by pixel, 16 channels per block. The block's window is first copied into a stack patch, tap after
 * tap, 16 bytes each (zero_point = -in_offset where the cell is outside the input: it cancels its share of
 * te_mve.h's bias fold, so border pixels need no other path; channels past c in the last block read as
 * 0 through predicated loads, their weights are 0 and their outputs are not stored). The taps then run
 * in pairs on int16 lanes: VLDRB.S16 widens 8 input and 8 weight bytes, VMUL.I16 multiplies exactly
 * (|x * w| <= 2^14), the pair's two products are added in int16 (exact unless both weights are -128 in one
 * channel: codegen/mve.py dw_pairs_ok, else te_depthwise_conv2d_s8_t1_mve takes the taps one by one), and
 * VMOVLB / VMOVLT widen the even / odd lanes into int32 accumulators: 22 instructions per 32 MACs where
 * per-tap VLDRB.S32 + VMUL.I32 + VADD take 32. The accumulators hold channels {0,2,4,6}, {1,3,5,7},
 * {8,..,14}, {9,..,15} of the block, so the requantization table is in that order (codegen/mve.py
 * dw_table) and the outputs are stored by VSTRB.32 scatters.
 * Weights packed at compile time (codegen/mve.py pack_depthwise): per 16-channel block, per tap, 16 bytes.
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

/* One half (8 channels) of a tap pair: a_e / a_o += even / odd lanes of x1[XO] * w[W0] + x2[XO] * w[W1]. */
#define TE_DW_HALF2(AE, AO, XO, W0, W1)                                                                        \
  "vldrb.s16 %q[t0], [%[x1], #" #XO "]\n\tvldrb.s16 %q[t1], [%[w], #" #W0 "]\n\tvmul.i16 %q[t0], %q[t0], %q[t1]\n\t" \
  "vldrb.s16 %q[t1], [%[x2], #" #XO "]\n\tvldrb.s16 %q[t2], [%[w], #" #W1 "]\n\tvmul.i16 %q[t1], %q[t1], %q[t2]\n\t" \
  "vadd.i16 %q[t0], %q[t0], %q[t1]\n\tvmovlb.s16 %q[t1], %q[t0]\n\tvadd.i32 %q[" AE "], %q[" AE "], %q[t1]\n\t"      \
  "vmovlt.s16 %q[t1], %q[t0]\n\tvadd.i32 %q[" AO "], %q[" AO "], %q[t1]\n\t"

/* Two taps of 16 channels (inputs at X1 and X2, weights at W, advanced by 32). Inline asm: the widening loads
 * need low base registers and GCC 12 copies addresses around them. */
#define TE_DW_PAIR16(A, X1, X2, W)                                                                             \
  do {                                                                                                         \
    int32x4_t t0_, t1_, t2_;                                                                                   \
    __asm__(TE_DW_HALF2("a0", "a1", 0, 0, 16) TE_DW_HALF2("a2", "a3", 8, 8, 24) "adds %[w], #32"               \
            : [a0] "+w"((A).a0), [a1] "+w"((A).a1), [a2] "+w"((A).a2), [a3] "+w"((A).a3), [w] "+l"(W),           \
              [t0] "=&w"(t0_), [t1] "=&w"(t1_), [t2] "=&w"(t2_)                                                  \
            : [x1] "l"(X1), [x2] "l"(X2)                                                                       \
            : "memory", "cc");                                                                                 \
  } while (0)

/* One half of a single tap. */
#define TE_DW_HALF1(AE, AO, X0)                                                                                \
  "vldrb.s16 %q[t0], [%[x], #" #X0 "]\n\tvldrb.s16 %q[t1], [%[w], #" #X0 "]\n\tvmul.i16 %q[t0], %q[t0], %q[t1]\n\t" \
  "vmovlb.s16 %q[t1], %q[t0]\n\tvadd.i32 %q[" AE "], %q[" AE "], %q[t1]\n\t"                                  \
  "vmovlt.s16 %q[t1], %q[t0]\n\tvadd.i32 %q[" AO "], %q[" AO "], %q[t1]\n\t"

#define TE_DW_TAP16(A, X, W)                                                                                   \
  do {                                                                                                         \
    int32x4_t t0_, t1_;                                                                                        \
    __asm__(TE_DW_HALF1("a0", "a1", 0) TE_DW_HALF1("a2", "a3", 8) "adds %[w], #16"                             \
            : [a0] "+w"((A).a0), [a1] "+w"((A).a1), [a2] "+w"((A).a2), [a3] "+w"((A).a3), [w] "+l"(W),           \
              [t0] "=&w"(t0_), [t1] "=&w"(t1_)                                                                   \
            : [x] "l"(X)                                                                                       \
            : "memory", "cc");                                                                                 \
  } while (0)

/* Requantize and store one accumulator: channels base + soff (+ 0..3 lanes), those below n. */
static inline __attribute__((always_inline)) void dw_rq_store(int32x4_t v, const int32_t* qq, int8_t* o,
                                                              uint32x4_t soff, int32_t ooff, int32x4_t lo,
                                                              int32x4_t hi, int32_t n, int32_t base, const int lsh) {
  v = lsh ? te_mve_rq_lsh(v, te_mve_rq_mult(qq), te_mve_rq_nrs(qq), te_mve_rq_left(qq))
          : te_mve_rq(v, te_mve_rq_mult(qq), te_mve_rq_nrs(qq));
  v = te_mve_out(v, ooff, lo, hi);
  if (n >= 16)
    vstrbq_scatter_offset_s32(o + base, soff, v);
  else
    vstrbq_scatter_offset_p_s32(o + base, soff, v, vcmphiq_u32(vdupq_n_u32((uint32_t)(n > base ? n - base : 0)), soff));
}

static inline __attribute__((always_inline)) void dw_mve(const te_conv_params* p, const int8_t* in,
                                                         const int8_t* weights, const int32_t* rq, int8_t* out,
                                                         const int lsh, const int pairs, const int K) {
  /* K: 0, or the square window's size, a constant (the tap loops unroll) */
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->in_c, k_h = K ? K : p->k_h, k_w = K ? K : p->k_w;
  const int32_t taps = k_h * k_w, npairs = pairs ? taps >> 1 : 0;
  const int32_t ooff = p->out_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int8x16_t zp16 = vdupq_n_s8((int8_t)(-p->in_offset));
  const uint32x4_t soff = vidupq_n_u32(0, 2); /* {0, 2, 4, 6} */
  const int32_t blocks = (c + 15) >> 4;
  int8_t patch[TE_DW_MVE_TAPS * 16] __attribute__((aligned(16)));
  int32_t offs[TE_DW_MVE_TAPS]; /* a whole window's taps, relative to its first cell */
  int32_t oy, ox;

  {
    int32_t ky, kx, t = 0;
    for (ky = 0; ky < k_h; ++ky)
      for (kx = 0; kx < k_w; ++kx) offs[t++] = (ky * in_w + kx) * c;
  }

  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in_h - iy0 < k_h ? in_h - iy0 : k_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
      const int inside = ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
      const int8_t* pix = in + (iy0 * in_w + ix0) * c; /* only dereferenced inside the input */
      int8_t* o = out + (oy * p->out_w + ox) * c;
      const int8_t* wb = weights;
      const int32_t* q = rq;
      int32_t b;
      for (b = 0; b < blocks; ++b, wb += taps * 16, q += 4 * TE_MVE_RQ_WORDS, o += 16) {
        const int32_t n = c - 16 * b;
        const int8_t* w = wb;
        dw_acc a;
        int32_t t;
        a.a0 = te_mve_rq_bias(q);
        a.a1 = te_mve_rq_bias(q + TE_MVE_RQ_WORDS);
        a.a2 = te_mve_rq_bias(q + 2 * TE_MVE_RQ_WORDS);
        a.a3 = te_mve_rq_bias(q + 3 * TE_MVE_RQ_WORDS);
        if (inside && n >= 16) { /* the taps straight from the input */
          const int8_t* xb = pix + 16 * b;
          if (K) {
#pragma GCC unroll 24
            for (t = 0; t < 2 * npairs; t += 2) TE_DW_PAIR16(a, xb + offs[t], xb + offs[t + 1], w);
          } else {
            for (t = 0; t < 2 * npairs; t += 2) TE_DW_PAIR16(a, xb + offs[t], xb + offs[t + 1], w);
          }
          for (; t < taps; ++t) TE_DW_TAP16(a, xb + offs[t], w);
        } else { /* border pixel or last partial block: the window into the patch first */
          const mve_pred16_t pn = vctp8q((uint32_t)(n < 16 ? n : 16));
          int8_t* d = patch;
          const int8_t* x = patch;
          int32_t ky, kx;
          for (ky = 0; ky < k_h; ++ky) {
            if (ky < ky0 || ky >= ky1) {
              for (kx = 0; kx < k_w; ++kx, d += 16) vstrbq_s8(d, zp16);
            } else {
              const int8_t* src = in + ((iy0 + ky) * in_w + ix0 + kx0) * c + 16 * b;
              for (kx = 0; kx < kx0; ++kx, d += 16) vstrbq_s8(d, zp16);
              for (; kx < kx1; ++kx, d += 16, src += c) vstrbq_s8(d, vldrbq_z_s8(src, pn));
              for (; kx < k_w; ++kx, d += 16) vstrbq_s8(d, zp16);
            }
          }
          for (t = 0; t < 2 * npairs; t += 2, x += 32) TE_DW_PAIR16(a, x, x + 16, w);
          for (; t < taps; ++t, x += 16) TE_DW_TAP16(a, x, w);
        }
        dw_rq_store(a.a0, q, o, soff, ooff, lo, hi, n, 0, lsh);
        dw_rq_store(a.a1, q + TE_MVE_RQ_WORDS, o, soff, ooff, lo, hi, n, 1, lsh);
        dw_rq_store(a.a2, q + 2 * TE_MVE_RQ_WORDS, o, soff, ooff, lo, hi, n, 8, lsh);
        dw_rq_store(a.a3, q + 3 * TE_MVE_RQ_WORDS, o, soff, ooff, lo, hi, n, 9, lsh);
      }
    }
  }
}

void te_depthwise_conv2d_s8_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                                int8_t* out) {
  dw_mve(p, in, weights, rq, out, 0, 1, 0);
}

void te_depthwise_conv2d_s8_lsh_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                    const int32_t* rq, int8_t* out) {
  dw_mve(p, in, weights, rq, out, 1, 1, 0);
}

void te_depthwise_conv2d_s8_t1_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                   const int32_t* rq, int8_t* out) {
  dw_mve(p, in, weights, rq, out, 1, 0, 0);
}

/* 3 x 3 windows, taps in pairs, no left shifts: the loops unrolled (measured on vww: 5x5 and 7x7 gain nothing) */
#define TE_DW_MVE_K(K)                                                                                         \
  void te_depthwise_conv2d_s8_k##K##_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,     \
                                         const int32_t* rq, int8_t* out) {                                    \
    dw_mve(p, in, weights, rq, out, 0, 1, K);                                                                  \
  }
TE_DW_MVE_K(3)
#undef TE_DW_MVE_K

#else
typedef int te_depthwise_conv2d_s8_mve_unused; /* not an MVE core: nothing to build */
#endif
