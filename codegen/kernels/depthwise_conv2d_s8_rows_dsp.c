/*
 * depthwise_conv2d_s8_rows_dsp.c: int8 depthwise conv2d for Armv7E-M DSP cores, specialised per
 * square kernel k in {3, 5, 7} and stride s in {1, 2} (same in both directions), depth multiplier 1,
 * no dilation, activation range the whole int8 range (codegen/dsp.py emits it only then).
 *
 * Why it is laid out this way (instruction counts are what the QEMU benchmark measures):
 *
 * - Two adjacent outputs per step share their input loads: with D_m = [d(x+2m), d(x+2m+1)] (16-bit
 *   pairs), a row of L taps costs L+1 multiply-accumulates for both outputs (SMLAD on the pair the
 *   output needs, SMLATB/SMLABT for the odd tap at either end) and floor(L/2)+1 loads.
 * - Stride 2 becomes stride 1: the widened row keeps even and odd input columns apart, so a row of k
 *   taps is an even phase (taps 0,2,4..) and an odd phase (taps 1,3,..), both stride-1 sums over
 *   contiguous pairs. Even and odd words sit side by side (one LDRD fetches both).
 * - The ring of k widened rows is stored column-major ([word column][ring slot]): every load of a
 *   step is at a compile-time offset from one pointer that moves once per step, whatever the image
 *   width. The ring does not rotate: input padded row pr lives in slot pr % k, and the weight rows
 *   are rotated instead (a doubled copy of the channel's weight rows, read from row k - (top % k)).
 * - Data is x + in_offset and weights 2 * w (16-bit), so the accumulator is 2 * acc, as
 *   SMMULR-based requantization wants. Requantization is
 *     r = SSAT8((SMMLAR(2 acc, mult, rnd) + (2 acc >> 31)) >> right),  rnd = (1 + 2 out_offset) << (right-1)
 *   SMMLAR adds rnd to y = SMMULR(2 acc, mult) exactly, and acc's sign may stand in for y's in
 *   RoundingDivideByPOT's correction: they differ only when y == 0, where
 *   (rnd - 1) >> right == rnd >> right for right >= 1. codegen/dsp.py's fast_requant_ok bounds every
 *   sum (the requantization of conv2d_1x1_s8_dsp.c, rq = {(2 * bias) << 8 | right, mult}).
 * - Two channels at a time: one LDRH per pixel brings both channels' bytes, SXTAB16 (plain and ROR 8)
 *   splits them and adds in_offset, so a word of two columns of each channel costs two loads and four
 *   instructions. Columns in the padding read as bytes -in_offset (they widen to 0); word columns
 *   entirely in the padding are zeroed once and never written again.
 *
 * Order: bands of `band` output rows; per band, per channel pair, per output row: widen the rows that
 * entered the window (both channels), then write the row's outputs (channel ch, then ch + 1). With
 * band = out_h this is channel-major; codegen/dsp.py picks the largest band whose order it proves safe
 * when input and output overlap (dw_rows_safe). Needs an even channel count.
 * Stack: ring TE_DWR_WORDS int32 (1 kB) + weight rows 4 k (k - 1) int32 (<= 672 B) + for k = 3, stride 1
 * a row of TE_DWR_MAX_W int32 accumulators (512 B, in out_row's frame): about 2.3 kB at most.
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_DWR_WORDS 256
#define TE_DWR_MAX_K 7
#define TE_DWR_MAX_W 128
#define INLINE static inline __attribute__((always_inline))
#if defined(__GNUC__) && !defined(__clang__)
#define TE_DWR_NO_SCHED __attribute__((optimize("no-schedule-insns")))
#else
#define TE_DWR_NO_SCHED
#endif
#define PK(lo, hi) ((int32_t)(((uint32_t)(int32_t)(lo) & 0xFFFFu) | ((uint32_t)(int32_t)(hi) << 16)))

/* Packed words of an L-tap phase: L - 1 (the pairs E_m = [t2m, t2m+1] and O_m = [t2m-1, t2m] that
 * mac_phase reads), 1 for L = 1, 0 for L = 0. */
#define PHASE_WORDS(L) ((L) <= 1 ? (L) : (L) - 1)

