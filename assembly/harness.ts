// harness.wasm: ring math and benchmark loops exposed to tests and `npm run bench`.
// It is built from the same sources as xenbus.wasm and never shipped.
import "./xen/panic"; // the abort handler named in asconfig.json

// Everything xenbus.wasm exports, so the harness boots as a guest too, with
// the test-only drivers registered on its buses, the tests' hooks, and the
// ABI tables (`npm run layouts`), compiled from the same declarations.
export * from "./index";
export * from "./testing/bus-drivers";
export * from "./testing/evtchn-hooks";
export * from "./testing/xenbus-exports";
export { xen_abi_constants, xen_abi_layouts } from "./xen/describe";

import "./testing/backend-ops";
import * as blkif from "./drivers/blkif";
import { send as sendEvent } from "./evtchn/evtchn";
import { ByteRing, inputChunk, outputChunk } from "./ring/bytes";
import { BackRing, FrontRing, ringEntries } from "./ring/shared";
import { BLKIF_OP_READ, BLKIF_RSP_OKAY, EINVAL, SCHEDOP_block } from "./xen/abi";
import { sched_op } from "./xen/hypercall";
import { blkif_request, blkif_request_segment, blkif_response, blkif_sring, xsd_sockmsg } from "./xen/layout";
import { PAGE_SIZE } from "./xen/pages";
import { XS_NO_DOMID, XsClient, XsTransactionBody } from "./xenstore/client";
import { XsRingTransport } from "./xenstore/transport";
import { XsWatchHandler } from "./xenstore/watches";
import {
  checkHeader,
  countStrings,
  encodeHeader,
  errnoOfError,
  errorName,
  headerLength,
  headerReqId,
  headerTxId,
  headerType,
  PayloadWriter,
  Perm,
  parseDecimal,
  parsePerms,
  parseWatchEvent,
  splitStrings,
  WatchEventFields,
  XS_NO_TRANSACTION,
} from "./xenstore/wire";

/** Page-aligned memory the tests lay rings out in (with guard bytes around them). */
export const harness_scratch_pages: u32 = 8;
export const harness_scratch: usize = memory.data(harness_scratch_pages * PAGE_SIZE, PAGE_SIZE);

// Byte rings: one ring under test at a time.

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

// io/ring.h rings: one front and one back end, on the same or different shared rings.

let front: FrontRing | null = null;
let back: BackRing | null = null;

export function ring_entries(pages: u32, entrySize: u32): u32 {
  return ringEntries(pages, entrySize);
}

/** A new front end (the shared ring untouched); returns its entry count. */
export function front_attach(sring: usize, pages: u32, entrySize: u32, index: u32): u32 {
  if (front) heap.free(changetype<usize>(front));
  front = new FrontRing(sring, pages, entrySize, index);
  return front!.entries;
}

export function front_init(): void {
  front!.init();
}

export function front_slot(index: u32): usize {
  return front!.slot(index);
}

export function front_free_requests(): u32 {
  return front!.freeRequests();
}

export function front_req_prod_pvt(): u32 {
  return front!.reqProdPvt;
}

export function front_set_req_prod_pvt(index: u32): void {
  front!.reqProdPvt = index;
}

export function front_rsp_cons(): u32 {
  return front!.rspCons;
}

export function front_set_rsp_cons(index: u32): void {
  front!.rspCons = index;
}

export function front_push_requests(): bool {
  return front!.pushRequests();
}

export function front_unconsumed_responses(): i32 {
  return front!.unconsumedResponses();
}

export function front_final_check(): i32 {
  return front!.finalCheckForResponses();
}

export function front_error(): i32 {
  return front!.error;
}

/** A new back end; returns its entry count. */
export function back_attach(sring: usize, pages: u32, entrySize: u32, index: u32): u32 {
  if (back) heap.free(changetype<usize>(back));
  back = new BackRing(sring, pages, entrySize, index);
  return back!.entries;
}

export function back_slot(index: u32): usize {
  return back!.slot(index);
}

export function back_req_cons(): u32 {
  return back!.reqCons;
}

export function back_set_req_cons(index: u32): void {
  back!.reqCons = index;
}

