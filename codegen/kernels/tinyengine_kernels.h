/*
 * tinyengine_kernels.h: the whole kernel API of tinyengine-tvm's portable C library.
 *
 * Graphs from ONNX / PyTorch build the kernels with TE_SINGLE_ROUNDING, which swaps TFLite's
 * requantization for onnxruntime's (float32 scales, ties to even; see te_requantize.c, add_s8.c,
 * conv2d_1x1_s8_f32.c, conv2d_s8_f32.c); the notes below describe the default (TFLite) build.
 * Every kernel is bit-exact with TFLite's int8 reference kernels (tflite::reference_ops /
 * reference_integer_ops, with TFLite's default double-rounding requantization). One exception:
 * LiteRT's reference FULLY_CONNECTED scales in double, which te_fully_connected_s8_dscale
 * reproduces; te_fully_connected_s8 is the fixed-point (optimized-kernel / TFLM) variant.
 * Conventions:
 *   - activations are NHWC with batch 1 (batch folded into the outer loops where allowed);
 *   - *_offset fields follow TFLite: in_offset = -input_zero_point, out_offset = output_zero_point;
 *   - requantization uses (multiplier, shift) pairs computed as TFLite's QuantizeMultiplier does
 *     (shift > 0 is a left shift);
 *   - no heap, no libc beyond <stdint.h>/<string.h> (float boundary kernels use <math.h> only in
 *     te_log_softmax_f32).
 * C99, clean under -Wall -Wextra -Werror, ASan and UBSan.
 *
 * Overlap contracts (the memory planner relies on them; tinyengine_tvm/planner/contracts.py models
 * each kernel's access order and tests/test_planner_kernels.py runs the kernels overlapped):
 *   - in/out pointers are never `restrict`: out may overlap an input that dies at this call;
 *   - te_conv2d_s8, te_conv2d_1x1_s8, te_depthwise_conv2d_s8, te_avg_pool_s8{,_f32}, te_max_pool_s8,
 *     te_add_s8, te_mean_s8, te_requantize_s8, te_fully_connected_s8{,_dscale} write every output
 *     byte exactly once, in increasing address order (out++), and read input bytes only to compute
 *     the output byte being produced (its window / row / element), before storing it. So an input
 *     byte is dead once the last output that reads it is stored, and out may start `d` bytes before
 *     in for any d >= the bound derived from that order (e.g. 1x1 conv expanding: out ends in_c - 1
 *     bytes before in's end; add and 3x3 stride-2 depthwise: out == in), or at/above in's end;
 *   - te_pad_s8, te_resize_nearest_s8 (memcpy) and any kernel not listed: no overlap;
 *   - a variant (e.g. *_dsp.c) may replace a listed kernel in an overlapping plan only if it reads
 *     no input byte later, and writes no output byte earlier, relative to the other accesses;
 *   - scratch: a kernel that needs scratch takes it as its last argument (int8_t*), sized by the
 *     planner (contracts.scratch_bytes) inside the arena; no current portable kernel needs one.
 */
#ifndef TINYENGINE_KERNELS_H_
#define TINYENGINE_KERNELS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TFLite's MultiplyByQuantizedMultiplier (SaturatingRoundingDoublingHighMul + RoundingDivideByPOT).
 * Built with TE_SINGLE_ROUNDING (graphs from ONNX / PyTorch) it is onnxruntime's requantization
 * instead: round_half_even((float)acc * scale), `multiplier` holding the float32 scale's bits (see
 * te_requantize.c); te_round_half_even_f32 (that build only) is its rounding, libm-free. */
int32_t te_requantize(int32_t acc, int32_t multiplier, int32_t shift);
int32_t te_round_half_even_f32(float v);

/* Convolution-like layers (conv2d, depthwise). */
typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w;
  int32_t stride_h, stride_w;
  int32_t dil_h, dil_w;
  int32_t pad_top, pad_left;   /* bottom/right padding is implied by out_h/out_w */
  int32_t depth_multiplier;    /* depthwise only: out_c == in_c * depth_multiplier */
  int32_t in_offset;           /* -input zero point */
  int32_t out_offset;          /* output zero point */
  int32_t act_min, act_max;    /* clamp, in the output's int8 domain */
  int32_t out_stride;          /* elements from one output pixel to the next (0: out_c); > out_c when the
                                  output is a channel slice of a concatenation (te_conv2d_s8, te_conv2d_1x1_s8,
                                  te_depthwise_conv2d_s8 honour it; the planner never overlaps such an output) */
  int32_t groups;              /* te_conv2d_s8 only: > 1 for a grouped conv, weights [out_c][k_h][k_w][in_c / groups],
                                  output channel oc reads input channels of group oc / (out_c / groups) */
} te_conv_params;

/* General conv2d, weights OHWI [out_c][k_h][k_w][in_c], per-output-channel mult/shift. bias may be NULL. */
void te_conv2d_s8(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                  const int32_t* bias, const int32_t* mult, const int32_t* shift, int8_t* out);

