/*
 * depthwise_conv2d_s8_cm_mve.c: int8 depthwise conv (depth multiplier 1, square k <= 7, equal strides, no
 * dilation, stride 1 or 2) with Helium, channel by channel, four output pixels of a row per vector.
 *
 * Per channel, the input rows the window needs are gathered into a stack ring of k padded rows (zero_point
 * = -in_offset in the padding, which cancels its share of te_mve.h's bias fold, so every window is whole);
 * a stride-2 row is stored as its even and odd columns, so that every tap reads 4 consecutive bytes. Per
 * tap one VLDRB.S32 (immediate offset) and one VMLA by the scalar weight (k = 3, 5, 7 specialised, the k*k
 * weights in registers); the requantization is te_mve.h's with the channel's scalars, and one VSTRB.32
 * scatter writes the 4 outputs (stride c). Weights channel-major [c][k][k], the table te_mve.h's.
 * Padded rows must fit TE_DWC_MVE_WP bytes per phase (codegen/mve.py dw_cm_applies).
 *
 * No left shifts (tables with one run te_depthwise_conv2d_s8_lsh_mve). Channel-major order: it does NOT keep te_depthwise_conv2d_s8's overlap contract, so codegen/mve.py uses
 * it only where the plan keeps input and output apart.
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE

typedef struct {
  int32_t bias, mult, nrs, left;
  float scale;
} dwc_rq;

static inline __attribute__((always_inline)) void dwc_store(int32x4_t acc, const dwc_rq* r, int32x4_t nrsv,
                                                            int32_t ooff, int32x4_t lo, int32x4_t hi, int8_t* o,
                                                            uint32x4_t soff, int32_t n, const int lsh) {
  int32x4_t y;
#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
  (void)nrsv;
  (void)lsh;
  y = vcvtnq_s32_f32(vmulq_n_f32(vcvtq_f32_s32(acc), r->scale));
#else
  if (lsh) acc = vshlq_r_s32(acc, r->left);
  y = vqrdmulhq_n_s32(acc, r->mult);
  y = vqaddq_s32(y, vshrq_n_s32(vandq_s32(y, nrsv), 31));
  y = vrshlq_n_s32(y, r->nrs);
#endif
  y = te_mve_out(y, ooff, lo, hi);
  if (n >= 4)
    vstrbq_scatter_offset_s32(o, soff, y);
  else
    vstrbq_scatter_offset_p_s32(o, soff, y, vctp32q((uint32_t)n));
}

/* Padded row iy_p (input row iy_p - pad_top) of channel ch into a ring slot: s phases of TE_DWC_MVE_WP bytes,
 * padded column X at phase X % s, index X / s; zero_point where X is outside the input. */
static inline __attribute__((always_inline)) void dwc_fill(int8_t* dst, const int8_t* in, int32_t iy_p,
                                                           const te_conv_params* p, int32_t ch, int8x16_t zp16,
                                                           uint32x4_t goff, uint32x4_t poff, int32_t s) {
  const int32_t iy = iy_p - p->pad_top, in_w = p->in_w, c = p->in_c;
  int32_t i, ix;
  for (i = 0; i < s * TE_DWC_MVE_WP; i += 16) vstrbq_s8(dst + i, zp16);
  if (iy < 0 || iy >= p->in_h) return;
  {
    const int8_t* src = in + iy * in_w * c + ch;
    int8_t* d = dst;
    for (ix = 0; ix + 4 <= in_w; ix += 4, src += 4 * c, d += 4 / s)
      vstrbq_scatter_offset_s32(d, poff, vldrbq_gather_offset_s32(src, goff));
    if (ix < in_w) {
      const mve_pred16_t m = vctp32q((uint32_t)(in_w - ix));
      vstrbq_scatter_offset_p_s32(d, poff, vldrbq_gather_offset_z_s32(src, goff, m), m);
    }
  }
}

