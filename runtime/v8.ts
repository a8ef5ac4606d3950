// The V8 engine adapter, through the WebAssembly JS API.
import { type Engine, type EngineInstance, GuestTrap, type HostFunction, type WasmValue } from "./engine.js";

/** An instance's exports behind the Engine interface. */
export class V8Instance implements EngineInstance {
  private disposed = false;
  private view = new Uint8Array(0);

  constructor(
    private readonly exports: WebAssembly.Exports,
    private readonly name: string,
  ) {}

  call(name: string, args: WasmValue[]): number | undefined {
    this.checkAlive(name);
    const fn = this.exports[name];
    if (typeof fn !== "function") throw new Error(`the module exports no function ${name}`);
    try {
      const result: unknown = fn(...args);
      return typeof result === "bigint" ? Number(result) : (result as number | undefined);
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError) throw new GuestTrap(error.message, { cause: error });
      throw error;
    }
  }

  memoryBytes(): Uint8Array {
    const memory = this.exports.memory;
    if (memory instanceof WebAssembly.Memory && this.view.buffer !== memory.buffer)
      this.view = new Uint8Array(memory.buffer);
    return this.view;
  }

  global(name: string): number {
    this.checkAlive(name);
    const global = this.exports[name];
    if (!(global instanceof WebAssembly.Global)) throw new Error(`the module exports no global ${name}`);
    return Number(global.value);
  }

  exportNames(): string[] {
    return Object.keys(this.exports);
  }

  /** V8 frees the instance with its last reference; disposing only stops further calls, as under wasmtime. */
  dispose(): void {
    this.disposed = true;
  }

  private checkAlive(what: string): void {
    if (this.disposed) throw new Error(`${this.name} was disposed; cannot use ${what}`);
  }
}

/** Compiled modules by their bytes: every guest of one module shares one compilation (the bytes are never changed). */
const compiled = new WeakMap<Uint8Array, WebAssembly.Module>();

/** `wasm` compiled, once per bytes object. */
export function compileModule(wasm: Uint8Array): WebAssembly.Module {
  let module = compiled.get(wasm);
  if (!module) {
    module = new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>);
    compiled.set(wasm, module);
  }
  return module;
}

export const v8Engine: Engine = {
  name: "v8",
  instantiate(wasm: Uint8Array, imports: { xen: Record<string, HostFunction> }, name = "guest"): EngineInstance {
    return new V8Instance(new WebAssembly.Instance(compileModule(wasm), imports).exports, name);
  },
};
