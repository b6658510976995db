/*
 * pool_s8.c: int8 AVERAGE_POOL_2D and MAX_POOL_2D over NHWC, bit-exact with TFLite's
 * reference_integer_ops::AveragePool / MaxPool. Padding cells are skipped: the average divides by
 * the number of valid cells, rounding half away from zero. Graphs from ONNX / PyTorch average with
 * te_avg_pool_s8_f32 (pool_s8_f32.c, onnxruntime's arithmetic) instead; their max pools use this file.
 */
#include "tinyengine_kernels.h"

static int32_t max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

void te_avg_pool_s8(const te_pool_params* p, const int8_t* in, int8_t* out) {
  const int32_t c = p->c;
  int32_t oy, ox, ch, y, x;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const te_pool_window win = te_pool_window_at(p, oy, ox);
      const int32_t count = (win.ky1 - win.ky0) * (win.kx1 - win.kx0);
      for (ch = 0; ch < c; ++ch) {
        int32_t acc = 0;
        for (y = win.ky0; y < win.ky1; ++y) {
          const int8_t* row = in + ((win.iy0 + y) * p->in_w + win.ix0) * c + ch;
          for (x = win.kx0; x < win.kx1; ++x) acc += row[x * c];
        }
        if (count > 0) {
          acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        } else {
          acc = 0; /* empty window: TFLite reports an error; never produced by valid padding */
        }
        acc = min_i32(max_i32(acc, p->act_min), p->act_max);
        *out++ = (int8_t)acc;
      }
    }
  }
}

void te_max_pool_s8(const te_pool_params* p, const int8_t* in, int8_t* out) {
  const int32_t c = p->c;
  int32_t oy, ox, ch, y, x;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const te_pool_window win = te_pool_window_at(p, oy, ox);
      for (ch = 0; ch < c; ++ch) {
        int32_t m = -128;
        for (y = win.ky0; y < win.ky1; ++y) {
          const int8_t* row = in + ((win.iy0 + y) * p->in_w + win.ix0) * c + ch;
          for (x = win.kx0; x < win.kx1; ++x) m = max_i32(m, row[x * c]);
        }
        m = min_i32(max_i32(m, p->act_min), p->act_max);
        *out++ = (int8_t)m;
      }
    }
  }
}
