/*
 * kernel_driver.c: test-only driver that runs tinyengine kernels on cases read from a file.
 *
 * Usage: kernel_driver <cases.bin> <outputs.bin>
 * Input: a sequence of cases, all integers little-endian int32:
 *   op, n_params, params[n_params], n_bufs, { nbytes, bytes[nbytes] } * n_bufs, out_nbytes
 * Every buffer gets its own exact-size heap block (so ASan sees any overrun); an empty buffer is
 * passed as NULL. Output: the out_nbytes bytes written by each case, concatenated.
 * Built twice by tests/kernel_harness.py: -O2, and -O1 with ASan + UBSan.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinyengine_kernels.h"

enum {
  OP_REQUANT_ARRAY = 0, OP_CONV = 1, OP_CONV_1X1 = 2, OP_DWCONV = 3, OP_FC = 4, OP_ADD = 5,
  OP_AVGPOOL = 6, OP_MAXPOOL = 7, OP_MEAN = 8, OP_PAD = 9, OP_QUANT = 10, OP_DEQUANT = 11,
  OP_REQUANT_S8 = 12, OP_LOGSOFTMAX = 13, OP_FC_DSCALE = 14
};

#define MAX_PARAMS 64
#define MAX_BUFS 8

static void die(const char* msg) {
  fprintf(stderr, "kernel_driver: %s\n", msg);
  exit(2);
}

static int read_i32(FILE* f, int32_t* v) {
  unsigned char b[4];
  if (fread(b, 1, 4, f) != 4) return 0;
  *v = (int32_t)((uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
                 ((uint32_t)b[3] << 24));
  return 1;
}

static void need(int32_t n_params, int32_t want) {
  if (n_params != want) die("wrong parameter count");
}

static void conv_params(const int32_t* q, te_conv_params* p) {
  p->in_h = q[0]; p->in_w = q[1]; p->in_c = q[2];
  p->out_h = q[3]; p->out_w = q[4]; p->out_c = q[5];
  p->k_h = q[6]; p->k_w = q[7];
  p->stride_h = q[8]; p->stride_w = q[9];
  p->dil_h = q[10]; p->dil_w = q[11];
  p->pad_top = q[12]; p->pad_left = q[13];
  p->depth_multiplier = q[14];
  p->in_offset = q[15]; p->out_offset = q[16];
  p->act_min = q[17]; p->act_max = q[18];
}

static void pool_params(const int32_t* q, te_pool_params* p) {
  p->in_h = q[0]; p->in_w = q[1]; p->c = q[2];
  p->out_h = q[3]; p->out_w = q[4];
  p->k_h = q[5]; p->k_w = q[6];
  p->stride_h = q[7]; p->stride_w = q[8];
  p->pad_top = q[9]; p->pad_left = q[10];
  p->act_min = q[11]; p->act_max = q[12];
}

static void run(int32_t op, int32_t np, const int32_t* q, void** b, void* out) {
  switch (op) {
    case OP_REQUANT_ARRAY: {
      int32_t i;
      need(np, 3);
      for (i = 0; i < q[0]; ++i)
        ((int32_t*)out)[i] = te_requantize(((const int32_t*)b[0])[i], q[1], q[2]);
      break;
    }
    case OP_CONV: case OP_CONV_1X1: case OP_DWCONV: {
      te_conv_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      need(np, 19);
      conv_params(q, &p);
      if (op == OP_CONV)
        te_conv2d_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else if (op == OP_CONV_1X1)
        te_conv2d_1x1_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else
        te_depthwise_conv2d_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      break;
    }
    case OP_FC: case OP_FC_DSCALE: {
      te_fc_params p = {0}; /* fields a case does not set (out_stride, groups, w_offset) stay 0 */
      need(np, 8);
      p.batches = q[0]; p.in_n = q[1]; p.out_n = q[2];
      p.in_offset = q[3]; p.out_offset = q[4];
      p.act_min = q[5]; p.act_max = q[6];
      p.per_channel = q[7];
      if (op == OP_FC) te_fully_connected_s8(&p, b[0], b[1], b[2], b[3], b[4], out);
      else te_fully_connected_s8_dscale(&p, b[0], b[1], b[2], b[3], out);
      break;
    }
    case OP_ADD: {
      te_add_params p;
      need(np, 13);
      p.n = q[0];
      p.in1_offset = q[1]; p.in2_offset = q[2];
      p.in1_mult = q[3]; p.in1_shift = q[4];
      p.in2_mult = q[5]; p.in2_shift = q[6];
      p.left_shift = q[7];
      p.out_mult = q[8]; p.out_shift = q[9];
      p.out_offset = q[10];
      p.act_min = q[11]; p.act_max = q[12];
      te_add_s8(&p, b[0], b[1], out);
      break;
    }
    case OP_AVGPOOL: case OP_MAXPOOL: {
      te_pool_params p;
      need(np, 13);
      pool_params(q, &p);
      if (op == OP_AVGPOOL) te_avg_pool_s8(&p, b[0], out);
      else te_max_pool_s8(&p, b[0], out);
      break;
    }
    case OP_MEAN: {
      te_mean_params p;
      if (np != 7) need(np, 8); /* 8th: exact (one-rounding mode) */
      p.outer = q[0]; p.reduce = q[1]; p.inner = q[2];
      p.in_zp = q[3]; p.out_zp = q[4];
      p.mult = q[5]; p.shift = q[6];
      p.exact = np > 7 ? q[7] : 0;
      te_mean_s8(&p, b[0], out);
      break;
    }
    case OP_PAD: {
      te_pad_params p;
      need(np, 8);
      p.in_h = q[0]; p.in_w = q[1]; p.c = q[2];
      p.pad_top = q[3]; p.pad_bottom = q[4]; p.pad_left = q[5]; p.pad_right = q[6];
      p.value = (int8_t)q[7];
      te_pad_s8(&p, b[0], out);
      break;
    }
    case OP_QUANT: case OP_DEQUANT: {
      double scale;
      need(np, 2);
      memcpy(&scale, b[0], sizeof scale);
      if (op == OP_QUANT) te_quantize_f32_s8(q[0], b[1], out, scale, q[1]);
      else te_dequantize_s8_f32(q[0], b[1], out, scale, q[1]);
      break;
    }
    case OP_REQUANT_S8:
      need(np, 5);
      te_requantize_s8(q[0], b[0], out, q[1], q[2], q[3], q[4]);
      break;
    case OP_LOGSOFTMAX:
      need(np, 2);
      te_log_softmax_f32(q[0], q[1], b[0], out);
      break;
    default:
      die("unknown op");
  }
}

