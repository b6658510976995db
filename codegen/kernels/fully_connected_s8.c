/*
 * fully_connected_s8.c: int8 fully connected, weights [out_n][in_n] (symmetric int8 weights,
 * zero point 0), int32 accumulation, per-tensor or per-channel output scaling. Two variants:
 *
 * te_fully_connected_s8         fixed-point requantization (mult/shift, MultiplyByQuantized-
 *                               Multiplier): TFLite's optimized kernels, TFLite Micro, CMSIS-NN.
 * te_fully_connected_s8_dscale  LiteRT's *reference* int8 FULLY_CONNECTED (BUILTIN_REF,
 *                               reference_integer_ops::FullyConnected{,PerChannel} with scales):
 *                               out = round_half_away((double)acc * scale[ch]) + out_offset, with
 *                               scale[ch] = (double)in_scale * (double)w_scale[ch] / (double)out_scale.
 *                               One double multiply per output (IEEE-754, exact on any target).
 */
#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* acc + sum_i (x[i] + in_offset) * w[i]: the accumulation both variants share. */
static int32_t dot_s8(const int8_t* x, const int8_t* w, int32_t n, int32_t in_offset, int32_t w_offset, int32_t acc) {
  int32_t i;
  if (w_offset != 0) { /* weights with a zero point (LiteRT's int8 FC takes one) */
    for (i = 0; i < n; ++i) acc += ((int32_t)x[i] + in_offset) * ((int32_t)w[i] + w_offset);
    return acc;
  }
  for (i = 0; i < n; ++i) acc += ((int32_t)x[i] + in_offset) * (int32_t)w[i];
  return acc;
}

void te_fully_connected_s8(const te_fc_params* p, const int8_t* in, const int8_t* weights,
                           const int32_t* bias, const int32_t* mult, const int32_t* shift,
                           int8_t* out) {
  const int32_t in_n = p->in_n, out_n = p->out_n;
  const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
  const int32_t act_min = p->act_min, act_max = p->act_max;
  int32_t b, o;

  for (b = 0; b < p->batches; ++b) {
    const int8_t* x = in + b * in_n;
    const int8_t* w = weights;
    for (o = 0; o < out_n; ++o, w += in_n) {
      const int32_t ch = p->per_channel ? o : 0;
      int32_t acc = dot_s8(x, w, in_n, in_offset, p->w_offset, bias ? bias[o] : 0);
      acc = te_requantize(acc, mult[ch], shift[ch]) + out_offset;
      *out++ = (int8_t)clamp_i32(acc, act_min, act_max);
    }
  }
}

/*
 * round(acc * scale) with round-half-away-from-zero, as static_cast<int32_t>(std::round(double)).
 * Only comparisons after the product (no a*b - c pattern that a compiler could fuse into an FMA,
 * which would skip the product's rounding). Results beyond +-4096 are saturated: they clamp to the
 * int8 range anyway (TFLite's cast is undefined there).
 */
static int32_t scale_round(int32_t acc, double scale) {
  const double v = (double)acc * scale;
  int32_t t;
  if (v >= 4096.0) return 4096;
  if (v <= -4096.0) return -4096;
  if (!(v == v)) return 0;
  t = (int32_t)v; /* truncation toward zero */
  if (v >= 0.0) {
    if (v >= (double)t + 0.5) ++t;
  } else {
    if (v <= (double)t - 0.5) --t;
  }
  return t;
}

void te_fully_connected_s8_dscale(const te_fc_params* p, const int8_t* in, const int8_t* weights,
                                  const int32_t* bias, const double* scale, int8_t* out) {
  const int32_t in_n = p->in_n, out_n = p->out_n;
  const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
  const int32_t act_min = p->act_min, act_max = p->act_max;
  int32_t b, o;

  for (b = 0; b < p->batches; ++b) {
    const int8_t* x = in + b * in_n;
    const int8_t* w = weights;
    for (o = 0; o < out_n; ++o, w += in_n) {
      int32_t acc = dot_s8(x, w, in_n, in_offset, p->w_offset, bias ? bias[o] : 0);
      acc = scale_round(acc, scale[p->per_channel ? o : 0]) + out_offset;
      *out++ = (int8_t)clamp_i32(acc, act_min, act_max);
    }
  }
}
