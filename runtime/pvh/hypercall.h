/* Hypercalls through the page Xen fills in (its entry for hypercall nr is at
 * 32 * nr; arguments in rdi, rsi, rdx, r10, r8; the result in rax). */
#ifndef HYPERCALL_H
#define HYPERCALL_H
#include <stdint.h>

/* Finds Xen through CPUID and has it fill the hypercall page; false when this is not Xen. */
int hypercall_init(void);

long hypercall(unsigned int nr, uint64_t a1, uint64_t a2, uint64_t a3);

#endif
