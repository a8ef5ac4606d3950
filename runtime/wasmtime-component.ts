// The XenStore client component (build/xenstore-client.wasm, world
// xenstore-client of wit/xenstore.wit) under wasmtime's component model, in
// this process: the C API's component functions (runtime/wasmtime-capi.ts)
// through koffi, the library found as wasmtimeEngine finds it. Its
// `transport` import is served by a ByteStream, and its `client` exports are
// wrapped by the same ComponentXenstore as jco's bindings are in Node.
//
// Values cross as wasmtime_component_val_t trees, built and read here after
// the WIT's types (CLIENT, TRANSPORT): what is given to a call is freed after
// it, what a call gives back is read and then freed, and what a host function
// returns belongs to wasmtime (its vectors made by wasmtime's own allocators).
// As for core guests, an exception a host function throws other than a
// stream's failure unwinds the component as an error and is rethrown as
// itself, and each store is deleted on close() or when its client is
// garbage collected.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import koffi from "koffi";
import {
  type ByteStream,
  ComponentXenstore,
  TransportFailure,
  transportOver,
  type XenstoreClientExports,
} from "./component.js";
import { type Native, wasmtimeNative } from "./wasmtime.js";
import {
  COMPONENT_BOOL,
  COMPONENT_ENUM,
  COMPONENT_HANDLE_SIZE,
  COMPONENT_LIST,
  COMPONENT_RECORD,
  COMPONENT_RESULT,
  COMPONENT_STRING,
  COMPONENT_U8,
  COMPONENT_U32,
  COMPONENT_VAL_SIZE,
  RECORD_ENTRY_SIZE,
} from "./wasmtime-capi.js";

type Pointer = bigint;

/** The component's types that cross, as wit/xenstore.wit spells them (`bytes` is list<u8>; a result's err is always an enum). */
type ValueType =
  | "bool"
  | "u32"
  | "string"
  | "bytes"
  | "enum"
  | { list: ValueType }
  | { record: Record<string, ValueType> }
  | { result: ValueType | null };
type Value = boolean | number | string | Uint8Array | Value[] | { [field: string]: Value } | null;

const PACKAGE = "xenbus-wasm:xenstore/{}@0.1.0";
const interfaceName = (name: string): string => PACKAGE.replace("{}", name);

const PERMISSION: ValueType = { record: { domid: "u32", access: "enum" } };
const WATCH_EVENT: ValueType = { record: { path: "string", token: "string" } };

/** The `client` interface: each function's parameters, and its result's ok type (err is xs-error). */
const CLIENT: Record<string, [ValueType[], ValueType | null]> = {
  read: [["u32", "string"], "bytes"],
  write: [["u32", "string", "bytes"], null],
  mkdir: [["u32", "string"], null],
  rm: [["u32", "string"], null],
  directory: [["u32", "string"], { list: "string" }],
  "get-perms": [["u32", "string"], { list: PERMISSION }],
  "set-perms": [["u32", "string", { list: PERMISSION }], null],
  watch: [["string", "string"], null],
  unwatch: [["string", "string"], null],
  "next-event": [[], WATCH_EVENT],
  "transaction-start": [[], "u32"],
  "transaction-end": [["u32", "bool"], null],
  "get-domain-path": [["u32"], "string"],
};

/** The `transport` interface's functions, in the order of their index in a host function's env. */
const TRANSPORT = ["send", "recv"] as const;

/** An xs-error case as jco's bindings throw it (ComponentXenstore reads `payload`). */
class ClientError extends Error {
  constructor(readonly payload: string) {
    super(`xs-error ${payload}`);
  }
}

/** One engine and the compiled component per library, and the callback every component's host functions share. */
interface Runtime {
  readonly native: Native;
  readonly memory: NativeMemory;
  readonly values: Values;
  readonly engine: Pointer;
  readonly callback: Pointer;
  readonly components: Map<string, Pointer>;
  /** Each open component's transport, by id (env / TRANSPORT.length). */
  readonly transports: Map<number, ReturnType<typeof transportOver>>;
  nextId: number;
}

const runtimes = new Map<Native, Runtime>();

