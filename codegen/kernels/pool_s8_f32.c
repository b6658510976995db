/*
 * pool_s8_f32.c: int8 AVERAGE_POOL over NHWC as onnxruntime's CPU EP computes a QDQ AveragePool
 * (graphs from ONNX / PyTorch). Measured against onnxruntime (tests/test_ort_pool.py), it takes one
 * of five routes, chosen at compile time (annotate.py, quant.ort_avg_pool_path) into o->path:
 *
 * - TE_POOL_ORT_QLINEAR: the DequantizeLinear -> AveragePool -> QuantizeLinear group fused into
 *   QLinearAveragePool (both ends int8, or both uint8 after onnxruntime's int8 -> uint8 rewrite). It
 *   dequantizes every input, (float)(q - x_zp) * x_scale, sums the window's valid cells in float32
 *   row by row, divides by the count (valid cells, or k_h * k_w with count_include_pad) and
 *   quantizes with y = nearbyint(avg / y_scale + zp): the zero point is added in float before the
 *   rounding, and on uint8 data it is out_zp + 128 (round_zp), which changes some ties;
 * - TE_POOL_ORT_QLINEAR_GLOBAL: the same fused op when the kernel covers the whole input and there
 *   is no padding falls back to QLinearGlobalAveragePool: an integer sum,
 *   nearbyint((float)(sum - x_zp * n) * (x_scale / (y_scale * n))) + y_zp;
 * - unfused (one end int8, the other uint8: a tensor with several readers, or an int8 graph
 *   input / output): DequantizeLinear, MLAS's float pool, QuantizeLinear
 *   (nearbyint(avg / y_scale) + y_zp). MLAS sums in one of three orders:
 *   TE_POOL_ORT_FLOAT_ROWS, row by row (its NCHWc kernels, taken when the channel count is a multiple
 *   of the host's NCHWc block, and its generic kernel, for horizontal strides > 2);
 *   TE_POOL_ORT_FLOAT_COLS, each window column summed top to bottom, then the column sums left to
 *   right (its vector kernel); TE_POOL_ORT_FLOAT_GLOBAL (kernel == input, stride 1, no padding),
 *   four interleaved partial sums over the row-major cells, combined as (s0 + s2) + (s1 + s3), then
 *   the remaining n % 4 cells in order.
 *
 * in_tab[q + 128] is the input's DequantizeLinear, precomputed in float32 (NULL for
 * TE_POOL_ORT_QLINEAR_GLOBAL), so the only float operations here are sums, one division and the
 * final rescale: nothing that FMA contraction could merge. Same loop order, and so the same
 * overlap contract, as te_avg_pool_s8.
 */
#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* QuantizeLinear: nearbyint(y / y_scale) + y_zp, saturated to int8 */
static int32_t quantize_linear(float y, const te_pool_ort_params* o) {
  return clamp_i32(te_round_half_even_f32(y / o->out_scale), -128 - o->out_zp, 127 - o->out_zp) + o->out_zp;
}

void te_avg_pool_s8_f32(const te_pool_params* p, const te_pool_ort_params* o, const int8_t* in,
                        const float* in_tab, int8_t* out) {
  const int32_t c = p->c, path = o->path;
  int32_t oy, ox, ch, y, x;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const te_pool_window win = te_pool_window_at(p, oy, ox);
      const int32_t rows = win.ky1 - win.ky0, cols = win.kx1 - win.kx0;
      const int32_t count = o->count_include_pad ? p->k_h * p->k_w : rows * cols;
      const int8_t* base = in + ((win.iy0 + win.ky0) * p->in_w + win.ix0 + win.kx0) * c;
      for (ch = 0; ch < c; ++ch) {
        const int8_t* w0 = base + ch;
        int32_t r;
        if (path == TE_POOL_ORT_QLINEAR_GLOBAL) {
          int32_t acc = 0;
          for (y = 0; y < rows; ++y)
            for (x = 0; x < cols; ++x) acc += w0[(y * p->in_w + x) * c];
          r = clamp_i32(te_round_half_even_f32((float)(acc - o->in_zp * count) * o->gap_scale), -128 - o->out_zp,
                        127 - o->out_zp) + o->out_zp;
        } else {
          float acc = 0.0f, avg;
          if (path == TE_POOL_ORT_FLOAT_COLS) {
            for (x = 0; x < cols; ++x) {
              float col = in_tab[(int32_t)w0[x * c] + 128];
              for (y = 1; y < rows; ++y) col += in_tab[(int32_t)w0[(y * p->in_w + x) * c] + 128];
              acc = x == 0 ? col : acc + col;
            }
          } else if (path == TE_POOL_ORT_FLOAT_GLOBAL) {
            /* kernel == input: the window is the whole image, cells i = y * in_w + x in order */
            const int32_t n = rows * cols, n4 = n - n % 4;
            float lane[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            int32_t i;
            for (i = 0; i < n4; ++i) lane[i % 4] += in_tab[(int32_t)w0[i * c] + 128];
            acc = (lane[0] + lane[2]) + (lane[1] + lane[3]);
            for (; i < n; ++i) acc += in_tab[(int32_t)w0[i * c] + 128];
          } else { /* TE_POOL_ORT_QLINEAR, TE_POOL_ORT_FLOAT_ROWS */
            for (y = 0; y < rows; ++y)
              for (x = 0; x < cols; ++x) acc += in_tab[(int32_t)w0[(y * p->in_w + x) * c] + 128];
          }
          avg = acc / (float)count;
          if (path == TE_POOL_ORT_QLINEAR) {
            /* nearbyint(avg / y_scale + zp), zp in float; saturated to the 8-bit type, back to int8 */
            const int32_t shift = o->round_zp - o->out_zp; /* 0 (int8 data) or 128 (uint8) */
            r = clamp_i32(te_round_half_even_f32(avg / o->out_scale + (float)o->round_zp), shift - 128, shift + 127) - shift;
          } else {
            r = quantize_linear(avg, o);
          }
        }
        *out++ = (int8_t)clamp_i32(r, p->act_min, p->act_max);
      }
    }
  }
}
