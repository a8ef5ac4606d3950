// wasmtime's C API (wasm.h, wasmtime.h, wasmtime/component/*.h; the library
// the `wasmtime` wheel carries, 49.x) as koffi declares it: only the functions the adapter uses.
// Pointers are bigints (koffi's representation); handles the C API passes by
// value in caller memory (wasmtime_func_t, wasmtime_extern_t, ...) live in
// memory the adapter allocates, at the offsets and sizes below.
import koffi, { type LibraryHandle, type TypeObject } from "koffi";

/** wasmtime_extern_t: a u8 kind, then a union of handles (the largest, wasmtime_memory_t, is 24 bytes) at offset 8. */
export const EXTERN_SIZE = 32;
export const EXTERN_OF = 8;
/** wasmtime_extern_kind_t. */
export const EXTERN_FUNC = 0;
export const EXTERN_GLOBAL = 1;
export const EXTERN_MEMORY = 3;
/** wasmtime_val_t: a u8 kind, then a 24-byte union at offset 8. */
export const VAL_SIZE = 32;
export const VAL_OF = 8;
/** wasmtime_val_raw_t: 16 bytes, the value at offset 0. */
export const RAW_SIZE = 16;
/** wasm_valkind_t and wasmtime_valkind_t agree for numbers. */
export const I32 = 0;
export const I64 = 1;
export const F32 = 2;
export const F64 = 3;
/** wasmtime_instance_t. (A wasm_byte_vec_t, as every wasm_*_vec_t, is a size and a data pointer: 16 bytes.) */
export const INSTANCE_SIZE = 16;
/** wasmtime_component_val_t: a u8 kind, then a 24-byte union at offset 8 (a vec or a name is a size and a pointer). */
export const COMPONENT_VAL_SIZE = 32;
/** wasmtime_component_valrecord_entry_t: a name, then the value. */
export const RECORD_ENTRY_SIZE = 16 + COMPONENT_VAL_SIZE;
/** wasmtime_component_valkind_t, those the XenStore component's interfaces use. */
export const COMPONENT_BOOL = 0;
export const COMPONENT_U8 = 2;
export const COMPONENT_U32 = 6;
export const COMPONENT_STRING = 12;
export const COMPONENT_LIST = 13;
export const COMPONENT_RECORD = 14;
export const COMPONENT_ENUM = 17;
export const COMPONENT_RESULT = 19;
/** Room for a wasmtime_component_instance_t (16 bytes) or a wasmtime_component_func_t (32 bytes in 49.0: a store id and a u32, padded; a u32; a pointer). */
export const COMPONENT_HANDLE_SIZE = 32;

type Pointer = bigint;

