/* te_timer.h: the measuring firmware's counters (implemented in startup.c). */
#ifndef TE_TIMER_H_
#define TE_TIMER_H_

#include <stdint.h>

void te_timer_start(void);
/* SysTick ticks since te_timer_start(), 24-bit wraps included. */
uint64_t te_ticks(void);
/* DWT cycle counter (boards; 0 when built without TE_USE_DWT). */
uint32_t te_cycles(void);
/* Deepest stack use since reset, in bytes (stack painted at reset). */
uint32_t te_stack_used(void);

#endif /* TE_TIMER_H_ */
