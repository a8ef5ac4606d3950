// The wasmtime engine adapter: guests run in wasmtime in this process,
// through its C API (runtime/wasmtime-capi.ts) driven by koffi, so a call
// into a guest and a hypercall out of it are plain nested native calls and
// the hypervisor sees a guest's linear memory through a live view of it, as
// under V8.
//
// What the C API asks of its caller:
// - an exception must never unwind through wasmtime's frames: the one
//   callback all host functions share catches it, keeps it, and returns a
//   trap; the call that gets that trap back rethrows the kept error;
// - Wasm runs on koffi's stack for synchronous calls, so wasmtime's stack
//   limit is set well below it: deep recursion traps instead of overrunning
//   it, even with guests nested in each other's hypercalls;
// - linear memory's view is taken again whenever the memory may have grown
//   (after a call, and when a hypercall starts), and becomes a new object
//   then, which is how GuestMemory notices.
//
// Releasing guests: dispose() deletes the guest's store at once (its linear
// memory goes; the last contents stay readable, copied). A guest never
// disposed is deleted when its instance is garbage collected: the table the
// shared callback reads holds guests weakly, so it never keeps a guest's
// imports (and through them its hypervisor) alive.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import koffi from "koffi";
import { type Engine, type EngineInstance, GuestTrap, type HostFunction, type WasmValue } from "./engine.js";
import {
  type CApi,
  EXTERN_FUNC,
  EXTERN_GLOBAL,
  EXTERN_MEMORY,
  EXTERN_OF,
  EXTERN_SIZE,
  F32,
  F64,
  I32,
  I64,
  INSTANCE_SIZE,
  loadCApi,
  RAW_SIZE,
  VAL_OF,
} from "./wasmtime-capi.js";

/** The environment variable naming the library wasmtimeEngine() loads when given none. */
const LIBRARY_VARIABLE = "XENBUS_WASM_WASMTIME";
/** koffi's stack for synchronous calls, raised when this module is first to load a library through koffi. */
const KOFFI_STACK = 16 * 1024 * 1024;
/** Room for this many nested guest calls, each at wasmtime's own stack limit, on koffi's stack. */
const NESTING = 8;
/** Bounds of an import's index in a host function's `env` (guest id * IMPORTS + index). */
const IMPORTS = 4096;
/** Parameters and results of one call, at most. */
const MAX_VALUES = 64;

type Pointer = bigint;

/** The library and what came of loading it (or why it failed), shared by every engine naming the same file. */
const loaded = new Map<string, Native | string>();

/** An error a host function threw, kept while the trap it became unwinds the guest. */
let raised: { error: unknown } | null = null;

/** A loaded C API and what is shared across its engines: scratch memory for calls and the callback of every host function. */
export class Native {
  readonly callback: Pointer;
  /** Each guest's host functions, by guest id (see "Releasing guests"). */
  readonly guests = new Map<number, WeakRef<GuestState>>();
  /** Arguments and results of the call being made (a callee reads them on entry and writes on return, so nested calls may share it). */
  readonly values: Pointer;
  readonly valueView: DataView;
  /** A host function's arguments, copied here from wasmtime's values, and its result, copied back (before and after the function runs, so nested ones may share it). */
  readonly hostValues: Pointer;
  readonly hostValueView: DataView;
  /** Out-parameters of single C calls, read right after each. */
  readonly cell: Pointer;
  readonly cellView: DataView;
  readonly maxWasmStack: number;
  private nextGuest = 1;

  constructor(
    readonly api: CApi,
    koffiStack: number,
  ) {
    this.maxWasmStack = Math.min(512 * 1024, Math.floor(koffiStack / NESTING / 2));
    this.values = koffi.alloc("uint8", MAX_VALUES * RAW_SIZE) as Pointer;
    this.valueView = new DataView(koffi.view(this.values, MAX_VALUES * RAW_SIZE));
    this.hostValues = koffi.alloc("uint8", MAX_VALUES * RAW_SIZE) as Pointer;
    this.hostValueView = new DataView(koffi.view(this.hostValues, MAX_VALUES * RAW_SIZE));
    this.cell = koffi.alloc("uint8", 64) as Pointer;
    this.cellView = new DataView(koffi.view(this.cell, 64));
    this.callback = koffi.register(
      (env: Pointer, _caller: Pointer, values: Pointer, length: number) => this.hostCall(Number(env), values, length),
      koffi.pointer(api.callbackType),
    );
  }

