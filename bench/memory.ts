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
