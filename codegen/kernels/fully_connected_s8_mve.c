/*
 * fully_connected_s8_mve.c: te_fully_connected_s8_dscale (LiteRT's reference FULLY_CONNECTED: round(acc * scale)
 * in double) with Helium dot products: VMLADAVA over 16 inputs per instruction (the last partial chunk loaded
 * predicated), the input offset folded into the bias (codegen/mve.py fold_bias), weights plain [out_n][in_n].
 * The double rounding is te_fully_connected_s8_dscale's, output by output. TFLite arithmetic only.
 *
 * Keeps that kernel's overlap contract: each output is written after all the inputs it reads.
 */
#include "tinyengine_kernels.h"
#include "te_mve.h"

#if TE_MVE

/* fully_connected_s8.c's scale_round (LiteRT: saturate, then round half away from zero in double). */
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

void te_fully_connected_s8_dscale_mve(const te_fc_params* p, const int8_t* in, const int8_t* weights,
                                      const int32_t* bias, const double* scale, int8_t* out) {
  const int32_t in_n = p->in_n, out_n = p->out_n, full = in_n >> 4, tail = in_n & 15;
  const mve_pred16_t tp = vctp8q((uint32_t)tail);
  int32_t b, o;
  for (b = 0; b < p->batches; ++b) {
    const int8_t* x = in + b * in_n;
    const int8_t* w = weights;
    for (o = 0; o < out_n; ++o) {
      int32_t acc = bias[o], k, r;
      for (k = 0; k < full; ++k, w += 16) acc = vmladavaq_s8(acc, vldrbq_s8(x + 16 * k), vldrbq_s8(w));
      if (tail) {
        acc = vmladavaq_s8(acc, vldrbq_z_s8(x + 16 * full, tp), vldrbq_z_s8(w, tp));
        w += tail;
      }
      r = scale_round(acc, scale[p->per_channel ? o : 0]) + p->out_offset;
      *out++ = (int8_t)(r < p->act_min ? p->act_min : (r > p->act_max ? p->act_max : r));
    }
  }
}

#else
typedef int te_fully_connected_s8_mve_unused; /* not an MVE core: nothing to build */
#endif
