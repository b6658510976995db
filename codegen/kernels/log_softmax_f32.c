/*
 * log_softmax_f32.c: float LOG_SOFTMAX over the last axis, TFLite reference formula:
 *   max = max_c x[c];  sum = sum_c expf(x[c] - max);  out[c] = x[c] - max - logf(sum)
 * evaluated in float32 in that order.
 *
 * The reference (LiteRT's BUILTIN_REF kernel on x86-64 Linux) calls glibc's expf and logf. They
 * are not correctly rounded, and newlib's on a core without a double-precision FPU (Cortex-M4,
 * M33) are other algorithms, so calling the target's libm gave 1-ulp differences. te_expf and
 * te_logf compute what glibc's do (glibc >= 2.28 and newlib with a double FPU share one algorithm:
 * a 32 / 16-entry table, a short polynomial in double, one rounding to float), in plain IEEE double
 * arithmetic that gives the same bits on every target (soft-float double on M4/M33): glibc's FMA
 * build rounds the argument reduction of expf once (x * N/ln2 - k), which te_expf reproduces
 * exactly with a split constant. Checked against the host's glibc on every float
 * (tests/test_log_softmax_libm.py); needs ISO C mode (-std=c99: no floating-point contraction).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tinyengine_kernels.h"

/* 2^(i/32) as IEEE double bits, minus i << 47 so that adding k << 47 gives 2^(k/32) for any k. */
static const uint64_t kExp2Tab[32] = {
    0x3ff0000000000000u, 0x3fefd9b0d3158574u, 0x3fefb5586cf9890fu, 0x3fef9301d0125b51u,
    0x3fef72b83c7d517bu, 0x3fef54873168b9aau, 0x3fef387a6e756238u, 0x3fef1e9df51fdee1u,
    0x3fef06fe0a31b715u, 0x3feef1a7373aa9cbu, 0x3feedea64c123422u, 0x3feece086061892du,
    0x3feebfdad5362a27u, 0x3feeb42b569d4f82u, 0x3feeab07dd485429u, 0x3feea47eb03a5585u,
    0x3feea09e667f3bcdu, 0x3fee9f75e8ec5f74u, 0x3feea11473eb0187u, 0x3feea589994cce13u,
    0x3feeace5422aa0dbu, 0x3feeb737b0cdc5e5u, 0x3feec49182a3f090u, 0x3feed503b23e255du,
    0x3feee89f995ad3adu, 0x3feeff76f2fb5e47u, 0x3fef199bdd85529cu, 0x3fef3720dcef9069u,
    0x3fef5818dcfba487u, 0x3fef7c97337b9b5fu, 0x3fefa4afa2a490dau, 0x3fefd0765b6e4540u};

/* 32/ln2 (the double glibc uses) split so that each half times a float is an exact double. */
static const double kInvLn2N_hi = 0x1.715476p+5, kInvLn2N_lo = 0x1.4ae0bf8p-21;
static const double kShift = 0x1.8p+52; /* adding it rounds a |value| < 2^51 to an integer */
/* glibc's 2^(r/32) polynomial: the coefficients of 2^r scaled by 32^-3, 32^-2, 32^-1. */
static const double kExpC0 = 0x1.c6af84b912394p-5 / 32768.0, kExpC1 = 0x1.ebfce50fac4f3p-3 / 1024.0,
                    kExpC2 = 0x1.62e42ff0c52d6p-1 / 32.0;