/* 1x1, stride 1, no padding: a GEMM over pixels. Same weight layout ([out_c][in_c]). */
void te_conv2d_1x1_s8(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                      const int32_t* bias, const int32_t* mult, const int32_t* shift, int8_t* out);

/* 1x1 stride-1 conv as onnxruntime runs an unfused QDQ Conv (float SGEMM; see conv2d_1x1_s8_f32.c):
 * in_tab[q + 128] = (float)(q - in_zp) * in_scale, w_scale[oc] per channel, bias_f[oc] the dequantized
 * bias (may be NULL), out_scale the output's scale. Needs <math.h> (fmaf). */
void te_conv2d_1x1_s8_f32(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                          const float* in_tab, const float* w_scale, const float* bias_f, float out_scale,
                          int8_t* out);

/* Any conv / depthwise conv as onnxruntime runs an unfused QDQ Conv (MLAS im2col + SGEMM in float; see
 * conv2d_s8_f32.c for the exact order): in_tab, w_scale, bias_f (may be NULL) as for te_conv2d_1x1_s8_f32;
 * row_mode[oc] (NULL: all 0) which of MLAS's SGEMM kernels sums that output channel; pixels below
 * seg_end[i] (the first i that holds) use depth blocks of seg_kblock[i] in the FMA kernel (mode 0).
 * Weights as te_conv2d_s8's / te_depthwise_conv2d_s8's. Needs <math.h> (fmaf). */
typedef struct {
  int32_t seg_end[4];
  int32_t seg_kblock[4];
  float out_scale;
} te_conv_f32_params;

void te_conv2d_s8_f32(const te_conv_params* p, const te_conv_f32_params* f, const int8_t* in, const int8_t* weights,
                      const float* in_tab, const float* w_scale, const float* bias_f, const int8_t* row_mode,
                      int8_t* out);
void te_depthwise_conv2d_s8_f32(const te_conv_params* p, const te_conv_f32_params* f, const int8_t* in,
                                const int8_t* weights, const float* in_tab, const float* w_scale, const float* bias_f,
                                const int8_t* row_mode, int8_t* out);

/* Depthwise conv, weights [k_h][k_w][out_c] (TFLite's 1HWC without the leading 1). */
void te_depthwise_conv2d_s8(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                            const int32_t* bias, const int32_t* mult, const int32_t* shift,
                            int8_t* out);

/* The same result computed channel by channel through `scratch` (in_h * in_w bytes, in the arena),
 * so out may equal in (in place, TinyEngine-style); depth_multiplier 1 only. */
void te_depthwise_conv2d_s8_inplace(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                    const int32_t* bias, const int32_t* mult, const int32_t* shift,
                                    int8_t* out, int8_t* scratch);

/* Fully connected: out[b][o] = sum_i (in[b][i] + in_offset) * w[o][i] + bias[o], requantized.
 * mult/shift hold one entry (per-tensor) or out_n entries (per-channel). bias may be NULL. */
typedef struct {
  int32_t batches, in_n, out_n;
  int32_t in_offset, out_offset;
  int32_t act_min, act_max;
  int32_t per_channel;         /* 0: mult[0]/shift[0] for all outputs */
  int32_t w_offset;            /* -weight zero point (0 for symmetric weights; portable kernels only) */
} te_fc_params;

void te_fully_connected_s8(const te_fc_params* p, const int8_t* in, const int8_t* weights,
                           const int32_t* bias, const int32_t* mult, const int32_t* shift,
                           int8_t* out);

/* Fully connected with the output scaling of LiteRT's *reference* int8 FULLY_CONNECTED
 * (OpResolverType.BUILTIN_REF), which does not use mult/shift: per output,
 *   out = clamp(round_half_away((double)acc * scale[ch]) + out_offset, act_min, act_max),
 *   scale[ch] = (double)input_scale * (double)weight_scale[ch] / (double)output_scale
 * (ch = o if per_channel, else 0). te_fully_connected_s8 (fixed point) matches TFLite's optimized
 * kernels / TFLite Micro instead; the two differ by 1 on rare ties. */
void te_fully_connected_s8_dscale(const te_fc_params* p, const int8_t* in, const int8_t* weights,
                                  const int32_t* bias, const double* scale, int8_t* out);

/* Elementwise add with TFLite's int8 ADD requantization (left_shift = 20). Same shapes. */
typedef struct {
  int32_t n;
  int32_t in1_offset, in2_offset;  /* -zero points */
  int32_t in1_mult, in1_shift;
  int32_t in2_mult, in2_shift;
  int32_t left_shift;
  int32_t out_mult, out_shift;
  int32_t out_offset;
  int32_t act_min, act_max;
} te_add_params;

void te_add_s8(const te_add_params* p, const int8_t* in1, const int8_t* in2, int8_t* out);

