// The part of wasm2c's runtime a module needs, for a kernel with one
// module: its linear memory is guest-physical memory from 0 (seen at
// MEMORY_BASE), its tables come from a fixed arena, and a trap ends the
// domain. wasm2c's own runtime (wasm-rt-impl.c) needs an OS: mmap, signals,
// setjmp.
#include <string.h>
#include "pvh.h"
#include "wasm-rt.h"

#define WASM_PAGE 65536

/* wasm2c counts calls to trap on deep recursion (WASM_RT_STACK_DEPTH_COUNT);
 * there is one thread, so a plain global (built with -D_Thread_local=). */
uint32_t wasm_rt_call_stack_depth;

static bool initialized;

void wasm_rt_init(void)
{
    initialized = true;
}

bool wasm_rt_is_initialized(void)
{
    return initialized;
}

void wasm_rt_allocate_memory(wasm_rt_memory_t *memory, uint64_t initial_pages, uint64_t max_pages, bool is64)
{
    if (initial_pages > MEMORY_LIMIT / WASM_PAGE)
        crash("the module's initial memory does not fit below the kernel");
    if (max_pages > MEMORY_LIMIT / WASM_PAGE)
        max_pages = MEMORY_LIMIT / WASM_PAGE;
    *memory = (wasm_rt_memory_t){
        .data = (uint8_t *)MEMORY_BASE, .pages = initial_pages, .max_pages = max_pages,
        .size = initial_pages * WASM_PAGE, .is64 = is64,
    };
    memset(memory->data, 0, memory->size);
}

/* The pages are RAM already (the domain's memory reaches past the kernel); growing zeroes them. */
uint64_t wasm_rt_grow_memory(wasm_rt_memory_t *memory, uint64_t delta)
{
    uint64_t old_pages = memory->pages;
    if (delta > memory->max_pages - old_pages)
        return (uint64_t)-1;
    memset(memory->data + memory->size, 0, delta * WASM_PAGE);
    memory->pages += delta;
    memory->size = memory->pages * WASM_PAGE;
    return old_pages;
}

void wasm_rt_free_memory(wasm_rt_memory_t *memory)
{
    (void)memory;
}

/* Tables are allocated once, when the module is instantiated. */
static wasm_rt_funcref_t table_arena[16384];
static uint32_t table_arena_used;

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *table, uint32_t elements, uint32_t max_elements)
{
    if (elements > sizeof(table_arena) / sizeof(table_arena[0]) - table_arena_used)
        crash("the module's tables do not fit the host's arena");
    table->data = table_arena + table_arena_used;
    table_arena_used += elements;
    table->size = elements;
    table->max_size = elements; /* no table.grow: the arena is allocated in order */
    (void)max_elements;
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *table)
{
    (void)table;
}

static const char *const trap_names[] = {
    [WASM_RT_TRAP_NONE] = "no trap",
    [WASM_RT_TRAP_OOB] = "out of bounds memory access",
    [WASM_RT_TRAP_INT_OVERFLOW] = "integer overflow on divide or truncation",
    [WASM_RT_TRAP_DIV_BY_ZERO] = "integer divide by zero",
    [WASM_RT_TRAP_INVALID_CONVERSION] = "conversion from NaN to integer",
    [WASM_RT_TRAP_UNREACHABLE] = "unreachable executed",
    [WASM_RT_TRAP_CALL_INDIRECT] = "invalid call_indirect or return_call_indirect",
    [WASM_RT_TRAP_UNCAUGHT_EXCEPTION] = "uncaught exception",
    [WASM_RT_TRAP_UNALIGNED] = "unaligned atomic memory access",
    [WASM_RT_TRAP_EXHAUSTION] = "call stack exhausted",
};

void wasm_rt_trap(wasm_rt_trap_t trap)
{
    char why[96] = "wasm trap: ";
    const char *name = (unsigned)trap < sizeof(trap_names) / sizeof(trap_names[0]) && trap_names[trap] ? trap_names[trap] : "unknown";
    strncat(why, name, sizeof(why) - strlen(why) - 1);
    crash(why);
}