static double as_double(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

float te_expf(float x) {
  const double xd = x;
  double hi, lo, kd, d, r, r2, p, q, y;
  int32_t k;
  uint64_t bits;
  if (x != x) return x + x;
  if (x > 0x1.62e42ep6f) return INFINITY; /* overflow */
  if (x < -0x1.9fe368p6f) return 0.0f;              /* below 2^-150: +0 */
  /* x*32/ln2 = k + r with k the nearest integer (ties to even) and r rounded once, as glibc's FMA
     build computes it: hi + lo is the exact product, d = hi - k is exact (|d| <= 1/2 on hi's grid). */
  hi = kInvLn2N_hi * xd;
  lo = kInvLn2N_lo * xd;
  kd = (hi + lo) + kShift;
  kd -= kShift;
  d = hi - kd;
  /* hi + lo may round onto the other side of a half: move k so that |d + lo| <= 1/2 exactly */
  if (lo > 0.5 - d || (lo == 0.5 - d && ((int32_t)kd & 1))) {
    kd += 1.0;
    d -= 1.0;
  } else if (lo < -0.5 - d || (lo == -0.5 - d && ((int32_t)kd & 1))) {
    kd -= 1.0;
    d += 1.0;
  }
  r = d + lo;
  k = (int32_t)kd;
  bits = kExp2Tab[k & 31] + ((uint64_t)(int64_t)k << 47);
  /* 2^(k/32) * (1 + C2 r + C1 r^2 + C0 r^3), in glibc's order */
  p = kExpC0 * r;
  p = p + kExpC1;
  r2 = r * r;
  q = kExpC2 * r;
  q = q + 1.0;
  y = p * r2;
  y = y + q;
  y = y * as_double(bits);
  return (float)y;
}

/* 1/c and log(c) for 16 subintervals of [0x1.66p-1, 0x1.66p0) (glibc's table), ln 2, and the
   log1p(r) polynomial's coefficients of r^4, r^3, r^2. */
static const double kLogInvC[16] = {
    0x1.661ec79f8f3bep+0, 0x1.571ed4aaf883dp+0, 0x1.49539f0f010bp+0,  0x1.3c995b0b80385p+0,
    0x1.30d190c8864a5p+0, 0x1.25e227b0b8eap+0,  0x1.1bb4a4a1a343fp+0, 0x1.12358f08ae5bap+0,
    0x1.0953f419900a7p+0, 0x1p+0,               0x1.e608cfd9a47acp-1, 0x1.ca4b31f026aap-1,
    0x1.b2036576afce6p-1, 0x1.9c2d163a1aa2dp-1, 0x1.886e6037841edp-1, 0x1.767dcf5534862p-1};
static const double kLogC[16] = {
    -0x1.57bf7808caadep-2, -0x1.2bef0a7c06ddbp-2, -0x1.01eae7f513a67p-2, -0x1.b31d8a68224e9p-3,
    -0x1.6574f0ac07758p-3, -0x1.1aa2bc79c81p-3,   -0x1.a4e76ce8c0e5ep-4, -0x1.1973c5a611cccp-4,
    -0x1.252f438e10c1ep-5, 0x0p+0,                0x1.aa5aa5df25984p-5,  0x1.c5e53aa362eb4p-4,
    0x1.526e57720db08p-3,  0x1.bc2860d22477p-3,   0x1.1058bc8a07ee1p-2,  0x1.4043057b6ee09p-2};
static const double kLn2 = 0x1.62e42fefa39efp-1;
static const double kLogA0 = -0x1.00ea348b88334p-2, kLogA1 = 0x1.5575b0be00b6ap-2, kLogA2 = -0x1.ffffef20a4123p-2;

float te_logf(float x) {
  uint32_t ix, tmp, iz;
  int32_t i, k;
  float zf;
  double z, r, r2, y0, y, t;
  memcpy(&ix, &x, sizeof ix);
  if (ix - 0x00800000u >= 0x7f800000u - 0x00800000u) { /* not a positive normal float */
    if (x == 0.0f) return -INFINITY;
    if (x != x || x < 0.0f) return NAN;
    if (ix == 0x7f800000u) return x; /* +inf */
    zf = x * 0x1p23f; /* subnormal: normalize */
    memcpy(&ix, &zf, sizeof ix);
    ix -= 23u << 23;
  }
  /* x = 2^k z with z in [0x1.66p-1, 0x1.66p0) near the table's c: log x = k ln2 + log c + log1p(z/c - 1) */
  tmp = ix - 0x3f330000u;
  i = (int32_t)((tmp >> 19) % 16u);
  k = (int32_t)tmp >> 23; /* arithmetic shift: gcc and clang on every target here */
  iz = ix - (tmp & 0xff800000u);
  memcpy(&zf, &iz, sizeof zf);
  z = zf;
  r = z * kLogInvC[i];
  r = r - 1.0;
  y0 = (double)k * kLn2;
  y0 = kLogC[i] + y0;
  r2 = r * r;
  y = kLogA1 * r;
  y = y + kLogA2;
  t = kLogA0 * r2;
  y = t + y;
  y = y * r2;
  y = y + (y0 + r);
  return (float)y;
}

void te_log_softmax_f32(int32_t rows, int32_t cols, const float* in, float* out) {
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    const float* x = in + r * cols;
    float* y = out + r * cols;
    float max = -3.40282347e+38f; /* std::numeric_limits<float>::lowest() */
    float sum = 0.0f, log_sum;
    for (c = 0; c < cols; ++c) max = x[c] > max ? x[c] : max;
    for (c = 0; c < cols; ++c) sum += te_expf(x[c] - max);
    log_sum = te_logf(sum);
    for (c = 0; c < cols; ++c) y[c] = x[c] - max - log_sum;
  }
}
