// The guest's XenStore client in its steady state allocates nothing it does
// not free: after a warm-up, a long mixed load through the real module (reads,
// writes, listings, watch events, watches re-registered, transactions) leaves
// its linear memory, and how far up its heap has reached, where they were.
// The heap's reach is the finer of the two: linear memory has megabytes of
// room above the heap, so a small leak takes very long to make it grow.
import { describe, expect, test } from "vitest";
import { XenstoreGuest } from "../../bench/xenstore.js";
import { engines } from "../support/engines.js";

/**
 * The warm-up runs until the heap's reach has stayed put for a whole round:
 * when the garbage collector settles depends on where the heap starts (a few
 * thousand operations, or some tens of thousands after a change elsewhere
 * moved the module's static data), not on the client.
 */
const COUNTS = { round: 10_000, maxWarmUp: 100_000, operations: 20_000 };

describe.each(engines)("under $name", ({ engine }) => {
  const { round, maxWarmUp, operations } = COUNTS;

  test(`${operations} mixed XenStore operations after a warm-up leave the guest's memory and heap as large as they were`, () => {
    const guest = new XenstoreGuest(engine);
    let reach = -1;
    for (let done = 0; done < maxWarmUp && guest.heapHighWater() !== reach; done += round) {
      reach = guest.heapHighWater();
      guest.mixed(round);
    }
    const before = { memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() };
    guest.mixed(operations);
    expect({ memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() }).toEqual(before);
  });
});
