// The module's `xen` imports as real hypercalls. The ABI (README, "The `xen`
// import ABI"): the command numbers and structs are Xen's own, pointer
// arguments are offsets into linear memory, to which the host adds the base
// at which it sees that memory; nothing else is translated. Handles inside
// the structs stay offsets: linear memory lies at guest-physical 0 and that
// is identity-mapped, so Xen finds the same bytes there.
#include <stdint.h>
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/errno.h>
#include <xen/memory.h>
#include "console.h"
#include "events.h"
#include "hypercall.h"
#include "imports.h"
#include "module.h" /* the prototypes wasm2c declares for these */

/* The pointer argument `offset` as Xen needs it, or 0 when [offset, offset + length) is not all in memory. */
static uint64_t address(const struct w2c_xen *xen, uint32_t offset, uint64_t length)
{
    if (offset + length > xen->memory->size)
        return 0;
    return (uint64_t)(uintptr_t)xen->memory->data + offset;
}

static uint32_t call(const struct w2c_xen *xen, unsigned int nr, uint32_t cmd, uint32_t arg, uint64_t third)
{
    uint64_t pointer = address(xen, arg, 1);
    if (pointer == 0)
        return (uint32_t)-XEN_EFAULT;
    return (uint32_t)hypercall(nr, cmd, pointer, third);
}

u32 w2c_xen_event_channel_op(struct w2c_xen *xen, u32 cmd, u32 arg)
{
    return call(xen, __HYPERVISOR_event_channel_op, cmd, arg, 0);
}

u32 w2c_xen_grant_table_op(struct w2c_xen *xen, u32 cmd, u32 uop, u32 count)
{
    return call(xen, __HYPERVISOR_grant_table_op, cmd, uop, count);
}

/* The host's console follows its page when the module moves it into its memory. */
u32 w2c_xen_memory_op(struct w2c_xen *xen, u32 cmd, u32 arg)
{
    uint32_t result = call(xen, __HYPERVISOR_memory_op, cmd, arg, 0);
    const struct xen_add_to_physmap *move = (const void *)(uintptr_t)address(xen, arg, sizeof(*move));
    if (cmd == XENMEM_add_to_physmap && result == 0 && move != 0 && move->space == XENMAPSPACE_gmfn)
        console_page_moved(move->idx, move->gpfn);
    return result;
}

u32 w2c_xen_hvm_op(struct w2c_xen *xen, u32 cmd, u32 arg)
{
    return call(xen, __HYPERVISOR_hvm_op, cmd, arg, 0);
}

u32 w2c_xen_xen_version(struct w2c_xen *xen, u32 cmd, u32 arg)
{
    return call(xen, __HYPERVISOR_xen_version, cmd, arg, 0);
}

/*
 * SCHEDOP_block is hlt with interrupts on (events.c says why); the rest go
 * to Xen. A suspend that returns has resumed, maybe in a new domain on
 * another host: the upcall vector and the console are set up again, as
 * Linux does on resume.
 */
u32 w2c_xen_sched_op(struct w2c_xen *xen, u32 cmd, u32 arg)
{
    if (cmd == SCHEDOP_block) {
        block_until_event();
        return 0;
    }
    uint32_t result = call(xen, __HYPERVISOR_sched_op, cmd, arg, 0);
    const struct sched_shutdown *shutdown = (const void *)(uintptr_t)address(xen, arg, sizeof(*shutdown));
    if (cmd == SCHEDOP_shutdown && shutdown != 0 && shutdown->reason == SHUTDOWN_suspend) {
        events_init();
        console_init();
    }
    return result;
}

/* A write also goes to port 0xE9: Xen refuses console_io to a domU on release builds. */
u32 w2c_xen_console_io(struct w2c_xen *xen, u32 cmd, u32 count, u32 buffer)
{
    uint64_t pointer = address(xen, buffer, count);
    if (pointer == 0)
        return (uint32_t)-XEN_EFAULT;
    if (cmd == CONSOLEIO_write)
        debug_port_write((const char *)(uintptr_t)pointer, count);
    return (uint32_t)hypercall(__HYPERVISOR_console_io, cmd, count, pointer);
}