/* Elementwise add as onnxruntime computes a QDQ Add (graphs from ONNX / PyTorch, add_s8_f32.c; needs
 * <math.h> for fmaf). fused = 0 (its unfused float Add): out = clamp(round_half_even((tab1[in1 + 128] +
 * tab2[in2 + 128]) / out_scale) + out_zp), tabK[q + 128] = (float)(q - zpK) * scaleK in float32
 * (DequantizeLinear). fused = 1 (QLinearAdd on uint8): out = clamp(round_half_even(fmaf(ratio1,
 * in1 + 128, fmaf(ratio2, in2 + 128, fixed))) - 128); the tables may be NULL. */
typedef struct {
  int32_t n;
  int32_t out_zp;
  int32_t act_min, act_max;
  float out_scale;
  int32_t fused;
  float ratio1, ratio2, fixed;
} te_add_f32_params;

void te_add_s8_f32(const te_add_f32_params* p, const int8_t* in1, const int8_t* in2, const float* in1_tab,
                   const float* in2_tab, int8_t* out);

/* Pooling (AVERAGE_POOL_2D / MAX_POOL_2D), NHWC, padding cells are excluded from the count. */
typedef struct {
  int32_t in_h, in_w, c;
  int32_t out_h, out_w;
  int32_t k_h, k_w;
  int32_t stride_h, stride_w;
  int32_t pad_top, pad_left;
  int32_t act_min, act_max;
} te_pool_params;

void te_avg_pool_s8(const te_pool_params* p, const int8_t* in, int8_t* out);
void te_max_pool_s8(const te_pool_params* p, const int8_t* in, int8_t* out);

/* Average pool as onnxruntime computes a QDQ AveragePool (graphs from ONNX / PyTorch; pool_s8_f32.c
 * describes the five routes). in_tab[q + 128] = (float)(q - in_zp) * in_scale in float32 (the input's
 * DequantizeLinear; NULL for TE_POOL_ORT_QLINEAR_GLOBAL). Same overlap contract as te_avg_pool_s8. */
#define TE_POOL_ORT_QLINEAR 0         /* fused QLinearAveragePool */
#define TE_POOL_ORT_QLINEAR_GLOBAL 1  /* fused, kernel == input, no padding: QLinearGlobalAveragePool */
#define TE_POOL_ORT_FLOAT_ROWS 2      /* unfused float pool, MLAS NCHWc / generic kernel */
#define TE_POOL_ORT_FLOAT_COLS 3      /* unfused float pool, MLAS vector kernel */
#define TE_POOL_ORT_FLOAT_GLOBAL 4    /* unfused float pool, MLAS global kernel */
typedef struct {
  int32_t path;               /* TE_POOL_ORT_* */
  int32_t count_include_pad;  /* ONNX count_include_pad: divide by k_h * k_w */
  int32_t in_zp, out_zp;
  int32_t round_zp;           /* TE_POOL_ORT_QLINEAR: the zero point added before rounding, out_zp (int8
                               * data) or out_zp + 128 (uint8 data) */
  float out_scale;            /* y_scale */
  float gap_scale;            /* TE_POOL_ORT_QLINEAR_GLOBAL: x_scale / (y_scale * n), float32 */
} te_pool_ort_params;

void te_avg_pool_s8_f32(const te_pool_params* p, const te_pool_ort_params* o, const int8_t* in,
                        const float* in_tab, int8_t* out);

/* The valid (non-padding) part of the pooling window of output (oy, ox): rows ky0..ky1-1, columns
 * kx0..kx1-1, relative to the window's top-left input cell (iy0, ix0). Shared by every pool kernel
 * (portable and DSP), so they skip padding cells alike. */
typedef struct { int32_t iy0, ix0, ky0, ky1, kx0, kx1; } te_pool_window;

static inline te_pool_window te_pool_window_at(const te_pool_params* p, int32_t oy, int32_t ox) {
  te_pool_window w;
  w.iy0 = oy * p->stride_h - p->pad_top;
  w.ix0 = ox * p->stride_w - p->pad_left;
  w.ky0 = w.iy0 < 0 ? -w.iy0 : 0;
  w.ky1 = p->k_h < p->in_h - w.iy0 ? p->k_h : p->in_h - w.iy0;
  w.kx0 = w.ix0 < 0 ? -w.ix0 : 0;
  w.kx1 = p->k_w < p->in_w - w.ix0 ? p->k_w : p->in_w - w.ix0;
  return w;
}

/* MEAN over the middle axis of a contiguous [outer][reduce][inner] view, with TFLite's
 * int8 MEAN semantics (the same path LiteRT's reference kernel takes for those quant params:
 * reference_ops::QuantizedMeanOrSum for every int8 MEAN, also when input and output share scale
 * and zero point). The kernel folds 1/reduce into (mult, shift) exactly as TFLite does:
 *   s = min(floor(log2(reduce)), 32, 31 + shift); mult' = (mult << s) / reduce; shift' = shift - s;
 *   out = clamp(MultiplyByQuantizedMultiplier(sum - in_zp * reduce, mult', shift') + out_zp). */
