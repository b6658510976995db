/*
 * startup.c: vector table, reset handler and the instruction/cycle counter of the measuring
 * firmware. Reset enables the FPU, copies .data from Flash, zeroes .bss, paints the stack (to
 * measure its high-water mark) and calls main(); main's return value ends the semihosting
 * session. The counter is SysTick clocked by the core clock, 24 bits wide, extended in software
 * by counting wraps in its interrupt. Under QEMU with -icount shift=0 one tick is a fixed number
 * of retired instructions (1e9 / core clock Hz); on a board te_cycles() reads the DWT cycle
 * counter instead when TE_USE_DWT is defined.
 */
#include <stdint.h>

#include "semihost.h"
#include "te_timer.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_limit, __stack_top;
int main(void);
void Reset_Handler(void) __attribute__((noreturn));
void Default_Handler(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t*)0xE000ED88u)
#define SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t*)0xE000E018u)
#define DEMCR (*(volatile uint32_t*)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t*)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t*)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t*)0xE0001FB0u)
#define STACK_PAINT 0xC5C5C5C5u
/* Counter width used per wrap (24 = SysTick's full range; tests build with fewer bits to exercise wraps). */
#ifndef TE_SYSTICK_BITS
#define TE_SYSTICK_BITS 24
#endif
#define SYSTICK_PERIOD ((uint32_t)1 << TE_SYSTICK_BITS)

static volatile uint32_t systick_wraps;

__attribute__((section(".vectors"), used)) const uintptr_t te_vectors[16] = {
    (uintptr_t)&__stack_top,      (uintptr_t)Reset_Handler,   (uintptr_t)Default_Handler, /* NMI */
    (uintptr_t)Default_Handler, /* HardFault */
    (uintptr_t)Default_Handler, /* MemManage */
    (uintptr_t)Default_Handler, /* BusFault */
    (uintptr_t)Default_Handler, /* UsageFault */
    (uintptr_t)Default_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    (uintptr_t)Default_Handler, /* SVCall */
    (uintptr_t)Default_Handler, /* DebugMonitor */
    0,
    (uintptr_t)Default_Handler, /* PendSV */
    (uintptr_t)SysTick_Handler,
};

void Default_Handler(void) {
  te_sh_puts("tinyengine firmware: unexpected exception (fault)\n");
  te_sh_exit(3);
}

void SysTick_Handler(void) { systick_wraps = systick_wraps + 1u; }

void te_timer_start(void) {
#ifdef TE_USE_DWT
  DEMCR |= 1u << 24;            /* TRCENA */
  DWT_LAR = 0xC5ACCE55u;        /* unlock (Cortex-M7) */
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u;               /* CYCCNTENA */
#endif
  SYST_CSR = 0;
  systick_wraps = 0;
  SYST_RVR = SYSTICK_PERIOD - 1u;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* core clock, interrupt on wrap, enable */
}

uint64_t te_ticks(void) {
  uint32_t wraps, val;
  do {
    wraps = systick_wraps;
    val = SYST_CVR;
  } while (wraps != systick_wraps);
  /* wraps and VAL are consistent: a wrap between the two reads runs the interrupt at once
   * (interrupts are enabled) and changes wraps, so the loop reads again. */
  /* The wrap interrupt fires as VAL reaches 0, the reload to the top follows one tick later. */
  return ((uint64_t)wraps << TE_SYSTICK_BITS) + (val == 0u ? 0u : (uint64_t)(SYSTICK_PERIOD - val));
}

uint32_t te_cycles(void) {
#ifdef TE_USE_DWT
  return DWT_CYCCNT;
#else
  return 0;
#endif
}

uint32_t te_stack_used(void) {
  const uint32_t* p = &__stack_limit;
  while (p < &__stack_top && *p == STACK_PAINT) ++p;
  return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

__attribute__((noinline)) static void enable_fpu(void) {
  SCB_CPACR |= 0xFu << 20; /* CP10, CP11 full access */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
}

#ifdef TE_ENABLE_CACHES
/* Cortex-M7 boards: invalidate and enable the instruction and data caches (QEMU has none). */
#define SCB_CCR (*(volatile uint32_t*)0xE000ED14u)
#define SCB_CCSIDR (*(volatile uint32_t*)0xE000ED80u)
#define SCB_CSSELR (*(volatile uint32_t*)0xE000ED84u)
#define SCB_ICIALLU (*(volatile uint32_t*)0xE000EF50u)
#define SCB_DCISW (*(volatile uint32_t*)0xE000EF60u)
__attribute__((noinline)) static void enable_caches(void) {
  uint32_t ccsidr, sets, ways, s, w;
  SCB_ICIALLU = 0u;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  SCB_CCR |= 1u << 17; /* IC */
  SCB_CSSELR = 0u;     /* level 1 data cache */
  __asm__ volatile("dsb" ::: "memory");
  ccsidr = SCB_CCSIDR;
  sets = (ccsidr >> 13) & 0x7FFFu;
  ways = (ccsidr >> 3) & 0x3FFu;
  for (s = 0; s <= sets; ++s)
    for (w = 0; w <= ways; ++w) SCB_DCISW = (w << 30) | (s << 5);
  __asm__ volatile("dsb" ::: "memory");
  SCB_CCR |= 1u << 16; /* DC */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
}
#endif

__attribute__((noinline)) static void paint_stack(void) {
  volatile uint32_t here = 0;
  uint32_t* p = &__stack_limit;
  /* stop 64 bytes below this frame */
  while ((uintptr_t)p + 64u < (uintptr_t)&here) *p++ = STACK_PAINT;
}

void Reset_Handler(void) {
  uint32_t* src = &__data_load;
  uint32_t* dst = &__data_start;
  enable_fpu();
#ifdef TE_ENABLE_CACHES
  enable_caches();
#endif
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end; ++dst) *dst = 0;
  paint_stack();
  te_sh_exit(main());
}
