// Boots build/xenbus.wasm as a domain of a simulated hypervisor. Shared by the
// tests and the bench, so it throws instead of using a test framework.
import { readFileSync } from "node:fs";
import type { Hypervisor } from "../host/xen/hypervisor.js";
import type { Engine } from "./engine.js";
import { type Guest, loadGuest } from "./guest.js";
import type { XenbusExports } from "./xenbus.js";

export const xenbusWasm: Uint8Array = readFileSync(new URL("../build/xenbus.wasm", import.meta.url));

export type Xenbus = Guest<XenbusExports>;

/** Loads build/xenbus.wasm as a new domain (in V8 unless `engine` says otherwise) and boots it (shared_info and grant table up). */
export function bootXenbus(hv: Hypervisor, name: string, engine?: Engine): Xenbus {
  return bootModule<XenbusExports>(hv, xenbusWasm, name, engine);
}

/** Loads a module built from assembly/ (xenbus.wasm, or one with more exports such as the test harness) and boots it. */
export function bootModule<E extends XenbusExports>(
  hv: Hypervisor,
  wasm: Uint8Array,
  name: string,
  engine?: Engine,
): Guest<E> {
  const guest = loadGuest<E>(hv, wasm, { name, engine });
  const rc = guest.exports.xen_boot();
  if (rc !== 0)
    throw new Error(`${name}: xen_boot returned ${rc ?? `nothing (${guest.exit?.message ?? "the guest died"})`}`);
  return guest;
}
