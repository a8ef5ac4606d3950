// The guest's XenStore client in its steady state allocates nothing it does
// not free: after a warm-up, a long mixed load through the real module (reads,
// writes, listings, watch events, watches re-registered, transactions) leaves
// its linear memory, and how far up its heap has reached, where they were.
// The heap's reach is the finer of the two: linear memory has megabytes of
// room above the heap, so a small leak takes very long to make it grow.
import { describe, expect, test } from "vitest";
import { XenstoreGuest } from "../../bench/xenstore.js";
import { engines } from "../support/engines.js";

const OPERATIONS = 20_000;

describe.each(engines)("under $name", ({ engine }) => {
  test(`${OPERATIONS} mixed XenStore operations after a warm-up leave the guest's memory and heap as large as they were`, () => {
    const guest = new XenstoreGuest(engine);
    guest.warmUp();
    const before = { memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() };
    guest.mixed(OPERATIONS);
    expect({ memoryBytes: guest.memoryBytes(), heapHighWater: guest.heapHighWater() }).toEqual(before);
  });
});