  newGuest(state: GuestState): number {
    const id = this.nextGuest++;
    this.guests.set(id, new WeakRef(state));
    return id;
  }

  /** Runs a host function for wasmtime; whatever it throws is kept and becomes a trap. */
  private hostCall(env: number, values: Pointer, length: number): Pointer | null {
    try {
      const state = this.guests.get(Math.floor(env / IMPORTS))?.deref();
      const host = state?.imports[env % IMPORTS];
      if (!state || !host) throw new Error("wasmtime called a host function of a guest that is gone");
      state.memoryMayHaveGrown();
      const { api, hostValues, hostValueView } = this;
      if (length > MAX_VALUES) throw new Error("wasmtime: a host function with too many parameters");
      api.memcpy(hostValues, values, length * RAW_SIZE);
      const args: number[] = host.params.map((kind, i) => readValue(hostValueView, i * RAW_SIZE, kind));
      const result = host.fn(...args);
      if (host.result !== undefined) {
        writeArg(hostValueView, 0, host.result, result);
        api.memcpy(values, hostValues, RAW_SIZE);
      }
      return null;
    } catch (error) {
      this.keep(error);
      const message = "host function threw";
      return this.api.wasmtime_trap_new(message, message.length);
    }
  }

  /** Keeps what a host function threw, to rethrow from the call whose failure it becomes (see failure). */
  keep(error: unknown): void {
    raised = { error };
  }

  /** A wasm_engine_t whose stack limit fits koffi's stack (see the head of this file). */
  newEngine(): Pointer {
    const config = this.api.wasm_config_new();
    this.api.wasmtime_config_max_wasm_stack_set(config, this.maxWasmStack);
    return this.api.wasm_engine_new_with_config(config);
  }

  /** The text of a wasm_byte_vec_t the C API wrote into the cell, which is then freed (a wasm_message_t ends in a NUL). */
  cellText(): string {
    const size = Number(this.cellView.getBigUint64(0, true));
    const data = this.cellView.getBigUint64(8, true);
    const text = size ? Buffer.from(koffi.view(data, size)).toString() : "";
    this.api.wasm_byte_vec_delete(this.cell);
    return text.replace(/\0+$/, "");
  }

  /** wasmtime's error as an exception (the error is freed): a host function's own error, else GuestTrap. */
  failure(error: Pointer): Error {
    this.api.wasmtime_error_message(error, this.cell);
    const message = this.cellText();
    this.api.wasmtime_error_delete(error);
    return this.thrown() ?? new GuestTrap(cause(message));
  }

  /** A trap as an exception (the trap is freed). */
  trapFailure(trap: Pointer): Error {
    this.api.wasm_trap_message(trap, this.cell);
    const message = this.cellText();
    this.api.wasm_trap_delete(trap);
    return this.thrown() ?? new GuestTrap(cause(message));
  }

  private thrown(): Error | undefined {
    const kept = raised;
    raised = null;
    if (!kept) return undefined;
    // Rethrown as it was; a thrown non-Error is wrapped so the return type holds, keeping it as the cause.
    return kept.error instanceof Error ? kept.error : new Error(String(kept.error), { cause: kept.error });
  }
}

function readValue(view: DataView, offset: number, kind: number): number {
  switch (kind) {
    case I32:
      return view.getInt32(offset, true);
    case I64:
      return Number(view.getBigInt64(offset, true));
    case F32:
      return view.getFloat32(offset, true);
    case F64:
      return view.getFloat64(offset, true);
    default:
      throw new Error(`wasmtime: unsupported value type ${kind}`);
  }
}

/** The line of a wasmtime message that says what happened (it ends the message, after any backtrace). */
function cause(message: string): string {
  const lines = message
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.at(-1) ?? "wasmtime trap";
}

