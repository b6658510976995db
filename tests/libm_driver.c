/*
 * libm_driver.c: te_expf / te_logf (log_softmax_f32.c) on a list of floats, on the host or on a
 * Cortex-M core under QEMU (semihosting: te_input.bin -> te_output.bin).
 *
 * Input: uint32 n_exp, uint32 n_log, n_exp floats, n_log floats.
 * Output: te_expf of the first list, te_logf of the second (float bits).
 * Host only, "sweep LO HI": every float bit pattern in [LO, HI) through te_expf and te_logf against
 * this host's libm expf / logf; prints the mismatch counts and the first few (exit 1 if any).
 */
#include <stdint.h>
#include <string.h>

#include "tinyengine_kernels.h"

static void run_lists(const uint8_t* in, uint8_t* out) {
  uint32_t n_exp, n_log, i;
  float x, y;
  memcpy(&n_exp, in, 4);
  memcpy(&n_log, in + 4, 4);
  in += 8;
  for (i = 0; i < n_exp + n_log; ++i) {
    memcpy(&x, in + 4 * i, 4);
    y = i < n_exp ? te_expf(x) : te_logf(x);
    memcpy(out + 4 * i, &y, 4);
  }
}

#if defined(__arm__)
#include "semihost.h"

#define IN_MAX (200u * 1024u)
static uint8_t in_data[IN_MAX];
static uint8_t out_data[IN_MAX];

int main(void) {
  uint32_t rec[8] = {0x524D4554u, 0, 0, 0, 0, 0, 0, 0};
  int32_t fh = te_sh_open("te_input.bin", 1), n;
  if (fh < 0) te_sh_exit(2);
  n = te_sh_flen(fh);
  if (n < 8 || (uint32_t)n > IN_MAX || te_sh_read(fh, in_data, (uint32_t)n) != 0) te_sh_exit(3);
  te_sh_close(fh);
  run_lists(in_data, out_data);
  fh = te_sh_open("te_output.bin", 5);
  if (fh < 0 || te_sh_write(fh, out_data, (uint32_t)n - 8u) != 0) te_sh_exit(4);
  te_sh_close(fh);
  fh = te_sh_open("te_result.bin", 5);
  te_sh_write(fh, rec, sizeof rec);
  te_sh_close(fh);
  return 0;
}
#else
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int same(float a, float b) { return memcmp(&a, &b, 4) == 0 || (a != a && b != b); }

static int sweep(uint64_t lo, uint64_t hi) {
  uint64_t i, bad_exp = 0, bad_log = 0;
  for (i = lo; i < hi; ++i) {
    uint32_t u = (uint32_t)i;
    float x;
    memcpy(&x, &u, 4);
    if (!same(te_expf(x), expf(x)) && bad_exp++ < 5) printf("expf(%a): glibc %a, te %a\n", x, expf(x), te_expf(x));
    if (!same(te_logf(x), logf(x)) && bad_log++ < 5) printf("logf(%a): glibc %a, te %a\n", x, logf(x), te_logf(x));
  }
  printf("swept %llu floats: expf mismatches %llu, logf mismatches %llu\n", (unsigned long long)(hi - lo),
         (unsigned long long)bad_exp, (unsigned long long)bad_log);
  return bad_exp || bad_log;
}

int main(int argc, char** argv) {
  FILE* f;
  long n;
  uint8_t *in, *out;
  if (argc == 4 && strcmp(argv[1], "sweep") == 0) return sweep(strtoull(argv[2], 0, 0), strtoull(argv[3], 0, 0));
  if (argc != 3) return 2;
  f = fopen(argv[1], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  in = malloc((size_t)n);
  out = malloc((size_t)n);
  if (!in || !out || n < 8 || fread(in, 1, (size_t)n, f) != (size_t)n) return 2;
  fclose(f);
  run_lists(in, out);
  f = fopen(argv[2], "wb");
  if (!f) return 2;
  fwrite(out, 1, (size_t)n - 8u, f);
  fclose(f);
  free(in);
  free(out);
  return 0;
}
#endif
