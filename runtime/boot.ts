// Boots build/xenbus.wasm as a domain of a simulated hypervisor. Shared by the
// tests and the bench, so it throws instead of using a test framework.
import { readFileSync } from "node:fs";
import type { Engine } from "./engine.js";
import { type Guest, loadGuest } from "./guest.js";
import type { GuestHypervisor, HostedDomain } from "./hypervisor.js";
import type { XenbusExports } from "./xenbus.js";

export const xenbusWasm: Uint8Array = readFileSync(new URL("../build/xenbus.wasm", import.meta.url));

export type Xenbus<D extends HostedDomain = HostedDomain> = Guest<XenbusExports, D>;

/** Loads build/xenbus.wasm as a new domain (in V8 unless `engine` says otherwise) and boots it (shared_info and grant table up). */
export function bootXenbus<D extends HostedDomain>(hv: GuestHypervisor<D>, name: string, engine?: Engine): Xenbus<D> {
  return bootModule<XenbusExports, D>(hv, xenbusWasm, name, engine);
}

/** Loads a module built from assembly/ (xenbus.wasm, or one with more exports such as the test harness) and boots it. */
export function bootModule<E extends XenbusExports, D extends HostedDomain = HostedDomain>(
  hv: GuestHypervisor<D>,
  wasm: Uint8Array,
  name: string,
  engine?: Engine,
): Guest<E, D> {
  const guest = loadGuest<E, D>(hv, wasm, { name, engine });
  const rc = guest.exports.xen_boot();
  if (rc !== 0)
    throw new Error(`${name}: xen_boot returned ${rc ?? `nothing (${guest.exit?.message ?? "the guest died"})`}`);
  return guest;
}
