// The host prints through every channel Xen offers a domU, since each
// fails somewhere: console_io is -EPERM for a domU on release builds of Xen,
// port 0xE9 shows only with guest_loglvl=all, and the PV console ring needs
// xenconsoled. The host writes there only before the module runs and once it
// has returned or crashed, so the module's console driver and the host never interleave;
// it follows the page when the module moves it (console_page_moved).
#include <stdint.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/console.h>
#include "console.h"
#include "hypercall.h"

static struct xencons_interface *ring;
static evtchn_port_t ring_port;

static uint64_t hvm_param(uint32_t index)
{
    struct xen_hvm_param param = { .domid = DOMID_SELF, .index = index };
    if (hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, (uintptr_t)&param, 0) != 0)
        return 0;
    return param.value;
}

void console_init(void)
{
    uint64_t pfn = hvm_param(HVM_PARAM_CONSOLE_PFN);
    uint64_t port = hvm_param(HVM_PARAM_CONSOLE_EVTCHN);
    if (pfn == 0 || port == 0)
        return;
    ring = (struct xencons_interface *)(uintptr_t)(pfn << 12); /* identity-mapped */
    ring_port = (evtchn_port_t)port;
}

void console_page_moved(uint64_t from_gfn, uint64_t to_gfn)
{
    if (ring == (struct xencons_interface *)(uintptr_t)(from_gfn << 12))
        ring = (struct xencons_interface *)(uintptr_t)(to_gfn << 12);
}

void debug_port_write(const char *text, uint32_t length)
{
    for (uint32_t i = 0; i < length; i++)
        __asm__ volatile("outb %0, $0xe9" ::"a"(text[i]));
}

/* Copies what fits into the ring's output and tells xenconsoled; drops the rest rather than wait. */
static void ring_write(const char *text, uint32_t length)
{
    XENCONS_RING_IDX cons = __atomic_load_n(&ring->out_cons, __ATOMIC_ACQUIRE);
    XENCONS_RING_IDX prod = ring->out_prod;
    if (prod - cons > sizeof(ring->out))
        return; /* indices no ring can have */
    for (uint32_t i = 0; i < length && prod - cons < sizeof(ring->out); i++)
        ring->out[MASK_XENCONS_IDX(prod++, ring->out)] = text[i];
    __atomic_store_n(&ring->out_prod, prod, __ATOMIC_RELEASE);
    struct evtchn_send send = { .port = ring_port };
    hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (uintptr_t)&send, 0);
}

static void write_all(const char *text, uint32_t length)
{
    hypercall(__HYPERVISOR_console_io, CONSOLEIO_write, length, (uintptr_t)text);
    debug_port_write(text, length);
    if (ring)
        ring_write(text, length);
}

void say(const char *text)
{
    char line[160] = "pvh: ";
    size_t length = strlen(line);
    for (; *text && length < sizeof(line) - 1; text++)
        line[length++] = *text;
    line[length++] = '\n';
    write_all(line, (uint32_t)length);
}

/* Prints the label, a space, then `prefix` and `value`'s digits in `base`. */
static void say_number(const char *label, const char *prefix, uint64_t value, unsigned int base)
{
    char line[120], digits[24];
    size_t length = 0, count = 0;
    for (; *label && length < sizeof(line) - 30; label++)
        line[length++] = *label;
    line[length++] = ' ';
    for (; *prefix; prefix++)
        line[length++] = *prefix;
    do
        digits[count++] = "0123456789abcdef"[value % base];
    while ((value /= base) != 0);
    while (count > 0)
        line[length++] = digits[--count];
    line[length] = 0;
    say(line);
}

void say_hex(const char *label, uint64_t value)
{
    say_number(label, "0x", value, 16);
}

void say_decimal(const char *label, int64_t value)
{
    say_number(label, value < 0 ? "-" : "", value < 0 ? -(uint64_t)value : (uint64_t)value, 10);
}
