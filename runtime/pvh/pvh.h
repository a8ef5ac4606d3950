/* What the parts of the PVH host share: where things are, and how it ends. */
#ifndef PVH_H
#define PVH_H

/* The virtual address at which C sees the module's linear memory; entry.S maps
 * guest-physical 0 there. Offsets stay physical addresses: gfn = offset >> 12. */
#define MEMORY_BASE 0x100000000
/* Linear memory may grow up to the kernel image, which Xen loads at 256 MiB. */
#define MEMORY_LIMIT 0x10000000

/* The local APIC (xAPIC mode, as Xen starts a PVH vCPU). */
#define APIC_EOI 0xfee000b0
#define APIC_SPURIOUS 0xfee000f0
#define APIC_ENABLE 0x100
/* Vectors: Xen's event upcall (Linux uses the same), the APIC's spurious one. */
#define UPCALL_VECTOR 0xf3
#define SPURIOUS_VECTOR 0xff

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Ends the domain with SHUTDOWN_poweroff or SHUTDOWN_crash; never returns. */
_Noreturn void shutdown(unsigned int reason);
/* Prints "pvh: crash: <why>" and ends the domain as crashed. */
_Noreturn void crash(const char *why);
#endif

#endif