INLINE void pack_phase(const int32_t* t, const int32_t L, int32_t* w) {
  const int32_t h = L >> 1, n_odd = (L & 1) ? h : h - 1;
  int32_t m;
  if (L == 0) return;
  if (L == 1) {
    w[0] = PK(t[0], 0);
    return;
  }
  for (m = 0; m < h; ++m) w[m] = PK(t[2 * m], t[2 * m + 1]);
  for (m = 1; m <= n_odd; ++m) w[h + m - 1] = PK(t[2 * m - 1], t[2 * m]);
}

/* Outputs x (a0) and x+1 (a1) += sum_i t_i d(x+i) and sum_i t_i d(x+1+i); d(x+2m..) is the word d[m * step]. */
INLINE void mac_phase(const int32_t* d, const int32_t step, const int32_t* w, const int32_t L, int32_t* a0,
                      int32_t* a1) {
  const int32_t h = L >> 1;
  int32_t m;
  if (L == 0) return;
  if (L == 1) {
    *a0 = smlabb(d[0], w[0], *a0);
    *a1 = smlatb(d[0], w[0], *a1);
    return;
  }
#pragma GCC unroll 4
  for (m = 0; m < h; ++m) *a0 = smlad(d[m * step], w[m], *a0);
  *a1 = smlatb(d[0], w[0], *a1);
  if (L & 1) {
#pragma GCC unroll 4
    for (m = 1; m <= h; ++m) *a1 = smlad(d[m * step], w[h + m - 1], *a1);
    *a0 = smlabt(d[h * step], w[2 * h - 1], *a0);
  } else {
#pragma GCC unroll 4
    for (m = 1; m < h; ++m) *a1 = smlad(d[m * step], w[h + m - 1], *a1);
    *a1 = smlabt(d[h * step], w[h - 1], *a1);
  }
}

/* Outputs 2j, 2j+1 of the current row, r = the ring at word column j, wb = the rotated weight rows. */
INLINE void pair(const int32_t* r, const int32_t* wb, int32_t bias2, int32_t* a0, int32_t* a1, const int32_t K,
                 const int32_t S) {
  const int32_t LE = S == 1 ? K : (K + 1) >> 1, LO = S == 1 ? 0 : K >> 1;
  const int32_t WE = PHASE_WORDS(LE), WPR = WE + PHASE_WORDS(LO);
  int32_t s;
  *a0 = bias2;
  *a1 = bias2;
#pragma GCC unroll 8
  for (s = 0; s < K; ++s) {
    mac_phase(r + s * S, K * S, wb + s * WPR, LE, a0, a1);
    mac_phase(r + s * S + 1, K * S, wb + s * WPR + WE, LO, a0, a1);
  }
}


/* The two channels' bytes at one pixel, as the low half of a word. */
INLINE uint32_t ld16(const int8_t* x) {
  uint16_t v;
  memcpy(&v, x, 2);
  return v;
}

/* Both channels at input column ix, or padh (two bytes -in_offset, which widen to 0) outside the input. */
INLINE uint32_t px16(const int8_t* x, int32_t ix, int32_t in_w, int32_t c, uint32_t padh) {
  return ix >= 0 && ix < in_w ? ld16(x + ix * c) : padh;
}

/* A word column (channel ch at d, ch + 1 at d + RW) that mixes input and padding columns, from input column ix. */
INLINE void edge_word(int32_t* d, int32_t RW, const int8_t* x, int32_t ix, int32_t in_w, int32_t c, uint32_t padh,
                      int32_t offp, const int32_t S) {
  if (S == 1) {
    const int32_t v = (int32_t)(px16(x, ix, in_w, c, padh) | px16(x, ix + 1, in_w, c, padh) << 16);
    d[0] = sxtab16(offp, v);
    d[RW] = sxtab16_ror8(offp, v);
  } else {
    const int32_t ve = (int32_t)(px16(x, ix, in_w, c, padh) | px16(x, ix + 2, in_w, c, padh) << 16);
    const int32_t vo = (int32_t)(px16(x, ix + 1, in_w, c, padh) | px16(x, ix + 3, in_w, c, padh) << 16);
    d[0] = sxtab16(offp, ve);
    d[1] = sxtab16(offp, vo);
    d[RW] = sxtab16_ror8(offp, ve);
    d[RW + 1] = sxtab16_ror8(offp, vo);
  }
}