function runtimeOf(native: Native): Runtime {
  let runtime = runtimes.get(native);
  if (!runtime) {
    const transports: Runtime["transports"] = new Map();
    const callback = koffi.register(
      (env: Pointer, _context: Pointer, _type: Pointer, args: Pointer, _argCount: number, results: Pointer) =>
        hostCall(values, transports, Number(env), args, results),
      koffi.pointer(native.api.componentCallbackType),
    ) as Pointer;
    const memory = new NativeMemory(native);
    const values = new Values(native, memory);
    runtime = {
      native,
      memory,
      values,
      engine: native.newEngine(),
      callback,
      components: new Map(),
      transports,
      nextId: 1,
    };
    runtimes.set(native, runtime);
  }
  return runtime;
}

/** Serves send or recv: a stream's failure is the stream-error; anything else is kept and fails the call into the component. */
function hostCall(
  values: Values,
  transports: Runtime["transports"],
  env: number,
  args: Pointer,
  results: Pointer,
): Pointer | null {
  try {
    const transport = transports.get(Math.floor(env / TRANSPORT.length));
    if (!transport) throw new Error("wasmtime called the transport of a component that is closed");
    let ok: Value = null;
    let okType: ValueType | null = null;
    try {
      if (TRANSPORT[env % TRANSPORT.length] === "send") {
        transport.send(values.read(args, "bytes") as Uint8Array);
      } else {
        ok = transport.recv(values.read(args, "u32") as number);
        okType = "bytes";
      }
      values.writeResult(results, okType, { ok });
    } catch (error) {
      if (!(error instanceof TransportFailure)) throw error;
      values.writeResult(results, null, { err: error.payload });
    }
    return null;
  } catch (error) {
    values.native.keep(error);
    return values.native.api.wasmtime_error_new("host function threw");
  }
}

/**
 * Moves bytes between JavaScript and native memory through one block of
 * scratch memory and a view of it taken once: a koffi.view per value, or a
 * typed array given to a native call, costs koffi a buffer that is freed only
 * by a collection after the running job ends, so a long synchronous run of
 * calls would grow without bound.
 */
class NativeMemory {
  private static readonly SIZE = 64 * 1024;
  private readonly scratch: Pointer;
  private readonly view: Uint8Array;

  constructor(private readonly native: Native) {
    this.scratch = koffi.alloc("uint8", NativeMemory.SIZE) as Pointer;
    this.view = new Uint8Array(koffi.view(this.scratch, NativeMemory.SIZE));
  }

  /** A copy of the `length` bytes at `at`. */
  peek(at: Pointer, length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let done = 0; done < length; done += NativeMemory.SIZE) {
      const chunk = Math.min(NativeMemory.SIZE, length - done);
      this.native.api.memcpy(this.scratch, at + BigInt(done), chunk);
      bytes.set(this.view.subarray(0, chunk), done);
    }
    return bytes;
  }

  poke(at: Pointer, bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; done += NativeMemory.SIZE) {
      const chunk = Math.min(NativeMemory.SIZE, bytes.length - done);
      this.view.set(bytes.subarray(done, done + chunk));
      this.native.api.memcpy(at + BigInt(done), this.scratch, chunk);
    }
  }

  /** The pointer stored at `at`. */
  pointerAt(at: Pointer): Pointer {
    return new DataView(this.peek(at, 8).buffer).getBigUint64(0, true);
  }

  /** A new wasm_name_t (a wasm_byte_vec_t) at `at` holding `text`'s UTF-8, allocated by wasmtime. */
  newName(at: Pointer, text: string): void {
    const bytes = Buffer.from(text);
    this.native.api.wasm_byte_vec_new_uninitialized(at, bytes.length);
    if (bytes.length) this.poke(this.pointerAt(at + 8n), bytes);
  }
}

/** Reads and writes component values in native memory. */
class Values {
  constructor(
    readonly native: Native,
    private readonly memory: NativeMemory,
  ) {}