export function back_rsp_prod_pvt(): u32 {
  return back!.rspProdPvt;
}

export function back_set_rsp_prod_pvt(index: u32): void {
  back!.rspProdPvt = index;
}

export function back_unconsumed_requests(): i32 {
  return back!.unconsumedRequests();
}

export function back_push_responses(): bool {
  return back!.pushResponses();
}

export function back_final_check(): i32 {
  return back!.finalCheckForRequests();
}

export function back_error(): i32 {
  return back!.error;
}

// The blkif protocol (assembly/drivers/blkif.ts): encoding, the backend's
// request check, the frontend's response check, negotiation values.

export function blkif_encode_request(req: usize, op: i32, nrSegments: u32, handle: u32, id: u64, sector: u64): void {
  blkif.encodeRequest(req, op, nrSegments, handle, id, sector);
}

export function blkif_encode_segment(req: usize, index: u32, gref: u32, first: u32, last: u32): void {
  blkif.encodeSegment(req, index, gref, first, last);
}

export function blkif_encode_response(rsp: usize, id: u64, op: i32, status: i32): void {
  blkif.encodeResponse(rsp, id, op, status);
}

const checkedDisk = new blkif.DiskGeometry(0, blkif.SECTOR_SIZE, false, false);

/** checkRequest on the request at `req` against a disk of this geometry. */
export function blkif_check_request(req: usize, sectors: u64, sectorSize: u32, readOnly: bool, flush: bool): i32 {
  checkedDisk.sectors = sectors;
  checkedDisk.sectorSize = sectorSize;
  checkedDisk.readOnly = readOnly;
  checkedDisk.flush = flush;
  return blkif.checkRequest(req, checkedDisk);
}

export function blkif_check_response(rsp: usize, op: i32): i32 {
  return blkif.checkResponse(rsp, op);
}

/** Parses a negotiation value: 0 feature flag, 1 sector-size, 2 sectors, 3 info, 4 max-ring-page-order. */
export function blkif_parse(kind: i32, at: usize, length: u32): i64 {
  switch (kind) {
    case 0:
      return blkif.parseFlag(at, length);
    case 1:
      return blkif.parseSectorSize(at, length);
    case 2:
      return blkif.parseSectors(at, length);
    case 3:
      return blkif.parseInfo(at, length);
    case 4:
      return blkif.parseRingPageOrder(at, length);
    default:
      return -EINVAL;
  }
}

// Benchmarks (bench/run.ts; bench/native/rings.c does the same in C).

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

// XenStore wire protocol (assembly/xenstore/wire.ts) and client (client.ts).
// Strings cross as (address, length) of UTF-8 bytes in the caller's memory;
// results are copied out to (target, capacity) and their full length returned.

export function xs_header_encode(at: usize, type: u32, reqId: u32, txId: u32, length: u32): void {
  encodeHeader(at, type, reqId, txId, length);
}

export function xs_header_type(at: usize): u32 {
  return headerType(at);
}

export function xs_header_req_id(at: usize): u32 {
  return headerReqId(at);
}

export function xs_header_tx_id(at: usize): u32 {
  return headerTxId(at);
}

export function xs_header_length(at: usize): u32 {
  return headerLength(at);
}

export function xs_header_check(at: usize): i32 {
  return checkHeader(at);
}

export function xs_errno_of_error(payload: usize, length: u32): i32 {
  return errnoOfError(payload, length);
}

/** Copies the xsd_errors name of `errno` to `target`; its length, or -1 when xs_wire.h has none. */
export function xs_error_name(errno: i32, target: usize, capacity: u32): i32 {
  const name = errorName(errno);
  return name === null ? -1 : copyOut(name, target, capacity);
}

export function xs_count_strings(payload: usize, length: u32): i32 {
  return countStrings(payload, length);
}

/** Directory-style split; the count, or -1 when malformed. The strings go to xs_string_at. */
let splitResult: string[] = [];

export function xs_split_strings(payload: usize, length: u32): i32 {
  const strings = splitStrings(payload, length);
  if (strings === null) return -1;
  splitResult = strings;
  return strings.length;
}

export function xs_split_string_at(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(splitResult[index], target, capacity);
}

const watchEventFields = new WatchEventFields();

