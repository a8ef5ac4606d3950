// The byte rings of the xenstore and console shared pages (io/xs_wire.h,
// io/console.h, docs/misc/xenstore-ring.txt): one direction is `size` bytes of
// data (a power of two) and two free-running u32 indices in the same page.
// The producer owns `prod`, the consumer owns `cons`; `prod - cons` (u32
// arithmetic) is the number of unread bytes and may never exceed `size`.
// Either index lives in memory the peer can write, so every operation checks
// the pair before using it and answers -EIO for an impossible one.
import { EIO } from "../xen/abi";
import { xencons_interface as cons, xenstore_domain_interface as xs } from "../xen/layout";
import { storeMb } from "./store-mb";

/** Bytes that can be written from `prod` without wrapping or overtaking `cons` (indices checked first). */
export function outputChunk(consIndex: u32, prodIndex: u32, size: u32): u32 {
  const free = size - (prodIndex - consIndex);
  const toEnd = size - (prodIndex & (size - 1));
  return free < toEnd ? free : toEnd;
}

/** Bytes that can be read from `cons` without wrapping or passing `prod` (indices checked first). */
export function inputChunk(consIndex: u32, prodIndex: u32, size: u32): u32 {
  const unread = prodIndex - consIndex;
  const toEnd = size - (consIndex & (size - 1));
  return unread < toEnd ? unread : toEnd;
}

/** Whether the peer could legally have left this pair of indices: at most `size` bytes in flight. */
export function indicesValid(consIndex: u32, prodIndex: u32, size: u32): bool {
  return prodIndex - consIndex <= size;
}

/** Below this, copying inline beats memory.copy, which engines implement as a call out of the module. */
const INLINE_COPY_MAX: u32 = 64;

/** Copies one chunk between the ring and the caller's buffer. */
function copyChunk(target: usize, source: usize, length: u32): void {
  if (length > INLINE_COPY_MAX) {
    memory.copy(target, source, length);
    return;
  }
  let offset: usize = 0;
  for (; offset + 8 <= length; offset += 8) store<u64>(target + offset, load<u64>(source + offset));
  for (; offset < length; offset++) store<u8>(target + offset, load<u8>(source + offset));
}

/**
 * One direction of a byte ring, addressed in place in the shared page.
 * Unmanaged: it lives as long as the connection (free it with heap.free) and
 * costs the hot path no GC bookkeeping.
 */
// @ts-ignore: decorator
@unmanaged
export class ByteRing {
  constructor(
    /** First data byte. */
    readonly data: usize,
    /** Data bytes, a power of two. */
    readonly size: u32,
    /** Address of the consumer index. */
    readonly consAt: usize,
    /** Address of the producer index. */
    readonly prodAt: usize,
  ) {
    assert(size != 0 && (size & (size - 1)) == 0, "byte ring size not a power of two");
  }

  /** The guest → xenstored direction of a xenstore_domain_interface page. */
  static xenstoreRequests(page: usize): ByteRing {
    return new ByteRing(page + xs.req, xs.rsp - xs.req, page + xs.req_cons, page + xs.req_prod);
  }

  /** The xenstored → guest direction (replies and watch events). */
  static xenstoreResponses(page: usize): ByteRing {
    return new ByteRing(page + xs.rsp, xs.req_cons - xs.rsp, page + xs.rsp_cons, page + xs.rsp_prod);
  }

  /** The backend → guest direction of a xencons_interface page (keyboard input). */
  static consoleInput(page: usize): ByteRing {
    return new ByteRing(page + cons.in_, cons.out - cons.in_, page + cons.in_cons, page + cons.in_prod);
  }

  /** The guest → backend direction (console output). */
  static consoleOutput(page: usize): ByteRing {
    return new ByteRing(page + cons.out, cons.in_cons - cons.out, page + cons.out_cons, page + cons.out_prod);
  }

  /** Bytes waiting to be read, or -EIO when the indices are impossible. */
  readable(): i32 {
    const c = atomic.load<u32>(this.consAt);
    const p = atomic.load<u32>(this.prodAt);
    return indicesValid(c, p, this.size) ? i32(p - c) : -EIO;
  }

  /** Bytes that can be written now, or -EIO when the indices are impossible. */
  writable(): i32 {
    const c = atomic.load<u32>(this.consAt);
    const p = atomic.load<u32>(this.prodAt);
    return indicesValid(c, p, this.size) ? i32(this.size - (p - c)) : -EIO;
  }

  /**
   * Copies up to `length` bytes from `source` into the ring and publishes them.
   * Returns the count written (0 when full), or -EIO when the indices are impossible.
   */
  write(source: usize, length: u32): i32 {
    const size = this.size;
    // Loading `cons` atomically orders our data stores after the consumer's
    // last reads of those bytes.
    const c = atomic.load<u32>(this.consAt);
    let p = atomic.load<u32>(this.prodAt);
    if (!indicesValid(c, p, size)) return -EIO;
    let done: u32 = 0;
    // At most two chunks: up to the ring's end, then from its start.
    while (done < length) {
      let chunk = outputChunk(c, p, size);
      if (chunk == 0) break;
      if (chunk > length - done) chunk = length - done;
      copyChunk(this.data + (p & (size - 1)), source + done, chunk);
      p += chunk;
      done += chunk;
    }
    // Published only after the data it covers.
    if (done != 0) storeMb(this.prodAt, p);
    return i32(done);
  }

  /**
   * Copies up to `length` bytes out of the ring into `target` and frees them.
   * Returns the count read (0 when empty), or -EIO when the indices are impossible.
   */
  read(target: usize, length: u32): i32 {
    const size = this.size;
    // Loading `prod` atomically orders our data loads after the producer's stores.
    let c = atomic.load<u32>(this.consAt);
    const p = atomic.load<u32>(this.prodAt);
    if (!indicesValid(c, p, size)) return -EIO;
    let done: u32 = 0;
    while (done < length) {
      let chunk = inputChunk(c, p, size);
      if (chunk == 0) break;
      if (chunk > length - done) chunk = length - done;
      copyChunk(target + done, this.data + (c & (size - 1)), chunk);
      c += chunk;
      done += chunk;
    }
    // Freeing the bytes only after copying them out keeps the producer off them.
    if (done != 0) storeMb(this.consAt, c);
    return i32(done);
  }
}
