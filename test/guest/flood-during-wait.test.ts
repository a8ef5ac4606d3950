// A flood that arrives while the guest waits inside one call costs it bounded
// memory. build/xenbus.wasm never collects garbage by itself (its host does,
// after each outermost call: runtime/guest.ts), so whatever it allocated for
// each message taken in during a wait would pile up until the call returned.
// Here xenstored holds thousands of watch events for the guest, and one
// XS_READ takes them all in before its reply. Once warm, the heap reaches no
// further for another flood, and the events kept are the newest.
import { describe, expect, test } from "vitest";
import { heapHighWater } from "../../bench/memory.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { bootXenbus, type Xenbus } from "../../runtime/boot.js";
import { xenstore } from "../../runtime/xenstore.js";
import { engines } from "../support/engines.js";

/** The newest events a watch made with xs_watch keeps for the caller to take. */
const WATCH_EVENTS_MAX = 64;
/**
 * Events of each flood, and at most how many warm-up floods come before the
 * measured one: as many as it takes for the heap's high water to stay put for
 * a whole flood (the queues filled to their bounds, the allocator settled).
 */
const FLOOD = { events: 12_000, warmUps: 6 };

/** The guest's footprint before and after a flood, once warm-up floods have settled its heap's high water. */
function floodAfterWarmUp(guest: Xenbus, flood: () => void) {
  const footprint = () => ({ memory: guest.memory().byteLength, heap: heapHighWater(guest.memory()) });
  let before = { memory: -1, heap: -1 };
  for (let warmUps = 0; warmUps < FLOOD.warmUps && footprint().heap !== before.heap; warmUps++) {
    before = footprint();
    flood();
  }
  flood();
  return { before, after: footprint() };
}

describe.each(engines)("under $name", ({ engine }) => {
  test(`${FLOOD.events} watch events taken in while one read waits leave the guest's heap where it was`, () => {
    const hv = new Hypervisor();
    // A xenstored that never drops an event, however many wait for the guest.
    const service = startXenstore(hv, { maxQueuedWatchEvents: Number.MAX_SAFE_INTEGER });
    const dom0 = service.tools;
    const guest = bootXenbus(hv, "flooded", engine);
    const xs = xenstore(guest);
    const home = `/local/domain/${guest.domid}`;
    xs.write("data/value", "kept");
    xs.watch("data/w", "flood");
    hv.runUntilIdle();
    xs.takeEvents(); // the registration's event
    let dropped = 0;
    /** Changes of the watched node, queued in xenstored while the guest does not run, then one read. */
    const flood = () => {
      dropped = xs.watchStats("flood").dropped;
      for (let i = 0; i < FLOOD.events; i++) dom0.write(`${home}/data/w`, String(i));
      expect(xs.read("data/value")).toBe("kept");
      expect(xs.watchStats("flood").dropped - dropped).toBe(FLOOD.events - WATCH_EVENTS_MAX);
      const events = xs.takeEvents();
      expect(events).toHaveLength(WATCH_EVENTS_MAX);
      expect(events.at(-1)).toEqual({ path: "data/w", token: "flood" });
    };
    const { before, after } = floodAfterWarmUp(guest, flood);
    expect(after).toEqual(before);
    expect(guest.exit).toBeNull();
  });
});