/** A host function as wasmtime calls it. */
interface HostImport {
  readonly fn: HostFunction;
  readonly params: number[];
  /** The result's kind, if it has one. */
  readonly result: number | undefined;
}

/** What the shared callback needs of a guest. */
interface GuestState {
  readonly imports: HostImport[];
  memoryMayHaveGrown(): void;
}

interface Signature {
  readonly params: number[];
  readonly results: number[];
}

/** A compiled module, with what every instance of it shares. */
interface CompiledModule {
  readonly module: Pointer;
  readonly imports: { module: string; name: string; type: Pointer; signature: Signature }[];
  /** Export functions' signatures, by name, found at their first call. */
  readonly signatures: Map<string, Signature>;
  /** How many exports an instance has, found at the first instantiation. */
  exportCount?: number;
  /** The exports' names and kinds, in order, read from the first instance. */
  exports?: { name: string; kind: number }[];
}

/** Kinds of the values in a wasm_valtype_vec_t. */
function valueKinds(api: CApi, vec: Pointer): number[] {
  const [size, data] = readWords(vec, 2);
  if (!size) return [];
  return readWords(data!, Number(size)).map((valType) => api.wasm_valtype_kind(valType));
}

function signatureOf(api: CApi, funcType: Pointer): Signature {
  return {
    params: valueKinds(api, api.wasm_functype_params(funcType)),
    results: valueKinds(api, api.wasm_functype_results(funcType)),
  };
}

/** `count` 64-bit words at `pointer`. */
function readWords(pointer: Pointer, count: number): bigint[] {
  return [...new BigUint64Array(koffi.view(pointer, count * 8).slice(0))];
}

function readName(vec: Pointer): string {
  const [size, data] = readWords(vec, 2);
  return size ? Buffer.from(koffi.view(data!, Number(size))).toString() : "";
}

interface Release {
  readonly native: Native;
  readonly id: number;
  readonly store: Pointer;
  /** Native memory holding the guest's handles. */
  readonly blocks: Pointer[];
}

function release({ native, id, store, blocks }: Release): void {
  native.guests.delete(id);
  native.api.wasmtime_store_delete(store);
  for (const block of blocks) koffi.free(block);
}

const collected = new FinalizationRegistry<Release>(release);

class WasmtimeInstance implements EngineInstance {
  private view = new Uint8Array(0);
  /** Whether the guest ran since the view was checked. */
  private memoryMoved = true;
  private disposed = false;
  private readonly exports = new Map<string, { kind: number; handle: Pointer }>();
  private memory: Pointer | null = null;

  constructor(
    private readonly native: Native,
    private readonly compiled: CompiledModule,
    private readonly context: Pointer,
    /** Keeps the shared callback's weak entry for this guest alive exactly as long as the instance. */
    readonly state: GuestState,
    private readonly resources: Release,
    instance: Pointer,
    exportsBlock: Pointer,
    exportCount: number,
    private readonly name: string,
  ) {
    const { api, cell, cellView } = native;
    // Every instance of a module has the same exports: their names and kinds are read once (koffi.view is slow).
    const first = !compiled.exports;
    const exports = (compiled.exports ??= []);
    for (let index = 0; index < exportCount; index++) {
      const item = exportsBlock + BigInt(index * EXTERN_SIZE);
      api.wasmtime_instance_export_nth(context, instance, index, cell, cell + 8n, item);
      if (first) {
        const name = Buffer.from(
          koffi.view(cellView.getBigUint64(0, true), Number(cellView.getBigUint64(8, true))),
        ).toString();
        exports.push({ name, kind: Number(readWords(item, 1)[0]! & 0xffn) });
      }
      const { name, kind } = exports[index]!;
      this.exports.set(name, { kind, handle: item + BigInt(EXTERN_OF) });
    }
    const memory = this.exports.get("memory");
    if (memory?.kind === EXTERN_MEMORY) this.memory = memory.handle;
    this.memoryMayHaveGrown();
    collected.register(this, resources, this);
  }