typedef struct {
  int32_t outer, reduce, inner;
  int32_t in_zp, out_zp;
  int32_t mult, shift;         /* input_scale / output_scale, QuantizeMultiplier'd */
  int32_t exact;               /* 0: TFLite's rounding above. 2 (ONNX/PyTorch graphs, TE_SINGLE_ROUNDING build):
                                * out = clamp(te_requantize(sum - in_zp*n, mult, shift) + out_zp), mult the
                                * float32 x_scale / (y_scale * n), as onnxruntime's QLinearGlobalAveragePool.
                                * 1: one rounding,
                                * out = round_half_away((sum - in_zp*reduce) * mult * 2^shift / (2^31 * reduce))
                                * + out_zp, as onnxruntime's float mean rounds once (no folded multiplier). */
} te_mean_params;

void te_mean_s8(const te_mean_params* p, const int8_t* in, int8_t* out);

/* Constant pad of an NHWC tensor with an arbitrary int8 value. */
typedef struct {
  int32_t in_h, in_w, c;
  int32_t pad_top, pad_bottom, pad_left, pad_right;
  int8_t value;
} te_pad_params;

void te_pad_s8(const te_pad_params* p, const int8_t* in, int8_t* out);

/* Rows of a rectangle between row-strided buffers (patch stages, tinyengine_tvm/patch/tiles.py): rows rows of
 * row_bytes bytes, src row r at src + r * src_stride, dst row r at dst + r * dst_stride. No overlap. */
void te_copy_rect_s8(int8_t* dst, int32_t dst_stride, const int8_t* src, int32_t src_stride, int32_t row_bytes,
                     int32_t rows);

/* Nearest-neighbour resize, NHWC int8, same quantization in and out (TFLite RESIZE_NEAREST_NEIGHBOR).
 * rows[oy] / cols[ox]: the input row / column each output row / column copies (computed by the
 * compiler with TFLite's align_corners / half_pixel_centers arithmetic). */
typedef struct {
  int32_t in_h, in_w, c, out_h, out_w;
} te_resize_params;

void te_resize_nearest_s8(const te_resize_params* p, const int16_t* rows, const int16_t* cols, const int8_t* in,
                          int8_t* out);

/* Quantization boundaries, TFLite QUANTIZE / DEQUANTIZE semantics (scale held in double).
 * Quantize divides in float32 as TFLite's reference AffineQuantize does: q = roundf(x / (float)scale)
 * + zp, clamped; dequantize is (float)(scale * (double)(q - zp)). */
void te_quantize_f32_s8(int32_t n, const float* in, int8_t* out, double scale, int32_t zero_point);
void te_dequantize_s8_f32(int32_t n, const int8_t* in, float* out, double scale, int32_t zero_point);
/* int8 -> int8 requantize (TFLite QUANTIZE with int8 input). Built with TE_SINGLE_ROUNDING, mult and
 * shift are the bits of the float32 input and output scales (onnxruntime's float DQ -> Q). */
void te_requantize_s8(int32_t n, const int8_t* in, int8_t* out, int32_t in_zp, int32_t out_zp,
                      int32_t mult, int32_t shift);

/* Float LOG_SOFTMAX over the last axis (TFLite reference semantics), with te_expf / te_logf: the
 * bits of x86-64 glibc's expf / logf (LiteRT's reference on the host) on every target, in double. */
void te_log_softmax_f32(int32_t rows, int32_t cols, const float* in, float* out);
float te_expf(float x);
float te_logf(float x);

/* ---- Armv7E-M DSP kernels (*_dsp.c: SMLAD/SXTB16/SMMULR; exact C models of those instructions
 * elsewhere, so they also run on the host). Same bytes out as the portable kernels; their weights
 * and requantization tables are packed at compile time (tinyengine_tvm.codegen.dsp documents the
 * layouts and the bounds that make the fast requantization exact). Built with TE_SINGLE_ROUNDING, the
 * conv / depthwise / FC kernels requantize as te_requantize of that build (te_dsp.h rq_f32; tables from
 * dsp.rq_table_f32). ---- */
typedef struct {
  int32_t pixels, in_c, out_c;
  int32_t in_offset, out_offset;
  int32_t act_min, act_max;
  int32_t out_stride;          /* as te_conv_params.out_stride (0: out_c) */
} te_pw_params;

/* 1x1 stride-1 conv; in_c % 4 == 0 and in_c <= 512; weights packed as int32 words, rq per channel
 * {(2 * bias) << 8 | (right shift - 1), multiplier} (right shift >= 1). Reads a pixel pair's inputs before
 * writing any of their outputs (so it keeps te_conv2d_1x1_s8's overlap contract). */
void te_conv2d_1x1_s8_dsp(const te_pw_params* p, const int8_t* in, const int32_t* weights,
                          const int32_t* rq, int8_t* out);
/* te_conv2d_1x1_s8_dsp for layers without an activation clamp (act_min <= -128, act_max >= 127). */
void te_conv2d_1x1_s8_nc_dsp(const te_pw_params* p, const int8_t* in, const int32_t* weights,
                             const int32_t* rq, int8_t* out);

/* te_conv2d_1x1_s8_dsp specialised for in_c = 8, 12, 16, 20, 24 (the name's number); same data, for
 * layers with an even out_c and without an activation clamp (codegen/dsp.py pw_small_ok). */
