// The block path in its steady state allocates nothing it does not free:
// after a warm-up, a long run of 4 KiB reads and writes through the real
// module (a Wasm blkfront guest and a Wasm blkback driver domain) leaves both
// domains' linear memory, and how far up the frontend's heap has reached,
// where they were. (The backend's disk image sits above its heap, so only
// its linear memory is compared.)
import { describe, expect, test } from "vitest";
import { BlockGuest } from "../../bench/blk.js";
import { heapHighWater } from "../../bench/memory.js";
import { engines } from "../support/engines.js";

/**
 * The warm-up is enough for the garbage collector to have gone through full
 * cycles, so the heap has reached its steady size (after about 500 reads and
 * as many writes, in either engine: the guests allocate the same in both).
 */
const COUNTS = { warmUp: 5_000, requests: 10_000 };

function footprint(guest: BlockGuest) {
  return {
    frontendMemory: guest.frontend.memory().byteLength,
    frontendHeapHighWater: heapHighWater(guest.frontend.memory()),
    backendMemory: guest.backend.memory().byteLength,
  };
}

describe.each(engines)("under $name", ({ engine }) => {
  const { warmUp, requests } = COUNTS;

  test(`${requests} block reads and as many writes after a warm-up leave both domains' memory as large as it was`, () => {
    const guest = new BlockGuest(engine);
    expect(guest.writes(warmUp)).toBe(warmUp);
    expect(guest.reads(warmUp)).toBe(warmUp);
    const before = footprint(guest);
    expect(guest.writes(requests)).toBe(requests);
    expect(guest.reads(requests)).toBe(requests);
    expect(footprint(guest)).toEqual(before);
  });
});