  call(name: string, args: WasmValue[]): number | undefined {
    this.checkAlive(name);
    const fn = this.exports.get(name);
    if (fn?.kind !== EXTERN_FUNC) throw new Error(`the module exports no function ${name}`);
    const { api, values, valueView, cell, cellView } = this.native;
    const signature = this.signature(name, fn.handle);
    signature.params.forEach((kind, i) => writeArg(valueView, i * RAW_SIZE, kind, args[i] ?? 0));
    cellView.setBigUint64(0, 0n, true);
    const error = api.wasmtime_func_call_unchecked(
      this.context,
      fn.handle,
      values,
      Math.max(signature.params.length, signature.results.length),
      cell,
    );
    // Read before anything else can call into a guest.
    const trap = cellView.getBigUint64(0, true);
    const result = signature.results.length ? readValue(valueView, 0, signature.results[0]!) : undefined;
    this.memoryMayHaveGrown();
    if (error) throw this.native.failure(error);
    if (trap) throw this.native.trapFailure(trap);
    return result;
  }

  memoryBytes(): Uint8Array {
    if (this.memoryMoved) this.retakeView();
    return this.view;
  }

  global(name: string): number {
    this.checkAlive(name);
    const global = this.exports.get(name);
    if (global?.kind !== EXTERN_GLOBAL) throw new Error(`the module exports no global ${name}`);
    const { api, cell, cellView } = this.native;
    api.wasmtime_global_get(this.context, global.handle, cell);
    return readValue(cellView, VAL_OF, cellView.getUint8(0));
  }

  exportNames(): string[] {
    return [...this.exports.keys()];
  }

  dispose(): void {
    if (this.disposed) return;
    // The store takes the memory with it; what was in it stays readable.
    this.view = this.memoryBytes().slice();
    this.disposed = true;
    collected.unregister(this);
    release(this.resources);
  }

  /** The guest ran: its memory may have grown, which the next memoryBytes() checks (a crossing that never looks at memory pays nothing). */
  memoryMayHaveGrown(): void {
    this.memoryMoved = true;
  }

  /** A new view when the memory's size changed (it only grows). */
  private retakeView(): void {
    this.memoryMoved = false;
    if (this.memory === null || this.disposed) return;
    const { api } = this.native;
    const size = api.wasmtime_memory_data_size(this.context, this.memory);
    if (size !== this.view.byteLength)
      this.view = new Uint8Array(koffi.view(api.wasmtime_memory_data(this.context, this.memory), size));
  }

  private signature(name: string, handle: Pointer): Signature {
    let signature = this.compiled.signatures.get(name);
    if (!signature) {
      const { api } = this.native;
      const funcType = api.wasmtime_func_type(this.context, handle);
      signature = signatureOf(api, funcType);
      api.wasm_functype_delete(funcType);
      if (Math.max(signature.params.length, signature.results.length) > MAX_VALUES)
        throw new Error(`${name} has too many parameters`);
      this.compiled.signatures.set(name, signature);
    }
    return signature;
  }

  private checkAlive(what: string): void {
    if (this.disposed) throw new Error(`${this.name} was disposed; cannot use ${what}`);
  }
}

/** An argument as the WebAssembly JS API converts it: i32 wraps (ToInt32), i64 wraps (ToBigInt64). */
function writeArg(view: DataView, offset: number, kind: number, value: WasmValue): void {
  switch (kind) {
    case I32:
      view.setInt32(offset, typeof value === "bigint" ? Number(BigInt.asIntN(32, value)) : value | 0, true);
      break;
    case I64:
      view.setBigInt64(offset, BigInt.asIntN(64, BigInt(value)), true);
      break;
    case F32:
      view.setFloat32(offset, Number(value), true);
      break;
    case F64:
      view.setFloat64(offset, Number(value), true);
      break;
    default:
      throw new Error(`wasmtime: unsupported parameter type ${kind}`);
  }
}

/** One engine's wasmtime: its wasm_engine_t (made at the first guest) and the modules compiled in it. */
class WasmtimeRuntime {
  private engine: Pointer | null = null;
  private readonly modules = new Map<string, CompiledModule>();

