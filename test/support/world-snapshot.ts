// Boot once, restore per case. A fuzz case needs a world as it is just
// after booting (hypervisor, xenstored, guests, their devices connected);
// booting one costs far more than most cases. A WorldSnapshot records, in
// place, the state of everything reachable from its roots (objects, arrays,
// maps, sets, byte buffers, Wasm memories and exported globals) and puts it
// all back, so the same objects serve the next case as a fresh boot would.
//
// What it cannot see it cannot restore: state captured only by a closure, a
// Wasm module's unexported globals, a WeakMap's entries. SnapshotEngine
// makes the Wasm side visible (every instance it makes, with every mutable
// global exported); test/system/world-snapshot.test.ts checks that cases
// run on a restored world end as they do on a freshly booted one.
import { createHash } from "node:crypto";
import binaryen from "binaryen";
import type { Engine, EngineInstance, HostFunction } from "../../runtime/engine.js";
import { compileModule, V8Instance, v8Engine } from "../../runtime/v8.js";

type Saved =
  | { kind: "object"; target: Record<string, unknown>; keys: string[]; values: unknown[] }
  | { kind: "array"; target: unknown[]; values: unknown[] }
  | { kind: "map"; target: Map<unknown, unknown>; entries: [unknown, unknown][] }
  | { kind: "set"; target: Set<unknown>; values: unknown[] }
  | { kind: "bytes"; target: ArrayBufferLike; bytes: Uint8Array }
  | { kind: "memory"; target: WebAssembly.Memory; bytes: Uint8Array }
  | { kind: "global"; target: WebAssembly.Global; value: unknown };

/**
 * A factory of worlds for a property's cases: under V8 the first call boots
 * one (with a SnapshotEngine) and each later call restores it to that state;
 * under another engine, whose instances it cannot see into, each call boots.
 */
export function worldFactory<W extends object>(engine: Engine, boot: (engine: Engine) => W): () => W {
  if (engine !== v8Engine) return () => boot(engine);
  let booted: { world: W; snapshot: WorldSnapshot } | undefined;
  return () => {
    if (booted && !watching?.fresh) booted.snapshot.restore();
    else {
      const snapshotEngine = new SnapshotEngine();
      const world = boot(snapshotEngine);
      booted = { world, snapshot: new WorldSnapshot([world, snapshotEngine.instances]) };
    }
    if (watching) watching.roots = booted.snapshot.roots;
    return booted.world;
  };
}

/** What a test watching the factories sees (watchWorlds). */
export interface WorldWatch {
  /** Each call boots a fresh world, as under another engine. */
  readonly fresh: boolean;
  /** The roots of the world last handed out (the world and its engine's instances). */
  roots: readonly object[] | null;
}

let watching: WorldWatch | null = null;

/** Until `stop`, every worldFactory reports the world it hands out, booting a fresh one each time if `fresh`. */
export function watchWorlds(fresh: boolean): WorldWatch & { stop(): void } {
  const watch = { fresh, roots: null, stop: () => void (watching = null) };
  watching = watch;
  return watch;
}

/** Stands for an own accessor property: its state, if any, is behind it, in what the walk sees or not at all. */
const ACCESSOR = Symbol("accessor");

/** Objects the walk does not enter: ones no case changes, or that belong to the process, not the world. */
const OPAQUE: unknown[] = [WebAssembly.Module, Promise, RegExp, Date, WeakRef];

export class WorldSnapshot {
  private readonly saved: Saved[] = [];

