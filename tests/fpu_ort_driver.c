/* tests/test_arithmetic.py: the FPU kernels of onnxruntime's float paths (conv2d_1x1_s8_f32_fpu.c,
 * add_s8_f32_fpu.c) against the portable ones (te_conv2d_s8_f32 with row mode 0, te_add_s8_f32) on random
 * shapes, depth blocks, scales and clamps: the int8 outputs and (TE_CONV_F32_PROBE) the convs' float sums
 * acc + b, bit for bit. Prints "cases outputs mismatches float_sums float_mismatches". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyengine_kernels.h"

extern float* te_conv_f32_probe;

static uint32_t state = 2026u;
static uint32_t rnd(void) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() & 0xFFFFFFu) / 16777216.0f; }
static int8_t i8(void) { return (int8_t)(int32_t)(rnd() % 256u - 128u); }

int main(void) {
  static const int32_t kbs[] = {1, 3, 16, 128, 256, 1024};
  long cases = 0, outs = 0, bad = 0, sums = 0, fbad = 0;
  int t, i;
  for (t = 0; t < 400; ++t) { /* pointwise float convs */
    const int32_t in_c = 1 + (int32_t)(rnd() % 300u), out_c = 1 + (int32_t)(rnd() % 13u);
    const int32_t h = 1 + (int32_t)(rnd() % 4u), w = 1 + (int32_t)(rnd() % 4u), pix = h * w;
    te_conv_params p;
    te_conv_f32_params f;
    int8_t *in = malloc((size_t)(pix * in_c)), *wt = malloc((size_t)(out_c * in_c));
    int8_t *o1 = malloc((size_t)(pix * out_c)), *o2 = malloc((size_t)(pix * out_c));
    float tab[256], *ws = malloc(sizeof(float) * (size_t)out_c), *bias = malloc(sizeof(float) * (size_t)out_c);
    const float x_scale = frand(0.002f, 0.05f);
    const int32_t x_zp = (int32_t)(rnd() % 21u) - 10;
    int32_t prev = 0;
    memset(&p, 0, sizeof p);
    p.in_h = p.out_h = h, p.in_w = p.out_w = w, p.in_c = in_c, p.out_c = out_c;
    p.k_h = p.k_w = p.stride_h = p.stride_w = p.dil_h = p.dil_w = p.depth_multiplier = 1;
    p.out_offset = (int32_t)(rnd() % 21u) - 10, p.act_min = -128, p.act_max = 127;
    if (rnd() & 1u) p.act_min = p.out_offset;
    for (i = 0; i < 4; ++i) {
      prev = i == 3 ? pix : prev + (int32_t)(rnd() % (uint32_t)(pix + 1)) / 2;
      f.seg_end[i] = prev < pix ? prev : pix;
      f.seg_kblock[i] = kbs[rnd() % 6u];
    }
    f.out_scale = frand(0.05f, 0.5f) * sqrtf((float)in_c) * x_scale * 0.3f;
    for (i = 0; i < 256; ++i) tab[i] = (float)(i - 128 - x_zp) * x_scale;
    for (i = 0; i < pix * in_c; ++i) in[i] = i8();
    for (i = 0; i < out_c * in_c; ++i) wt[i] = i8();
    for (i = 0; i < out_c; ++i) ws[i] = frand(0.002f, 0.02f), bias[i] = frand(-0.5f, 0.5f);
    for (int with_bias = 0; with_bias < 2; ++with_bias) {
      float *f1 = malloc(sizeof(float) * (size_t)(pix * out_c)), *f2 = malloc(sizeof(float) * (size_t)(pix * out_c));
      te_conv_f32_probe = f1;
      te_conv2d_s8_f32(&p, &f, in, wt, tab, ws, with_bias ? bias : NULL, NULL, o1);
      te_conv_f32_probe = f2;
      te_conv2d_1x1_s8_f32_fpu(&p, &f, in, wt, tab, ws, with_bias ? bias : NULL, o2);
      te_conv_f32_probe = NULL;
      for (i = 0; i < pix * out_c; ++i) bad += o1[i] != o2[i], fbad += memcmp(f1 + i, f2 + i, sizeof(float)) != 0;
      sums += pix * out_c;
      free(f1), free(f2);
    }
    outs += 2L * pix * out_c, ++cases;
    free(in), free(wt), free(o1), free(o2), free(ws), free(bias);
  }
  for (t = 0; t < 200; ++t) { /* adds: fused (QLinearAdd) and unfused (float Add) */
    const int32_t n = 1 + (int32_t)(rnd() % 200u);
    int8_t *a = malloc((size_t)n), *b = malloc((size_t)n), *o1 = malloc((size_t)n), *o2 = malloc((size_t)n);
    float t1[256], t2[256];
    const float s1 = frand(0.005f, 0.1f), s2 = frand(0.005f, 0.1f), so = frand(0.01f, 0.2f);
    const int32_t z1 = (int32_t)(rnd() % 41u) - 20, z2 = (int32_t)(rnd() % 41u) - 20;
    te_add_f32_params q;
    memset(&q, 0, sizeof q);
    q.n = n, q.out_zp = (int32_t)(rnd() % 41u) - 20, q.act_min = -128, q.act_max = 127, q.out_scale = so;
    if (rnd() & 1u) q.act_min = q.out_zp;
    q.fused = (int32_t)(rnd() & 1u), q.ratio1 = s1 / so, q.ratio2 = s2 / so;
    q.fixed = (float)(q.out_zp + 128) - fmaf(q.ratio1, (float)(z1 + 128), q.ratio2 * (float)(z2 + 128));
    for (i = 0; i < 256; ++i) t1[i] = (float)(i - 128 - z1) * s1, t2[i] = (float)(i - 128 - z2) * s2;
    for (i = 0; i < n; ++i) a[i] = i8(), b[i] = i8();
    te_add_s8_f32(&q, a, b, t1, t2, o1);
    te_add_s8_f32_fpu(&q, a, b, t1, t2, o2);
    for (i = 0; i < n; ++i) bad += o1[i] != o2[i];
    outs += n, ++cases;
    free(a), free(b), free(o1), free(o2);
  }
  printf("%ld %ld %ld %ld %ld\n", cases, outs, bad, sums, fbad);
  return 0;
}