  constructor(readonly native: Native) {}

  instantiate(wasm: Uint8Array, imports: Record<string, HostFunction>, name: string): EngineInstance {
    const { api, cell, cellView } = this.native;
    this.engine ??= this.native.newEngine();
    const compiled = this.compile(wasm);
    const hostImports = compiled.imports.map(({ module, name: importName, signature }) => {
      const fn = imports[importName];
      if (module !== "xen" || !fn)
        throw new Error(`wasmtime could not instantiate the module: no import ${module}.${importName}`);
      return { fn, params: signature.params, result: signature.results[0] };
    });
    const store = api.wasmtime_store_new(this.engine, null, null);
    const context = api.wasmtime_store_context(store);
    // Until instantiation returns (a start function's hypercalls) there is no instance whose memory could have grown.
    let instance: WasmtimeInstance | undefined;
    const state: GuestState = { imports: hostImports, memoryMayHaveGrown: () => instance?.memoryMayHaveGrown() };
    const id = this.native.newGuest(state);
    // The guest's handles: its imports (a wasmtime_extern_t each) and its wasmtime_instance_t; its exports get a block of their own.
    const importsSize = compiled.imports.length * EXTERN_SIZE;
    const block = koffi.alloc("uint8", importsSize + INSTANCE_SIZE) as Pointer;
    const resources: Release = { native: this.native, id, store, blocks: [block] };
    try {
      const view = new DataView(koffi.view(block, importsSize + INSTANCE_SIZE));
      compiled.imports.forEach(({ type }, index) => {
        view.setUint8(index * EXTERN_SIZE, EXTERN_FUNC);
        api.wasmtime_func_new_unchecked(
          context,
          type,
          this.native.callback,
          BigInt(id * IMPORTS + index),
          null,
          block + BigInt(index * EXTERN_SIZE + EXTERN_OF),
        );
      });
      const instancePointer = block + BigInt(importsSize);
      cellView.setBigUint64(0, 0n, true);
      const error = api.wasmtime_instance_new(
        context,
        compiled.module,
        block,
        compiled.imports.length,
        instancePointer,
        cell,
      );
      const trap = cellView.getBigUint64(0, true);
      if (error) throw this.native.failure(error);
      if (trap) throw this.native.trapFailure(trap);
      compiled.exportCount ??= this.countExports(context, instancePointer);
      const exportsBlock = koffi.alloc("uint8", Math.max(1, compiled.exportCount) * EXTERN_SIZE) as Pointer;
      resources.blocks.push(exportsBlock);
      instance = new WasmtimeInstance(
        this.native,
        compiled,
        context,
        state,
        resources,
        instancePointer,
        exportsBlock,
        compiled.exportCount,
        name,
      );
      return instance;
    } catch (error) {
      release(resources);
      throw error;
    }
  }

  private countExports(context: Pointer, instance: Pointer): number {
    const { api, cell } = this.native;
    const item = koffi.alloc("uint8", EXTERN_SIZE) as Pointer;
    let count = 0;
    while (api.wasmtime_instance_export_nth(context, instance, count, cell, cell + 8n, item)) count++;
    koffi.free(item);
    return count;
  }

  /** Compiled once per engine and kept: a module's code is shared by every guest running it. */
  private compile(wasm: Uint8Array): CompiledModule {
    const key = createHash("sha256").update(wasm).digest("hex");
    let compiled = this.modules.get(key);
    if (compiled) return compiled;
    const { api, cell, cellView } = this.native;
    const error = api.wasmtime_module_new(this.engine!, wasm, wasm.byteLength, cell);
    if (error) throw new Error(`wasmtime could not compile the module: ${this.native.failure(error).message}`);
    const module = cellView.getBigUint64(0, true);
    api.wasmtime_module_imports(module, cell);
    // The vector is kept with the module: its function types are what host functions are made with.
    const [count, data] = [Number(cellView.getBigUint64(0, true)), cellView.getBigUint64(8, true)];
    const importTypes = count ? readWords(data, count) : [];
    const imports = importTypes.map((importType) => {
      const funcType = api.wasm_externtype_as_functype(api.wasm_importtype_type(importType));
      const module = readName(api.wasm_importtype_module(importType));
      const name = readName(api.wasm_importtype_name(importType));
      if (!funcType)
        throw new Error(`wasmtime could not instantiate the module: import ${module}.${name} is not a function`);
      return { module, name, type: funcType, signature: signatureOf(api, funcType) };
    });
    compiled = { module, imports, signatures: new Map() };
    this.modules.set(key, compiled);
    return compiled;
  }
}

