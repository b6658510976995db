/*
 * conv2d_s8_f32.c: general and depthwise convs computed the way onnxruntime's CPU EP (x86) computes
 * a QDQ Conv it leaves unfused (a conv reading or writing a tensor with several readers):
 * DequantizeLinear -> float Conv (MLAS: im2col, then SGEMM) -> QuantizeLinear. Reproduced bit for
 * bit (measured against onnxruntime: tests/test_ort_float_conv.py):
 *
 *   x = in_tab[q + 128] = (float)(q - x_zp) * x_scale, w = (float)qw * w_scale[oc],
 *   b = bias_f[oc] = (float)bias * b_scale[oc]   (float32: DequantizeLinear's products);
 *   per group (one for a conv, one per input channel for a depthwise conv) MLAS multiplies the
 *   filter rows (M = out_c / groups) by the im2col columns (one per output pixel); the reduction
 *   index k runs over (c, ky, kx), c the group's input channels, and a padding tap is x = 0;
 *   acc = one filter row times one column as MLAS's SGEMM sums it (f->row_mode[oc]; 0 if NULL):
 *     0: its FMA kernel: per depth block of kblock k (the depth stride MLAS's loops chose for the
 *        thread segment holding this pixel: seg_kblock[i] for pixels below seg_end[i]), an fmaf
 *        chain from 0 in k order; the block sums added in float in block order;
 *     1: its M = 1 kernel (SgemmKernelM1Avx, a single filter row): products rounded (no FMA),
 *        summed in groups of 4 k as ((p0 + p1) + p2) + p3, each group added to the running sum;
 *        then a last pair as p0 + p1 and a last single product, each added likewise;
 *     2, 3, 4: its N = 1 kernel (SgemmKernelM1TransposeBAvx, a single output pixel): eight lane sums
 *        a[k % 8] of rounded products in k order, reduced as that kernel's 4-row (2), 2-row (3) or
 *        1-row (4) step: (((a0+a1)+a2)+a3) + (((a4+a5)+a6)+a7), ((a0+a2)+(a4+a6)) + ((a1+a3)+(a5+a7)),
 *        ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7));
 *     5: the same kernel run with the output pixels as its rows (a single filter row, the input read
 *        in place as a transposed B: one input channel per group, a kernel as wide as the input):
 *        pixel n of N reduces as a 4-row step for n < N & ~3, then 2-row, then 1-row;
 *   out = clamp(round_half_even((acc + b) / y_scale) + y_zp)   (QuantizeLinear).
 *
 * The compiler (relay_passes/annotate.py, ort_conv_schedule) derives the depth blocks and row modes
 * from MLAS's algorithm and thread choices for the layer's shape. fmaf and the separately rounded
 * products are the point: the file needs <math.h> and a build without floating-point contraction
 * (ISO C modes such as -std=c99 do not contract; the pragma asks the same of clang). Loop order and
 * overlap contract: te_conv2d_s8's and te_depthwise_conv2d_s8's (each output byte written once, in
 * increasing address order, after reading only its own window).
 */
#include <math.h>

#include "tinyengine_kernels.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#ifdef TE_CONV_F32_PROBE
/* Test builds only (tests/test_ort_float_conv.py): when set, receives acc + b of every output in
 * output order, so a test can compare the float sums with onnxruntime's float Conv bit for bit. */
float* te_conv_f32_probe = 0;
#define TE_PROBE(v) \
  do { if (te_conv_f32_probe) *te_conv_f32_probe++ = (v); } while (0)
#else
#define TE_PROBE(v) ((void)0)
#endif

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* One filter row times one im2col column, fed term by term in k order. */
typedef struct {
  int32_t mode, kblock, k;
  float total, part, t[8];
} te_mlas_dot;

static void dot_init(te_mlas_dot* d, int32_t mode, int32_t kblock) {
  int32_t j;
  d->mode = mode;
  d->kblock = kblock;
  d->k = 0;
  d->total = 0.0f;
  d->part = 0.0f;
  for (j = 0; j < 8; ++j) d->t[j] = 0.0f;
}

static void dot_step(te_mlas_dot* d, float x, float w) {
  if (d->mode == 0) {
    d->part = fmaf(w, x, d->part);
    if (++d->k == d->kblock) { /* SGEMM's next depth block: a new chain, added to the output */
      d->total = d->total + d->part;
      d->part = 0.0f;
      d->k = 0;
    }
  } else if (d->mode == 1) {
    const float p = x * w;
    const int32_t g = d->k & 3;
    if (g == 3) {
      d->total = (((d->t[0] + d->t[1]) + d->t[2]) + p) + d->total;
    } else {
      d->t[g] = p;
    }
    ++d->k;
  } else {
    const float p = x * w;
    d->t[d->k & 7] = d->t[d->k & 7] + p;
    ++d->k;
  }
}

static float dot_result(const te_mlas_dot* d) {
  const float* a = d->t;
  float s;
  switch (d->mode) {
    case 0:
      return d->k ? d->total + d->part : d->total;
    case 1:
      s = d->total;
      if (d->k & 2) s = (a[0] + a[1]) + s;
      if (d->k & 1) s = a[d->k & 2] + s;
      return s;
    case 2:
      return (((a[0] + a[1]) + a[2]) + a[3]) + (((a[4] + a[5]) + a[6]) + a[7]);
    case 3:
      return ((a[0] + a[2]) + (a[4] + a[6])) + ((a[1] + a[3]) + (a[5] + a[7]));
    default:
      return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  }
}

