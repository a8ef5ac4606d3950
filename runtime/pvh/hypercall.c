// The hypercall page: Xen writes the right instruction (vmcall or vmmcall)
// for this CPU into it when the guest names it through Xen's MSR.
#include <cpuid.h>
#include <string.h>
#include "hypercall.h"

static _Alignas(4096) uint8_t hypercall_page[4096];

/* Xen's CPUID leaves start at 0x40000000, or higher when it also offers Viridian's. */
int hypercall_init(void)
{
    for (uint32_t base = 0x40000000; base < 0x40010000; base += 0x100) {
        uint32_t eax, ebx, ecx, edx;
        __cpuid(base, eax, ebx, ecx, edx);
        uint32_t signature[3] = { ebx, ecx, edx };
        if (memcmp(signature, "XenVMMXenVMM", 12) != 0 || eax < base + 2)
            continue;
        __cpuid(base + 2, eax, ebx, ecx, edx); /* eax: pages, ebx: the MSR */
        uint64_t page = (uint64_t)(uintptr_t)hypercall_page; /* identity-mapped */
        __asm__ volatile("wrmsr" ::"c"(ebx), "a"((uint32_t)page), "d"((uint32_t)(page >> 32)) : "memory");
        return 1;
    }
    return 0;
}

long hypercall(unsigned int nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
    long result;
    __asm__ volatile("call *%[entry]"
                     : "=a"(result), "+D"(a1), "+S"(a2), "+d"(a3)
                     : [entry] "r"(hypercall_page + 32 * nr)
                     : "rcx", "r8", "r10", "r11", "memory");
    return result;
}