/** 0 or -EINVAL; on 0 the fields are at xs_watch_event_field(0..3): path start, length, token start, length. */
export function xs_parse_watch_event(payload: usize, length: u32): i32 {
  return parseWatchEvent(payload, length, watchEventFields);
}

export function xs_watch_event_field(which: i32): u32 {
  const f = watchEventFields;
  return which == 0 ? f.pathStart : which == 1 ? f.pathLength : which == 2 ? f.tokenStart : f.tokenLength;
}

export function xs_parse_decimal(payload: usize, length: u32): i64 {
  return parseDecimal(payload, length);
}

let parsedPerms: Perm[] = [];

/** The count of permissions, or -1 when malformed; each one is xs_perm_at(i) = access << 16 | domid. */
export function xs_parse_perms(payload: usize, length: u32): i32 {
  const perms = parsePerms(payload, length);
  if (perms === null) return -1;
  parsedPerms = perms;
  return perms.length;
}

export function xs_perm_at(index: i32): u32 {
  return (u32(parsedPerms[index].access) << 16) | parsedPerms[index].domid;
}

/** Builds a payload of NUL-terminated strings (then `value` unterminated) at `target`; its length or -E2BIG. */
export function xs_build_payload(
  target: usize,
  strings: usize,
  stringsLength: u32,
  value: usize,
  valueLength: u32,
): i32 {
  const writer = new PayloadWriter(target);
  const parts = splitStrings(strings, stringsLength);
  if (parts === null) return -1;
  for (let i = 0; i < parts.length; i++) writer.string(parts[i]);
  return writer.bytes(value, valueLength).finish();
}

/** Test transport: the rings of a page in scratch memory; blocking is sched_op(SCHEDOP_block), which the test answers. */
class ScratchRingTransport extends XsRingTransport {
  notify(): void {
    sendEvent(XS_HARNESS_PORT);
  }

  wait(): i32 {
    return sched_op(SCHEDOP_block, 0);
  }
}

/** The event channel port the test transport notifies (the test counts EVTCHNOP_send calls). */
const XS_HARNESS_PORT: u32 = 1;

let xsTransport: ScratchRingTransport | null = null;
let xsClient: XsClient | null = null;

/** A fresh client over the xenstore rings in the page at `page`. */
export function xs_client_open(page: usize): void {
  const old = xsTransport;
  if (old === null || old.page != page) {
    if (old !== null) old.close();
    xsTransport = new ScratchRingTransport(page);
  }
  xsClient = new XsClient(xsTransport!);
}

function text(at: usize, length: u32): string {
  return String.UTF8.decodeUnsafe(at, length);
}

function copyOut(value: string, target: usize, capacity: u32): i32 {
  const length = String.UTF8.byteLength(value);
  if (u32(length) <= capacity) String.UTF8.encodeUnsafe(changetype<usize>(value), value.length, target);
  return length;
}

export function xs_client_read(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.read(tx, text(path, pathLength));
}

export function xs_client_write(tx: u32, path: usize, pathLength: u32, value: usize, valueLength: u32): i32 {
  return xsClient!.writeBytes(tx, text(path, pathLength), value, valueLength);
}

export function xs_client_write_string(tx: u32, path: usize, pathLength: u32, value: usize, valueLength: u32): i32 {
  return xsClient!.write(tx, text(path, pathLength), text(value, valueLength));
}

export function xs_client_mkdir(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.mkdir(tx, text(path, pathLength));
}

export function xs_client_rm(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.rm(tx, text(path, pathLength));
}

export function xs_client_directory(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.directory(tx, text(path, pathLength));
}

export function xs_client_exists(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.exists(tx, text(path, pathLength));
}

export function xs_client_get_perms(tx: u32, path: usize, pathLength: u32): i32 {
  const rc = xsClient!.getPerms(tx, text(path, pathLength));
  if (rc >= 0) parsedPerms = xsClient!.perms;
  return rc;
}

/** `perms` holds NUL-terminated entries as xenstored sends them ("b0\0r1\0"); -EINVAL when malformed. */
export function xs_client_set_perms(tx: u32, path: usize, pathLength: u32, perms: usize, permsLength: u32): i32 {
  const parsed = parsePerms(perms, permsLength);
  return parsed === null ? -EINVAL : xsClient!.setPerms(tx, text(path, pathLength), parsed);
}