export interface CApi {
  wasm_config_new(): Pointer;
  wasmtime_config_max_wasm_stack_set(config: Pointer, bytes: number): void;
  wasm_engine_new_with_config(config: Pointer): Pointer;
  wasmtime_module_new(engine: Pointer, wasm: Uint8Array, length: number, out: Pointer): Pointer | null;
  wasmtime_module_imports(module: Pointer, out: Pointer): void;
  wasm_importtype_module(importType: Pointer): Pointer;
  wasm_importtype_name(importType: Pointer): Pointer;
  wasm_importtype_type(importType: Pointer): Pointer;
  wasm_externtype_as_functype(externType: Pointer): Pointer | null;
  wasm_functype_params(funcType: Pointer): Pointer;
  wasm_functype_results(funcType: Pointer): Pointer;
  wasm_functype_delete(funcType: Pointer): void;
  wasm_valtype_kind(valType: Pointer): number;
  wasmtime_store_new(engine: Pointer, data: null, finalizer: null): Pointer;
  wasmtime_store_context(store: Pointer): Pointer;
  wasmtime_store_delete(store: Pointer): void;
  wasmtime_func_new_unchecked(
    context: Pointer,
    type: Pointer,
    callback: unknown,
    env: Pointer,
    finalizer: null,
    out: Pointer,
  ): void;
  wasmtime_func_type(context: Pointer, func: Pointer): Pointer;
  wasmtime_func_call_unchecked(
    context: Pointer,
    func: Pointer,
    argsAndResults: Pointer,
    length: number,
    trap: Pointer,
  ): Pointer | null;
  wasmtime_instance_new(
    context: Pointer,
    module: Pointer,
    imports: Pointer,
    count: number,
    out: Pointer,
    trap: Pointer,
  ): Pointer | null;
  wasmtime_instance_export_nth(
    context: Pointer,
    instance: Pointer,
    index: number,
    name: Pointer,
    nameLength: Pointer,
    item: Pointer,
  ): boolean;
  wasmtime_global_get(context: Pointer, global: Pointer, out: Pointer): void;
  wasmtime_memory_data(context: Pointer, memory: Pointer): Pointer;
  wasmtime_memory_data_size(context: Pointer, memory: Pointer): number;
  wasmtime_error_message(error: Pointer, out: Pointer): void;
  wasmtime_error_delete(error: Pointer): void;
  wasm_trap_message(trap: Pointer, out: Pointer): void;
  wasm_trap_delete(trap: Pointer): void;
  wasmtime_trap_new(message: string, length: number): Pointer;
  wasm_byte_vec_delete(vec: Pointer): void;
  /** Also wasm_name_new_uninitialized: a new vector of `length` bytes written to `out`. */
  wasm_byte_vec_new_uninitialized(out: Pointer, length: number): void;
  wasmtime_error_new(message: string): Pointer;
  wasmtime_component_new(engine: Pointer, wasm: Uint8Array, length: number, out: Pointer): Pointer | null;
  wasmtime_component_linker_new(engine: Pointer): Pointer;
  wasmtime_component_linker_root(linker: Pointer): Pointer;
  wasmtime_component_linker_instance_add_instance(
    instance: Pointer,
    name: string,
    nameLength: number,
    out: Pointer,
  ): Pointer | null;
  wasmtime_component_linker_instance_add_func(
    instance: Pointer,
    name: string,
    nameLength: number,
    callback: unknown,
    env: Pointer,
    finalizer: null,
  ): Pointer | null;
  wasmtime_component_linker_instance_delete(instance: Pointer): void;
  wasmtime_component_linker_instantiate(
    linker: Pointer,
    context: Pointer,
    component: Pointer,
    out: Pointer,
  ): Pointer | null;
  wasmtime_component_linker_delete(linker: Pointer): void;
  wasmtime_component_instance_get_export_index(
    instance: Pointer,
    context: Pointer,
    within: Pointer | null,
    name: string,
    nameLength: number,
  ): Pointer | null;
  wasmtime_component_export_index_delete(index: Pointer): void;
  wasmtime_component_instance_get_func(instance: Pointer, context: Pointer, index: Pointer, out: Pointer): boolean;
  wasmtime_component_func_call(
    func: Pointer,
    context: Pointer,
    args: Pointer,
    argCount: number,
    results: Pointer,
    resultCount: number,
  ): Pointer | null;
  wasmtime_component_func_post_return(func: Pointer, context: Pointer): Pointer | null;
  /** Moves the value at `val` to a new heap value (for a result's or variant's payload). */
  wasmtime_component_val_new(val: Pointer): Pointer;
  wasmtime_component_val_delete(val: Pointer): void;
  wasmtime_component_vallist_new_uninit(out: Pointer, length: number): void;
  wasmtime_component_valrecord_new_uninit(out: Pointer, length: number): void;
  /** The C library's, found through the wasmtime library's dependencies: moving a callback's values costs one call, where koffi.decode/encode cost several. */
  memcpy(to: Pointer, from: Pointer, length: number): Pointer;
  /** A host function's callback (wasmtime_func_unchecked_callback_t), to register with koffi. */
  readonly callbackType: TypeObject;
  /** A component's host function (wasmtime_component_func_callback_t), to register with koffi. */
  readonly componentCallbackType: TypeObject;
}

