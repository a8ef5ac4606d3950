/*
 * The harness's bench_* workloads (assembly/harness.ts) compiled by wasm2c
 * and gcc -O2 and run natively, to compare with the same module in V8 and
 * wasmtime and with rings.c's C. Same command line as rings.c:
 *   harness_wasm2c <workload> <iterations>   runs once, prints the ops counted and
 *                                           a digest (FNV-1a) of the harness's scratch pages
 *   harness_wasm2c <workload>                calibrates, prints the best ops/s
 * The harness needs no hypervisor: its `xen` imports answer -ENOSYS.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "measure.h"

#define ENOSYS 38

struct w2c_xen {
    int unused;
};

u32 w2c_xen_console_io(struct w2c_xen *xen, u32 cmd, u32 count, u32 buffer) { (void)xen, (void)cmd, (void)count, (void)buffer; return -ENOSYS; }
u32 w2c_xen_event_channel_op(struct w2c_xen *xen, u32 cmd, u32 arg) { (void)xen, (void)cmd, (void)arg; return -ENOSYS; }
u32 w2c_xen_grant_table_op(struct w2c_xen *xen, u32 cmd, u32 uop, u32 count) { (void)xen, (void)cmd, (void)uop, (void)count; return -ENOSYS; }
u32 w2c_xen_hvm_op(struct w2c_xen *xen, u32 cmd, u32 arg) { (void)xen, (void)cmd, (void)arg; return -ENOSYS; }
u32 w2c_xen_memory_op(struct w2c_xen *xen, u32 cmd, u32 arg) { (void)xen, (void)cmd, (void)arg; return -ENOSYS; }
u32 w2c_xen_sched_op(struct w2c_xen *xen, u32 cmd, u32 arg) { (void)xen, (void)cmd, (void)arg; return -ENOSYS; }

static w2c_harness harness;
static struct w2c_xen xen;

static uint64_t blkif_ring_roundtrip(uint64_t requests)
{
    return w2c_harness_bench_blkif_roundtrip(&harness, (u32)requests);
}

static uint64_t xenstore_ring_msg(uint64_t messages)
{
    return w2c_harness_bench_xenstore_msg(&harness, (u32)messages);
}

/* FNV-1a over the scratch pages, where the workloads keep their rings. */
static uint64_t scratch_digest(void)
{
    const uint8_t *at = w2c_harness_memory(&harness)->data + *w2c_harness_harness_scratch(&harness);
    uint64_t hash = 0xcbf29ce484222325u;
    for (uint32_t i = 0; i < *w2c_harness_harness_scratch_pages(&harness) * 4096u; i++)
        hash = (hash ^ at[i]) * 0x100000001b3u;
    return hash;
}

int main(int argc, char **argv)
{
    workload_fn workload = chosen_workload(argc, argv, blkif_ring_roundtrip, xenstore_ring_msg);
    if (workload == NULL)
        return 2;
    wasm_rt_init();
    wasm2c_harness_instantiate(&harness, &xen);
    if (argc > 2) {
        uint64_t ops = workload(strtoull(argv[2], NULL, 10));
        printf("%" PRIu64 " %016" PRIx64 "\n", ops, scratch_digest());
        return 0;
    }
    return print_best_ops_per_second(workload);
}