export function xs_client_watch(path: usize, pathLength: u32, token: usize, tokenLength: u32): i32 {
  return xsClient!.watch(text(path, pathLength), text(token, tokenLength));
}

export function xs_client_unwatch(path: usize, pathLength: u32, token: usize, tokenLength: u32): i32 {
  return xsClient!.unwatch(text(path, pathLength), text(token, tokenLength));
}

export function xs_client_transaction_start(): i32 {
  return xsClient!.transactionStart();
}

export function xs_client_transaction(): u32 {
  return xsClient!.transaction;
}

export function xs_client_transaction_end(tx: u32, commit: bool): i32 {
  return xsClient!.transactionEnd(tx, commit);
}

export function xs_client_get_domain_path(domid: u32): i32 {
  return xsClient!.getDomainPath(domid);
}

export function xs_client_poll_events(): i32 {
  return xsClient!.pollEvents();
}

export function xs_client_pending_events(): i32 {
  return xsClient!.pendingEvents();
}

/** The oldest event as "path\0token\0" at `target`; its length, or -1 when none is queued. */
export function xs_client_next_event(target: usize, capacity: u32): i32 {
  const event = xsClient!.nextEvent();
  if (event === null) return -1;
  return copyOut(`${event.path}\0${event.token}\0`, target, capacity);
}

/** The last read's raw value (or get_domain_path's path) at `target`; its length. */
export function xs_client_value(target: usize, capacity: u32): i32 {
  return copyOut(xsClient!.value, target, capacity);
}

export function xs_client_entry(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(xsClient!.entries[index], target, capacity);
}

export function xs_client_failure(): i32 {
  return xsClient!.failure;
}

export function xs_client_connection_reset(): i32 {
  return xsClient!.connectionReset();
}

export function xs_client_lost_watches(): u32 {
  return xsClient!.lostWatches;
}

export function xs_client_next_req_id(): u32 {
  return xsClient!.nextReqId;
}

export function xs_client_stray_replies(): u32 {
  return xsClient!.strayReplies;
}

export function xs_client_dropped_events(): u32 {
  return xsClient!.droppedEvents;
}

export function xs_client_rm_tree(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.rmTree(tx, text(path, pathLength));
}

export function xs_client_read_int(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.readInt(tx, text(path, pathLength));
}

export function xs_client_read_u32(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.readU32(tx, text(path, pathLength));
}

export function xs_client_write_int(tx: u32, path: usize, pathLength: u32, value: i64): i32 {
  return xsClient!.writeInt(tx, text(path, pathLength), value);
}

/** readInt/readU32/getFeature/getQuota's result. */
export function xs_client_number(): i64 {
  return xsClient!.number;
}

/** `names` holds NUL-terminated node names; the count that failed (-EINVAL when `names` is malformed). */
export function xs_client_gather(tx: u32, dir: usize, dirLength: u32, names: usize, namesLength: u32): i32 {
  const list = splitStrings(names, namesLength);
  return list === null ? -EINVAL : xsClient!.gather(tx, text(dir, dirLength), list);
}

export function xs_client_gather_error(index: i32): i32 {
  return xsClient!.gatherErrors[index];
}

export function xs_client_gather_value(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(xsClient!.gathered[index], target, capacity);
}

/** `parameters` holds NUL-terminated strings (none for length 0). */
export function xs_client_control(command: usize, commandLength: u32, parameters: usize, parametersLength: u32): i32 {
  const list = splitStrings(parameters, parametersLength);
  return list === null ? -EINVAL : xsClient!.control(text(command, commandLength), list);
}

export function xs_client_reset_watches(): i32 {
  return xsClient!.resetWatches();
}

/** `domid` < 0 leaves the domid out (XS_NO_DOMID), here and for quotas. */
export function xs_client_get_feature(domid: i32): i32 {
  return xsClient!.getFeature(domid < 0 ? XS_NO_DOMID : domid);
}

export function xs_client_set_feature(domid: u32, features: u32): i32 {
  return xsClient!.setFeature(domid, features);
}