int main(int argc, char** argv) {
  FILE* fin;
  FILE* fout;
  int32_t op;
  if (argc != 3) die("usage: kernel_driver <cases.bin> <outputs.bin>");
  fin = fopen(argv[1], "rb");
  fout = fopen(argv[2], "wb");
  if (!fin || !fout) die("cannot open files");
  while (read_i32(fin, &op)) {
    int32_t np, nb, out_n, i;
    int32_t q[MAX_PARAMS];
    void* bufs[MAX_BUFS];
    void* out;
    if (!read_i32(fin, &np) || np < 0 || np > MAX_PARAMS) die("bad n_params");
    for (i = 0; i < np; ++i)
      if (!read_i32(fin, &q[i])) die("truncated params");
    if (!read_i32(fin, &nb) || nb < 0 || nb > MAX_BUFS) die("bad n_bufs");
    for (i = 0; i < MAX_BUFS; ++i) bufs[i] = NULL;
    for (i = 0; i < nb; ++i) {
      int32_t len;
      if (!read_i32(fin, &len) || len < 0) die("bad buffer length");
      if (len > 0) {
        bufs[i] = malloc((size_t)len);
        if (!bufs[i]) die("out of memory");
        if (fread(bufs[i], 1, (size_t)len, fin) != (size_t)len) die("truncated buffer");
      }
    }
    if (!read_i32(fin, &out_n) || out_n < 0) die("bad output length");
    out = malloc(out_n > 0 ? (size_t)out_n : 1u);
    if (!out) die("out of memory");
    memset(out, 0x5A, out_n > 0 ? (size_t)out_n : 1u); /* poison: unwritten bytes show up */
    run(op, np, q, bufs, out);
    if (out_n > 0 && fwrite(out, 1, (size_t)out_n, fout) != (size_t)out_n) die("write failed");
    free(out);
    for (i = 0; i < nb; ++i) free(bufs[i]);
  }
  fclose(fin);
  if (fclose(fout) != 0) die("close failed");
  return 0;
}
