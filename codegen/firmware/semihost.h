/*
 * semihost.h: the few Arm semihosting calls the measuring firmware needs (open/read/write/close
 * a host file, print a string, exit), issued with BKPT 0xAB. No newlib stdio: the firmware's
 * Flash stays the model's own. Works under QEMU (-semihosting-config enable=on) and under a
 * debug probe with semihosting enabled (pyOCD, OpenOCD).
 */
#ifndef TE_SEMIHOST_H_
#define TE_SEMIHOST_H_

#include <stdint.h>

/* Opens a host file; mode 1 = "rb", 5 = "wb". Returns a handle, or -1. */
int32_t te_sh_open(const char* path, int32_t mode);
int32_t te_sh_close(int32_t handle);
/* Both return the number of bytes NOT transferred (0 on success). */
int32_t te_sh_read(int32_t handle, void* buf, uint32_t len);
int32_t te_sh_write(int32_t handle, const void* buf, uint32_t len);
/* Length in bytes of an open host file, or -1. */
int32_t te_sh_flen(int32_t handle);
/* Writes a NUL-terminated string to the debugger console. */
void te_sh_puts(const char* s);
/* Ends the session: status 0 reports success to the host, anything else a failure. */
void te_sh_exit(int32_t status) __attribute__((noreturn));

#endif /* TE_SEMIHOST_H_ */
