/*
 * conv2d_1x1_s8_w16_dsp.c: pointwise (1x1, stride 1) int8 conv2d for Armv7E-M DSP cores with the weights
 * widened to 16 bits at compile time (codegen/dsp_w16.py), for layers without an activation clamp, an even
 * out_c, in_c % 8 == 0 and in_c <= 256, no channel-slice output.
 *
 * Why: te_conv2d_1x1_s8_dsp's 4 pixels x 2 output channels step spends 4 SXTB16 per group of 4 input
 * channels unpacking the int8 weights (26 instructions per 32 MACs); the layer's weights are constants, so
 * here they are stored already unpacked, as 16-bit 2-lane words in the loop's order, and a group is 2 LDRD of
 * weights, 4 LDRD of inputs and 16 SMLAD (22 per 32 MACs). Flash: in_c * out_c bytes more than the int8
 * packing; the tuner measures where that trade is taken.
 *
 * Everything else is te_conv2d_1x1_s8_dsp's no-clamp 4-pixel path (pw4_pairs_nc in conv2d_1x1_s8_dsp.c):
 * the same widened input blocks (2 (x + in_offset), lanes [x0, x2] / [x1, x3]), the same accumulation of
 * 2 acc, the same rq_table_m1 requantization (te_dsp.h rq_m1; codegen/dsp.py fast_requant_ok proves it),
 * and the same order (a 4-pixel block's inputs are all read before its outputs are written, blocks in pixel
 * order), so it keeps te_conv2d_1x1_s8's overlap contract. A remainder of 1-3 pixels goes one pixel at a
 * time (widened, then written).
 *
 * Weights: per output channel pair (a, b), per group of 4 input channels: [a0 a2] [b0 b2] [a1 a3] [b1 b3],
 * each lane 16 bits (the int8 weight sign-extended), low lane first.
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_W16_MAX_IN_C 256

static inline __attribute__((always_inline)) int32_t widen_lo(int32_t off2, int32_t v) {
  const int32_t t = sxtab16(off2, v);
  return sadd16(t, t);
}

static inline __attribute__((always_inline)) int32_t widen_hi(int32_t off2, int32_t v) {
  const int32_t t = sxtab16_ror8(off2, v);
  return sadd16(t, t);
}

/* n4 groups of four pixels -> per group [p0..p3 x02, p0..p3 x13] (8 words). */
static void widen4(const int8_t* in, int32_t in_c, int32_t n4, int32_t off2, int32_t* dst) {
  int32_t i, j;
  for (i = 0; i < n4; ++i, dst += 8) {
    for (j = 0; j < 4; ++j) {
      int32_t v;
      memcpy(&v, in + j * in_c + 4 * i, 4);
      dst[j] = widen_lo(off2, v);
      dst[4 + j] = widen_hi(off2, v);
    }
  }
}

