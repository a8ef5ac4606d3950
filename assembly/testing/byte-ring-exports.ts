// The byte rings of the xenstore and console pages (assembly/ring/bytes.ts)
// as exports, for the tests (build/harness.wasm): one ring under test at a
// time.
import { ByteRing, inputChunk, outputChunk } from "../ring/bytes";

let byteRing: ByteRing | null = null;

function useByteRing(ring: ByteRing): void {
  if (byteRing) heap.free(changetype<usize>(byteRing));
  byteRing = ring;
}

/** Selects the ring under test: 0 xenstore req, 1 xenstore rsp, 2 console in, 3 console out, in the page at `page`. */
export function byte_ring_select(kind: i32, page: usize): void {
  useByteRing(
    kind == 0
      ? ByteRing.xenstoreRequests(page)
      : kind == 1
        ? ByteRing.xenstoreResponses(page)
        : kind == 2
          ? ByteRing.consoleInput(page)
          : ByteRing.consoleOutput(page),
  );
}

/** Any ring layout: data, size and index addresses given directly. */
export function byte_ring_place(data: usize, size: u32, consAt: usize, prodAt: usize): void {
  useByteRing(new ByteRing(data, size, consAt, prodAt));
}

export function byte_ring_data(): usize {
  return byteRing!.data;
}

export function byte_ring_size(): u32 {
  return byteRing!.size;
}

export function byte_ring_cons_at(): usize {
  return byteRing!.consAt;
}

export function byte_ring_prod_at(): usize {
  return byteRing!.prodAt;
}

export function byte_ring_write(source: usize, length: u32): i32 {
  return byteRing!.write(source, length);
}

export function byte_ring_read(target: usize, length: u32): i32 {
  return byteRing!.read(target, length);
}

export function byte_ring_readable(): i32 {
  return byteRing!.readable();
}

export function byte_ring_writable(): i32 {
  return byteRing!.writable();
}

export function byte_output_chunk(consIndex: u32, prodIndex: u32, size: u32): u32 {
  return outputChunk(consIndex, prodIndex, size);
}

export function byte_input_chunk(consIndex: u32, prodIndex: u32, size: u32): u32 {
  return inputChunk(consIndex, prodIndex, size);
}
