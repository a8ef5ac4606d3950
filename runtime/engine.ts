// What the runtime needs from a Wasm engine. Synchronous, and only Wasm
// values (numbers and bigints) and byte views cross it, so any engine that
// can show a guest's linear memory as a view fits (V8, wasmtime).

/** A Wasm value as the WebAssembly JS API passes it: i32, f32 and f64 as numbers, i64 as a bigint (runtime/blk.ts's sectors). */
export type WasmValue = number | bigint;

/** A `xen` import: every hypercall takes and returns i32s. */
export type HostFunction = (...args: number[]) => number;

export interface Engine {
  readonly name: string;
  /** `name` is the guest's, for diagnostics (traces, error messages). */
  instantiate(wasm: Uint8Array, imports: { xen: Record<string, HostFunction> }, name?: string): EngineInstance;
}

export interface EngineInstance {
  /**
   * Calls an exported function; an i64 result comes back as a number. A trap
   * in the guest is thrown as GuestTrap; errors thrown by imports pass
   * through unchanged.
   */
  call(name: string, args: WasmValue[]): number | undefined;
  /** The exported linear memory: the same view until memory.grow replaces the memory, then a new one. */
  memoryBytes(): Uint8Array;
  /** The value of an exported global. */
  global(name: string): number;
  /** Names of all exports (functions, globals, memory). */
  exportNames(): string[];
  /**
   * Frees what the engine holds for the instance. Afterwards call and global
   * throw; memoryBytes keeps returning the last contents, since pages the
   * guest granted stay readable to whoever still maps them (as in Xen).
   * Idempotent.
   */
  dispose(): void;
}

/** The guest trapped (unreachable, out-of-bounds access, stack overflow...). */
export class GuestTrap extends Error {
  override name = "GuestTrap";
}
