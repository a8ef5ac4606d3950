// The real guest module, booted in a domain of a simulated hypervisor.
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import type { Hypervisor } from "../../host/hypervisor.js";
import { loadGuest, type Guest } from "../../runtime/index.js";
import type { XenbusExports } from "../../runtime/xenbus.js";

export const xenbusWasm = readFileSync(new URL("../../build/xenbus.wasm", import.meta.url));

export type Xenbus = Guest<XenbusExports>;

/** Loads build/xenbus.wasm as a new domain and boots it (shared_info and grant table up). */
export function bootXenbus(hv: Hypervisor, name: string): Xenbus {
  const guest = loadGuest<XenbusExports>(hv, xenbusWasm, { name });
  expect(guest.exports.xen_boot()).toBe(0);
  return guest;
}