  /** The value at `at`, of type `type`. */
  read(at: Pointer, type: ValueType): Value {
    const view = new DataView(this.memory.peek(at, COMPONENT_VAL_SIZE).buffer);
    const word = (offset: number): bigint => view.getBigUint64(offset, true);
    if (type === "bool") return view.getUint8(8) !== 0;
    if (type === "u32") return view.getUint32(8, true);
    if (type === "string" || type === "enum") return this.name(at + 8n);
    if (type === "bytes") {
      const count = Number(word(8));
      const elements = this.memory.peek(word(16), count * COMPONENT_VAL_SIZE);
      return Uint8Array.from({ length: count }, (_, i) => elements[i * COMPONENT_VAL_SIZE + 8]!);
    }
    if ("list" in type) {
      const [count, data] = [Number(word(8)), word(16)];
      return Array.from({ length: count }, (_, i) => this.read(data + BigInt(i * COMPONENT_VAL_SIZE), type.list));
    }
    if ("record" in type) {
      const [count, data] = [Number(word(8)), word(16)];
      const record: Record<string, Value> = {};
      for (let i = 0; i < count; i++) {
        const entry = data + BigInt(i * RECORD_ENTRY_SIZE);
        const name = this.name(entry);
        const fieldType = type.record[name];
        if (fieldType === undefined) throw new Error(`wasmtime component: a record with an unknown field ${name}`);
        record[name] = this.read(entry + 16n, fieldType);
      }
      return record;
    }
    const payload = word(16);
    const ok = view.getUint8(8) !== 0;
    const payloadType = ok ? type.result : "enum";
    if ((payload === 0n) !== (payloadType === null))
      throw new Error("wasmtime component: a result whose payload does not match its type");
    const value = payloadType === null ? null : this.read(payload, payloadType);
    return ok ? { ok: value } : { err: value };
  }

  /** Writes `value` at `at` (COMPONENT_VAL_SIZE bytes), its vectors allocated by wasmtime. */
  write(at: Pointer, type: ValueType, value: Value): void {
    const head = new DataView(new ArrayBuffer(16));
    if (type === "bool") {
      head.setUint8(0, COMPONENT_BOOL);
      head.setUint8(8, value ? 1 : 0);
    } else if (type === "u32") {
      head.setUint8(0, COMPONENT_U32);
      head.setUint32(8, value as number, true);
    } else if (type === "string" || type === "enum") {
      this.poke(at, new Uint8Array([type === "string" ? COMPONENT_STRING : COMPONENT_ENUM]));
      this.memory.newName(at + 8n, value as string);
      return;
    } else if (type === "bytes") {
      const bytes = value as Uint8Array;
      const elements = new Uint8Array(bytes.length * COMPONENT_VAL_SIZE);
      bytes.forEach((byte, i) => {
        elements[i * COMPONENT_VAL_SIZE] = COMPONENT_U8;
        elements[i * COMPONENT_VAL_SIZE + 8] = byte;
      });
      this.poke(at, new Uint8Array([COMPONENT_LIST]));
      this.poke(this.newVector(at, "list", bytes.length), elements);
      return;
    } else if ("list" in type) {
      const items = value as Value[];
      this.poke(at, new Uint8Array([COMPONENT_LIST]));
      const data = this.newVector(at, "list", items.length);
      items.forEach((item, i) => this.write(data + BigInt(i * COMPONENT_VAL_SIZE), type.list, item));
      return;
    } else if ("record" in type) {
      const record = value as Record<string, Value>;
      const fields = Object.entries(type.record);
      this.poke(at, new Uint8Array([COMPONENT_RECORD]));
      const data = this.newVector(at, "record", fields.length);
      fields.forEach(([name, fieldType], i) => {
        const entry = data + BigInt(i * RECORD_ENTRY_SIZE);
        this.memory.newName(entry, name);
        this.write(entry + 16n, fieldType, record[name] ?? null);
      });
      return;
    } else {
      throw new Error("wasmtime component: a result is only ever written by writeResult");
    }
    this.poke(at, new Uint8Array(head.buffer));
  }

  /** Writes result<okType, enum> at `at`: the case's payload, if any, moved to a value of its own. */
  writeResult(at: Pointer, okType: ValueType | null, outcome: { ok: Value } | { err: string }): void {
    const head = new DataView(new ArrayBuffer(24));
    head.setUint8(0, COMPONENT_RESULT);
    head.setUint8(8, "ok" in outcome ? 1 : 0);
    const [type, payload] = "ok" in outcome ? [okType, outcome.ok] : ["enum" as const, outcome.err];
    if (type !== null) {
      const scratch = koffi.alloc("uint8", COMPONENT_VAL_SIZE) as Pointer;
      try {
        this.write(scratch, type, payload);
        head.setBigUint64(16, this.native.api.wasmtime_component_val_new(scratch), true);
      } finally {
        koffi.free(scratch);
      }
    }
    this.poke(at, new Uint8Array(head.buffer));
  }

  /** A vector of `count` uninitialised list or record elements, made by wasmtime at `at` + 8; its data. */
  private newVector(at: Pointer, kind: "list" | "record", count: number): Pointer {
    const { api } = this.native;
    if (kind === "list") api.wasmtime_component_vallist_new_uninit(at + 8n, count);
    else api.wasmtime_component_valrecord_new_uninit(at + 8n, count);
    return this.memory.pointerAt(at + 16n);
  }

