/*
 * add_s8_f32.c: elementwise int8 add with onnxruntime's arithmetic (graphs from ONNX / PyTorch).
 */
#include <math.h>

#include "tinyengine_kernels.h"

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* onnxruntime's two ways to add QDQ int8 tensors (x86 CPU EP):
 * - unfused (every residual add: a tensor read by several nodes keeps int8 activations while the
 *   other input becomes uint8, and mixed types do not fuse): DequantizeLinear -> float Add ->
 *   QuantizeLinear. in1_tab[q + 128] is that DequantizeLinear, (float)(q - zp) * scale, computed at
 *   compile time, so the sum below is a plain float add that no FMA contraction can merge with the
 *   products;
 * - fused into QLinearAdd on uint8 data (MLAS's FMA kernel): with r1 = s1 / s_out, r2 = s2 / s_out,
 *   fixed = (zp_out + 128) - fma(r1, zp1 + 128, r2 * (zp2 + 128)) (float32, compile time),
 *   out + 128 = clamp(round_half_even(fma(r1, in1 + 128, fma(r2, in2 + 128, fixed))), 0, 255).
 *   fmaf (<math.h>) is the point there: one rounding per step, as the hardware FMA. */
void te_add_s8_f32(const te_add_f32_params* p, const int8_t* in1, const int8_t* in2, const float* in1_tab,
                   const float* in2_tab, int8_t* out) {
  int32_t i;
  for (i = 0; i < p->n; ++i) {
    float q;
    int32_t r;
    if (p->fused) {
      q = fmaf(p->ratio1, (float)((int32_t)in1[i] + 128), fmaf(p->ratio2, (float)((int32_t)in2[i] + 128), p->fixed));
      r = (q >= 4096.0f ? 4096 : (q <= -4096.0f ? -4096 : te_round_half_even_f32(q))) - 128; /* uint8 -> int8 */
    } else {
      const float sum = in1_tab[(int32_t)in1[i] + 128] + in2_tab[(int32_t)in2[i] + 128];
      q = sum / p->out_scale; /* QuantizeLinear divides (no reciprocal) */
      r = (q >= 4096.0f ? 4096 : (q <= -4096.0f ? -4096 : te_round_half_even_f32(q))) + p->out_zp;
    }
    out[i] = (int8_t)clamp_i32(r, p->act_min, p->act_max);
  }
}
