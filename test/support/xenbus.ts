// The real guest module, booted in a domain of a simulated hypervisor (the helper is vitest-free so the bench shares it).
export { bootXenbus, xenbusWasm } from "../../runtime/boot.js";
export type { HarnessExports } from "./harness-exports.js";

import { readFileSync } from "node:fs";
import { HARNESS_WASM } from "../../bench/harness.js";
import type { WasmDomain } from "../../host/xen/domain.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import { bootModule, type Xenbus as XenbusOf } from "../../runtime/boot.js";
import type { Engine } from "../../runtime/engine.js";
import type { Guest } from "../../runtime/guest.js";
import type { XenbusExports } from "../../runtime/xenbus.js";
import { type XenStore, xenstore } from "../../runtime/xenstore.js";
import type { HarnessExports } from "./harness-exports.js";

/** xenbus.wasm in a domain of the simulated hypervisor. */
export type Xenbus = XenbusOf<WasmDomain>;
export type Harness = Guest<XenbusExports & HarnessExports, WasmDomain>;

export const harnessWasm: Uint8Array = readFileSync(HARNESS_WASM);

/** Boots build/harness.wasm (xenbus.wasm plus the test-only drivers and hooks) as a new domain (in V8 unless `engine` says otherwise). */
export function bootHarness(hv: Hypervisor, name: string, engine?: Engine): Harness {
  return bootModule<XenbusExports & HarnessExports, WasmDomain>(hv, harnessWasm, name, engine);
}

const decoder = new TextDecoder();

/** A booted harness guest with its XenStore client up, and its test drivers' log. */
export class HarnessGuest {
  readonly x: Harness["exports"];
  readonly xs: XenStore;
  /** A page_alloc page for results. */
  protected readonly out: number;

  constructor(readonly guest: Harness) {
    this.x = guest.exports;
    this.xs = xenstore(guest);
    this.out = this.x.page_alloc();
  }

  get domid(): number {
    return this.guest.domid;
  }

  /** The test drivers' log since the last call, a line each. */
  log(): string[] {
    const lines: string[] = [];
    for (let length = this.x.harness_bus_log(this.out); length > 0; length = this.x.harness_bus_log(this.out)) {
      lines.push(
        ...this.text(length)
          .split("\n")
          .filter((line) => line !== ""),
      );
    }
    return lines;
  }

  /** The first `length` bytes of the result page, as text. */
  protected text(length: number): string {
    return decoder.decode(this.guest.memory().slice(this.out, this.out + length));
  }
}
