// Runs a unikernel module (one that exports `main`, like build/unikernel.wasm)
// in a domain of a simulated hypervisor, as the native PVH host does on real
// Xen (README, "what a host must provide"): `main` runs the application and
// returns a SHUTDOWN_* reason, which goes to SCHEDOP_shutdown; a negative
// result is the -errno of a failed boot, and the domain crashes.

import { SHUTDOWN, shutdownReasonName } from "../host/xen/abi.js";
import type { Hypervisor } from "../host/xen/hypervisor.js";
import type { Engine } from "./engine.js";
import { type Guest, loadGuest } from "./guest.js";

export type Unikernel = Guest<{ main(): number }>;

/** Loads the unikernel module `wasm` (build/unikernel.wasm, or one of your own) as a new domain, to be started with runMain. */
export function loadUnikernel(hv: Hypervisor, name: string, wasm: Uint8Array, engine?: Engine): Unikernel {
  return loadGuest<{ main(): number }>(hv, wasm, { name, engine });
}

/**
 * Calls the unikernel's `main`, which returns once the application ends,
 * then shuts the domain down with the reason it returned. How the domain
 * ended is then in `unikernel.exit`.
 */
export function runMain(hv: Hypervisor, unikernel: Unikernel): void {
  const result = unikernel.exports.main();
  if (result === undefined) return; // it died on its own (a panic, a trap)
  const domain = unikernel.domain;
  if (result < 0) {
    hv.scheduler.kill(domain, { reason: "crash", code: SHUTDOWN.crash, message: `main failed: ${result}` });
  } else {
    hv.scheduler.kill(domain, { reason: shutdownReasonName(result), code: result, message: "" });
  }
}
