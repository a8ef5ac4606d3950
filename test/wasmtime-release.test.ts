// Guests under wasmtime are released: the child process drops a guest's
// store (its linear memory) when the domain is destroyed, or when the guest
// is garbage collected with its hypervisor, and Node forgets its mirror and
// imports. Measured on the child's resident memory (/proc/<pid>/status) and
// the engine's count of guests, over many guests booted and let go.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, test } from "vitest";
import { Hypervisor } from "../host/hypervisor.js";
import { bootXenbus, xenbusWasm } from "../runtime/boot.js";
import { wasmtimeEngine } from "../runtime/wasmtime.js";
import { wasmtimePython } from "../tools/wasmtime.js";
import { peer } from "./support/peer.js";

const python = peer("wasmtime", wasmtimePython);
const GUESTS = 60;
const MiB = 1024 * 1024;

/** The child's resident set, in bytes. */
function residentBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB$/m);
  if (!line) throw new Error(`no VmRSS for process ${pid}`);
  return Number(line[1]) * 1024;
}

/** A full collection, with the finalizers it queued run. */
async function collectGarbage(): Promise<void> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let round = 0; round < 3; round++) {
    gc();
    await sleep(10);
  }
}

describe.skipIf(!python)("wasmtime releases guests", () => {
  test(`destroying ${GUESTS} domains frees their guests in the child and in Node; live guests do cost memory`, () => {
    const engine = wasmtimeEngine(python);
    const hv = new Hypervisor();
    const boot = (name: string) => bootXenbus(hv, name, engine);
    // Warm up (the module compiled, the allocator's pools made), so the baseline is the steady state.
    for (let i = 0; i < 5; i++) hv.destroyDomain(boot(`warm-${i}`).domid);
    const pid = engine.pid!;
    const baseline = residentBytes(pid);

    // The measure can tell: guests kept alive grow the child.
    const live = Array.from({ length: 20 }, (_, i) => boot(`live-${i}`));
    const liveGrowth = residentBytes(pid) - baseline;
    expect(engine.guestCount).toBe(20);
    expect(liveGrowth).toBeGreaterThan(20 * MiB);
    for (const guest of live) hv.destroyDomain(guest.domid);

    for (let i = 0; i < GUESTS; i++) hv.destroyDomain(boot(`guest-${i}`).domid);
    expect(engine.guestCount).toBe(0);
    // Drops have no answer: a last guest's boot makes sure the child has read them all.
    const last = boot("last");
    const growth = residentBytes(pid) - baseline;
    console.log(`wasmtime child: +${(liveGrowth / MiB).toFixed(1)} MiB with 20 live guests; +${(growth / MiB).toFixed(1)} MiB after ${GUESTS + 20} destroyed`);
    expect(growth).toBeLessThan(liveGrowth / 2);
    expect(engine.guestCount).toBe(1);
    hv.destroyDomain(last.domid);
  });

  test(`the guests of ${GUESTS} dropped hypervisors are freed when collected`, async () => {
    const engine = wasmtimeEngine(python);
    const bootAndDrop = (name: string): void => {
      bootXenbus(new Hypervisor(), name, engine);
    };
    for (let i = 0; i < 5; i++) bootAndDrop(`warm-${i}`);
    await collectGarbage();
    bootAndDrop("settle");
    const pid = engine.pid!;
    const baseline = residentBytes(pid);

    for (let i = 0; i < GUESTS; i++) bootAndDrop(`guest-${i}`);
    expect(engine.guestCount).toBeGreaterThanOrEqual(GUESTS);
    await collectGarbage();
    expect(engine.guestCount).toBeLessThanOrEqual(1);
    bootAndDrop("last");
    const growth = residentBytes(pid) - baseline;
    console.log(`wasmtime child: +${(growth / MiB).toFixed(1)} MiB after ${GUESTS} hypervisors dropped and collected`);
    expect(growth).toBeLessThan(20 * MiB);
  });

  test("a disposed instance throws a clear error instead of calling into the child; a destroyed guest's exports say it has exited", () => {
    const engine = wasmtimeEngine(python);
    const hv = new Hypervisor();
    // A bare instance, with no domain around it (loadGuest's would release it when destroyed).
    const instance = engine.instantiate(xenbusWasm, { xen: hv.hypercalls(hv.dom0) }, "disposable");
    instance.dispose();
    instance.dispose();
    expect(() => instance.call("xen_boot", [])).toThrow("disposable was disposed; cannot use xen_boot");
    expect(() => instance.global("BLK_INFO_SIZE")).toThrow("disposable was disposed; cannot use BLK_INFO_SIZE");
    expect(engine.guestCount).toBe(0);

    const guest = bootXenbus(hv, "destroyed", engine);
    hv.destroyDomain(guest.domid);
    expect(() => guest.exports.xen_boot()).toThrow(/has exited \(destroyed\); cannot call xen_boot/);
    // The child still serves the others.
    const other = bootXenbus(hv, "other", engine);
    expect(other.exports.xen_boot()).toBe(0);
  });
});
