/*
 * libxenstore's read loop, for `npm run bench` (xenstored_socket_read):
 * connects as Xen's tools do (XENSTORED_PATH, else the standard socket),
 * writes one node, then reads it back in a loop.
 *   xenstore_read <path>   calibrates to >= 0.5 s, prints the best reads/s of 5 runs
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Reads `path` `n` times; false if any read fails or returns the wrong value. */
static bool reads(struct xs_handle *xs, const char *path, const char *expected, long n)
{
    for (long i = 0; i < n; i++) {
        unsigned int length;
        char *value = xs_read(xs, XBT_NULL, path, &length);
        bool ok = value && length == strlen(expected) && memcmp(value, expected, length) == 0;
        free(value);
        if (!ok)
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *value = "a value of some thirty-two bytes";
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH\n", argv[0]);
        return 2;
    }
    struct xs_handle *xs = xs_open(0);
    if (!xs || !xs_write(xs, XBT_NULL, argv[1], value, strlen(value))) {
        perror("xenstore");
        return 1;
    }
    long n = 64;
    double seconds;
    do {
        n *= 2;
        double start = now();
        if (!reads(xs, argv[1], value, n))
            return 1;
        seconds = now() - start;
    } while (seconds < 0.1);
    n = (long)(n * 0.5 / seconds) + 1;
    double best = 0;
    for (int run = 0; run < 5; run++) {
        double start = now();
        if (!reads(xs, argv[1], value, n))
            return 1;
        double rate = n / (now() - start);
        if (rate > best)
            best = rate;
    }
    printf("%.0f\n", best);
    xs_close(xs);
    return 0;
}
