/* The module's `xen` imports: the instance wasm2c passes back to each. */
#ifndef IMPORTS_H
#define IMPORTS_H
#include "wasm-rt.h"

struct w2c_xen {
    wasm_rt_memory_t *memory; /* the module's linear memory */
};

#endif
