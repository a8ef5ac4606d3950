// Loads build/harness.wasm (assembly/harness.ts) for the benchmarks and the ring
// tests. No hypervisor is needed: every `xen` import answers -ENOSYS unless a
// test supplies its own.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Engine, EngineInstance } from "../runtime/engine.js";
import { type Hypercall, noHypervisor } from "../tools/abi.js";

export const HARNESS_WASM = fileURLToPath(new URL("../build/harness.wasm", import.meta.url));

/** The harness's exports: numbers in and out (u32 results come back as signed i32). */
export type Harness = Record<string, (...args: number[]) => number> & { memory: WebAssembly.Memory };

export function loadHarness(hypercalls: Record<string, Hypercall> = {}): {
  harness: Harness;
  scratch: number;
  scratchBytes: number;
} {
  const xen = noHypervisor(hypercalls);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(HARNESS_WASM)), { xen });
  const exports = instance.exports as Record<string, unknown>;
  const global = (name: string): number => (exports[name] as WebAssembly.Global).value as number;
  return {
    harness: exports as unknown as Harness,
    scratch: global("harness_scratch") >>> 0,
    scratchBytes: global("harness_scratch_pages") * 4096,
  };
}

/** The harness in `engine` (another engine than this process's V8), with no hypervisor. */
export function harnessIn(engine: Engine): EngineInstance {
  return engine.instantiate(readFileSync(HARNESS_WASM), { xen: noHypervisor() });
}
