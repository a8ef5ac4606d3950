// build/xenbus.wasm never collects its garbage by itself: the wrapper
// (runtime/guest.ts) collects it after outermost calls, every COLLECT_EVERY
// of them and whenever the module's memory has grown. Each read of a 2000-byte
// value here leaves kilobytes of garbage (the reply's bytes, their UTF-16
// string), thousands of reads hundreds of times the heap's free room: once
// the heap is warm, they leave the guest's memory and the heap's reach where
// they were. Were nothing collected, or only once the memory had grown (the
// allocator doubles it each time), the memory would grow.
import { describe, expect, test } from "vitest";
import { footprint, warmedUp } from "../../bench/memory.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { bootXenbus } from "../../runtime/boot.js";
import { COLLECT_EVERY } from "../../runtime/guest.js";
import { xenstore } from "../../runtime/xenstore.js";
import { engines } from "../support/engines.js";

const VALUE = "v".repeat(2000);
/** Reads per warm-up round, at most how many rounds it takes for the heap's reach to stay put for one, then the reads measured. */
const READS = { round: 16 * COLLECT_EVERY, warmUps: 10, measured: 5000 };

describe.each(engines)("under $name", ({ engine }) => {
  test(`${READS.measured} reads of a ${VALUE.length}-byte value after a warm-up leave the guest's memory and heap as large as they were`, () => {
    const hv = new Hypervisor();
    startXenstore(hv);
    const guest = bootXenbus(hv, "reader", engine);
    const xs = xenstore(guest);
    xs.write("data/large", VALUE);
    const reads = (n: number) => {
      for (let i = 0; i < n; i++) expect(xs.read("data/large")).toBe(VALUE);
    };
    const measure = () => footprint(guest.memory());
    const before = warmedUp(measure, () => reads(READS.round), READS.warmUps);
    reads(READS.measured);
    expect(measure()).toEqual(before);
    expect(guest.exit).toBeNull();
  });
});
