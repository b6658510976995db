/*
 * dsp_driver.c: test-only driver for the DSP kernels (codegen/kernels, the *_dsp.c files) and the portable
 * kernels they must match. Same case format as kernel_driver.c (see tests/kernel_harness.py):
 *   op, n_params, params[n_params], n_bufs, { nbytes, bytes[nbytes] } * n_bufs, out_nbytes
 * Built twice: for the host (exact C models of the DSP instructions; plain and ASan+UBSan) and for
 * Cortex-M under QEMU (real SMLAD/SXTB16/SMMULR; file I/O through semihosting, te_input.bin ->
 * te_output.bin, plus te_result.bin as the measuring firmware writes it).
 */
enum { OP_CONV = 1, OP_CONV_1X1 = 2, OP_DWCONV = 3, OP_FC_DSCALE = 14, OP_PW_DSP = 100, OP_DW_DSP = 101,
       OP_CONV_DSP = 102, OP_FC_DSP = 103, OP_ADD = 5, OP_ADD_DSP = 104, OP_DW_HWC_DSP = 105, OP_QUANT = 10,
       OP_QUANT_DSP = 106, OP_DW_ROWS_DSP = 107,
       OP_DW_ROWS_SHARED = 108, OP_DW_CG_DSP = 109 };
/* kernels of tests/test_dsp_conv.py */
enum { OP_FC = 4 };
/* tests/test_dsp_ring4.py */
enum { OP_DW_RING4_DSP = 110, OP_DW_RING4_SHARED = 111, OP_PW_W16_DSP = 112 };
enum { OP_ADD_LIN_DSP = 200, OP_PW_SMALL_DSP = 201, OP_CONV_KW_DSP = 202, OP_PW_NC_DSP = 203 };
/* kernels of tests/test_se_dsp.py */
enum { OP_MUL_GATE = 300, OP_MUL_GATE_DSP = 301, OP_MEAN_SE = 302, OP_MEAN_SE_DSP = 303 };

#define DRIVER_NAME "dsp_driver"
#define DRIVER_IN_MAX (1u << 20)
#define DRIVER_POOL_MAX (3u << 19)
#include "driver_harness.h"