static int32_t seg_kblock(const te_conv_f32_params* f, int32_t pixel) {
  int32_t i = 0;
  while (i < 3 && pixel >= f->seg_end[i]) ++i;
  return f->seg_kblock[i];
}

/* Row mode 5: the reduction SgemmKernelM1TransposeBAvx gives pixel n of `pixels` (rows in blocks of 4, 2, 1). */
static int32_t pixel_mode(int32_t mode, int32_t n, int32_t pixels) {
  if (mode != 5) return mode;
  return n < (pixels & ~3) ? 2 : (n < (pixels & ~1) ? 3 : 4);
}

static int8_t quantize_out(const te_conv_params* p, const te_conv_f32_params* f, float acc) {
  const float q = acc / f->out_scale;
  const int32_t r = q >= 4096.0f ? 4096 : (q <= -4096.0f ? -4096 : te_round_half_even_f32(q));
  return (int8_t)clamp_i32(r + p->out_offset, p->act_min, p->act_max);
}

/* One output: the sum, + the dequantized bias (if any) in float as onnxruntime adds it, requantized. */
static int8_t finish(const te_conv_params* p, const te_conv_f32_params* f, const te_mlas_dot* d, const float* bias) {
  float acc = dot_result(d);
  if (bias) acc = acc + *bias;
  TE_PROBE(acc);
  return quantize_out(p, f, acc);
}

/* The k_h x k_w taps of one input channel at window origin (iy0, ix0), in im2col's (ky, kx) order:
 * x from the channel's pixels (HWC, in_c apart), w from the taps (w_tap_stride apart) times ws. */
static void window_taps(te_mlas_dot* d, const te_conv_params* p, const int8_t* in_ch, int32_t iy0, int32_t ix0,
                        const int8_t* w, int32_t w_tap_stride, float ws, const float* in_tab) {
  const int32_t dil_h = p->dil_h > 0 ? p->dil_h : 1, dil_w = p->dil_w > 0 ? p->dil_w : 1;
  int32_t ky, kx;
  for (ky = 0; ky < p->k_h; ++ky) {
    const int32_t iy = iy0 + ky * dil_h;
    for (kx = 0; kx < p->k_w; ++kx) {
      const int32_t ix = ix0 + kx * dil_w;
      if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
        dot_step(d, 0.0f, 0.0f); /* im2col's zero: adds nothing, but counts in k */
      } else {
        dot_step(d, in_tab[(int32_t)in_ch[(iy * p->in_w + ix) * p->in_c] + 128],
                 (float)w[(ky * p->k_w + kx) * w_tap_stride] * ws);
      }
    }
  }
}

void te_conv2d_s8_f32(const te_conv_params* p, const te_conv_f32_params* f, const int8_t* in, const int8_t* weights,
                      const float* in_tab, const float* w_scale, const float* bias_f, const int8_t* row_mode,
                      int8_t* out) {
  const int32_t in_c = p->in_c, out_c = p->out_c;
  const int32_t w_oc_stride = p->k_h * p->k_w * in_c, pixels = p->out_h * p->out_w;
  int32_t oy, ox, oc, c;

  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t n = oy * p->out_w + ox, kblock = seg_kblock(f, n);
      for (oc = 0; oc < out_c; ++oc) {
        const int8_t* w_oc = weights + oc * w_oc_stride;
        const float ws = w_scale[oc];
        te_mlas_dot d;
        dot_init(&d, row_mode ? pixel_mode(row_mode[oc], n, pixels) : 0, kblock);
        for (c = 0; c < in_c; ++c) window_taps(&d, p, in + c, iy0, ix0, w_oc + c, in_c, ws, in_tab);
        *out++ = finish(p, f, &d, bias_f ? bias_f + oc : 0);
      }
    }
  }
}

void te_depthwise_conv2d_s8_f32(const te_conv_params* p, const te_conv_f32_params* f, const int8_t* in,
                                const int8_t* weights, const float* in_tab, const float* w_scale, const float* bias_f,
                                const int8_t* row_mode, int8_t* out) {
  const int32_t in_c = p->in_c;
  const int32_t dm = p->depth_multiplier > 0 ? p->depth_multiplier : 1;
  const int32_t out_c = in_c * dm;
  const int32_t pixels = p->out_h * p->out_w;
  int32_t oy, ox, ic, m;

  for (oy = 0; oy < p->out_h; ++oy) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int32_t ix0 = ox * p->stride_w - p->pad_left;
      const int32_t n = oy * p->out_w + ox, kblock = seg_kblock(f, n);
      for (ic = 0; ic < in_c; ++ic) {
        for (m = 0; m < dm; ++m) {
          const int32_t oc = ic * dm + m;
          const float ws = w_scale[oc];
          te_mlas_dot d;
          dot_init(&d, row_mode ? pixel_mode(row_mode[oc], n, pixels) : 0, kblock);
          window_taps(&d, p, in + ic, iy0, ix0, weights + oc, out_c, ws, in_tab);
          *out++ = finish(p, f, &d, bias_f ? bias_f + oc : 0);
        }
      }
    }
  }
}