  /** Records the state of everything reachable from `roots`. */
  constructor(readonly roots: readonly object[]) {
    const seen = new Set<unknown>();
    const memoryBuffers = new Set<ArrayBufferLike>();
    const pending: unknown[] = [...roots];
    const visit = (value: unknown) => {
      if ((typeof value === "object" && value !== null) || typeof value === "function") pending.push(value);
    };
    while (pending.length > 0) {
      const value = pending.pop();
      if (seen.has(value) || typeof value === "function") continue;
      seen.add(value);
      if (value instanceof WeakMap || value instanceof WeakSet) {
        throw new TypeError("a WeakMap or WeakSet in the world: its entries cannot be restored");
      }
      if (OPAQUE.some((type) => value instanceof (type as abstract new (...args: never[]) => unknown))) continue;
      if (value instanceof WebAssembly.Memory) {
        memoryBuffers.add(value.buffer);
        this.saved.push({ kind: "memory", target: value, bytes: new Uint8Array(value.buffer).slice() });
      } else if (value instanceof WebAssembly.Global) {
        this.saved.push({ kind: "global", target: value, value: value.value });
      } else if (value instanceof WebAssembly.Instance) {
        visit(value.exports);
      } else if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
        this.saved.push({ kind: "bytes", target: value, bytes: new Uint8Array(value).slice() });
      } else if (ArrayBuffer.isView(value)) {
        // A small Buffer is a slice of Node's shared pool, which the world does not own: such values are never written in place.
        if (!(Buffer.isBuffer(value) && value.byteLength < value.buffer.byteLength)) visit(value.buffer);
      } else if (value instanceof Map) {
        const entries = [...value];
        this.saved.push({ kind: "map", target: value, entries });
        for (const [key, item] of entries) {
          visit(key);
          visit(item);
        }
      } else if (value instanceof Set) {
        const values = [...value];
        this.saved.push({ kind: "set", target: value, values });
        for (const item of values) visit(item);
      } else if (Array.isArray(value)) {
        const values = [...value];
        this.saved.push({ kind: "array", target: value, values });
        for (const item of values) visit(item);
      } else {
        const target = value as Record<string, unknown>;
        const keys = Object.keys(target);
        const values = keys.map((key) => (Object.getOwnPropertyDescriptor(target, key)!.get ? ACCESSOR : target[key]));
        if (!Object.isFrozen(target)) this.saved.push({ kind: "object", target, keys, values });
        for (const item of values) visit(item);
      }
    }
    // A Wasm memory's buffer is restored through its memory (which may have grown since).
    const outside = this.saved.filter((entry) => !(entry.kind === "bytes" && memoryBuffers.has(entry.target)));
    this.saved.splice(0, this.saved.length, ...outside);
  }

  /** Puts everything recorded back as it was. */
  restore(): void {
    for (const entry of this.saved) {
      switch (entry.kind) {
        case "object":
          restoreObject(entry.target, entry.keys, entry.values);
          break;
        case "array": {
          const { target, values } = entry;
          target.length = values.length;
          for (let i = 0; i < values.length; i++) if (target[i] !== values[i]) target[i] = values[i];
          break;
        }
        case "map":
          entry.target.clear();
          for (const [key, value] of entry.entries) entry.target.set(key, value);
          break;
        case "set":
          entry.target.clear();
          for (const value of entry.values) entry.target.add(value);
          break;
        case "bytes":
          new Uint8Array(entry.target).set(entry.bytes);
          break;
        case "memory": {
          const memory = new Uint8Array(entry.target.buffer);
          memory.set(entry.bytes);
          // Memory grown since stays, zeroed: a module's allocator only uses what its restored state says it has.
          memory.fill(0, entry.bytes.length);
          break;
        }
        case "global":
          if (entry.target.value !== entry.value) entry.target.value = entry.value;
          break;
      }
    }
  }

  /** How many objects, arrays, maps, sets, buffers, memories and globals it restores. */
  get size(): number {
    return this.saved.length;
  }

  /**
   * What it recorded, an entry a line in the walk's order: its kind and
   * class, its keys, its primitive values (an object value as its class),
   * a hash of its bytes. Two worlds built and driven alike give the same lines.
   */
  describe(): string[] {
    const show = (value: unknown): string =>
      typeof value === "object" && value !== null
        ? `<${value.constructor?.name ?? "null-prototype"}>`
        : typeof value === "function"
          ? "<function>"
          : typeof value === "symbol"
            ? String(value)
            : `${typeof value}:${String(value)}`;
    return this.saved.map((entry) => {
      switch (entry.kind) {
        case "object":
          return `object ${entry.target.constructor?.name} {${entry.keys.map((key, i) => `${key}=${show(entry.values[i])}`)}}`;
        case "array":
        case "set":
          return `${entry.kind} [${entry.values.map(show)}]`;
        case "map":
          return `map {${entry.entries.map(([key, value]) => `${show(key)}=${show(value)}`)}}`;
        case "bytes":
        case "memory":
          return `${entry.kind} ${entry.bytes.length} ${createHash("sha256").update(entry.bytes).digest("hex")}`;
        case "global":
          return `global ${show(entry.value)}`;
      }
    });
  }

  /** The lines of describe() as one hash. */
  digest(): string {
    return createHash("sha256").update(this.describe().join("\n")).digest("hex");
  }
}

function restoreObject(target: Record<string, unknown>, keys: string[], values: unknown[]): void {
  const now = Object.keys(target);
  if (now.length !== keys.length || now.some((key, i) => key !== keys[i])) {
    for (const key of now) if (!keys.includes(key)) delete target[key];
  }
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (values[i] !== ACCESSOR && target[key] !== values[i]) target[key] = values[i];
  }
}

/**
 * V8, with every module's mutable globals exported (as `snapshot_global_N`)
 * and every instance it makes kept in `instances`, so that a WorldSnapshot
 * that has this engine among its roots restores the guests' whole state:
 * linear memory, the runtime's heap pointers, the module's own variables.
 */
export class SnapshotEngine implements Engine {
  readonly name = "v8";
  /** Every instance made, with its exports (memory, globals) and whether it was disposed. */
  readonly instances: V8Instance[] = [];
  instantiate(wasm: Uint8Array, imports: { xen: Record<string, HostFunction> }, name = "guest"): EngineInstance {
    let rewritten = globalsExported.get(wasm);
    if (!rewritten) {
      rewritten = exportMutableGlobals(wasm);
      globalsExported.set(wasm, rewritten);
    }
    const instance = new V8Instance(new WebAssembly.Instance(compileModule(rewritten), imports).exports, name);
    this.instances.push(instance);
    return instance;
  }
}

/** Each module rewritten once per process (by its bytes object), and so compiled once: a rewrite costs a few hundred ms. */
const globalsExported = new WeakMap<Uint8Array, Uint8Array>();

function exportMutableGlobals(wasm: Uint8Array): Uint8Array {
  const module = binaryen.readBinary(wasm);
  try {
    const exported = new Set<string>();
    for (let i = 0; i < module.getNumExports(); i++) {
      const info = binaryen.getExportInfo(module.getExportByIndex(i));
      if (info.kind === binaryen.ExternalGlobal) exported.add(info.value);
    }
    for (let i = 0; i < module.getNumGlobals(); i++) {
      const global = binaryen.getGlobalInfo(module.getGlobalByIndex(i));
      if (global.mutable && !global.module && !exported.has(global.name)) {
        module.addGlobalExport(global.name, `snapshot_global_${i}`);
      }
    }
    return module.emitBinary();
  } finally {
    module.dispose();
  }
}