static inline __attribute__((always_inline)) void dwc_mve(const te_conv_params* p, const int8_t* in,
                                                          const int8_t* weights, const int32_t* rq, int8_t* out,
                                                          const int K, const int S) {
  const int32_t c = p->in_c, out_h = p->out_h, out_w = p->out_w, pl = p->pad_left;
  const int32_t ooff = p->out_offset;
  const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
  const int8x16_t zp16 = vdupq_n_s8((int8_t)(-p->in_offset));
  const uint32x4_t lane = vidupq_n_u32(0, 1);
  const uint32x4_t soff = vmulq_n_u32(lane, (uint32_t)c);
  /* fill: input column ix + lane -> padded X = pl + ix + lane -> phase X % S, index X / S (ix steps by 4) */
  const uint32x4_t xl = vaddq_n_u32(lane, (uint32_t)pl);
  const uint32x4_t poff = S == 1 ? xl : vaddq_u32(vmulq_n_u32(vandq_u32(xl, vdupq_n_u32(1)), TE_DWC_MVE_WP),
                                                  vshrq_n_u32(xl, 1));
  int8_t ring[7 * 2 * TE_DWC_MVE_WP]; /* fixed size: a VLA would cost the frame pointer */
  int32_t ch;

  for (ch = 0; ch < c; ++ch) {
    const int8_t* wc = weights + ch * K * K;
    const int32_t* q = rq + (ch >> 2) * TE_MVE_RQ_WORDS;
    const int32_t l = ch & 3;
    int32_t w[49];
    dwc_rq r;
    int32x4_t nrsv;
    int32_t t, oy, filled = 0;
#pragma GCC unroll 49
    for (t = 0; t < K * K; ++t) w[t] = wc[t];
    r.bias = q[l];
    r.mult = q[4 + l];
    r.nrs = ((const int8_t*)(q + 8))[l];
    r.left = 0;
    {
      const int32_t m = q[4 + l];
      __builtin_memcpy(&r.scale, &m, sizeof r.scale);
    }
    nrsv = vdupq_n_s32(r.nrs);
    for (oy = 0; oy < out_h; ++oy) {
      const int8_t* rp[7];
      int8_t* o = out + oy * out_w * c + ch;
      int32_t ky, ox;
      for (; filled < oy * S + K; ++filled)
        dwc_fill(ring + (filled % K) * S * TE_DWC_MVE_WP, in, filled, p, ch, zp16, soff, poff, S);
#pragma GCC unroll 7
      for (ky = 0; ky < K; ++ky) rp[ky] = ring + ((oy * S + ky) % K) * S * TE_DWC_MVE_WP;
      ox = 0;
#if !(defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING)
      /* whole 4-pixel groups, hand-scheduled (40 instructions per 36 MACs); VLDRB.S32 needs low base registers */
      if (K == 3 && S == 1 && out_w >= 4) {
        const int8_t* b0 = rp[0];
        const int8_t* b1 = rp[1];
        const int8_t* b2 = rp[2];
        int32_t n = out_w >> 2, t;
        int32x4_t acc, x;
        __asm__("1:\n\t"
                "vmov %q[acc], %q[biasv]\n\t"
                "ldrsb %[t], [%[wp], #1]\n\tvldrb.s32 %q[x], [%[b0], #1]\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #2]\n\tvldrb.s32 %q[x], [%[b0], #2]\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #0]\n\tvldrb.s32 %q[x], [%[b0]], #4\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #4]\n\tvldrb.s32 %q[x], [%[b1], #1]\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #5]\n\tvldrb.s32 %q[x], [%[b1], #2]\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #3]\n\tvldrb.s32 %q[x], [%[b1]], #4\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #7]\n\tvldrb.s32 %q[x], [%[b2], #1]\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #8]\n\tvldrb.s32 %q[x], [%[b2], #2]\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "ldrsb %[t], [%[wp], #6]\n\tvldrb.s32 %q[x], [%[b2]], #4\n\tvmla.s32 %q[acc], %q[x], %[t]\n\t"
                "vqrdmulh.s32 %q[acc], %q[acc], %q[multv]\n\t"
                "vand %q[x], %q[acc], %q[nrsv]\n\t"
                "vshr.s32 %q[x], %q[x], #31\n\t"
                "vqadd.s32 %q[acc], %q[acc], %q[x]\n\t"
                "vrshl.s32 %q[acc], %q[acc], %q[nrsv]\n\t"
                "vadd.i32 %q[acc], %q[acc], %[ooff]\n\t"
                "vmax.s32 %q[acc], %q[acc], %q[lo]\n\t"
                "vmin.s32 %q[acc], %q[acc], %q[hi]\n\t"
                "vstrb.32 %q[acc], [%[o], %q[soff]]\n\t"
                "add %[o], %[o], %[c4]\n\t"
                "subs %[n], %[n], #1\n\t"
                "bne 1b"
                : [acc] "=&t"(acc), [x] "=&t"(x), [t] "=&r"(t), [b0] "+l"(b0), [b1] "+l"(b1), [b2] "+l"(b2),
                  [o] "+r"(o), [n] "+r"(n)
                : [wp] "r"(wc), [biasv] "t"(vdupq_n_s32(r.bias)), [ooff] "r"(ooff), [c4] "r"(4 * c), [multv] "t"(vdupq_n_s32(r.mult)),
                  [nrsv] "t"(nrsv), [lo] "t"(lo), [hi] "t"(hi), [soff] "t"(soff)
                : "memory", "cc");
        ox = out_w & ~3;
      }
#endif
      for (; ox < out_w; ox += 4, o += 4 * c) {
        int32x4_t acc = vdupq_n_s32(r.bias);
#pragma GCC unroll 7
        for (ky = 0; ky < K; ++ky) {
          const int8_t* b = rp[ky] + ox;
          int32_t kx;
#pragma GCC unroll 7
          for (kx = 0; kx < K; ++kx) acc = vmlaq_n_s32(acc, vldrbq_s32(b + (kx % S) * TE_DWC_MVE_WP + kx / S), w[ky * K + kx]);
        }
        dwc_store(acc, &r, nrsv, ooff, lo, hi, o, soff, out_w - ox, 0);
      }
    }
  }
}

#define TE_DWC_ENTRY(K)                                                                                         \
  void te_depthwise_conv2d_s8_k##K##_cm_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,  \
                                             const int32_t* rq, int8_t* out) {                                \
    if (p->stride_h == 1)                                                                                      \
      dwc_mve(p, in, weights, rq, out, K, 1);                                                                  \
    else                                                                                                       \
      dwc_mve(p, in, weights, rq, out, K, 2);                                                                  \
  }
TE_DWC_ENTRY(3)
TE_DWC_ENTRY(5)
TE_DWC_ENTRY(7)
#undef TE_DWC_ENTRY

#else
typedef int te_depthwise_conv2d_s8_cm_mve_unused; /* not an MVE core: nothing to build */
#endif