#define TE_PW_SMALL_DECL(IC)                                                                              \
  void te_conv2d_1x1_s8_ic##IC##_dsp(const te_pw_params* p, const int8_t* in, const int32_t* weights,      \
                                     const int32_t* rq, int8_t* out);
TE_PW_SMALL_DECL(8)
TE_PW_SMALL_DECL(12)
TE_PW_SMALL_DECL(16)
TE_PW_SMALL_DECL(20)
TE_PW_SMALL_DECL(24)

/* Depthwise conv, depth multiplier 1, no dilation, square k <= 8; weights channel-major
 * [c][k][k]; rq as for te_conv2d_1x1_s8_dsp (right shift >= 1). Writes channel by channel (the
 * compiler checks that order against the memory plan). */
typedef struct {
  int32_t in_h, in_w, c;
  int32_t out_h, out_w;
  int32_t k_h, k_w, stride_h, stride_w;
  int32_t pad_top, pad_left, pad_right;
  int32_t in_offset, out_offset;
  int32_t act_min, act_max;
} te_dw_params;

void te_depthwise_conv2d_s8_dsp(const te_dw_params* p, const int8_t* in, const int8_t* weights,
                                const int32_t* rq, int8_t* out);

/* Depthwise conv, square k in {3, 5, 7}, stride 1 or 2 (both directions), activation range the whole
 * int8 range; weights channel-major [c][k][k]; rq as above. Two outputs per step from a ring of
 * widened rows; bands of `band` output rows, channel by channel inside a band (the compiler proves
 * that order against the memory plan: codegen/dsp.py dw_rows_safe). */
void te_depthwise_conv2d_s8_rows_dsp(const te_dw_params* p, int32_t band, const int8_t* in, const int8_t* weights,
                                     const int32_t* rq, int8_t* out);
/* The same for one (k, stride) each: what the compiler emits, so a firmware links only the instances it uses. */
#define TE_DW_ROWS_DECL(K, S)                                                                                      \
  void te_depthwise_conv2d_s8_rows_k##K##s##S##_dsp(const te_dw_params* p, int32_t band, const int8_t* in,           \
                                                    const int8_t* weights, const int32_t* rq, int8_t* out);
/* Band entry point (a line-buffer stage calls it once per output row band): weight rows packed at compile time
 * (codegen/dsp.py pack_dw_rows), per channel pair 4 k WPR words, so no call repacks them. */
#define TE_DW_ROWS_PRE_DECL(K, S)                                                                                  \
  void te_depthwise_conv2d_s8_rows_pre_k##K##s##S##_dsp(const te_dw_params* p, int32_t band, const int8_t* in,       \
                                                        const int32_t* wpre, const int32_t* rq, int8_t* out);
TE_DW_ROWS_PRE_DECL(3, 1)
TE_DW_ROWS_PRE_DECL(3, 2)
TE_DW_ROWS_PRE_DECL(5, 1)
TE_DW_ROWS_PRE_DECL(5, 2)
TE_DW_ROWS_PRE_DECL(7, 1)
TE_DW_ROWS_PRE_DECL(7, 2)
#undef TE_DW_ROWS_PRE_DECL
TE_DW_ROWS_DECL(3, 1)
TE_DW_ROWS_DECL(3, 2)
TE_DW_ROWS_DECL(5, 1)
TE_DW_ROWS_DECL(5, 2)
TE_DW_ROWS_DECL(7, 1)
TE_DW_ROWS_DECL(7, 2)
#undef TE_DW_ROWS_DECL

/* General conv (no dilation) with a small reduction K = k_h*k_w*in_c <= 256: weights widened at
 * compile time to 16-bit pairs, [out_c][K rounded up to even / 2] words in [ky][kx][ic] order. */
void te_conv2d_s8_dsp(const te_conv_params* p, const int8_t* in, const int32_t* weights,
                      const int32_t* rq, int8_t* out);

/* te_conv2d_s8_dsp for out_c even, kernel height KH and row span k_w * in_c = SPAN (the name's numbers),
 * no activation clamp: weights as codegen/dsp.py pack_conv_kw lays them out (16-bit 2 * w in the
 * gather's lane order). */
#define TE_CONV_KS_DECL(KH, SPAN)                                                                          \
  void te_conv2d_s8_k##KH##s##SPAN##_dsp(const te_conv_params* p, const int8_t* in, const int32_t* weights, \
                                         const int32_t* rq, int8_t* out);
TE_CONV_KS_DECL(3, 3)
TE_CONV_KS_DECL(3, 6)
TE_CONV_KS_DECL(3, 9)
TE_CONV_KS_DECL(3, 12)
TE_CONV_KS_DECL(5, 5)
TE_CONV_KS_DECL(5, 10)

/* Depthwise conv in the portable kernel's order (keeps its overlap contract), 4 channels per step:
 * depth multiplier 1, no dilation, in_c % 4 == 0; weights HWC [k_h][k_w][c]; rq as above. */
