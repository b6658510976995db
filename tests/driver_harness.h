/*
 * driver_harness.h: the test drivers' shared harness (tests/dsp_driver.c, tests/mve_driver.c): read the cases
 * of tests/kernel_harness.py, run each through the driver's run_case, write the outputs.
 *   op, n_params, params[n_params], n_bufs, { nbytes, bytes[nbytes] } * n_bufs, out_nbytes
 * On Cortex-M (QEMU) through semihosting: te_input.bin -> te_output.bin, plus te_result.bin as the measuring
 * firmware writes it; buffers from a static pool (DRIVER_IN_MAX, DRIVER_POOL_MAX bytes). On the host: argv files,
 * every buffer malloc'ed at its exact size (ASan sees any overrun).
 * Before including it define DRIVER_NAME (a string); then define run_case.
 */
#ifndef DRIVER_HARNESS_H_
#define DRIVER_HARNESS_H_

#include <stdint.h>
#include <string.h>

#include "tinyengine_kernels.h"

#define MAX_PARAMS 64
#define MAX_BUFS 8

static void run_case(int32_t op, int32_t np, const int32_t* q, void** b, void* out);

#if defined(__arm__)
#include "semihost.h"
#define IN_MAX DRIVER_IN_MAX
static uint8_t in_data[IN_MAX];
static uint8_t out_data[IN_MAX];
static uint8_t pool[DRIVER_POOL_MAX];
static uint32_t pool_used;
static void die(const char* msg) {
  te_sh_puts(DRIVER_NAME ": ");
  te_sh_puts(msg);
  te_sh_puts("\n");
  te_sh_exit(2);
}
static void* get_mem(uint32_t n) {
  void* p;
  pool_used = (pool_used + 7u) & ~7u;
  if (pool_used + n > DRIVER_POOL_MAX) die("out of memory");
  p = pool + pool_used;
  pool_used += n;
  return p;
}
static void reset_mem(void) { pool_used = 0; }
#else
#include <stdio.h>
#include <stdlib.h>
static uint8_t* in_data;
static uint8_t* out_data;
static void* allocs[MAX_BUFS + 1];
static int n_allocs;
static void die(const char* msg) {
  fprintf(stderr, DRIVER_NAME ": %s\n", msg);
  exit(2);
}
static void* get_mem(uint32_t n) {
  void* p = malloc(n > 0 ? n : 1u); /* exact size: ASan sees any overrun */
  if (!p) die("out of memory");
  allocs[n_allocs++] = p;
  return p;
}
static void reset_mem(void) {
  while (n_allocs > 0) free(allocs[--n_allocs]);
}
#endif

static uint32_t in_len, in_pos, out_len;

static int32_t rd(void) {
  int32_t v;
  if (in_pos + 4u > in_len) die("truncated input");
  v = (int32_t)((uint32_t)in_data[in_pos] | ((uint32_t)in_data[in_pos + 1] << 8) |
                ((uint32_t)in_data[in_pos + 2] << 16) | ((uint32_t)in_data[in_pos + 3] << 24));
  in_pos += 4u;
  return v;
}

/* The 19 te_conv_params fields of a conv case (the caller zero-initialises the rest: out_stride, groups...). */
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

static void run_all(void) {
  while (in_pos < in_len) {
    int32_t op = rd(), np = rd(), nb, out_n, i;
    int32_t q[MAX_PARAMS];
    void* bufs[MAX_BUFS];
    uint8_t* out;
    if (np < 0 || np > MAX_PARAMS) die("bad n_params");
    for (i = 0; i < np; ++i) q[i] = rd();
    nb = rd();
    if (nb < 0 || nb > MAX_BUFS) die("bad n_bufs");
    for (i = 0; i < MAX_BUFS; ++i) bufs[i] = NULL;
    for (i = 0; i < nb; ++i) {
      const int32_t len = rd();
      if (len < 0 || in_pos + (uint32_t)len > in_len) die("bad buffer");
      if (len > 0) {
        bufs[i] = get_mem((uint32_t)len);
        memcpy(bufs[i], in_data + in_pos, (size_t)len);
        in_pos += (uint32_t)len;
      }
    }
    out_n = rd();
    if (out_n < 0) die("bad output length");
    out = get_mem((uint32_t)out_n);
    memset(out, 0x5A, (size_t)out_n); /* poison: unwritten bytes show up */
    run_case(op, np, q, bufs, out);
#if defined(__arm__)
    if (out_len + (uint32_t)out_n > IN_MAX) die("output too large");
#endif
    memcpy(out_data + out_len, out, (size_t)out_n);
    out_len += (uint32_t)out_n;
    reset_mem();
  }
}

#if defined(__arm__)
int main(void) {
  uint32_t rec[8] = {0x524D4554u, 0, 0, 0, 0, 0, 0, 0};
  int32_t fh = te_sh_open("te_input.bin", 1);
  int32_t n;
  if (fh < 0) die("cannot open te_input.bin");
  n = te_sh_flen(fh);
  if (n < 0 || (uint32_t)n > IN_MAX) die("input too large");
  in_len = (uint32_t)n;
  if (te_sh_read(fh, in_data, in_len) != 0) die("short read");
  te_sh_close(fh);
  run_all();
  fh = te_sh_open("te_output.bin", 5);
  if (fh < 0 || te_sh_write(fh, out_data, out_len) != 0) die("cannot write output");
  te_sh_close(fh);
  fh = te_sh_open("te_result.bin", 5);
  te_sh_write(fh, rec, sizeof rec);
  te_sh_close(fh);
  return 0;
}
#else
int main(int argc, char** argv) {
  FILE* f;
  long n;
  if (argc != 3) die("usage: " DRIVER_NAME " <cases.bin> <outputs.bin>");
  f = fopen(argv[1], "rb");
  if (!f) die("cannot open input");
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  in_data = malloc((size_t)n + 1u);
  out_data = malloc(64u << 20);
  if (!in_data || !out_data) die("out of memory");
  if (fread(in_data, 1, (size_t)n, f) != (size_t)n) die("short read");
  fclose(f);
  in_len = (uint32_t)n;
  run_all();
  f = fopen(argv[2], "wb");
  if (!f) die("cannot open output");
  fwrite(out_data, 1, out_len, f);
  fclose(f);
  free(in_data);
  free(out_data);
  return 0;
}
#endif

#endif /* DRIVER_HARNESS_H_ */