/* Per-channel constants of a channel pair, precomputed once per band. */
typedef struct {
  int32_t bias2, mult, rnd, rsh;
} rq_ch;

/* One output row of one channel: np pairs from the ring d, weight rows wb; o steps by c. */
/* One output row of one channel from the ring d and weight rows wb (o steps by c). */
INLINE void out_row(const int32_t* restrict d, const int32_t* restrict wb, const rq_ch* restrict q, int8_t* restrict o,
                    int32_t out_w, int32_t c, const int32_t K, const int32_t S) {
  const int32_t bias2 = q->bias2, mult = q->mult, rnd = q->rnd, rsh = q->rsh;
  const int32_t* const end = d + (out_w >> 1) * K * S;
  for (; d != end; d += K * S) {
    int32_t a0, a1;
    if (K > 3) __asm__("" : "+r"(wb)); /* k >= 5: load weight pairs with LDRD each step instead of spilling them */
    pair(d, wb, bias2, &a0, &a1, K, S);
    o[0] = (int8_t)rq_dw8(a0, mult, rnd, rsh);
    o[c] = (int8_t)rq_dw8(a1, mult, rnd, rsh);
    o += 2 * c;
  }
  if (out_w & 1) { /* the last pair's second output lies past the row: dropped */
    int32_t a0, a1;
    pair(d, wb, bias2, &a0, &a1, K, S);
    o[0] = (int8_t)rq_dw8(a0, mult, rnd, rsh);
  }
}

/* The same in two passes, multiply-accumulates into a row of accumulators, then requantization: each loop
 * then fits the registers better. Measured: fewer instructions for k = 3, stride 1, more for the others. An
 * odd last output computes a pair whose second window lies in the ring's zero columns. */
INLINE void out_row_2pass(const int32_t* restrict d, const int32_t* restrict wb, const rq_ch* restrict q,
                          int8_t* restrict o, int32_t out_w, int32_t c, const int32_t K, const int32_t S) {
  const int32_t bias2 = q->bias2, mult = q->mult, rnd = q->rnd, rsh = q->rsh;
  int32_t acc[TE_DWR_MAX_W];
  int32_t* a = acc;
  int32_t* const end = acc + 2 * ((out_w + 1) >> 1);
  int32_t x;
  for (; a != end; a += 2, d += K * S) pair(d, wb, bias2, &a[0], &a[1], K, S);
  for (x = 0; x + 1 < out_w; x += 2) {
    o[0] = (int8_t)rq_dw8(acc[x], mult, rnd, rsh);
    o[c] = (int8_t)rq_dw8(acc[x + 1], mult, rnd, rsh);
    o += 2 * c;
  }
  if (out_w & 1) o[0] = (int8_t)rq_dw8(acc[x], mult, rnd, rsh);
}

/* The same with the ring slots outermost (for k = 7): per slot, its weight words stay in registers across the
 * row and the accumulators go through memory; one step of the unrolled k = 7 window needs more registers
 * than there are (measured: fewer instructions this way for k = 7, more for k = 3, 5). */
