/*
 * mve_driver.c: test-only driver for the Helium kernels (codegen/kernels, the _mve.c files) and the portable kernels
 * they must match; Cortex-M55 under QEMU mps3-an547 only (the host has no MVE). Same case format and
 * semihosting I/O as dsp_driver.c (see tests/kernel_harness.py):
 *   op, n_params, params[n_params], n_bufs, { nbytes, bytes[nbytes] } * n_bufs, out_nbytes
 */
enum { OP_CONV = 1, OP_CONV_1X1 = 2, OP_DWCONV = 3, OP_PW_MVE = 300, OP_PW_LSH_MVE = 301, OP_DW_MVE = 302,
       OP_DW_LSH_MVE = 303, OP_DW_CM_MVE = 304, OP_CONV_MVE = 305, OP_CONV_LSH_MVE = 306,
       OP_FC_DSCALE = 14, OP_FC_MVE = 307, OP_DW_T1_MVE = 308, OP_DW_K3_MVE = 309, OP_QUANT = 10,
       OP_QUANT_MVE = 310, OP_ADD = 5, OP_ADD_LIN_MVE = 311 };

#define DRIVER_NAME "mve_driver"
#define DRIVER_IN_MAX (96u << 10) /* the M55 board has 512 kB of RAM */
#define DRIVER_POOL_MAX (192u << 10)
#include "driver_harness.h"

static void run_case(int32_t op, int32_t np, const int32_t* q, void** b, void* out) {
  switch (op) {
    case OP_CONV: case OP_CONV_1X1: case OP_DWCONV: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups) stay 0 */
      if (np != 19) die("conv: 19 params");
      conv_params(q, &p);
      if (op == OP_CONV) te_conv2d_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else if (op == OP_CONV_1X1) te_conv2d_1x1_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else te_depthwise_conv2d_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      break;
    }
    case OP_FC_DSCALE: case OP_FC_MVE: {
      te_fc_params p = {0}; /* fields a case does not set (w_offset) stay 0 */
      if (np != 8) die("fc: 8 params");
      p.batches = q[0]; p.in_n = q[1]; p.out_n = q[2]; p.in_offset = q[3]; p.out_offset = q[4];
      p.act_min = q[5]; p.act_max = q[6]; p.per_channel = q[7];
      p.w_offset = 0;
      if (op == OP_FC_DSCALE) te_fully_connected_s8_dscale(&p, b[0], b[1], b[2], b[3], out);
#if defined(__ARM_FEATURE_MVE)
      else te_fully_connected_s8_dscale_mve(&p, b[0], b[1], b[2], b[3], out);
#endif
      break;
    }
#if defined(__ARM_FEATURE_MVE)
    case OP_PW_MVE: case OP_PW_LSH_MVE: {
      te_pw_params p;
      if (np != 7) die("pw_mve: 7 params");
      p.pixels = q[0]; p.in_c = q[1]; p.out_c = q[2];
      p.in_offset = q[3]; p.out_offset = q[4]; p.act_min = q[5]; p.act_max = q[6];
      p.out_stride = 0;
      if (op == OP_PW_MVE) te_conv2d_1x1_s8_mve(&p, b[0], b[1], b[2], out);
      else te_conv2d_1x1_s8_lsh_mve(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_DW_MVE: case OP_DW_LSH_MVE: case OP_DW_T1_MVE: case OP_DW_K3_MVE: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups) stay 0 */
      if (np != 19) die("dw_mve: 19 params");
      conv_params(q, &p);
      if (op == OP_DW_MVE) te_depthwise_conv2d_s8_mve(&p, b[0], b[1], b[2], out);
      else if (op == OP_DW_T1_MVE) te_depthwise_conv2d_s8_t1_mve(&p, b[0], b[1], b[2], out);
      else if (op == OP_DW_K3_MVE) te_depthwise_conv2d_s8_k3_mve(&p, b[0], b[1], b[2], out);
      else te_depthwise_conv2d_s8_lsh_mve(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_CONV_MVE: case OP_CONV_LSH_MVE: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups) stay 0 */
      if (np != 19) die("conv_mve: 19 params");
      conv_params(q, &p);
      if (op == OP_CONV_MVE) te_conv2d_s8_mve(&p, b[0], b[1], b[2], out);
      else te_conv2d_s8_lsh_mve(&p, b[0], b[1], b[2], out);
      break;
    }
    case OP_DW_CM_MVE: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups) stay 0 */
      if (np != 19) die("dw_cm_mve: 19 params");
      conv_params(q, &p);
      if (p.k_h == 3) te_depthwise_conv2d_s8_k3_cm_mve(&p, b[0], b[1], b[2], out);
      else if (p.k_h == 5) te_depthwise_conv2d_s8_k5_cm_mve(&p, b[0], b[1], b[2], out);
      else if (p.k_h == 7) te_depthwise_conv2d_s8_k7_cm_mve(&p, b[0], b[1], b[2], out);
      else die("dw_cm_mve: k");
      break;
    }
#endif
    case OP_QUANT: case OP_QUANT_MVE: {
      double scale;
      if (np != 2) die("quant: 2 params");
      memcpy(&scale, b[0], sizeof scale);
#if defined(__ARM_FEATURE_MVE)
      if (op == OP_QUANT_MVE) {
        te_quantize_f32_s8_mve(q[0], b[1], out, scale, q[1]);
        break;
      }
#endif
      te_quantize_f32_s8(q[0], b[1], out, scale, q[1]);
      break;
    }
    case OP_ADD: {
      te_add_params p;
      if (np != 13) die("add: 13 params");
      p.n = q[0]; p.in1_offset = q[1]; p.in2_offset = q[2]; p.in1_mult = q[3]; p.in1_shift = q[4];
      p.in2_mult = q[5]; p.in2_shift = q[6]; p.left_shift = q[7]; p.out_mult = q[8]; p.out_shift = q[9];
      p.out_offset = q[10]; p.act_min = q[11]; p.act_max = q[12];
      te_add_s8(&p, b[0], b[1], out);
      break;
    }
#if defined(__ARM_FEATURE_MVE)
    case OP_ADD_LIN_MVE:
      if (np != 7) die("add_lin_mve: 7 params");
      te_add_s8_lin_mve(q[0], b[0], b[1], out, q[1], q[2], q[3], q[4], q[5], q[6]);
      break;
#endif
    default:
      die("unknown op");
  }
}
