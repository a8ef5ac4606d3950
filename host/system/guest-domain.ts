// Creating a guest domain in one call, as `xl create` does for the demo, the
// tests and the bench: build/xenbus.wasm (or another module built from
// assembly/, such as build/netback.wasm) is loaded and booted in a new
// domain, which the running toolstack introduces to xenstored and gives a
// console backend (startXenstore must have been called on the hypervisor).
import { bootModule, xenbusWasm } from "../../runtime/boot.js";
import type { Engine } from "../../runtime/engine.js";
import type { Guest } from "../../runtime/guest.js";
import type { XenbusExports } from "../../runtime/xenbus.js";
import type { ConsoleBackend } from "../dom0/console-backend.js";
import type { XenstoreService } from "../dom0/toolstack.js";
import type { WasmDomain } from "../xen/domain.js";

export interface GuestDomain<E extends XenbusExports = XenbusExports> {
  guest: Guest<E, WasmDomain>;
  /** dom0's end of the guest's console: its log and its input. */
  console: ConsoleBackend;
}

/** The guest runs `wasm` (build/xenbus.wasm by default) in V8 unless `engine` says otherwise. */
export function createGuestDomain<E extends XenbusExports = XenbusExports>(
  service: XenstoreService,
  name: string,
  engine?: Engine,
  wasm: Uint8Array = xenbusWasm,
): GuestDomain<E> {
  const guest = bootModule<E, WasmDomain>(service.hv, wasm, name, engine);
  const console = service.console(guest.domid);
  if (!console || !service.xenstored.isIntroduced(guest.domid)) {
    throw new Error(`${name}: not introduced to this xenstored; was startXenstore called on its hypervisor?`);
  }
  return { guest, console };
}