  private poke(at: Pointer, bytes: Uint8Array): void {
    this.memory.poke(at, bytes);
  }

  /** The text of the wasm_name_t at `at`. */
  private name(at: Pointer): string {
    const view = new DataView(this.memory.peek(at, 16).buffer);
    return Buffer.from(this.memory.peek(view.getBigUint64(8, true), Number(view.getBigUint64(0, true)))).toString();
  }
}

/** What a component's store holds, freed once (close or collection). */
interface Release {
  readonly runtime: Runtime;
  readonly id: number;
  readonly store: Pointer;
  readonly block: Pointer;
  released: boolean;
}

function release(resources: Release): void {
  if (resources.released) return;
  resources.released = true;
  resources.runtime.transports.delete(resources.id);
  resources.runtime.native.api.wasmtime_store_delete(resources.store);
  koffi.free(resources.block);
}

const collected = new FinalizationRegistry<Release>(release);

/** The component compiled in `runtime`'s engine, once per content. */
function compiledComponent(runtime: Runtime, wasm: Uint8Array): Pointer {
  const key = createHash("sha256").update(wasm).digest("hex");
  let component = runtime.components.get(key);
  if (component === undefined) {
    const { api } = runtime.native;
    const out = koffi.alloc("uint8", 8) as Pointer;
    try {
      const error = api.wasmtime_component_new(runtime.engine, wasm, wasm.byteLength, out);
      if (error) throw new Error(`wasmtime could not compile the component: ${runtime.native.failure(error).message}`);
      component = runtime.memory.pointerAt(out);
    } finally {
      koffi.free(out);
    }
    runtime.components.set(key, component);
  }
  return component;
}

/** Throws wasmtime's error (freed) as the host function's own error or GuestTrap, when there is one. */
function check(native: Native, error: Pointer | null): void {
  if (error) throw native.failure(error);
}

const COMPONENT_FILE = new URL("../build/xenstore-client.wasm", import.meta.url);

export interface WasmtimeComponentOptions {
  /** wasmtime's C API library, as for wasmtimeEngine (default: $XENBUS_WASM_WASMTIME, else python3's wasmtime wheel). */
  library?: string;
  /** The component (default: the package's build/xenstore-client.wasm). */
  component?: Uint8Array;
}

/**
 * A fresh instance of the XenStore client component in wasmtime, in this
 * process, talking over `stream`: the same interface as
 * openXenstoreComponent's, which runs it in V8 through jco's bindings.
 */
