// The guest's XenStore client in its steady state allocates nothing it does
// not free: after a warm-up, a long mixed load through the real module (reads,
// writes, listings, watch events, watches re-registered, transactions) leaves
// its linear memory, and how far up its heap has reached, where they were.
// The heap's reach is the finer of the two: linear memory has megabytes of
// room above the heap, so a small leak takes very long to make it grow.
import { describe, expect, test } from "vitest";
import { XenstoreGuest } from "../bench/xenstore.js";
import { engines } from "./support/engines.js";

/**
 * The warm-up is enough for the garbage collector to have gone through full
 * cycles, so the heap has reached its steady size (after about 2,000 to 2,500
 * operations, in either engine: the guest allocates the same in both).
 */
const COUNTS = { warmUp: 10_000, operations: 20_000 };

describe.each(engines)("under $name", ({ engine }) => {
  const { warmUp, operations } = COUNTS;

  test(`${operations} mixed XenStore operations after a warm-up leave the guest's memory and heap as large as they were`, () => {
    const guest = new XenstoreGuest(engine);
    guest.mixed(warmUp);
    const before = { memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() };
    guest.mixed(operations);
    expect({ memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() }).toEqual(before);
  });
});
