// The few C library functions that gcc's output and wasm2c's need, for a
// kernel with no libc. Built with -fno-tree-loop-distribute-patterns so
// that gcc does not turn these loops back into calls to themselves.
#include <stddef.h>
#include <stdint.h>
#include "pvh.h"

void *memset(void *target, int value, size_t length)
{
    uint8_t *t = target;
    while (length--)
        *t++ = (uint8_t)value;
    return target;
}

void *memcpy(void *restrict target, const void *restrict source, size_t length)
{
    uint8_t *t = target;
    const uint8_t *s = source;
    while (length--)
        *t++ = *s++;
    return target;
}

void *memmove(void *target, const void *source, size_t length)
{
    uint8_t *t = target;
    const uint8_t *s = source;
    if (t < s)
        while (length--)
            *t++ = *s++;
    else
        while (length--)
            t[length] = s[length];
    return target;
}

int memcmp(const void *left, const void *right, size_t length)
{
    const uint8_t *l = left, *r = right;
    for (; length; length--, l++, r++)
        if (*l != *r)
            return *l - *r;
    return 0;
}

size_t strlen(const char *text)
{
    size_t length = 0;
    while (text[length])
        length++;
    return length;
}

char *strncat(char *target, const char *source, size_t most)
{
    char *end = target + strlen(target);
    while (most-- && *source)
        *end++ = *source++;
    *end = 0;
    return target;
}

/* assert() in wasm2c's output and runtime header. */
_Noreturn void __assert_fail(const char *assertion, const char *file, unsigned int line, const char *function)
{
    (void)file, (void)line, (void)function;
    crash(assertion);
}

_Noreturn void abort(void)
{
    crash("abort");
}