void te_depthwise_conv2d_s8_hwc_dsp(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                    const int32_t* rq, int8_t* out);

/* Depthwise conv for small output planes, group of 4 channels by group (the compiler emits it only where
 * input and output do not overlap): depth multiplier 1, no dilation, in_c % 4 == 0, k_h * k_w <= 64,
 * out_h * out_w <= 25, activation range the whole int8 range; weights HWC [k_h][k_w][c]; rq as for te_conv2d_1x1_s8_dsp. */
void te_depthwise_conv2d_s8_cg_dsp(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                   const int32_t* rq, int8_t* out);

/* te_conv2d_1x1_s8_nc_dsp with the weights widened to 16 bits at compile time (codegen/dsp_w16.py): no clamp,
 * even out_c, in_c % 8 == 0, in_c <= 256, no channel slice; per output channel pair (a, b), per 4 input channels
 * the words [a0 a2] [b0 b2] [a1 a3] [b1 b3]; rq as te_conv2d_1x1_s8_dsp's. Keeps te_conv2d_1x1_s8's contract. */
void te_conv2d_1x1_s8_w16_dsp(const te_pw_params* p, const int8_t* in, const int32_t* w16, const int32_t* rq,
                              int8_t* out);

/* Depthwise conv, group of 4 channels by group over a ring of k widened padded rows, every tap unrolled (the
 * compiler checks its order against the memory plan: codegen/dsp.py dw_ring4_safe): square k in {3, 5, 7}, stride
 * 1 or 2, depth multiplier 1, no dilation, c % 4 == 0, activation range the whole int8 range; weights HWC
 * [k][k][c]; rq as for te_conv2d_1x1_s8_dsp. One entry point per (k, stride). */
#define TE_DW_RING4_DECL(K, S)                                                                                \
  void te_depthwise_conv2d_s8_ring4_k##K##s##S##_dsp(const te_dw_params* p, const int8_t* in, const int8_t* w, \
                                                     const int32_t* rq, int8_t* out);
TE_DW_RING4_DECL(3, 1)
TE_DW_RING4_DECL(3, 2)
TE_DW_RING4_DECL(5, 1)
TE_DW_RING4_DECL(5, 2)
TE_DW_RING4_DECL(7, 1)
TE_DW_RING4_DECL(7, 2)
#undef TE_DW_RING4_DECL

/* te_quantize_f32_s8, same semantics, fewer branches (FPU cores). */
void te_quantize_f32_s8_dsp(int32_t n, const float* in, int8_t* out, double scale, int32_t zero_point);

/* te_add_s8 with SMMULR requantization; only for layers codegen/dsp.py proves exact. */
void te_add_s8_dsp(const te_add_params* p, const int8_t* in1, const int8_t* in2, int8_t* out);

/* MAX_POOL_2D / AVERAGE_POOL_2D four channels per word (SSUB8 + SEL, SXTAB16); same bytes as
 * te_max_pool_s8 / te_avg_pool_s8 (the average for windows of at most 256 cells). */
void te_max_pool_s8_dsp(const te_pool_params* p, const int8_t* in, int8_t* out);
void te_avg_pool_s8_dsp(const te_pool_params* p, const int8_t* in, int8_t* out);

/* ADD as clamp((a * x1 + b * x2 + c) >> shift): only with constants codegen/dsp.py has checked
 * against te_add_s8 on every int8 pair. */
void te_add_s8_lin_dsp(int32_t n, const int8_t* in1, const int8_t* in2, int8_t* out, int32_t a, int32_t b, int32_t c,
                       int32_t shift, int32_t act_min, int32_t act_max);

/* te_fully_connected_s8_dscale with SMLAD: weights [out_n][in_n] as int32 words, in_n % 4 == 0,
 * in_n <= 1024. Built with TE_SINGLE_ROUNDING (ONNX / PyTorch graphs) it is te_fully_connected_s8 of that
 * build instead: scale[] holds the float32 scales, any in_n % 4 == 0. */
void te_fully_connected_s8_dscale_dsp(const te_fc_params* p, const int8_t* in, const int32_t* weights,
                                      const int32_t* bias, const double* scale, int8_t* out);

/* Clamp int8 data in place to [lo, hi] (after te_requantize_s8: a standalone RELU / RELU6, LiteRT's ReluX). */
void te_clamp_s8(int32_t n, int8_t* data, int32_t lo, int32_t hi);

/* ---- detection heads / topology (concat, slices, softmax ...) ---- */
/* `rows` runs of `width` bytes from in + r * in_stride to out + r * out_stride (copy_rows_s8.c);
 * in and out must not overlap. */
void te_copy_rows_s8(int32_t rows, int32_t width, int32_t in_stride, int32_t out_stride, const int8_t* in,
                     int8_t* out);
/* te_copy_rows_s8 with out = table[(uint8_t)in] (a requantizing concat input, onnxruntime arithmetic). */
void te_copy_rows_lut_s8(int32_t rows, int32_t width, int32_t in_stride, int32_t out_stride, const int8_t* in,
                         int8_t* out, const int8_t* table);

