/*
 * How the native bench programs time a workload (rings.c, harness_wasm2c.c):
 * calibrated so that a run takes >= 0.5 s, the best ops/s of 5 runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef uint64_t (*workload_fn)(uint64_t);

/* The workload argv[1] names, of the two every bench program runs; NULL, said on stderr, for a bad command line. */
static workload_fn chosen_workload(int argc, char **argv, workload_fn blkif_ring_roundtrip, workload_fn xenstore_ring_msg)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s blkif_ring_roundtrip|xenstore_ring_msg [iterations]\n", argv[0]);
        return NULL;
    }
    if (strcmp(argv[1], "blkif_ring_roundtrip") == 0)
        return blkif_ring_roundtrip;
    if (strcmp(argv[1], "xenstore_ring_msg") == 0)
        return xenstore_ring_msg;
    fprintf(stderr, "unknown workload %s\n", argv[1]);
    return NULL;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Prints the best ops/s of `workload(n)`, which returns the ops done (0 when its self-check failed); 1 on failure. */
static int print_best_ops_per_second(workload_fn workload)
{
    uint64_t n = 1 << 16;
    double elapsed;
    for (;;) {
        double start = now();
        if (workload(n) == 0)
            return 1;
        elapsed = now() - start;
        if (elapsed >= 0.1)
            break;
        n *= 4;
    }
    n = (uint64_t)((double)n * 0.5 / elapsed) + 1;
    double best = 0;
    for (int run = 0; run < 5; run++) {
        double start = now();
        uint64_t ops = workload(n);
        elapsed = now() - start;
        if (ops == 0)
            return 1;
        if ((double)ops / elapsed > best)
            best = (double)ops / elapsed;
    }
    printf("%.0f\n", best);
    return 0;
}