INLINE void out_row_slots(const int32_t* restrict d, const int32_t* restrict wb, const rq_ch* restrict q,
                          int8_t* restrict o, int32_t out_w, int32_t c, const int32_t K, const int32_t S) {
  const int32_t LE = S == 1 ? K : (K + 1) >> 1, LO = S == 1 ? 0 : K >> 1;
  const int32_t WE = PHASE_WORDS(LE), WPR = WE + PHASE_WORDS(LO);
  const int32_t bias2 = q->bias2, mult = q->mult, rnd = q->rnd, rsh = q->rsh;
  int32_t acc[TE_DWR_MAX_W];
  int32_t* const end = acc + 2 * ((out_w + 1) >> 1);
  int32_t* a;
  int32_t s, x, i;
  for (a = acc; a != end; ++a) *a = bias2;
  for (s = 0; s < K; ++s) {
    const int32_t* r = d + s * S;
    int32_t wv[2 * TE_DWR_MAX_K];
#pragma GCC unroll 8
    for (i = 0; i < WPR; ++i) wv[i] = wb[s * WPR + i];
    for (a = acc; a != end; a += 2, r += K * S) {
      int32_t a0 = a[0], a1 = a[1];
      mac_phase(r, K * S, wv, LE, &a0, &a1);
      mac_phase(r + 1, K * S, wv + WE, LO, &a0, &a1);
      a[0] = a0;
      a[1] = a1;
    }
  }
  for (x = 0; x + 1 < out_w; x += 2) {
    o[0] = (int8_t)rq_dw8(acc[x], mult, rnd, rsh);
    o[c] = (int8_t)rq_dw8(acc[x + 1], mult, rnd, rsh);
    o += 2 * c;
  }
  if (out_w & 1) o[0] = (int8_t)rq_dw8(acc[x], mult, rnd, rsh);
}

/* Requantization constants of channels ch, ch+1 (rq at ch). */
INLINE void prep_rq(const int32_t* rq, int32_t k1, rq_ch* rqc) {
  int32_t j;
  for (j = 0; j < 2; ++j) {
    const int32_t rsh = rq[2 * j] & 0xFF;
    rqc[j].bias2 = rq[2 * j] >> 8;
    rqc[j].mult = rq[2 * j + 1];
    rqc[j].rnd = TE_DW_RND(k1, rsh);
    rqc[j].rsh = rsh;
  }
}

/* Weights and requantization constants of channels ch, ch+1 (wc, rq at ch): per channel 2k packed weight rows
 * (the k rows, then the same again, so any rotation reads k consecutive rows) and its rq_ch. Generic in k and
 * the stride (it runs once per channel pair per band): one copy for every instance. */
INLINE void prep_pair(const int8_t* wc, const int32_t* rq, int32_t k1, const int32_t K, const int32_t S,
                      int32_t* wd, rq_ch* rqc) {
  const int32_t LE = S == 1 ? K : (K + 1) >> 1, LO = S == 1 ? 0 : K >> 1;
  const int32_t WE = PHASE_WORDS(LE), WPR = WE + PHASE_WORDS(LO);
  int32_t j, ky, kx;
  prep_rq(rq, k1, rqc);
  for (j = 0; j < 2; ++j) {
    for (ky = 0; ky < K; ++ky) {
      int32_t te[TE_DWR_MAX_K], to[TE_DWR_MAX_K];
      int32_t* w0 = wd + (2 * j * K + ky) * WPR;
      for (kx = 0; kx < K; ++kx) {
        const int32_t t = 2 * (int32_t)wc[j * K * K + ky * K + kx];
        if (S == 1) te[kx] = t;
        else (kx & 1 ? to : te)[kx >> 1] = t;
      }
      pack_phase(te, LE, w0);
      pack_phase(to, LO, w0 + WE);
      for (kx = 0; kx < WPR; ++kx) w0[K * WPR + kx] = w0[kx];
    }
  }
}

typedef void (*out_row_fn)(const int32_t* restrict d, const int32_t* restrict wb, const rq_ch* restrict q,
                           int8_t* restrict o, int32_t out_w, int32_t c);