/* int8 SOFTMAX over the last axis as LiteRT's BUILTIN_REF computes it (softmax_s8.c): gemmlowp fixed
 * point, exp_q31[255 + x - max] from the compiler, output scale 1/256, zero point -128. cols <= 4095;
 * out may not overlap in. */
void te_softmax_s8(int32_t rows, int32_t cols, const int32_t* exp_q31, const int8_t* in, int8_t* out);

/* int8 strided slice of a (up to) 4-D tensor, dims padded with leading 1s (slice_s8.c); no overlap. */
typedef struct {
  int32_t in_dims[4], out_dims[4], begin[4], step[4];
} te_slice_params;

void te_slice_s8(const te_slice_params* p, const int8_t* in, int8_t* out);

/* Constant padding of an int8 tensor of up to 4 dimensions (leading 1s) along any axes (pad4_s8.c); no overlap. */
typedef struct {
  int32_t in_dims[4], before[4], after[4];
  int32_t value;
} te_pad4_params;

void te_pad4_s8(const te_pad4_params* p, const int8_t* in, int8_t* out);

/* int8 transpose of a (up to) 4-D tensor, dims padded with leading 1s: output axis k = input axis perm[k]
 * (transpose_s8.c); no overlap. */
typedef struct {
  int32_t in_dims[4], perm[4];
} te_transpose_params;

void te_transpose_s8(const te_transpose_params* p, const int8_t* in, int8_t* out);

/* ---- elementwise: broadcast binary ops and 256-entry tables (SE blocks, activations) ---- */

/* Broadcasting of two NHWC operands onto the output, collapsed at compile time to 4 loops:
 * d[4] output extents (d[3] innermost), s1[4] / s2[4] element strides of in1 / in2 per loop
 * (0 where that operand is broadcast). Writes go out[0], out[1], ... in order. */
typedef struct {
  int32_t d[4], s1[4], s2[4];
} te_bcast_params;

/* TFLite's reference_integer_ops::Mul / BroadcastMul: out = clamp(out_offset +
 * MultiplyByQuantizedMultiplier((in1 + in1_offset) * (in2 + in2_offset), out_mult, out_shift)). */
typedef struct {
  int32_t in1_offset, in2_offset, out_offset, out_mult, out_shift, act_min, act_max;
} te_mul_params;

void te_mul_s8(const te_mul_params* p, const te_bcast_params* b, const int8_t* in1, const int8_t* in2, int8_t* out);

/* te_add_s8's arithmetic (SUB: in2_mult negated, as TFLite's sub.cc) with broadcasting. */
void te_add_bcast_s8(const te_add_params* p, const te_bcast_params* b, const int8_t* in1, const int8_t* in2,
                     int8_t* out);

/* MUL / SUB / broadcast ADD in onnxruntime's arithmetic (binary_s8_f32.c): unfused float Mul / Sub / Add between
 * DequantizeLinear tables and QuantizeLinear, or the fused uint8 QLinearMul / QLinearAdd (ratio, ratio2, fixed:
 * codegen/quant.py ort_qlinearadd_params). */
enum { TE_BINARY_F32_MUL = 0, TE_BINARY_F32_SUB = 1, TE_BINARY_F32_QLINEAR_MUL = 2, TE_BINARY_F32_ADD = 3,
       TE_BINARY_F32_QLINEAR_ADD = 4 };
typedef struct {
  int32_t mode, in1_zp, in2_zp, out_zp, act_min, act_max;
  float out_scale, ratio, zp_f, ratio2, fixed;
} te_binary_f32_params;

void te_binary_s8_f32(const te_binary_f32_params* p, const te_bcast_params* b, const int8_t* in1, const int8_t* in2,
                      const float* tab1, const float* tab2, int8_t* out);

/* out[i] = table[(uint8_t)in[i]]: any int8 -> int8 function of one tensor (LOGISTIC, HARD_SWISH,
 * RELU_N1_TO_1, ADD / SUB / MUL by a scalar constant), tables computed by the compiler
 * (codegen/lut.py) from the reference's own arithmetic. Element order: in-place safe. */
void te_lut_s8(int32_t n, const int8_t* in, int8_t* out, const int8_t* table);

/* te_mul_s8 for in1 [P][C] times a per-channel in2 [C] (the SE gate), SMMULR requantization; only for
 * layers codegen/dsp.py proves exact. Same element order as te_mul_s8. */
void te_mul_s8_gate_dsp(const te_mul_params* p, int32_t pixels, int32_t c, const int8_t* in1, const int8_t* in2,
                        int8_t* out);

/* te_mean_s8 (TFLite arithmetic, exact == 0) of a [outer][reduce][inner] view, summing 16 / 4 channels per
 * step with SXTAB16; rq_fast: SMMLAR requantization (only where codegen/dsp.py proves it equal). Same bytes
 * and contract as te_mean_s8. */
