// Reads the ABI table a built guest module carries (assembly/xen/describe.ts):
// build/harness.wasm's, compiled from the files generated from Xen's ABI
// declaration (assembly/xen/abi.json) that xenbus.wasm is compiled from; the
// release module leaves the table out. No hypervisor is needed: every `xen`
// import answers -ENOSYS.
import { readFileSync } from "node:fs";
import { ERRNO } from "../host/xen/abi.js";

export interface StructLayout {
  sizeof: number;
  fields: Record<string, number>;
}
export type Layouts = Record<string, StructLayout>;
export type Constants = Record<string, number>;

/** The `xen` imports a host provides (runtime/pvh/imports.c natively, host/xen/hypercalls.ts simulated). */
export const HYPERCALLS = [
  "event_channel_op",
  "grant_table_op",
  "memory_op",
  "hvm_op",
  "sched_op",
  "console_io",
  "xen_version",
];

export type Hypercall = (...args: number[]) => number;

/** `xen` imports for running a module without a hypervisor: each answers -ENOSYS unless overridden. */
export function noHypervisor(overrides: Record<string, Hypercall> = {}): Record<string, Hypercall> {
  return { ...Object.fromEntries(HYPERCALLS.map((name) => [name, () => -ERRNO.ENOSYS])), ...overrides };
}

/** The module that carries the table. */
export const ABI_WASM = "build/harness.wasm";

export function readModuleAbi(wasmPath: string = ABI_WASM): { layouts: Layouts; constants: Constants } {
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const instance = new WebAssembly.Instance(module, { xen: noHypervisor() });
  const exports = instance.exports as Record<string, unknown>;
  const memory = exports.memory as WebAssembly.Memory;
  const text = (fn: string): string => {
    const pointer = (exports[fn] as () => number)() >>> 0;
    const bytes = new DataView(memory.buffer).getUint32(pointer - 4, true);
    return new TextDecoder("utf-16le").decode(new Uint8Array(memory.buffer, pointer, bytes));
  };
  return { layouts: JSON.parse(text("xen_abi_layouts")), constants: JSON.parse(text("xen_abi_constants")) };
}
