/*
 * How the native bench programs time a workload (rings.c, harness_wasm2c.c):
 * calibrated so that a run takes >= 0.5 s, the best ops/s of 5 runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Prints the best ops/s of `workload(n)`, which returns the ops done (0 when its self-check failed); 1 on failure. */
static int print_best_ops_per_second(uint64_t (*workload)(uint64_t))
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
