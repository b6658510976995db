/*
 * pool_s8_dsp.c: int8 MAX_POOL_2D and AVERAGE_POOL_2D over NHWC for Armv7E-M DSP cores, four
 * channels per 32-bit word: the max with SSUB8 + SEL (four signed byte maxima in two
 * instructions), the average with SXTAB16 (two 16-bit channel sums per instruction).
 *
 * Same bytes as te_max_pool_s8 / te_avg_pool_s8 (pool_s8.c): padding cells skipped, the average
 * divided by the number of valid cells, rounding half away from zero, then clamped. The 16-bit
 * sums are exact for windows of at most 256 cells (|sum| <= 128 * 256), which the compiler
 * checks before choosing te_avg_pool_s8_dsp. Channels beyond the last multiple of four go one by
 * one. Within an output pixel the reads of a channel group come no later, and its writes no
 * earlier, than the portable kernel's, so the planner's overlap contract for those still holds.
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

static int32_t word_at(const int8_t* p) {
  int32_t w;
  memcpy(&w, p, 4);
  return w;
}

void te_max_pool_s8_dsp(const te_pool_params* p, const int8_t* in, int8_t* out) {
  const int32_t c = p->c, c4 = c & ~3, row = p->in_w * c;
  const int clamp = p->act_min > -128 || p->act_max < 127;
  const int32_t lo4 = (int32_t)(0x01010101u * (uint32_t)(uint8_t)(int8_t)p->act_min);
  const int32_t hi4 = (int32_t)(0x01010101u * (uint32_t)(uint8_t)(int8_t)p->act_max);
  int32_t oy, ox, ch, y, x;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const te_pool_window w = te_pool_window_at(p, oy, ox);
      const int32_t base = (w.iy0 * p->in_w + w.ix0) * c; /* may be negative: only in + base + (in-window) is formed */
      for (ch = 0; ch < c4; ch += 4) {
        int32_t m = (int32_t)0x80808080u; /* -128 in every lane */
        for (y = w.ky0; y < w.ky1; ++y) {
          const int32_t r = base + y * row + ch;
          for (x = w.kx0; x < w.kx1; ++x) m = max_s8x4(m, word_at(in + r + x * c));
        }
        if (clamp) m = min_s8x4(max_s8x4(m, lo4), hi4);
        memcpy(out, &m, 4);
        out += 4;
      }
      for (; ch < c; ++ch) {
        int32_t m = -128;
        for (y = w.ky0; y < w.ky1; ++y) {
          const int32_t r = base + y * row + ch;
          for (x = w.kx0; x < w.kx1; ++x) m = in[r + x * c] > m ? in[r + x * c] : m;
        }
        *out++ = (int8_t)clamp_i32(m, p->act_min, p->act_max);
      }
    }
  }
}

static int32_t rounded_average(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

void te_avg_pool_s8_dsp(const te_pool_params* p, const int8_t* in, int8_t* out) {
  const int32_t c = p->c, c4 = c & ~3, row = p->in_w * c;
  int32_t oy, ox, ch, y, x, k;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const te_pool_window w = te_pool_window_at(p, oy, ox);
      const int32_t count = (w.ky1 - w.ky0) * (w.kx1 - w.kx0);
      const int32_t base = (w.iy0 * p->in_w + w.ix0) * c;
      for (ch = 0; ch < c4; ch += 4) {
        int32_t s02 = 0, s13 = 0; /* 16-bit sums of channels ch, ch+2 and ch+1, ch+3 */
        int32_t v = 0;
        for (y = w.ky0; y < w.ky1; ++y) {
          const int32_t r = base + y * row + ch;
          for (x = w.kx0; x < w.kx1; ++x) {
            const int32_t wd = word_at(in + r + x * c);
            s02 = sxtab16(s02, wd);
            s13 = sxtab16_ror8(s13, wd);
          }
        }
        for (k = 0; k < 4; ++k) {
          const int32_t pair = (k & 1) ? s13 : s02;
          const int32_t sum = (int32_t)(int16_t)(uint16_t)(((uint32_t)pair >> ((k & 2) ? 16 : 0)) & 0xFFFFu);
          const int32_t a = clamp_i32(count > 0 ? rounded_average(sum, count) : 0, p->act_min, p->act_max);
          v |= (int32_t)((uint32_t)(uint8_t)(int8_t)a << (8 * k));
        }
        memcpy(out, &v, 4);
        out += 4;
      }
      for (; ch < c; ++ch) {
        int32_t sum = 0;
        for (y = w.ky0; y < w.ky1; ++y) {
          const int32_t r = base + y * row + ch;
          for (x = w.kx0; x < w.kx1; ++x) sum += in[r + x * c];
        }
        *out++ = (int8_t)clamp_i32(count > 0 ? rounded_average(sum, count) : 0, p->act_min, p->act_max);
      }
    }
  }
}