INLINE void dw_rows(const te_dw_params* p, int32_t band, const int8_t* in, const int8_t* weights, const int32_t* pre,
                    const int32_t* rq, int8_t* out, const int32_t K, const int32_t S, const out_row_fn row_fn) {
  const int32_t LE = S == 1 ? K : (K + 1) >> 1, LO = S == 1 ? 0 : K >> 1;
  const int32_t WE = PHASE_WORDS(LE), WPR = WE + PHASE_WORDS(LO), KS = K * S, G = 2 * S, WCH = 2 * K * WPR;
  const int32_t c = p->c, in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
  const int32_t pad_top = p->pad_top, pad_left = p->pad_left, off = p->in_offset;
  const int32_t offp = PK(off, off), k1 = 1 + 2 * p->out_offset;
  const int32_t nq = ((out_w + 1) >> 1) + (LE >> 1), RW = nq * KS, row = in_w * c;
  /* Word columns [q0, q1) hold input columns (the rest stay zero). */
  const int32_t q0 = pad_left / G < nq ? pad_left / G : nq;
  const int32_t q1 = (pad_left + in_w + G - 1) / G < nq ? (pad_left + in_w + G - 1) / G : nq;
  /* Word columns [qa, qb) hold input columns only; the edge words [q0, qa) and [qb, q1) mix in padding. */
  const int32_t qa = (pad_left + G - 1) / G < q1 ? (pad_left + G - 1) / G : q1;
  const int32_t qb = (pad_left + in_w) / G < qa ? qa : ((pad_left + in_w) / G < q1 ? (pad_left + in_w) / G : q1);
  const uint32_t padh = (uint32_t)(-off & 0xFF) * 0x101u;
  int32_t ring[TE_DWR_WORDS]; /* channel ch at ring, ch + 1 at ring + RW; word column q, slot s at q * KS + s * S */
  int32_t wd[2 * 2 * TE_DWR_MAX_K * (TE_DWR_MAX_K - 1)];
  rq_ch rqc[2];
  int32_t b0, ch, oy, q;

  memset(ring, 0, sizeof(int32_t) * 2 * RW);
  for (b0 = 0; b0 < out_h; b0 += band) {
    const int32_t b1 = out_h - b0 < band ? out_h : b0 + band;
    for (ch = 0; ch < c; ch += 2) {
      int32_t next = b0 * S;
      const int32_t* wdp = wd;
      if (pre != 0) { /* weight rows packed at compile time (band entry point) */
        wdp = pre + (ch >> 1) * 2 * WCH;
        prep_rq(rq + 2 * ch, k1, rqc);
      } else {
        prep_pair(weights + ch * K * K, rq + 2 * ch, k1, K, S, wd, rqc);
      }
      for (oy = b0; oy < b1; ++oy) {
        const int32_t top = oy * S, rot = (K - top % K) * WPR;
        int8_t* o = out + oy * out_w * c + ch;
        int32_t pr = next > top ? next : top;
        for (; pr < top + K; ++pr) { /* widen padded row pr of both channels into ring slot pr % K */
          int32_t* d = ring + (pr % K) * S;
          const int32_t iy = pr - pad_top;
          if (iy < 0 || iy >= in_h) {
            for (q = q0; q < q1; ++q) {
              d[q * KS] = 0;
              d[RW + q * KS] = 0;
              d[q * KS + S - 1] = 0;
              d[RW + q * KS + S - 1] = 0;
            }
            continue;
          }
          {
            const int8_t* x = in + iy * row + ch;
            const int8_t* xs = x + (qa * G - pad_left) * c;
            for (q = q0; q < qa; ++q) edge_word(d + q * KS, RW, x, q * G - pad_left, in_w, c, padh, offp, S);
            for (q = qb; q < q1; ++q) edge_word(d + q * KS, RW, x, q * G - pad_left, in_w, c, padh, offp, S);
            if (S == 1) { /* every column inside the input: SXTAB16 splits the two channels */
              int32_t* e0 = d + qa * KS;
              for (q = qa; q < qb; ++q) {
                const int32_t v = (int32_t)(ld16(xs) | ld16(xs + c) << 16);
                e0[0] = sxtab16(offp, v);
                e0[RW] = sxtab16_ror8(offp, v);
                e0 += KS;
                xs += 2 * c;
              }
            } else {
              int32_t* e0 = d + qa * KS;
              for (q = qa; q < qb; ++q) {
                const int32_t ve = (int32_t)(ld16(xs) | ld16(xs + 2 * c) << 16);
                const int32_t vo = (int32_t)(ld16(xs + c) | ld16(xs + 3 * c) << 16);
                e0[0] = sxtab16(offp, ve);
                e0[1] = sxtab16(offp, vo);
                e0[RW] = sxtab16_ror8(offp, ve);
                e0[RW + 1] = sxtab16_ror8(offp, vo);
                e0 += KS;
                xs += 4 * c;
              }
            }
          }
        }
        next = top + K;
        row_fn(ring, wdp + rot, &rqc[0], o, out_w, c);
        row_fn(ring + RW, wdp + WCH + rot, &rqc[1], o + 1, out_w, c);
      }
    }
  }
}