static void run_case(int32_t op, int32_t np, const int32_t* q, void** b, void* out) {
  switch (op) {
    case OP_CONV: case OP_CONV_1X1: case OP_DWCONV: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 19) die("conv: 19 params");
      conv_params(q, &p);
      if (op == OP_CONV) te_conv2d_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else if (op == OP_CONV_1X1) te_conv2d_1x1_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else te_depthwise_conv2d_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      break;
    }
    case OP_PW_DSP: {
      te_pw_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 7) die("pw_dsp: 7 params");
      p.pixels = q[0]; p.in_c = q[1]; p.out_c = q[2];
      p.in_offset = q[3]; p.out_offset = q[4]; p.act_min = q[5]; p.act_max = q[6];
      te_conv2d_1x1_s8_dsp(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_DW_DSP: {
      te_dw_params p;
      if (np != 16) die("dw_dsp: 16 params");
      p.in_h = q[0]; p.in_w = q[1]; p.c = q[2]; p.out_h = q[3]; p.out_w = q[4];
      p.k_h = q[5]; p.k_w = q[6]; p.stride_h = q[7]; p.stride_w = q[8];
      p.pad_top = q[9]; p.pad_left = q[10]; p.pad_right = q[11];
      p.in_offset = q[12]; p.out_offset = q[13]; p.act_min = q[14]; p.act_max = q[15];
      te_depthwise_conv2d_s8_dsp(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_DW_ROWS_DSP: { /* te_dw_params then the band */
      te_dw_params p;
      if (np != 17) die("dw_rows_dsp: 17 params");
      p.in_h = q[0]; p.in_w = q[1]; p.c = q[2]; p.out_h = q[3]; p.out_w = q[4];
      p.k_h = q[5]; p.k_w = q[6]; p.stride_h = q[7]; p.stride_w = q[8];
      p.pad_top = q[9]; p.pad_left = q[10]; p.pad_right = q[11];
      p.in_offset = q[12]; p.out_offset = q[13]; p.act_min = q[14]; p.act_max = q[15];
      te_depthwise_conv2d_s8_rows_dsp(&p, q[16], b[0], b[1], b[2], out);
      break;
    }
    case OP_DW_ROWS_SHARED: { /* as OP_DW_ROWS_DSP, input and output placed in one arena: q[17] in, q[18] out, q[19] size */
      te_dw_params p;
      uint8_t* mem;
      if (np != 20) die("dw_rows_shared: 20 params");
      p.in_h = q[0]; p.in_w = q[1]; p.c = q[2]; p.out_h = q[3]; p.out_w = q[4];
      p.k_h = q[5]; p.k_w = q[6]; p.stride_h = q[7]; p.stride_w = q[8];
      p.pad_top = q[9]; p.pad_left = q[10]; p.pad_right = q[11];
      p.in_offset = q[12]; p.out_offset = q[13]; p.act_min = q[14]; p.act_max = q[15];
      mem = get_mem((uint32_t)q[19]);
      memset(mem, 0x33, (size_t)q[19]);
      memcpy(mem + q[17], b[0], (size_t)(q[0] * q[1] * q[2]));
      te_depthwise_conv2d_s8_rows_dsp(&p, q[16], (const int8_t*)(mem + q[17]), b[1], b[2], (int8_t*)(mem + q[18]));
      memcpy(out, mem + q[18], (size_t)(q[3] * q[4] * q[2]));
      break;
    }
    case OP_PW_W16_DSP: { /* tests/test_dsp_ring4.py: te_pw_params fields */
      te_pw_params p = {0};
      if (np != 7) die("pw_w16_dsp: 7 params");
      p.pixels = q[0]; p.in_c = q[1]; p.out_c = q[2];
      p.in_offset = q[3]; p.out_offset = q[4]; p.act_min = q[5]; p.act_max = q[6];
      te_conv2d_1x1_s8_w16_dsp(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_DW_RING4_DSP: case OP_DW_RING4_SHARED: { /* te_dw_params; shared: q[16] in, q[17] out, q[18] size */
      te_dw_params p;
      uint8_t* mem = 0;
      const int8_t* x = b[0];
      int8_t* y = out;
      if (np != (op == OP_DW_RING4_DSP ? 16 : 19)) die("dw_ring4: params");
      p.in_h = q[0]; p.in_w = q[1]; p.c = q[2]; p.out_h = q[3]; p.out_w = q[4];
      p.k_h = q[5]; p.k_w = q[6]; p.stride_h = q[7]; p.stride_w = q[8];
      p.pad_top = q[9]; p.pad_left = q[10]; p.pad_right = q[11];
      p.in_offset = q[12]; p.out_offset = q[13]; p.act_min = q[14]; p.act_max = q[15];
      if (op == OP_DW_RING4_SHARED) {
        mem = get_mem((uint32_t)q[18]);
        memset(mem, 0x33, (size_t)q[18]);
        memcpy(mem + q[16], b[0], (size_t)(q[0] * q[1] * q[2]));
        x = (const int8_t*)(mem + q[16]);
        y = (int8_t*)(mem + q[17]);
      }
      switch (p.k_h * 4 + p.stride_h) {
        case 13: te_depthwise_conv2d_s8_ring4_k3s1_dsp(&p, x, b[1], b[2], y); break;
        case 14: te_depthwise_conv2d_s8_ring4_k3s2_dsp(&p, x, b[1], b[2], y); break;
        case 21: te_depthwise_conv2d_s8_ring4_k5s1_dsp(&p, x, b[1], b[2], y); break;
        case 22: te_depthwise_conv2d_s8_ring4_k5s2_dsp(&p, x, b[1], b[2], y); break;
        case 29: te_depthwise_conv2d_s8_ring4_k7s1_dsp(&p, x, b[1], b[2], y); break;
        case 30: te_depthwise_conv2d_s8_ring4_k7s2_dsp(&p, x, b[1], b[2], y); break;
        default: die("dw_ring4: k / stride");
      }
      if (mem) memcpy(out, mem + q[17], (size_t)(q[3] * q[4] * q[2]));
      break;
    }
    case OP_FC: case OP_FC_DSCALE: case OP_FC_DSP: {
      te_fc_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 8) die("fc: 8 params");
      p.batches = q[0]; p.in_n = q[1]; p.out_n = q[2]; p.in_offset = q[3]; p.out_offset = q[4];
      p.act_min = q[5]; p.act_max = q[6]; p.per_channel = q[7];
      if (op == OP_FC) te_fully_connected_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else if (op == OP_FC_DSCALE) te_fully_connected_s8_dscale(&p, b[0], b[1], b[2], b[3], out);
      else te_fully_connected_s8_dscale_dsp(&p, b[0], b[1], b[2], b[3], out);
      break;
    }
    case OP_ADD: case OP_ADD_DSP: {
      te_add_params p;
      if (np != 13) die("add: 13 params");
      p.n = q[0]; p.in1_offset = q[1]; p.in2_offset = q[2]; p.in1_mult = q[3]; p.in1_shift = q[4];
      p.in2_mult = q[5]; p.in2_shift = q[6]; p.left_shift = q[7]; p.out_mult = q[8]; p.out_shift = q[9];
      p.out_offset = q[10]; p.act_min = q[11]; p.act_max = q[12];
      if (op == OP_ADD) te_add_s8(&p, b[0], b[1], out);
      else te_add_s8_dsp(&p, b[0], b[1], out);
      break;
    }
    case OP_DW_HWC_DSP: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 19) die("dw_hwc_dsp: 19 params");
      conv_params(q, &p);
      te_depthwise_conv2d_s8_hwc_dsp(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_DW_CG_DSP: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 19) die("dw_cg_dsp: 19 params");
      conv_params(q, &p);
      te_depthwise_conv2d_s8_cg_dsp(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_QUANT: case OP_QUANT_DSP: {
      double scale;
      if (np != 2) die("quant: 2 params");
      memcpy(&scale, b[0], sizeof scale);
      if (op == OP_QUANT) te_quantize_f32_s8(q[0], b[1], out, scale, q[1]);
      else te_quantize_f32_s8_dsp(q[0], b[1], out, scale, q[1]);
      break;
    }
    case OP_CONV_DSP: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 19) die("conv_dsp: 19 params");
      conv_params(q, &p);
      te_conv2d_s8_dsp(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_PW_SMALL_DSP: case OP_PW_NC_DSP: {
      te_pw_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 7) die("pw_small_dsp: 7 params");
      p.pixels = q[0]; p.in_c = q[1]; p.out_c = q[2];
      p.in_offset = q[3]; p.out_offset = q[4]; p.act_min = q[5]; p.act_max = q[6];
      if (op == OP_PW_NC_DSP) {
        te_conv2d_1x1_s8_nc_dsp(&p, b[0], b[1], b[2], out);
        break;
      }
      switch (p.in_c) {
        case 8: te_conv2d_1x1_s8_ic8_dsp(&p, b[0], b[1], b[2], out); break;
        case 12: te_conv2d_1x1_s8_ic12_dsp(&p, b[0], b[1], b[2], out); break;
        case 16: te_conv2d_1x1_s8_ic16_dsp(&p, b[0], b[1], b[2], out); break;
        case 20: te_conv2d_1x1_s8_ic20_dsp(&p, b[0], b[1], b[2], out); break;
        case 24: te_conv2d_1x1_s8_ic24_dsp(&p, b[0], b[1], b[2], out); break;
        default: die("pw_small_dsp: in_c");
      }
      break;
    }
    case OP_CONV_KW_DSP: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      if (np != 19) die("conv_kw_dsp: 19 params");
      conv_params(q, &p);
#define TE_KS_CASE(KH, SPAN) \
  if (p.k_h == (KH) && p.k_w * p.in_c == (SPAN)) te_conv2d_s8_k##KH##s##SPAN##_dsp(&p, b[0], b[1], b[2], out); else
      TE_KS_CASE(3, 3) TE_KS_CASE(3, 6) TE_KS_CASE(3, 9) TE_KS_CASE(3, 12) TE_KS_CASE(5, 5) TE_KS_CASE(5, 10)
      die("conv_kw_dsp: no entry point");
#undef TE_KS_CASE
      break;
    }
    case OP_ADD_LIN_DSP:
      if (np != 7) die("add_lin_dsp: 7 params");
      te_add_s8_lin_dsp(q[0], b[0], b[1], out, q[1], q[2], q[3], q[4], q[5], q[6]);
      break;
    /* SE blocks (tests/test_se_dsp.py): MUL by a per-channel gate, MEAN; q: te_mul_params / te_mean_params */
    case OP_MUL_GATE: case OP_MUL_GATE_DSP: {
      te_mul_params p;
      te_bcast_params bc;
      if (np != 9) die("mul_gate: 9 params");
      p.in1_offset = q[0]; p.in2_offset = q[1]; p.out_offset = q[2]; p.out_mult = q[3]; p.out_shift = q[4];
      p.act_min = q[5]; p.act_max = q[6];
      bc.d[0] = 1; bc.d[1] = 1; bc.d[2] = q[7]; bc.d[3] = q[8];
      bc.s1[0] = 0; bc.s1[1] = 0; bc.s1[2] = q[8]; bc.s1[3] = 1;
      bc.s2[0] = 0; bc.s2[1] = 0; bc.s2[2] = 0; bc.s2[3] = 1;
      if (op == OP_MUL_GATE) te_mul_s8(&p, &bc, b[0], b[1], out);
      else te_mul_s8_gate_dsp(&p, q[7], q[8], b[0], b[1], out);
      break;
    }
    case OP_MEAN_SE: case OP_MEAN_SE_DSP: {
      te_mean_params p;
      if (np != 9) die("mean: 9 params");
      p.outer = q[0]; p.reduce = q[1]; p.inner = q[2]; p.in_zp = q[3]; p.out_zp = q[4]; p.mult = q[5];
      p.shift = q[6]; p.exact = q[7];
      if (op == OP_MEAN_SE) te_mean_s8(&p, b[0], out);
      else te_mean_s8_dsp(&p, q[8], b[0], out);
      break;
    }
    default:
      die("unknown op");
  }
}
