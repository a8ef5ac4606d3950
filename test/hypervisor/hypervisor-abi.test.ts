// The hypervisor's ABI tables against the guest's: both sides of every
// hypercall must agree on each struct they share and each constant they name.
// (test/tools/layouts.test.ts checks both against Xen's C headers.)
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HOST_CONSTANTS, HOST_LAYOUTS } from "../../host/xen/abi.js";
import { readModuleAbi, ABI_WASM as WASM } from "../../tools/abi.js";

describe.skipIf(!existsSync(WASM))("host and guest ABI tables", () => {
  const guest = readModuleAbi(WASM);

  it("lay out every struct the hypervisor reads exactly as the guest does", () => {
    for (const [name, layout] of Object.entries(HOST_LAYOUTS)) {
      expect(guest.layouts[name], name).toEqual(layout);
    }
  });

  it("give the same value to every constant both name", () => {
    const shared = Object.keys(HOST_CONSTANTS).filter((name) => name in guest.constants);
    expect(shared.length).toBeGreaterThan(60);
    for (const name of shared) expect(HOST_CONSTANTS[name], name).toBe(guest.constants[name]);
  });
});