/** Loads the library once per process and path; a failure is kept and thrown again, naming `source` and how to give another (`caller`). */
function loadNative(library: string, source: string, caller: string): Native {
  let native = loaded.get(library);
  if (!native) {
    try {
      native = new Native(loadCApi(library), raiseKoffiStack());
    } catch (error) {
      native = (error as Error).message;
    }
    loaded.set(library, native);
  }
  if (typeof native === "string")
    throw new Error(`wasmtime engine: cannot use ${library} (${source}): ${native}; ${howToGive(caller)}`);
  return native;
}

function howToGive(caller: string): string {
  return `give ${caller} or $${LIBRARY_VARIABLE} the _libwasmtime.so of the wasmtime wheel 49.x (pip install 'wasmtime==49.*')`;
}

/** koffi's synchronous stack, raised to KOFFI_STACK if koffi has loaded no library yet (it refuses afterwards). */
function raiseKoffiStack(): number {
  const config = koffi.config();
  if ((config.sync_stack_size ?? 0) < KOFFI_STACK) {
    try {
      koffi.config({ ...config, sync_stack_size: KOFFI_STACK });
    } catch {
      // Another library came first: wasmtime's stack limit is sized to what koffi has.
    }
  }
  return koffi.config().sync_stack_size ?? 0;
}

/** The library of the `wasmtime` wheel that `python3` imports, or why there is none. */
function libraryOfPython(python: string, caller: string): string {
  try {
    return execFileSync(python, ["-c", "import wasmtime._ffi as f; print(f.dll._name)"], { stdio: "pipe" })
      .toString()
      .trim();
  } catch (error) {
    const output = (error as { stderr?: Buffer }).stderr?.toString().trim().split("\n").pop();
    throw new Error(
      `wasmtime engine: no library given, $${LIBRARY_VARIABLE} unset, and ${python} cannot import wasmtime (${output || (error as Error).message}); ${howToGive(caller)}`,
    );
  }
}

/** The C API library `library`, else $XENBUS_WASM_WASMTIME's, else python3's wheel's, loaded once per process (`caller` names who was given `library` in errors). */
export function wasmtimeNative(library: string | undefined, caller: string): Native {
  const given = library ?? process.env[LIBRARY_VARIABLE];
  const source =
    library !== undefined
      ? `given to ${caller}`
      : given !== undefined
        ? `$${LIBRARY_VARIABLE}`
        : "python3's wasmtime wheel";
  return loadNative(given ?? libraryOfPython("python3", caller), source, caller);
}

export interface WasmtimeEngine extends Engine {
  /** Guests instantiated and neither disposed nor garbage collected, across every engine of the same library. */
  readonly guestCount: number;
}

/**
 * An engine running guests in wasmtime 49 in this process, through the C API
 * library `library` (the `_libwasmtime.so` inside the `wasmtime` wheel).
 * Without `library`, $XENBUS_WASM_WASMTIME, else the wheel that `python3`
 * imports. Loaded when the first guest is instantiated.
 */
export function wasmtimeEngine(library?: string): WasmtimeEngine {
  let runtime: WasmtimeRuntime | null = null;
  return {
    name: "wasmtime",
    instantiate(wasm, imports, name = "guest") {
      runtime ??= new WasmtimeRuntime(wasmtimeNative(library, "wasmtimeEngine()"));
      return runtime.instantiate(wasm, imports.xen, name);
    },
    get guestCount() {
      return runtime?.native.guests.size ?? 0;
    },
  };
}