static int32_t ring_words(const te_dw_params* p) {
  const int32_t k = p->k_h, s = p->stride_h, le = s == 1 ? k : (k + 1) / 2;
  return 2 * ((p->out_w + 1) / 2 + le / 2) * k * s;
}

static int rows_ok(const te_dw_params* p, int32_t band, int32_t k, int32_t s) {
  const int32_t words = ring_words(p);
  return p->k_h == k && p->k_w == k && p->stride_h == s && p->stride_w == s && band >= 1 && (p->c & 1) == 0 &&
         p->act_min == -128 && p->act_max == 127 && words <= TE_DWR_WORDS && p->out_w <= TE_DWR_MAX_W;
}

/* One instance per (k, stride), each with its own entry point so a firmware links only those it calls;
 * the output row loop is a function of its own (one copy per instance, registers of its own). */
#define DW_ROWS_INSTANCE(K, S, ATTR)                                                                                     \
  static __attribute__((noinline)) ATTR void out_row_k##K##s##S(const int32_t* restrict d, const int32_t* restrict wb, \
                                                           const rq_ch* restrict q, int8_t* restrict o,           \
                                                           int32_t out_w, int32_t c) {                            \
    if (K == 3 && S == 1) out_row_2pass(d, wb, q, o, out_w, c, K, S);                                              \
    else if (K == 7) out_row_slots(d, wb, q, o, out_w, c, K, S);                                                   \
    else out_row(d, wb, q, o, out_w, c, K, S);                                                                     \
  }                                                                                                                \
  ATTR void te_depthwise_conv2d_s8_rows_k##K##s##S##_dsp(const te_dw_params* p, int32_t band, const int8_t* in,      \
                                                    const int8_t* w, const int32_t* rq, int8_t* out) {              \
    if (!rows_ok(p, band, K, S)) return; /* never emitted */                                                       \
    dw_rows(p, band, in, w, 0, rq, out, K, S, out_row_k##K##s##S);                                                 \
  }                                                                                                                \
  ATTR void te_depthwise_conv2d_s8_rows_pre_k##K##s##S##_dsp(const te_dw_params* p, int32_t band, const int8_t* in,  \
                                                        const int32_t* wpre, const int32_t* rq, int8_t* out) {      \
    if (!rows_ok(p, band, K, S)) return; /* never emitted */                                                       \
    dw_rows(p, band, in, 0, wpre, rq, out, K, S, out_row_k##K##s##S);                                              \
  }
/* k = 3, stride 2 without GCC's pre-allocation instruction scheduling: scheduled, its loads move early and
 * the step needs more registers than there are (measured: 7 % fewer instructions on vww's layer; the
 * other instances do better scheduled). */
DW_ROWS_INSTANCE(3, 1, )
DW_ROWS_INSTANCE(3, 2, TE_DWR_NO_SCHED)
DW_ROWS_INSTANCE(5, 1, )
DW_ROWS_INSTANCE(5, 2, )
DW_ROWS_INSTANCE(7, 1, )
DW_ROWS_INSTANCE(7, 2, )

void te_depthwise_conv2d_s8_rows_dsp(const te_dw_params* p, int32_t band, const int8_t* in, const int8_t* weights,
                                     const int32_t* rq, int8_t* out) {
  switch (p->k_h * 4 + p->stride_h) {
    case 13: te_depthwise_conv2d_s8_rows_k3s1_dsp(p, band, in, weights, rq, out); break;
    case 14: te_depthwise_conv2d_s8_rows_k3s2_dsp(p, band, in, weights, rq, out); break;
    case 21: te_depthwise_conv2d_s8_rows_k5s1_dsp(p, band, in, weights, rq, out); break;
    case 22: te_depthwise_conv2d_s8_rows_k5s2_dsp(p, band, in, weights, rq, out); break;
    case 29: te_depthwise_conv2d_s8_rows_k7s1_dsp(p, band, in, weights, rq, out); break;
    case 30: te_depthwise_conv2d_s8_rows_k7s2_dsp(p, band, in, weights, rq, out); break;
    default: break; /* never emitted */
  }
}