export function openXenstoreComponentInWasmtime(
  stream: ByteStream,
  options: WasmtimeComponentOptions = {},
): ComponentXenstore {
  const runtime = runtimeOf(wasmtimeNative(options.library, "openXenstoreComponentInWasmtime()"));
  const { native } = runtime;
  const { api } = native;
  const component = compiledComponent(runtime, options.component ?? readFileSync(COMPONENT_FILE));
  const id = runtime.nextId++;
  // The component instance, then one export index's and func's handles per client function.
  const names = Object.keys(CLIENT);
  const block = koffi.alloc("uint8", COMPONENT_HANDLE_SIZE * (1 + names.length)) as Pointer;
  const store = api.wasmtime_store_new(runtime.engine, null, null);
  const resources: Release = { runtime, id, store, block, released: false };
  const context = api.wasmtime_store_context(store);
  try {
    runtime.transports.set(id, transportOver(stream));
    instantiate(runtime, id, context, component, block);
    const funcs = new Map(
      names.map((name, i) => [
        name,
        exportedFunc(native, context, block, block + BigInt(COMPONENT_HANDLE_SIZE * (1 + i)), name),
      ]),
    );
    const { values } = runtime;
    const call = (name: string, args: Value[]): Value => {
      if (resources.released) throw new ClientError("eio");
      const [params, okType] = CLIENT[name]!;
      const func = funcs.get(name)!;
      const argsBlock = koffi.alloc("uint8", Math.max(1, params.length) * COMPONENT_VAL_SIZE) as Pointer;
      const result = koffi.alloc("uint8", COMPONENT_VAL_SIZE) as Pointer;
      let written = 0;
      try {
        for (; written < params.length; written++)
          values.write(argsBlock + BigInt(written * COMPONENT_VAL_SIZE), params[written]!, args[written]!);
        check(native, api.wasmtime_component_func_call(func, context, argsBlock, params.length, result, 1));
        const outcome = values.read(result, { result: okType }) as { ok: Value } | { err: string };
        api.wasmtime_component_val_delete(result);
        check(native, api.wasmtime_component_func_post_return(func, context));
        if ("err" in outcome) throw new ClientError(outcome.err);
        return outcome.ok;
      } finally {
        for (let i = 0; i < written; i++) api.wasmtime_component_val_delete(argsBlock + BigInt(i * COMPONENT_VAL_SIZE));
        koffi.free(argsBlock);
        koffi.free(result);
      }
    };
    const client: XenstoreClientExports = {
      read: (tx, path) => call("read", [tx, path]) as Uint8Array,
      write: (tx, path, value) => void call("write", [tx, path, value]),
      mkdir: (tx, path) => void call("mkdir", [tx, path]),
      rm: (tx, path) => void call("rm", [tx, path]),
      directory: (tx, path) => call("directory", [tx, path]) as string[],
      getPerms: (tx, path) => call("get-perms", [tx, path]) as unknown as ReturnType<XenstoreClientExports["getPerms"]>,
      setPerms: (tx, path, perms) => void call("set-perms", [tx, path, perms as unknown as Value[]]),
      watch: (path, token) => void call("watch", [path, token]),
      unwatch: (path, token) => void call("unwatch", [path, token]),
      nextEvent: () => call("next-event", []) as unknown as ReturnType<XenstoreClientExports["nextEvent"]>,
      transactionStart: () => call("transaction-start", []) as number,
      transactionEnd: (tx, commit) => void call("transaction-end", [tx, commit]),
      getDomainPath: (domid) => call("get-domain-path", [domid]) as string,
    };
    const xs = new ComponentXenstore(client, {
      send: (bytes) => stream.send(bytes),
      recv: (max) => stream.recv(max),
      close: () => {
        collected.unregister(resources);
        release(resources);
        stream.close();
      },
    });
    collected.register(xs, resources, resources);
    return xs;
  } catch (error) {
    release(resources);
    throw error;
  }
}

/** Links `transport` (its functions' env: id * TRANSPORT.length + index) and instantiates the component into `out`. */
function instantiate(runtime: Runtime, id: number, context: Pointer, component: Pointer, out: Pointer): void {
  const { native } = runtime;
  const { api } = native;
  const linker = api.wasmtime_component_linker_new(runtime.engine);
  const cell = koffi.alloc("uint8", 8) as Pointer;
  try {
    // A linker instance borrows its parent: each is deleted before its parent is used again.
    const root = api.wasmtime_component_linker_root(linker);
    const name = interfaceName("transport");
    const added = api.wasmtime_component_linker_instance_add_instance(root, name, Buffer.byteLength(name), cell);
    if (added) {
      api.wasmtime_component_linker_instance_delete(root);
      check(native, added);
    }
    const transport = runtime.memory.pointerAt(cell);
    let error: Pointer | null = null;
    TRANSPORT.forEach((fn, index) => {
      error ??= api.wasmtime_component_linker_instance_add_func(
        transport,
        fn,
        fn.length,
        runtime.callback,
        BigInt(id * TRANSPORT.length + index),
        null,
      );
    });
    api.wasmtime_component_linker_instance_delete(transport);
    api.wasmtime_component_linker_instance_delete(root);
    check(native, error);
    check(native, api.wasmtime_component_linker_instantiate(linker, context, component, out));
  } finally {
    koffi.free(cell);
    api.wasmtime_component_linker_delete(linker);
  }
}

/** The client interface's function `name`, written to `out`; a component without it is refused. */
function exportedFunc(native: Native, context: Pointer, instance: Pointer, out: Pointer, name: string): Pointer {
  const { api } = native;
  const client = interfaceName("client");
  const within = api.wasmtime_component_instance_get_export_index(
    instance,
    context,
    null,
    client,
    Buffer.byteLength(client),
  );
  if (!within) throw new Error(`the component exports no ${client}`);
  const index = api.wasmtime_component_instance_get_export_index(
    instance,
    context,
    within,
    name,
    Buffer.byteLength(name),
  );
  api.wasmtime_component_export_index_delete(within);
  if (!index) throw new Error(`the component's ${client} has no function ${name}`);
  const found = api.wasmtime_component_instance_get_func(instance, context, index, out);
  api.wasmtime_component_export_index_delete(index);
  if (!found) throw new Error(`the component's ${client} ${name} is not a function`);
  return out;
}
