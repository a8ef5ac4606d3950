// The guest's XenStore client in its steady state allocates nothing it does
// not free: after a warm-up, a long mixed load through the real module (reads,
// writes, listings, watch events, watches re-registered, transactions) leaves
// its linear memory, and how far up its heap has reached, where they were.
// The heap's reach is the finer of the two: linear memory has megabytes of
// room above the heap, so a small leak takes very long to make it grow.
import { expect, test } from "vitest";
import { XenstoreGuest } from "../bench/xenstore.js";

/** Enough for the garbage collector to have gone through full cycles, so the heap has reached its steady size. */
const WARM_UP = 10_000;
const OPERATIONS = 20_000;

test(`${OPERATIONS} mixed XenStore operations after a warm-up leave the guest's memory and heap as large as they were`, () => {
  const guest = new XenstoreGuest();
  guest.mixed(WARM_UP);
  const before = { memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() };
  guest.mixed(OPERATIONS);
  expect({ memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() }).toEqual(before);
});