/* One pixel alone (a remainder): widen, then every output channel. */
static void w16_pixel1(const int8_t* in, int32_t n4, int32_t off2, const int32_t* w, const int32_t* rq,
                       int32_t out_c, int32_t k1, int8_t* o) {
  int32_t x[2 * TE_W16_MAX_IN_C / 4];
  int32_t i, oc;
  for (i = 0; i < n4; ++i) {
    int32_t v;
    memcpy(&v, in + 4 * i, 4);
    x[2 * i] = widen_lo(off2, v);
    x[2 * i + 1] = widen_hi(off2, v);
  }
  for (oc = 0; oc < out_c; oc += 2, rq += 4, w += 4 * n4) {
    int32_t a = rq[0] >> 8, b = rq[2] >> 8;
    for (i = 0; i < n4; ++i) {
      a = smlad(x[2 * i + 1], w[4 * i + 2], smlad(x[2 * i], w[4 * i], a));
      b = smlad(x[2 * i + 1], w[4 * i + 3], smlad(x[2 * i], w[4 * i + 1], b));
    }
    o[oc] = (int8_t)rq_m1(a, rq[1], lsl_lo8(k1, rq[0]), rq[0]);
    o[oc + 1] = (int8_t)rq_m1(b, rq[3], lsl_lo8(k1, rq[2]), rq[2]);
  }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !(defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING)
/* One group: x (8 words) post-incremented by 32 bytes, w (4 words) by 16. */
#define W16_GROUP_ASM                              \
  "ldrd %[wa], %[wb], [%[pw]], #16\n\t"            \
  "ldrd %[x0], %[x1], [%[px]], #32\n\t"            \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "smlad %[c10], %[x1], %[wa], %[c10]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c11]\n\t"         \
  "ldrd %[x0], %[x1], [%[px], #-24]\n\t"           \
  "smlad %[c20], %[x0], %[wa], %[c20]\n\t"         \
  "smlad %[c21], %[x0], %[wb], %[c21]\n\t"         \
  "smlad %[c30], %[x1], %[wa], %[c30]\n\t"         \
  "smlad %[c31], %[x1], %[wb], %[c31]\n\t"         \
  "ldrd %[wa], %[wb], [%[pw], #-8]\n\t"            \
  "ldrd %[x0], %[x1], [%[px], #-16]\n\t"           \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "smlad %[c10], %[x1], %[wa], %[c10]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c11]\n\t"         \
  "ldrd %[x0], %[x1], [%[px], #-8]\n\t"            \
  "smlad %[c20], %[x0], %[wa], %[c20]\n\t"         \
  "smlad %[c21], %[x0], %[wb], %[c21]\n\t"         \
  "smlad %[c30], %[x1], %[wa], %[c30]\n\t"         \
  "smlad %[c31], %[x1], %[wb], %[c31]\n\t"

/* The first group of a pair: the accumulators start from the bias (c00 / c01) inside the SMLADs; pixels 2
 * and 3's lanes load into their own accumulators' registers, read before those change. */
#define W16_GROUP0_ASM                             \
  "ldrd %[wa], %[wb], [%[pw]], #16\n\t"            \
  "ldrd %[c20], %[c30], [%[px], #8]\n\t"           \
  "smlad %[c21], %[c20], %[wb], %[c01]\n\t"        \
  "smlad %[c20], %[c20], %[wa], %[c00]\n\t"        \
  "smlad %[c31], %[c30], %[wb], %[c01]\n\t"        \
  "smlad %[c30], %[c30], %[wa], %[c00]\n\t"        \
  "ldrd %[x0], %[x1], [%[px]], #32\n\t"            \
  "smlad %[c10], %[x1], %[wa], %[c00]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c01]\n\t"         \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "ldrd %[wa], %[wb], [%[pw], #-8]\n\t"            \
  "ldrd %[x0], %[x1], [%[px], #-16]\n\t"           \
  "smlad %[c00], %[x0], %[wa], %[c00]\n\t"         \
  "smlad %[c01], %[x0], %[wb], %[c01]\n\t"         \
  "smlad %[c10], %[x1], %[wa], %[c10]\n\t"         \
  "smlad %[c11], %[x1], %[wb], %[c11]\n\t"         \
  "ldrd %[x0], %[x1], [%[px], #-8]\n\t"            \
  "smlad %[c20], %[x0], %[wa], %[c20]\n\t"         \
  "smlad %[c21], %[x0], %[wb], %[c21]\n\t"         \
  "smlad %[c30], %[x1], %[wa], %[c30]\n\t"         \
  "smlad %[c31], %[x1], %[wb], %[c31]\n\t"

/* rq_m1 in place (x0: the table word, x1: multiplier, wa: rnd, t: scratch), the sign of 2 acc in SMMLAR's addend. */
#define W16_RQ(a, t)                                    \
  "add %[" #t "], %[wa], %[" #a "], asr #31\n\t"           \
  "smmlar %[" #a "], %[" #a "], %[x1], %[" #t "]\n\t"      \
  "asr %[" #a "], %[" #a "], %[x0]\n\t"                    \
  "ssat %[" #a "], #8, %[" #a "], asr #1\n\t"

/* Every output channel pair of one 4-pixel block (pw4_pairs_nc's structure, weight loads without SXTB16). */
static void w16_pairs(const int32_t* buf, int32_t n4, const int32_t* w, const int32_t* rq, int32_t pairs,
                      int32_t out_c, int32_t k1, int8_t* o) {
  const int32_t* const xend = buf + 8 * n4;     /* the MAC loop's end (x pointer) */
  const int32_t* const rqend = rq + 4 * pairs;  /* the pair loop's end (table pointer) */
  int32_t a00, a01, a10, a11, a20, a21, a30, a31;
  const int32_t* x;
  int32_t x0_, x1_, wa_, wb_;
  const int32_t* pw_;
  __asm__ volatile(
      "ldr %[c00], %[rqm]\n\t"
      "ldr %[pw], %[wm]\n\t"
      /* per output channel pair; c00 holds the table pointer, pw the pair's weights */
      "0:\n\t"
      "ldr %[c01], [%[c00], #8]\n\t"
      "ldr %[c00], [%[c00]]\n\t"
      "asr %[c00], %[c00], #8\n\t"
      "asr %[c01], %[c01], #8\n\t"
      "ldr %[px], %[bufm]\n\t"
      W16_GROUP0_ASM /* then an odd number of groups (n4 even): enter the loop at its second */
      "b 2f\n\t"
      "1:\n\t" W16_GROUP_ASM "2:\n\t" W16_GROUP_ASM
      "ldr %[x0], %[xend]\n\t"
      "cmp %[px], %[x0]\n\t"
      "bne 1b\n\t"
      /* channel 0: x0 = q, x1 = mult, wa = rnd, wb = o, px = the table pointer, then out_c */
      "ldr %[px], %[rqm]\n\t"
      "ldrd %[x0], %[x1], [%[px]]\n\t"
      "ldr %[wa], %[k1m]\n\t"
      "lsl %[wa], %[wa], %[x0]\n\t"
      "ldr %[wb], %[om]\n\t"
      W16_RQ(c00, px) "strb %[c00], [%[wb]]\n\t"
      "ldr %[px], %[ocm]\n\t"
      W16_RQ(c10, c00) "strb %[c10], [%[wb], %[px]]\n\t"
      "add %[wb], %[wb], %[px], lsl #1\n\t"
      W16_RQ(c20, c00) "strb %[c20], [%[wb]]\n\t"
      W16_RQ(c30, c00) "strb %[c30], [%[wb], %[px]]\n\t"
      /* channel 1: c00 = the table pointer, c10 scratch */
      "ldr %[c00], %[rqm]\n\t"
      "ldrd %[x0], %[x1], [%[c00], #8]\n\t"
      "ldr %[wa], %[k1m]\n\t"
      "lsl %[wa], %[wa], %[x0]\n\t"
      "sub %[wb], %[wb], %[px], lsl #1\n\t"
      "add %[wb], %[wb], #1\n\t"
      W16_RQ(c01, c10) "strb %[c01], [%[wb]]\n\t"
      W16_RQ(c11, c10) "strb %[c11], [%[wb], %[px]]\n\t"
      "add %[wb], %[wb], %[px], lsl #1\n\t"
      W16_RQ(c21, c10) "strb %[c21], [%[wb]]\n\t"
      W16_RQ(c31, c10) "strb %[c31], [%[wb], %[px]]\n\t"
      /* next pair: rq += 4 words, o += 2, until rq reaches its end (pw already at the next pair) */
      "add %[c00], %[c00], #16\n\t"
      "str %[c00], %[rqm]\n\t"
      "sub %[wb], %[wb], %[px], lsl #1\n\t"
      "add %[wb], %[wb], #1\n\t"
      "str %[wb], %[om]\n\t"
      "ldr %[x0], %[rqe]\n\t"
      "cmp %[c00], %[x0]\n\t"
      "bne 0b"
      : [px] "=&r"(x), [pw] "=&r"(pw_), [c00] "=&r"(a00), [c01] "=&r"(a01), [c10] "=&r"(a10),
        [c11] "=&r"(a11), [c20] "=&r"(a20), [c21] "=&r"(a21), [c30] "=&r"(a30), [c31] "=&r"(a31),
        [x0] "=&r"(x0_), [x1] "=&r"(x1_), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [rqm] "+m"(rq), [om] "+m"(o)
      : [wm] "m"(w), [xend] "m"(xend), [rqe] "m"(rqend), [bufm] "m"(buf), [k1m] "m"(k1),
        [ocm] "m"(out_c)
      : "cc", "memory");
}
#else
static void w16_pairs(const int32_t* buf, int32_t n4, const int32_t* w, const int32_t* rq, int32_t pairs,
                      int32_t out_c, int32_t k1, int8_t* o) {
  int32_t pr, i, j;
  for (pr = 0; pr < pairs; ++pr, rq += 4, w += 4 * n4, o += 2) {
    int32_t a[4], b[4];
    for (j = 0; j < 4; ++j) {
      a[j] = rq[0] >> 8;
      b[j] = rq[2] >> 8;
      for (i = 0; i < n4; ++i) {
        a[j] = smlad(buf[8 * i + 4 + j], w[4 * i + 2], smlad(buf[8 * i + j], w[4 * i], a[j]));
        b[j] = smlad(buf[8 * i + 4 + j], w[4 * i + 3], smlad(buf[8 * i + j], w[4 * i + 1], b[j]));
      }
    }
    for (j = 0; j < 4; ++j) {
      o[j * out_c] = (int8_t)rq_m1(a[j], rq[1], lsl_lo8(k1, rq[0]), rq[0]);
      o[j * out_c + 1] = (int8_t)rq_m1(b[j], rq[3], lsl_lo8(k1, rq[2]), rq[2]);
    }
  }
}
#endif

void te_conv2d_1x1_s8_w16_dsp(const te_pw_params* p, const int8_t* in, const int32_t* w16, const int32_t* rq,
                              int8_t* out) {
  int32_t buf[2 * TE_W16_MAX_IN_C]; /* four pixels, in_c 16-bit lanes each */
  const int32_t in_c = p->in_c, out_c = p->out_c, n4 = in_c >> 2, pixels = p->pixels;
  const int32_t k1 = 1 + 2 * p->out_offset; /* rnd = k1 << (right - 1) */
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  int32_t px = 0;
  if (in_c > TE_W16_MAX_IN_C || (in_c & 7) != 0 || (out_c & 1) != 0 || out_c < 2 || p->act_min > -128 ||
      p->act_max < 127 || (p->out_stride > 0 && p->out_stride != out_c))
    return; /* never emitted for such layers */
  for (; px + 4 <= pixels; px += 4) {
    widen4(in + px * in_c, in_c, n4, off2, buf);
    w16_pairs(buf, n4, w16, rq, out_c >> 1, out_c, k1, out + px * out_c);
  }
  for (; px < pixels; ++px) w16_pixel1(in + px * in_c, n4, off2, w16, rq, out_c, k1, out + px * out_c);
}
