// Loads build/harness.wasm (assembly/harness.ts) for the benchmarks and the ring
// tests. No hypervisor is needed: every `xen` import answers -ENOSYS.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ENOSYS = 38;
const HYPERCALLS = ["event_channel_op", "grant_table_op", "memory_op", "hvm_op", "sched_op", "console_io", "xen_version"];

export const HARNESS_WASM = fileURLToPath(new URL("../build/harness.wasm", import.meta.url));

/** The harness's exports: numbers in and out (u32 results come back as signed i32). */
export type Harness = Record<string, (...args: number[]) => number> & { memory: WebAssembly.Memory };

export function loadHarness(): { harness: Harness; scratch: number; scratchBytes: number } {
  const xen = Object.fromEntries(HYPERCALLS.map((name) => [name, () => -ENOSYS]));
  const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(HARNESS_WASM)), { xen });
  const exports = instance.exports as Record<string, unknown>;
  const global = (name: string): number => (exports[name] as WebAssembly.Global).value as number;
  return {
    harness: exports as unknown as Harness,
    scratch: global("harness_scratch") >>> 0,
    scratchBytes: global("harness_scratch_pages") * 4096,
  };
}
