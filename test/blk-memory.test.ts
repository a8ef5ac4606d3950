// The block path in its steady state allocates nothing it does not free:
// after a warm-up, a long run of 4 KiB reads and writes through the real
// module (a Wasm blkfront guest and a Wasm blkback driver domain) leaves both
// domains' linear memory, and how far up the frontend's heap has reached,
// where they were. (The backend's disk image sits above its heap, so only
// its linear memory is compared.)
import { expect, test } from "vitest";
import { BlockGuest } from "../bench/blk.js";
import { heapHighWater } from "../bench/memory.js";

/** Enough for the garbage collector to have gone through full cycles, so the heap has reached its steady size. */
const WARM_UP = 5_000;
const REQUESTS = 10_000;

function footprint(guest: BlockGuest) {
  return {
    frontendMemory: guest.frontend.memory().byteLength,
    frontendHeapHighWater: heapHighWater(guest.frontend.memory()),
    backendMemory: guest.backend.memory().byteLength,
  };
}

test(`${REQUESTS} block reads and as many writes after a warm-up leave both domains' memory as large as it was`, () => {
  const guest = new BlockGuest();
  expect(guest.writes(WARM_UP)).toBe(WARM_UP);
  expect(guest.reads(WARM_UP)).toBe(WARM_UP);
  const before = footprint(guest);
  expect(guest.writes(REQUESTS)).toBe(REQUESTS);
  expect(guest.reads(REQUESTS)).toBe(REQUESTS);
  expect(footprint(guest)).toEqual(before);
});