const DECLARATIONS = [
  "void *wasm_config_new()",
  "void wasmtime_config_max_wasm_stack_set(void *config, size_t bytes)",
  "void *wasm_engine_new_with_config(void *config)",
  "void *wasmtime_module_new(void *engine, const uint8_t *wasm, size_t length, void *out)",
  "void wasmtime_module_imports(void *module, void *out)",
  "void *wasm_importtype_module(void *importType)",
  "void *wasm_importtype_name(void *importType)",
  "void *wasm_importtype_type(void *importType)",
  "void *wasm_externtype_as_functype(void *externType)",
  "void *wasm_functype_params(void *funcType)",
  "void *wasm_functype_results(void *funcType)",
  "void wasm_functype_delete(void *funcType)",
  "uint8_t wasm_valtype_kind(void *valType)",
  "void *wasmtime_store_new(void *engine, void *data, void *finalizer)",
  "void *wasmtime_store_context(void *store)",
  "void wasmtime_store_delete(void *store)",
  "void wasmtime_func_new_unchecked(void *context, void *type, HostCallback *callback, void *env, void *finalizer, void *out)",
  "void *wasmtime_func_type(void *context, void *func)",
  "void *wasmtime_func_call_unchecked(void *context, void *func, void *argsAndResults, size_t length, void *trap)",
  "void *wasmtime_instance_new(void *context, void *module, void *imports, size_t count, void *out, void *trap)",
  "bool wasmtime_instance_export_nth(void *context, void *instance, size_t index, void *name, void *nameLength, void *item)",
  "void wasmtime_global_get(void *context, void *global, void *out)",
  "void *wasmtime_memory_data(void *context, void *memory)",
  "size_t wasmtime_memory_data_size(void *context, void *memory)",
  "void wasmtime_error_message(void *error, void *out)",
  "void wasmtime_error_delete(void *error)",
  "void wasm_trap_message(void *trap, void *out)",
  "void wasm_trap_delete(void *trap)",
  "void *wasmtime_trap_new(const char *message, size_t length)",
  "void wasm_byte_vec_delete(void *vec)",
  "void wasm_byte_vec_new_uninitialized(void *out, size_t length)",
  "void *wasmtime_error_new(const char *message)",
  "void *wasmtime_component_new(void *engine, const uint8_t *wasm, size_t length, void *out)",
  "void *wasmtime_component_linker_new(void *engine)",
  "void *wasmtime_component_linker_root(void *linker)",
  "void *wasmtime_component_linker_instance_add_instance(void *instance, const char *name, size_t nameLength, void *out)",
  "void *wasmtime_component_linker_instance_add_func(void *instance, const char *name, size_t nameLength, ComponentHostCallback *callback, void *env, void *finalizer)",
  "void wasmtime_component_linker_instance_delete(void *instance)",
  "void *wasmtime_component_linker_instantiate(void *linker, void *context, void *component, void *out)",
  "void wasmtime_component_linker_delete(void *linker)",
  "void *wasmtime_component_instance_get_export_index(void *instance, void *context, void *within, const char *name, size_t nameLength)",
  "void wasmtime_component_export_index_delete(void *index)",
  "bool wasmtime_component_instance_get_func(void *instance, void *context, void *index, void *out)",
  "void *wasmtime_component_func_call(void *func, void *context, void *args, size_t argCount, void *results, size_t resultCount)",
  "void *wasmtime_component_func_post_return(void *func, void *context)",
  "void *wasmtime_component_val_new(void *val)",
  "void wasmtime_component_val_delete(void *val)",
  "void wasmtime_component_vallist_new_uninit(void *out, size_t length)",
  "void wasmtime_component_valrecord_new_uninit(void *out, size_t length)",
  "void *memcpy(void *to, void *from, size_t length)",
];

let callbackType: TypeObject | undefined;
let componentCallbackType: TypeObject | undefined;

/**
 * Loads the C API from `library`, or throws a one-line error saying why
 * (no such file, not a shared library, not wasmtime's).
 */
export function loadCApi(library: string): CApi {
  callbackType ??= koffi.proto("void *HostCallback(void *env, void *caller, void *argsAndResults, size_t length)");
  let handle: LibraryHandle;
  try {
    handle = koffi.load(library);
  } catch (error) {
    throw new Error(firstLine(error));
  }
  componentCallbackType ??= koffi.proto(
    "void *ComponentHostCallback(void *env, void *context, void *type, void *args, size_t argCount, void *results, size_t resultCount)",
  );
  const api: Record<string, unknown> = { callbackType, componentCallbackType };
  for (const declaration of DECLARATIONS) {
    try {
      api[/(\w+)\(/.exec(declaration)![1]!] = handle.func(declaration);
    } catch (error) {
      throw new Error(`not wasmtime's C API library (${firstLine(error)})`);
    }
  }
  return api as unknown as CApi;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}
