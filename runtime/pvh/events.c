// Interrupts. The host runs with interrupts off except while the module
// blocks: on PVH, SCHEDOP_block returns on an event only if Xen can deliver
// it as an interrupt, so events are routed to UPCALL_VECTOR through the
// local APIC, whose handler (entry.S) only acknowledges it. The module then
// finds its events in shared_info, as it does in the simulation.
#include <stdint.h>
#include <xen/xen.h>
#include <xen/hvm/hvm_op.h>
#include "console.h"
#include "events.h"
#include "hypercall.h"
#include "pvh.h"

struct gate {
    uint16_t offset_low, selector;
    uint8_t ist, type;
    uint16_t offset_middle;
    uint32_t offset_high, reserved;
};

#define CODE64 0x08
#define INTERRUPT_GATE 0x8e

static struct gate idt[256];

extern const uint8_t exception_stubs[];
extern const uint8_t upcall_stub[], spurious_stub[];

static void set_gate(int vector, const void *handler)
{
    uint64_t at = (uint64_t)(uintptr_t)handler;
    idt[vector] = (struct gate){
        .offset_low = (uint16_t)at, .selector = CODE64, .type = INTERRUPT_GATE,
        .offset_middle = (uint16_t)(at >> 16), .offset_high = (uint32_t)(at >> 32),
    };
}

void traps_init(void)
{
    for (int vector = 0; vector < 32; vector++)
        set_gate(vector, exception_stubs + 16 * vector);
    set_gate(UPCALL_VECTOR, upcall_stub);
    set_gate(SPURIOUS_VECTOR, spurious_stub);
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) pointer = { sizeof(idt) - 1, (uintptr_t)idt };
    __asm__ volatile("lidt %0" ::"m"(pointer));
}

static const char *const exception_names[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
    "device not available", "double fault", 0, "invalid TSS", "segment not present",
    "stack fault", "general protection", "page fault", 0, "x87 floating point",
    "alignment check", "machine check", "SIMD floating point", "virtualization",
    "control protection",
};

/* Called by entry.S for vectors 0-31; frame is what the CPU pushed: rip, cs, rflags, rsp, ss. */
_Noreturn void exception(uint64_t vector, uint64_t error, const uint64_t *frame)
{
    const char *name = vector < 32 && exception_names[vector] ? exception_names[vector] : "exception";
    say_hex(name, vector);
    say_hex("  error code", error);
    say_hex("  rip", frame[0]);
    say_hex("  rsp", frame[3]);
    if (vector == 14) {
        uint64_t address;
        __asm__ volatile("mov %%cr2, %0" : "=r"(address));
        say_hex("  address", address);
    }
    crash("CPU exception");
}

int events_init(void)
{
    /* Xen starts the vCPU's APIC software-disabled; it then accepts no interrupts. */
    volatile uint32_t *spurious = (volatile uint32_t *)(uintptr_t)APIC_SPURIOUS;
    *spurious = APIC_ENABLE | SPURIOUS_VECTOR;
    struct xen_hvm_evtchn_upcall_vector upcall = { .vcpu = 0, .vector = UPCALL_VECTOR };
    return (int)hypercall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, (uintptr_t)&upcall, 0);
}

/*
 * sti; hlt: the interrupt shadow of sti covers hlt, so an event that arrived
 * before cannot be taken between the two and leave us blocked with it
 * pending. Xen turns an HVM guest's hlt with interrupts on into
 * SCHEDOP_block (hvm_hlt), which returns at once when an event is pending.
 * A hypercall there would leave a gap: the upcall could be taken and
 * acknowledged between sti and the call, which would then block.
 */
void block_until_event(void)
{
    __asm__ volatile("sti; hlt; cli" ::: "memory");
}
