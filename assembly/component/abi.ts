// The canonical ABI (component model), by hand: how the component's exports
// take strings and lists from the host and give results back.
//
// - The host allocates every string and list it passes with cabi_realloc; they
//   are the callee's, so each export frees its arguments once it has read them.
// - A result too wide to return in one value is written to RETURN_AREA, whose
//   address the export returns. Lists and strings in it point to one heap block
//   per result, which the export's cabi_post_ function frees once the host has
//   copied the result out: memory does not grow from call to call.
import { EBADMSG, EIO, ERANGE } from "../xen/abi";
import { ERROR_NUMBERS, stringEnd } from "../xenstore/wire";

/** Largest alignment cabi_realloc promises: the allocator's block alignment (the canonical ABI asks at most 8). */
const ALIGN_MAX: usize = 16;

/**
 * The host's allocator: a new block (`old` 0) or `old` resized, aligned to
 * `align`. Running out of memory traps, as an allocation in the component would.
 */
export function cabi_realloc(old: usize, oldSize: usize, align: usize, newSize: usize): usize {
  if (align == 0 || align > ALIGN_MAX || (align & (align - 1)) != 0) unreachable();
  return old == 0 ? heap.alloc(newSize) : heap.realloc(old, newSize);
}

/** One export's result, while the host reads it; every result type here fits in 20 bytes. */
export const RETURN_AREA = memory.data(20, 8);

// Where a result<T, xs-error> keeps its parts: the discriminant first, then the
// payload at T's alignment (4 for lists, strings, records and u32s).
const IS_ERROR: usize = 0;
const PAYLOAD: usize = 4;
/** result<_, xs-error>: nothing to align, the error follows the discriminant. */
const UNIT_ERROR: usize = 1;

/**
 * The xs-error case of a positive errno. The WIT's enum lists xs_wire.h's
 * errors in their order, then ebadmsg and erange; any other errno is eio.
 */
function xsError(errno: i32): u8 {
  const wire = ERROR_NUMBERS.indexOf(errno);
  if (wire >= 0) return u8(wire);
  if (errno == EBADMSG) return u8(ERROR_NUMBERS.length);
  if (errno == ERANGE) return u8(ERROR_NUMBERS.length + 1);
  return xsError(EIO);
}

/** result<_, xs-error> from a client's 0-or--errno. */
export function unitResult(rc: i32): usize {
  store<u8>(RETURN_AREA + IS_ERROR, rc < 0);
  if (rc < 0) store<u8>(RETURN_AREA + UNIT_ERROR, xsError(-rc));
  return RETURN_AREA;
}

/** result<T, xs-error> with the error `errno` (positive), for any T carried at offset 4. */
export function errorResult(errno: i32): usize {
  store<u8>(RETURN_AREA + IS_ERROR, 1);
  store<u8>(RETURN_AREA + PAYLOAD, xsError(errno));
  return RETURN_AREA;
}

/** result<u32, xs-error> carrying `value`. */
export function u32Result(value: u32): usize {
  store<u8>(RETURN_AREA + IS_ERROR, 0);
  store<u32>(RETURN_AREA + PAYLOAD, value);
  return RETURN_AREA;
}

/**
 * A successful result whose payload starts with a list or string in `block`
 * (the heap block cabi_post_ frees): its pointer and length at 4 and 8. Any
 * further payload words (a record's second string) the caller stores after.
 */
export function blockResult(block: usize, length: u32): usize {
  store<u8>(RETURN_AREA + IS_ERROR, 0);
  store<u32>(RETURN_AREA + PAYLOAD, block);
  store<u32>(RETURN_AREA + PAYLOAD + 4, length);
  return RETURN_AREA;
}

/** Stores the (pointer, length) of a further string or list of the payload at `offset` in the return area. */
export function storeSlice(offset: usize, at: usize, length: u32): void {
  store<u32>(RETURN_AREA + offset, at);
  store<u32>(RETURN_AREA + offset + 4, length);
}

/** What every cabi_post_ does: frees the block of a successful result at `area`. */
export function freeResult(area: usize): void {
  if (load<u8>(area + IS_ERROR) == 0) heap.free(load<u32>(area + PAYLOAD));
}

/** A result's heap block holding a copy of `length` bytes at `source`. */
export function copyToBlock(source: usize, length: u32): usize {
  const block = heap.alloc(length);
  memory.copy(block, source, length);
  return block;
}

/**
 * Takes a string argument: decodes and frees it. Null when it holds a NUL,
 * which would end the string early on the wire and shift the arguments after it.
 */
export function takeString(at: usize, length: u32): string | null {
  const text: string | null = stringEnd(at, length, 0) >= 0 ? null : String.UTF8.decodeUnsafe(at, length);
  heap.free(at);
  return text;
}
