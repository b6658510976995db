/*
 * fully_connected_s8_dsp.c: int8 fully connected with the output scaling of LiteRT's reference
 * kernel (te_fully_connected_s8_dscale: per output round(acc * scale) in double) for Armv7E-M DSP
 * cores. The input row is widened once to 16-bit lanes (x + in_offset, SXTAB16), then two outputs
 * at a time take SMLADs against their weight rows, widened with SXTB16 in the same lane order.
 * Weights are the portable layout [out_n][in_n] as int32 words (in_n % 4 == 0, in_n <= 1024).
 * Reads the whole input row before writing any output of it (keeps the portable contract).
 */
#include <string.h>

#include "tinyengine_kernels.h"

#include "te_dsp.h"


#define TE_FC_MAX_IN 1024

#if defined(TE_SINGLE_ROUNDING) && TE_SINGLE_ROUNDING
/*
 * Built with TE_SINGLE_ROUNDING (graphs from ONNX / PyTorch): te_fully_connected_s8 of that build, onnxruntime's
 * QGemm requantization nearbyint((float)acc * scale) + out_offset (te_dsp.h te_cvtr_s32_f32: VCVTR.S32.F32 on the
 * FPU). scale[] then holds float32 values (onnxruntime's per-tensor or per-channel scales, exact as doubles;
 * codegen/dsp.py emits it only where |acc| * scale < 2^29, so neither kernel saturates before the clamp). Any
 * in_n % 4 == 0: no row buffer, each group of 4 inputs is widened (SXTAB16) for a pair of outputs as it is
 * used. Per output pair the whole row is read before either output is written: reads never later, writes never
 * earlier than te_fully_connected_s8's (its overlap contract).
 */
static int8_t finish_f32(int32_t acc, double scale, const te_fc_params* p) {
  int32_t r = te_cvtr_s32_f32((float)acc * (float)scale) + p->out_offset;
  r = r < p->act_min ? p->act_min : r;
  return (int8_t)(r > p->act_max ? p->act_max : r);
}

void te_fully_connected_s8_dscale_dsp(const te_fc_params* p, const int8_t* in, const int32_t* weights,
                                      const int32_t* bias, const double* scale, int8_t* out) {
  const int32_t in_n = p->in_n, out_n = p->out_n, n4 = p->in_n >> 2;
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  int32_t b, o, i;
  if ((in_n & 3) != 0) return; /* never emitted */
  for (b = 0; b < p->batches; ++b) {
    const int8_t* x = in + b * in_n;
    for (o = 0; o < out_n; o += 2) {
      const int two = o + 1 < out_n;
      const int32_t* wa = weights + o * n4;
      const int32_t* wb = two ? wa + n4 : wa; /* a last odd output: its row twice, the copy dropped */
      int32_t a0 = bias ? bias[o] : 0, a1 = two && bias ? bias[o + 1] : 0;
      for (i = 0; i < n4; ++i) {
        int32_t v, x02, x13;
        const int32_t va = wa[i], vb = wb[i];
        memcpy(&v, x + 4 * i, 4);
        x02 = sxtab16(off2, v);
        x13 = sxtab16_ror8(off2, v);
        a0 = smlad(x02, sxtb16(va), a0);
        a1 = smlad(x02, sxtb16(vb), a1);
        a0 = smlad(x13, sxtb16_ror8(va), a0);
        a1 = smlad(x13, sxtb16_ror8(vb), a1);
      }
      out[o] = finish_f32(a0, scale[p->per_channel ? o : 0], p);
      if (two) out[o + 1] = finish_f32(a1, scale[p->per_channel ? o + 1 : 0], p);
    }
    out += out_n;
  }
}
#else
/* round(acc * scale), ties away from zero, as the portable te_fully_connected_s8_dscale. */
static int32_t scale_round(int32_t acc, double scale) {
  const double v = (double)acc * scale;
  int32_t t;
  if (v >= 4096.0) return 4096;
  if (v <= -4096.0) return -4096;
  if (!(v == v)) return 0;
  t = (int32_t)v;
  if (v >= 0.0) {
    if (v >= (double)t + 0.5) ++t;
  } else {
    if (v <= (double)t - 0.5) --t;
  }
  return t;
}

static int8_t finish(int32_t acc, double scale, const te_fc_params* p) {
  int32_t r = scale_round(acc, scale) + p->out_offset;
  r = r < p->act_min ? p->act_min : r;
  return (int8_t)(r > p->act_max ? p->act_max : r);
}

void te_fully_connected_s8_dscale_dsp(const te_fc_params* p, const int8_t* in, const int32_t* weights,
                                      const int32_t* bias, const double* scale, int8_t* out) {
  int32_t buf[TE_FC_MAX_IN / 2];
  const int32_t in_n = p->in_n, out_n = p->out_n, n4 = p->in_n >> 2;
  const int32_t off2 = (int32_t)(((uint32_t)p->in_offset & 0xFFFFu) | ((uint32_t)p->in_offset << 16));
  int32_t b, o, i;
  if (in_n > TE_FC_MAX_IN || (in_n & 3) != 0) return; /* never emitted */
  for (b = 0; b < p->batches; ++b) {
    const int8_t* x = in + b * in_n;
    for (i = 0; i < n4; ++i) {
      int32_t v;
      memcpy(&v, x + 4 * i, 4);
      buf[2 * i] = sxtab16(off2, v);
      buf[2 * i + 1] = sxtab16_ror8(off2, v);
    }
    for (o = 0; o + 1 < out_n; o += 2) {
      const int32_t* wa = weights + o * n4;
      const int32_t* wb = wa + n4;
      const int32_t* xb = buf;
      int32_t a0 = bias ? bias[o] : 0, a1 = bias ? bias[o + 1] : 0;
      for (i = n4; i > 0; --i) {
        const int32_t va = *wa++, vb = *wb++, x02 = xb[0], x13 = xb[1];
        xb += 2;
        a0 = smlad(x02, sxtb16(va), a0);
        a1 = smlad(x02, sxtb16(vb), a1);
        a0 = smlad(x13, sxtb16_ror8(va), a0);
        a1 = smlad(x13, sxtb16_ror8(vb), a1);
      }
      out[o] = finish(a0, scale[p->per_channel ? o : 0], p);
      out[o + 1] = finish(a1, scale[p->per_channel ? o + 1 : 0], p);
    }
    if (o < out_n) {
      const int32_t* wa = weights + o * n4;
      const int32_t* xb = buf;
      int32_t a0 = bias ? bias[o] : 0;
      for (i = n4; i > 0; --i) {
        const int32_t va = *wa++;
        a0 = smlad(xb[0], sxtb16(va), a0);
        a0 = smlad(xb[1], sxtb16_ror8(va), a0);
        xb += 2;
      }
      out[o] = finish(a0, scale[p->per_channel ? o : 0], p);
    }
    out += out_n;
  }
}
#endif
