// What the block tests share: data to move and the errno a call failed with.
import { BlkError } from "../../runtime/blk.js";

/** `length` bytes of a pattern unique to `seed`. */
export function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 131 + seed * 17 + (i >> 9)) & 0xff);
}

/** The errno a blk call failed with, or 0 when it succeeded. */
export function errnoOf(call: () => unknown): number {
  try {
    call();
    return 0;
  } catch (error) {
    if (error instanceof BlkError) return error.errno;
    throw error;
  }
}
