/* semihost.c: Arm semihosting calls (see semihost.h). */
#include "semihost.h"

#include <string.h>

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05, SYS_READ = 0x06,
       SYS_FLEN = 0x0C, SYS_EXIT = 0x18 };
enum { ADP_APPLICATION_EXIT = 0x20026, ADP_RUNTIME_ERROR = 0x20023 };

static int32_t sh_call(int32_t op, const void* arg) {
  register int32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

int32_t te_sh_open(const char* path, int32_t mode) {
  uint32_t args[3];
  args[0] = (uint32_t)(uintptr_t)path;
  args[1] = (uint32_t)mode;
  args[2] = (uint32_t)strlen(path);
  return sh_call(SYS_OPEN, args);
}

int32_t te_sh_close(int32_t handle) {
  uint32_t args[1];
  args[0] = (uint32_t)handle;
  return sh_call(SYS_CLOSE, args);
}

int32_t te_sh_read(int32_t handle, void* buf, uint32_t len) {
  uint32_t args[3];
  args[0] = (uint32_t)handle;
  args[1] = (uint32_t)(uintptr_t)buf;
  args[2] = len;
  return sh_call(SYS_READ, args);
}

int32_t te_sh_write(int32_t handle, const void* buf, uint32_t len) {
  uint32_t args[3];
  args[0] = (uint32_t)handle;
  args[1] = (uint32_t)(uintptr_t)buf;
  args[2] = len;
  return sh_call(SYS_WRITE, args);
}

int32_t te_sh_flen(int32_t handle) {
  uint32_t args[1];
  args[0] = (uint32_t)handle;
  return sh_call(SYS_FLEN, args);
}

void te_sh_puts(const char* s) { (void)sh_call(SYS_WRITE0, s); }

void te_sh_exit(int32_t status) {
  /* AArch32 SYS_EXIT takes the reason code itself in r1. */
  (void)sh_call(SYS_EXIT, (const void*)(uintptr_t)(status == 0 ? ADP_APPLICATION_EXIT : ADP_RUNTIME_ERROR));
  for (;;) {
  }
}
