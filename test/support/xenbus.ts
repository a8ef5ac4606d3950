// The real guest module, booted in a domain of a simulated hypervisor (the helper is vitest-free so the bench shares it).
export { bootXenbus, xenbusWasm, type Xenbus } from "../../runtime/boot.js";

import { readFileSync } from "node:fs";
import type { Hypervisor } from "../../host/hypervisor.js";
import { loadGuest, type Guest } from "../../runtime/guest.js";
import type { XenbusExports } from "../../runtime/xenbus.js";

/** What build/harness.wasm adds for booted guests: its test-only drivers' log. */
export interface HarnessExports {
  /** The oldest entries of the test drivers' log that fit in `out` (a page_alloc page), one per line: the byte count. */
  harness_bus_log(out: number): number;
}

export type Harness = Guest<XenbusExports & HarnessExports>;

const harnessWasm: Uint8Array = readFileSync(new URL("../../build/harness.wasm", import.meta.url));

/** Boots build/harness.wasm (xenbus.wasm plus the test-only drivers) as a new domain. */
export function bootHarness(hv: Hypervisor, name: string): Harness {
  const guest = loadGuest<XenbusExports & HarnessExports>(hv, harnessWasm, { name });
  const rc = guest.exports.xen_boot();
  if (rc !== 0) throw new Error(`${name}: xen_boot returned ${rc}`);
  return guest;
}
