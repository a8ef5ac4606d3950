/* The host's own output: early, before and around the module. */
#ifndef CONSOLE_H
#define CONSOLE_H
#include <stdint.h>

/* Finds the PV console (HVM params) so that say() also reaches xenconsoled. */
void console_init(void);
/* The module moved the page at `from_gfn` to `to_gfn` (XENMAPSPACE_gmfn): if it is the console's, follow it. */
void console_page_moved(uint64_t from_gfn, uint64_t to_gfn);
/* Writes bytes to Xen's debug port 0xE9 (shown with guest_loglvl=all). */
void debug_port_write(const char *text, uint32_t length);
/* Prints "pvh: <text>" as a line; say_hex and say_decimal add the value to the label. */
void say(const char *text);
void say_hex(const char *label, uint64_t value);
void say_decimal(const char *label, int64_t value);

#endif
