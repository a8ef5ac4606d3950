// How far up a guest's heap has reached, for the steady-state memory checks.
const PAGE_SIZE = 4096;

/**
 * The end of the last non-zero byte below the last page of `memory` (a
 * guest's linear memory). Memory the allocator never handed out is still
 * zero (its end-of-memory marker aside, which sits in the last page), so
 * this rises as soon as the heap needs memory it never used before, long
 * before that takes a memory.grow. Only meaningful while nothing but the
 * heap sits at the top of memory (a driver domain's disk images do).
 */
export function heapHighWater(memory: Uint8Array): number {
  let end = memory.byteLength - PAGE_SIZE;
  while (end > 0 && memory[end - 1] === 0) end--;
  return end;
}

/** A linear memory's size and how far up its heap has reached (heapHighWater), in bytes. */
export interface Footprint {
  memory: number;
  heap: number;
}

export function footprint(memory: Uint8Array): Footprint {
  return { memory: memory.byteLength, heap: heapHighWater(memory) };
}

/**
 * Runs `work` until one run leaves the heap's reach where it found it (at
 * most `runs` times): the heap then holds all the work ever needs at once.
 * The footprint before that last run, for comparing with one after more work.
 */
export function warmedUp(measure: () => Footprint, work: () => void, runs: number): Footprint {
  let before: Footprint = { memory: -1, heap: -1 };
  for (let run = 0; run < runs && measure().heap !== before.heap; run++) {
    before = measure();
    work();
  }
  return before;
}