export function xs_client_get_quota(domid: i32, name: usize, nameLength: u32): i32 {
  return xsClient!.getQuota(domid < 0 ? XS_NO_DOMID : domid, text(name, nameLength));
}

export function xs_client_quota_names(): i32 {
  return xsClient!.quotaNames();
}

export function xs_client_set_quota(domid: i32, name: usize, nameLength: u32, value: u32): i32 {
  return xsClient!.setQuota(domid < 0 ? XS_NO_DOMID : domid, text(name, nameLength), value);
}

/** The test's transaction body: writes its node, then returns the result the test chose. */
class ScriptedBody extends XsTransactionBody {
  runs: i32 = 0;

  constructor(
    readonly path: string,
    readonly value: string,
    readonly result: i32,
  ) {
    super();
  }

  run(client: XsClient, tx: u32): i32 {
    this.runs++;
    const rc = client.write(tx, this.path, this.value);
    return rc < 0 ? rc : this.result;
  }
}

let transactionBody: ScriptedBody | null = null;

export function xs_client_run_transaction(
  path: usize,
  pathLength: u32,
  value: usize,
  valueLength: u32,
  result: i32,
  attempts: i32,
): i32 {
  const body = new ScriptedBody(text(path, pathLength), text(value, valueLength), result);
  transactionBody = body;
  return xsClient!.runTransaction(body, attempts);
}

/** How many times the last run_transaction ran its body. */
export function xs_client_transaction_runs(): i32 {
  return transactionBody!.runs;
}

// Watch handlers: each logs its events; some also act from inside the callback.

const _HANDLER_LOG: i32 = 1;
/** Also calls dispatchWatchEvents from inside the callback (which must return 0 at once). */
const HANDLER_NESTED_DISPATCH: i32 = 2;
/** Also reads the event's path, so a request runs (and may queue events) during dispatch. */
const HANDLER_READ: i32 = 3;

let handled: string[] = [];
let nestedDispatches: i32 = 0;
let nestedDispatched: i32 = 0;

class TestHandler extends XsWatchHandler {
  constructor(readonly mode: i32) {
    super();
  }

  onEvent(path: string, token: string): void {
    handled.push(`${path}\0${token}\0`);
    if (this.mode == HANDLER_NESTED_DISPATCH) {
      nestedDispatches++;
      nestedDispatched += xsClient!.dispatchWatchEvents();
    } else if (this.mode == HANDLER_READ) {
      xsClient!.read(XS_NO_TRANSACTION, path);
    }
  }
}

/** `mode` 0 registers without a handler (events for nextEvent), else a TestHandler of that mode. */
export function xs_client_register_watch(
  path: usize,
  pathLength: u32,
  token: usize,
  tokenLength: u32,
  maxPending: i32,
  mode: i32,
): i32 {
  const handler: XsWatchHandler | null = mode == 0 ? null : new TestHandler(mode);
  return xsClient!.registerWatch(text(path, pathLength), text(token, tokenLength), handler, maxPending);
}

export function xs_client_unregister_watch(token: usize, tokenLength: u32): i32 {
  return xsClient!.unregisterWatch(text(token, tokenLength));
}

/** Dispatches from a fresh log; the count dispatched. */
export function xs_client_dispatch(): i32 {
  handled = [];
  nestedDispatches = 0;
  nestedDispatched = 0;
  return xsClient!.dispatchWatchEvents();
}

export function xs_client_handled_count(): i32 {
  return handled.length;
}

/** The `index`th event handled by the last dispatch as "path\0token\0". */
export function xs_client_handled(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(handled[index], target, capacity);
}

export function xs_client_nested_dispatches(): i32 {
  return nestedDispatches;
}

export function xs_client_nested_dispatched(): i32 {
  return nestedDispatched;
}

/** The watch's queued events (which == 0), dropped events (1) or collapses (2); -1 when `token` names none. */
export function xs_client_watch_count(token: usize, tokenLength: u32, which: i32): i32 {
  const watch = xsClient!.watchOf(text(token, tokenLength));
  if (watch === null) return -1;
  return which == 0 ? watch.pending : which == 1 ? i32(watch.dropped) : i32(watch.collapsed);
}