void te_mean_s8_dsp(const te_mean_params* p, int32_t rq_fast, const int8_t* in, int8_t* out);
/* TFLite's folding of 1/n into MEAN's multiplier (shared by te_mean_s8 and te_mean_s8_dsp). */
void te_mean_fold(int32_t n, int32_t* mult, int32_t* shift);

/* ---- Helium (MVE) kernels (*_mve.c, Cortex-M55; empty on other cores). Weights and requantization
 * tables packed at compile time by tinyengine_tvm.codegen.mve (te_mve.h: the table layout and why the
 * requantization equals te_requantize for every accumulator). Same bytes out as the portable kernels. ---- */
/* 1x1 stride-1 conv, any in_c / out_c (with out overlapping in: in_c <= TE_PW_MVE_KEEP); the _lsh variant
 * for tables with left shifts. */
#define TE_PW_MVE_KEEP 512
void te_conv2d_1x1_s8_mve(const te_pw_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                          int8_t* out);
void te_conv2d_1x1_s8_lsh_mve(const te_pw_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                              int8_t* out);
/* conv2d with k_h * k_w * in_c <= 64 (e.g. a first layer), no dilation; weights per 4 output channels, rows of
 * ceil(k / 16) * 16 bytes (zero-padded). */
void te_conv2d_s8_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                      int8_t* out);
void te_conv2d_s8_lsh_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                          int8_t* out);
/* te_fully_connected_s8_dscale with VMLADAVA; bias[out_n] = bias + in_offset * sum(w) (never NULL). */
void te_fully_connected_s8_dscale_mve(const te_fc_params* p, const int8_t* in, const int8_t* weights,
                                      const int32_t* bias, const double* scale, int8_t* out);
/* Depthwise conv, depth multiplier 1, no dilation, k_h * k_w <= TE_DW_MVE_TAPS, any stride / padding; weights
 * per 16 channels per tap; the table's channels in te_depthwise_conv2d_s8_mve's accumulator order (codegen/mve.py
 * dw_table). Taps in int16 pairs (_mve, _lsh_mve: no channel with -128 in both weights of a pair), or one by one
 * (_t1_mve, any weights and shifts). */
#define TE_DW_MVE_TAPS 49
void te_depthwise_conv2d_s8_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, const int32_t* rq,
                                int8_t* out);
void te_depthwise_conv2d_s8_lsh_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                    const int32_t* rq, int8_t* out);
void te_depthwise_conv2d_s8_t1_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                   const int32_t* rq, int8_t* out);
/* te_quantize_f32_s8 with floating-point MVE (x * (1 / scale), vectors near a rounding boundary or with a NaN by
 * te_quantize_f32_s8); scale in [2^-60, 2^60]. */
void te_quantize_f32_s8_mve(int32_t n, const float* in, int8_t* out, double scale, int32_t zero_point);
/* ADD in te_add_s8_lin_dsp's linear form (same arguments), 4 elements per vector */
void te_add_s8_lin_mve(int32_t n, const int8_t* in1, const int8_t* in2, int8_t* out, int32_t a, int32_t b, int32_t c,
                       int32_t shift, int32_t act_min, int32_t act_max);
/* te_depthwise_conv2d_s8_mve for 3x3 windows without left shifts, unrolled */
void te_depthwise_conv2d_s8_k3_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights,
                                   const int32_t* rq, int8_t* out);
/* Depthwise conv, channel-major (NOT te_depthwise_conv2d_s8's overlap contract: input and output apart), depth
 * multiplier 1, k x k (the name's K), equal strides 1 or 2, no dilation, no left shifts; weights [c][k][k];
 * (in_w + pads) / stride + k + 4 <= TE_DWC_MVE_WP. */
#define TE_DWC_MVE_WP 64
#define TE_DWC_MVE_DECL(K)                                                                                     \
  void te_depthwise_conv2d_s8_k##K##_cm_mve(const te_conv_params* p, const int8_t* in, const int8_t* weights, \
                                             const int32_t* rq, int8_t* out);
TE_DWC_MVE_DECL(3)
TE_DWC_MVE_DECL(5)
TE_DWC_MVE_DECL(7)

/* onnxruntime's unfused float paths on a Cortex-M FPU with VFMA (graphs from ONNX / PyTorch, --arithmetic
 * onnxruntime), byte-identical with the portable kernels: te_conv2d_1x1_s8_f32_fpu computes a pointwise
 * te_conv2d_s8_f32 whose row modes are all 0 (f: its depth blocks and out_scale; four filters per input
 * read); te_add_s8_f32_fpu is te_add_s8_f32. Both need <math.h> (fmaf) and keep the portable contracts. */
void te_conv2d_1x1_s8_f32_fpu(const te_conv_params* p, const te_conv_f32_params* f, const int8_t* in,
                              const int8_t* weights, const float* in_tab, const float* w_scale, const float* bias_f,
                              int8_t* out);
void te_add_s8_f32_fpu(const te_add_f32_params* p, const int8_t* in1, const int8_t* in2, const float* in1_tab,
                       const float* in2_tab, int8_t* out);

#ifdef __cplusplus
}
#endif

#endif /* TINYENGINE_KERNELS_H_ */
