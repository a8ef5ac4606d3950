// The PVH kernel's C entry (entry.S calls it in long mode with a stack):
// set up what the module's imports rely on, run the module's main(), and end
// the domain with its outcome. main() returns a SHUTDOWN_* reason (0
// poweroff, 1 reboot) once it has closed its devices, or -errno when it
// failed, which ends the domain as crashed.
#include <stdint.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/arch-x86/hvm/start_info.h>
#include "console.h"
#include "events.h"
#include "hypercall.h"
#include "imports.h"
#include "pvh.h"
#include "module.h"

/* MODULE_NAME: the module's file name, given by the build. */

_Noreturn void shutdown(unsigned int reason)
{
    struct sched_shutdown shutdown = { .reason = reason };
    hypercall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (uintptr_t)&shutdown, 0);
    for (;;)
        __asm__ volatile("cli; hlt");
}

_Noreturn void crash(const char *why)
{
    char line[128] = "crash: ";
    strncat(line, why, sizeof(line) - 8);
    say(line);
    shutdown(SHUTDOWN_crash);
}

static w2c_module instance;
static struct w2c_xen xen;

void pvh_main(const struct hvm_start_info *start_info)
{
    if (!hypercall_init()) {
        debug_port_write("pvh: not running on Xen\n", 24);
        for (;;)
            __asm__ volatile("cli; hlt");
    }
    traps_init();
    console_init();
    if (start_info->magic != XEN_HVM_START_MAGIC_VALUE)
        crash("no hvm_start_info in %ebx: not started as a PVH guest");
    say("starting " MODULE_NAME);
    int rc = events_init();
    if (rc != 0)
        say_decimal("HVMOP_set_evtchn_upcall_vector failed, SCHEDOP_block will not wake:", rc);
    wasm_rt_init();
    xen.memory = w2c_module_memory(&instance);
    wasm2c_module_instantiate(&instance, &xen);
    int32_t result = (int32_t)w2c_module_main(&instance);
    if (result < 0) {
        say_decimal("main failed:", result);
        shutdown(SHUTDOWN_crash);
    }
    say_decimal("main returned shutdown reason", result);
    shutdown((unsigned int)result);
}
