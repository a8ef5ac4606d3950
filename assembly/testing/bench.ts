// The benchmark loops of build/harness.wasm (bench/run.ts; bench/native/rings.c
// does the same in C): blkif requests round a shared ring, xenstore messages
// through a byte ring.
import { ByteRing } from "../ring/bytes";
import { BackRing, FrontRing } from "../ring/shared";
import { BLKIF_OP_READ, BLKIF_RSP_OKAY } from "../xen/abi";
import { blkif_request, blkif_request_segment, blkif_response, blkif_sring, xsd_sockmsg } from "../xen/layout";
import { PAGE_SIZE } from "../xen/pages";
import { harness_scratch } from "./scratch";

/** One blkif ring entry: the union of request and response, as laid out in the sring. */
const BLKIF_ENTRY: u32 = blkif_sring.SIZE - blkif_sring.ring;

/**
 * Copies a blkif request out of the ring, as RING_COPY_REQUEST does. Unrolled
 * 8-byte moves: memory.copy is a call into the engine, which at 112 bytes
 * costs more than the copy.
 */
function copyBlkifRequest(target: usize, source: usize): void {
  store<u64>(target, load<u64>(source, 0), 0);
  store<u64>(target, load<u64>(source, 8), 8);
  store<u64>(target, load<u64>(source, 16), 16);
  store<u64>(target, load<u64>(source, 24), 24);
  store<u64>(target, load<u64>(source, 32), 32);
  store<u64>(target, load<u64>(source, 40), 40);
  store<u64>(target, load<u64>(source, 48), 48);
  store<u64>(target, load<u64>(source, 56), 56);
  store<u64>(target, load<u64>(source, 64), 64);
  store<u64>(target, load<u64>(source, 72), 72);
  store<u64>(target, load<u64>(source, 80), 80);
  store<u64>(target, load<u64>(source, 88), 88);
  store<u64>(target, load<u64>(source, 96), 96);
  store<u64>(target, load<u64>(source, 104), 104);
}

/**
 * The front fills the ring with one-segment READs and pushes them; the back
 * copies each one out and answers it; the front consumes the answers. Runs
 * until at least `requests` are answered and returns how many were, or 0 if
 * a response did not match its request.
 */
export function bench_blkif_roundtrip(requests: u32): u32 {
  const f = new FrontRing(harness_scratch, 1, BLKIF_ENTRY);
  f.init();
  const b = new BackRing(harness_scratch, 1, BLKIF_ENTRY);
  const answered = blkifRoundtrip(f, b, requests);
  heap.free(changetype<usize>(f));
  heap.free(changetype<usize>(b));
  return answered;
}

function blkifRoundtrip(f: FrontRing, b: BackRing, requests: u32): u32 {
  const copy = memory.data(blkif_request.SIZE, 8);
  const seg = blkif_request.seg;
  // Both ends share the geometry; kept in locals as slot() advises for hot loops.
  const slots = f.slots;
  const mask = f.mask;
  const entrySize: usize = f.entrySize;
  let answered: u32 = 0;
  let notifications: u32 = 0;
  while (answered < requests) {
    // Requests carry id = their index + 1.
    let prod = f.reqProdPvt;
    for (let n = f.freeRequests(); n != 0; n--) {
      const req = slots + usize(prod++ & mask) * entrySize;
      store<u8>(req + blkif_request.operation, BLKIF_OP_READ);
      store<u8>(req + blkif_request.nr_segments, 1);
      store<u16>(req + blkif_request.handle, 0);
      store<u64>(req + blkif_request.id, prod);
      store<u64>(req + blkif_request.sector_number, u64(prod) << 3);
      store<u32>(req + seg + blkif_request_segment.gref, prod);
      store<u8>(req + seg + blkif_request_segment.first_sect, 0);
      store<u8>(req + seg + blkif_request_segment.last_sect, 7);
    }
    f.reqProdPvt = prod;
    if (f.pushRequests()) notifications++;

    let ready = b.unconsumedRequests();
    if (ready < 0) return 0;
    let cons = b.reqCons;
    prod = b.rspProdPvt;
    for (; ready != 0; ready--) {
      // Work on a private copy: the frontend can rewrite the slot at any time.
      copyBlkifRequest(copy, slots + usize(cons++ & mask) * entrySize);
      const rsp = slots + usize(prod++ & mask) * entrySize;
      store<u64>(rsp + blkif_response.id, load<u64>(copy + blkif_request.id));
      store<u8>(rsp + blkif_response.operation, load<u8>(copy + blkif_request.operation));
      store<i16>(rsp + blkif_response.status, BLKIF_RSP_OKAY);
    }
    b.reqCons = cons;
    b.rspProdPvt = prod;
    if (b.pushResponses()) notifications++;

    ready = f.unconsumedResponses();
    if (ready < 0) return 0;
    cons = f.rspCons;
    for (; ready != 0; ready--) {
      const rsp = slots + usize(cons++ & mask) * entrySize;
      if (load<u64>(rsp + blkif_response.id) != u64(cons) || load<i16>(rsp + blkif_response.status) != BLKIF_RSP_OKAY)
        return 0;
      answered++;
    }
    f.rspCons = cons;
    if (f.finalCheckForResponses() != 0) return 0;
  }
  return notifications != 0 ? answered : 0;
}

/** The 40-byte path of the benchmark's message (NUL included). */
const XS_PATH = "/local/domain/12/device/vbd/51712/state";
const XS_READ: u32 = 2; // xsd_sockmsg_type XS_READ

/**
 * Writes a 56-byte XS_READ request (header and path) into a xenstore request
 * ring and reads it back out, `messages` times. Returns `messages`, or 0 if a
 * transfer fell short or a message came out different.
 */
export function bench_xenstore_msg(messages: u32): u32 {
  const page = harness_scratch;
  memory.fill(page, 0, PAGE_SIZE);
  const ring = ByteRing.xenstoreRequests(page);
  const length: u32 = xsd_sockmsg.SIZE + 40;
  const message = memory.data(xsd_sockmsg.SIZE + 40, 8);
  const received = memory.data(xsd_sockmsg.SIZE + 40, 8);
  store<u32>(message + xsd_sockmsg.type, XS_READ);
  store<u32>(message + xsd_sockmsg.tx_id, 0);
  store<u32>(message + xsd_sockmsg.len, 40);
  String.UTF8.encodeUnsafe(changetype<usize>(XS_PATH), XS_PATH.length, message + xsd_sockmsg.SIZE, true);
  let result = messages;
  for (let i: u32 = 0; i < messages; i++) {
    store<u32>(message + xsd_sockmsg.req_id, i);
    if (
      ring.write(message, length) != i32(length) ||
      ring.read(received, length) != i32(length) ||
      load<u32>(received + xsd_sockmsg.req_id) != i ||
      load<u64>(received + length - 8) != load<u64>(message + length - 8)
    ) {
      result = 0;
      break;
    }
  }
  heap.free(changetype<usize>(ring));
  return result;
}
