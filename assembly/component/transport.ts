// The XsTransport of the component: the byte stream the host gives through the
// imported `transport` interface (wit/xenstore.wit). `recv` blocks in the host,
// so wait() is where the client blocks; what it brings is kept in a buffer
// that receive() serves from. The first stream error breaks the transport for
// good: every later call is -EIO, and `onFailure` tells the client, which then
// answers every request with -EIO before looking at it.
import { EIO } from "../xen/abi";
import { XsTransport } from "../xenstore/transport";
import { XS_MESSAGE_MAX } from "../xenstore/wire";

// Core signatures of the imports as the canonical ABI lowers them: lists as
// (pointer, length), and the result in an area the caller gives, since
// result<_, stream-error> and result<list<u8>, stream-error> are too wide to return.
@external("xenbus-wasm:xenstore/transport@0.1.0", "send")
declare function streamSend(bytes: usize, length: usize, result: usize): void;

@external("xenbus-wasm:xenstore/transport@0.1.0", "recv")
declare function streamRecv(max: u32, result: usize): void;

/** Bytes asked of `recv` at a time: a whole message of the largest size. */
const RECEIVE_MAX: u32 = XS_MESSAGE_MAX;

/** Where the host writes an import's result: discriminant (u8) at 0; recv's list at 4 (pointer) and 8 (length). */
const IMPORT_RESULT = memory.data(12, 4);
const RESULT_OK: u8 = 0;

export class StreamTransport extends XsTransport {
  private readonly buffer: StaticArray<u8> = new StaticArray<u8>(RECEIVE_MAX);
  /** Bytes buffer[start, end) came from `recv` and were not yet received. */
  private start: u32 = 0;
  private end: u32 = 0;
  private broken: bool = false;
  /** Called once, when the stream fails. */
  onFailure: () => void = ignoreFailure;

  /** Sends all of it (the host blocks until the stream took it): `length`, or -EIO. */
  send(source: usize, length: u32): i32 {
    if (this.broken) return -EIO;
    streamSend(source, length, IMPORT_RESULT);
    if (load<u8>(IMPORT_RESULT) != RESULT_OK) return this.fail();
    return i32(length);
  }

  receive(target: usize, length: u32): i32 {
    if (this.broken) return -EIO;
    const count = min(length, this.end - this.start);
    memory.copy(target, changetype<usize>(this.buffer) + this.start, count);
    this.start += count;
    return i32(count);
  }

  /** Blocks in `recv` until xenstored sent something, unless bytes are buffered already. 0 or -EIO. */
  wait(): i32 {
    if (this.broken) return -EIO;
    if (this.start < this.end) return 0;
    streamRecv(RECEIVE_MAX, IMPORT_RESULT);
    if (load<u8>(IMPORT_RESULT) != RESULT_OK) return this.fail();
    // The list is ours (the host allocated it with cabi_realloc): copy it, then free it.
    const bytes = load<u32>(IMPORT_RESULT + 4);
    const length = load<u32>(IMPORT_RESULT + 8);
    const valid = length != 0 && length <= RECEIVE_MAX;
    if (valid) memory.copy(changetype<usize>(this.buffer), bytes, length);
    heap.free(bytes);
    if (!valid) return this.fail();
    this.start = 0;
    this.end = length;
    return 0;
  }

  private fail(): i32 {
    this.broken = true;
    this.onFailure();
    return -EIO;
  }
}

function ignoreFailure(): void {}
