// A flood that arrives while the guest waits inside one call costs it bounded
// memory. build/xenbus.wasm never collects garbage by itself (its host does,
// after each outermost call: runtime/guest.ts), so whatever it allocated for
// each message taken in during a wait would pile up until the call returned.
// Here xenstored holds thousands of watch events for the guest, and one
// XS_READ takes them all in before its reply: the heap must reach no further
// for 12,000 of them than for 3,000, and the events kept are the newest.
import { describe, expect, test } from "vitest";
import { heapHighWater } from "../../bench/memory.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { bootXenbus } from "../../runtime/boot.js";
import { xenstore } from "../../runtime/xenstore.js";
import { engines } from "../support/engines.js";

/** The newest events a watch made with xs_watch keeps for the caller to take. */
const WATCH_EVENTS_MAX = 64;
/** Events of the floods: a warm-up that fills the watch's queue (the heap's high water is then reached), and a larger one measured. */
const FLOOD = { warmUp: 3000, events: 12_000 };

describe.each(engines)("under $name", ({ engine }) => {
  test(`${FLOOD.events} watch events taken in while one read waits leave the guest's heap where ${FLOOD.warmUp} did`, () => {
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
    let written = 0;
    /** `count` changes of the watched node, queued in xenstored while the guest does not run, then one read. */
    const flood = (count: number) => {
      for (let i = 0; i < count; i++) dom0.write(`${home}/data/w`, String(written++));
      expect(xs.read("data/value")).toBe("kept");
      const events = xs.takeEvents();
      expect(events).toHaveLength(WATCH_EVENTS_MAX);
      expect(events.at(-1)).toEqual({ path: "data/w", token: "flood" });
    };
    flood(FLOOD.warmUp);
    const before = { memory: guest.memory().byteLength, heap: heapHighWater(guest.memory()) };
    const dropped = xs.watchStats("flood").dropped;
    flood(FLOOD.events);
    expect({ memory: guest.memory().byteLength, heap: heapHighWater(guest.memory()) }).toEqual(before);
    expect(xs.watchStats("flood").dropped - dropped).toBe(FLOOD.events - WATCH_EVENTS_MAX);
    expect(guest.exit).toBeNull();
  });
});
