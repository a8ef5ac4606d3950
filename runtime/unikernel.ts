// Runs a unikernel module (one that exports `main`, like build/unikernel.wasm)
// in a domain of a simulated hypervisor, as the native PVH host does on real
// Xen (README, "what a host must provide"): `main` runs the application and
// returns a SHUTDOWN_* reason, which goes to SCHEDOP_shutdown; a negative
// result is the -errno of a failed boot, and the domain crashes.
import type { Engine } from "./engine.js";
import { type Guest, loadGuest } from "./guest.js";
import type { GuestHypervisor, HostedDomain } from "./hypervisor.js";

export type Unikernel<D extends HostedDomain = HostedDomain> = Guest<{ main(): number }, D>;

/** Loads the unikernel module `wasm` (build/unikernel.wasm, or one of your own) as a new domain, to be started with runMain. */
export function loadUnikernel<D extends HostedDomain>(
  hv: GuestHypervisor<D>,
  name: string,
  wasm: Uint8Array,
  engine?: Engine,
): Unikernel<D> {
  return loadGuest<{ main(): number }, D>(hv, wasm, { name, engine });
}

/**
 * Calls the unikernel's `main`, which returns once the application ends,
 * then shuts the domain down with the reason it returned. How the domain
 * ended is then in `unikernel.exit`.
 */
export function runMain<D extends HostedDomain>(hv: GuestHypervisor<D>, unikernel: Unikernel<D>): void {
  const result = unikernel.exports.main();
  if (result === undefined) return; // it died on its own (a panic, a trap)
  if (result < 0) hv.crashDomain(unikernel.domain, `main failed: ${result}`);
  else hv.shutdownDomain(unikernel.domain, result);
}
