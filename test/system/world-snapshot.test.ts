// The fuzz targets boot a world once and restore it before each case
// (test/support/world-snapshot.ts). That is only sound if a restored world
// is the world a fresh boot gives: here each property's cases run twice from
// one seed, once on fresh worlds and once on one restored world, and after
// every case the two worlds' whole recorded state (objects, xenstored's tree,
// every guest's memory and globals, disks) must be the same.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { v8Engine } from "../../runtime/v8.js";
import { blkbackGarbageProperty, blkfrontGarbageProperty } from "../support/properties/blk.js";
import { evtchnGnttabProperty } from "../support/properties/evtchn-gnttab.js";
import { hypercallsProperty } from "../support/properties/hypervisor.js";
import { hostileXenstoreRingProperty } from "../support/properties/xenstore-ring.js";
import { SnapshotEngine, WorldSnapshot, watchWorlds } from "../support/world-snapshot.js";
import { bootXenbus } from "../support/xenbus.js";

const PROPERTIES = {
  "blkfront.garbage": blkfrontGarbageProperty,
  "blkback.garbage": blkbackGarbageProperty,
  "ring.hostile-xenstored": hostileXenstoreRingProperty,
  "hypervisor.hypercalls": hypercallsProperty,
  "evtchn-gnttab.sequences": evtchnGnttabProperty,
};

/** The digest of the world each case ended with, running `property`'s first `cases` cases from `seed`. */
function digestsAfterEachCase(
  property: (engine: typeof v8Engine) => fc.IProperty<unknown>,
  fresh: boolean,
  seed: number,
  cases: number,
): string[] {
  const digests: string[] = [];
  const watch = watchWorlds(fresh);
  try {
    const details = fc.check(property(v8Engine), {
      seed,
      numRuns: cases,
      endOnFailure: true,
      plugins: [fc.afterEach(() => void digests.push(new WorldSnapshot(watch.roots!).digest()))],
    });
    expect(details.failed, String(details.errorInstance)).toBe(false);
  } finally {
    watch.stop();
  }
  return digests;
}

describe("a restored world is a freshly booted one", () => {
  for (const [name, property] of Object.entries(PROPERTIES)) {
    it(`${name}: every case ends the same on either`, () => {
      const fresh = digestsAfterEachCase(property, true, 20261203, 12);
      const restored = digestsAfterEachCase(property, false, 20261203, 12);
      expect(fresh).toHaveLength(12);
      // The digest tells the cases apart: it sees what they did.
      expect(new Set(fresh).size).toBeGreaterThan(1);
      expect(restored).toEqual(fresh);
    });
  }
});

describe("WorldSnapshot", () => {
  it("puts back objects, maps, sets, arrays, bytes and a guest's memory and globals", () => {
    const engine = new SnapshotEngine();
    const hv = new Hypervisor();
    const guest = bootXenbus(hv, "guest", engine);
    const world = { hv, guest, notes: ["a"], seen: new Set([1]), byName: new Map([["x", 1]]), disk: new Uint8Array(8) };
    const snapshot = new WorldSnapshot([world, engine.instances]);
    const before = snapshot.digest();
    const page = guest.exports.page_alloc();
    expect(page).toBeGreaterThan(0);
    guest.memory()[page] = 7;
    world.notes.push("b");
    world.seen.add(2);
    world.byName.set("y", 2);
    world.disk[3] = 9;
    (world as Record<string, unknown>).extra = true;
    hv.destroyDomain(guest.domid);
    expect(new WorldSnapshot([world, engine.instances]).digest()).not.toBe(before);

    snapshot.restore();
    expect(new WorldSnapshot([world, engine.instances]).digest()).toBe(before);
    expect(world).toEqual({
      hv,
      guest,
      notes: ["a"],
      seen: new Set([1]),
      byName: new Map([["x", 1]]),
      disk: new Uint8Array(8),
    });
    expect(hv.domain(guest.domid)).toBe(guest.domain);
    expect(guest.exit).toBeNull();
    // The allocator's state came back with the memory: the same page is handed out again, and the guest works.
    expect(guest.exports.page_alloc()).toBe(page);
    expect(guest.exports.evtchn_alloc_unbound(0)).toBeGreaterThan(0);
  });

  it("refuses a world holding a WeakMap, whose entries it could not put back", () => {
    expect(() => new WorldSnapshot([{ cache: new WeakMap() }])).toThrow(/WeakMap/);
  });
});
