// The block device protocol (io/blkif.h), its pure part: what a request and a
// response on the blkif ring may say, and the values each end publishes in
// XenStore during feature negotiation. No I/O here: blkfront and blkback do
// that, and the tests reach these rules directly through build/harness.wasm.
//
// Units: sector numbers, `sectors` and a segment's first/last sect are in
// 512-byte sectors whatever the disk's `sector-size`; a disk with larger
// logical sectors only takes transfers aligned to them.
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
  EINVAL,
  EIO,
} from "../xen/abi";
import { blkif_request, blkif_request_segment, blkif_response, blkif_sring } from "../xen/layout";
import { PAGE_SIZE } from "../xen/pages";

export const SECTOR_SHIFT: u32 = 9;
export const SECTOR_SIZE: u32 = 1 << SECTOR_SHIFT;
/** 512-byte sectors in a data page: a segment's last_sect is below this. */
export const SECTORS_PER_PAGE: u32 = PAGE_SIZE >> SECTOR_SHIFT;
/** Data pages that `sectors` 512-byte sectors fill. */
export function pagesFor(sectors: u32): u32 {
  return (sectors + SECTORS_PER_PAGE - 1) / SECTORS_PER_PAGE;
}

/** Whether `size` is a logical sector size blkif allows: a power of two from 512 to MAX_SECTOR_SIZE. */
export function isSectorSize(size: u64): bool {
  return size >= u64(SECTOR_SIZE) && size <= u64(MAX_SECTOR_SIZE) && popcnt(size) == 1;
}

/** A ring entry: the union of request and response. */
export const BLKIF_ENTRY_SIZE: u32 = blkif_sring.SIZE - blkif_sring.ring;
export const MAX_SEGMENTS: u32 = BLKIF_MAX_SEGMENTS_PER_REQUEST;

/** `info` bits (io/blkif.h's VDISK_*). */
export const VDISK_CDROM: u32 = 1;
export const VDISK_REMOVABLE: u32 = 2;
export const VDISK_READONLY: u32 = 4;
export const VDISK_KNOWN: u32 = VDISK_CDROM | VDISK_REMOVABLE | VDISK_READONLY;

/** The only `protocol` spoken: the native x86_64 layout of the structs in xen/layout.ts. */
export const BLKIF_PROTOCOL: string = "x86_64-abi";

/** The largest logical sector: a segment (one page) must hold whole sectors. */
export const MAX_SECTOR_SIZE: u32 = PAGE_SIZE;

// Requests (the frontend writes them; the backend checks a private copy).

/** Fills the request at `req` except its segments. */
export function encodeRequest(req: usize, operation: i32, nrSegments: u32, handle: u32, id: u64, sector: u64): void {
  store<u8>(req + blkif_request.operation, u8(operation));
  store<u8>(req + blkif_request.nr_segments, u8(nrSegments));
  store<u16>(req + blkif_request.handle, u16(handle));
  store<u32>(req + blkif_request.handle + 2, 0); // padding before the 64-bit id
  store<u64>(req + blkif_request.id, id);
  store<u64>(req + blkif_request.sector_number, sector);
}

/** Fills segment `index` of the request at `req`: sectors first..last of the page granted as `gref`. */
export function encodeSegment(req: usize, index: u32, gref: u32, first: u32, last: u32): void {
  const seg = segmentAt(req, index);
  store<u32>(seg + blkif_request_segment.gref, gref);
  store<u8>(seg + blkif_request_segment.first_sect, u8(first));
  store<u8>(seg + blkif_request_segment.last_sect, u8(last));
  store<u16>(seg + blkif_request_segment.last_sect + 1, 0); // padding
}

function segmentAt(req: usize, index: u32): usize {
  return req + blkif_request.seg + usize(index) * blkif_request_segment.SIZE;
}

export function requestOperation(req: usize): i32 {
  return load<u8>(req + blkif_request.operation);
}

export function requestSegments(req: usize): u32 {
  return load<u8>(req + blkif_request.nr_segments);
}

export function requestId(req: usize): u64 {
  return load<u64>(req + blkif_request.id);
}

export function requestSector(req: usize): u64 {
  return load<u64>(req + blkif_request.sector_number);
}

export function segmentGref(req: usize, index: u32): u32 {
  return load<u32>(segmentAt(req, index) + blkif_request_segment.gref);
}

export function segmentFirst(req: usize, index: u32): u32 {
  return load<u8>(segmentAt(req, index) + blkif_request_segment.first_sect);
}

export function segmentLast(req: usize, index: u32): u32 {
  return load<u8>(segmentAt(req, index) + blkif_request_segment.last_sect);
}

/** Copies a request out of the ring (RING_COPY_REQUEST): the frontend may rewrite the slot at any time. */
export function copyRequest(target: usize, slot: usize): void {
  memory.copy(target, slot, blkif_request.SIZE);
}

/** What a backend serves: its size, logical sector size and whether it takes writes and flushes. */
export class DiskGeometry {
  constructor(
    /** 512-byte sectors. */
    public sectors: u64,
    /** Bytes in a logical sector: a power of two from 512 to MAX_SECTOR_SIZE. */
    public sectorSize: u32,
    public readOnly: bool,
    /** feature-flush-cache was offered: BLKIF_OP_FLUSH_DISKCACHE is served. */
    public flush: bool,
  ) {}
}

/**
 * The status a backend answers the request copied to `req` with before
 * touching any data: BLKIF_RSP_OKAY when it may be carried out;
 * BLKIF_RSP_EOPNOTSUPP for an operation not served (anything but READ,
 * WRITE and an offered FLUSH_DISKCACHE); BLKIF_RSP_ERROR for a bad segment
 * count (READ and WRITE carry 1 to 11, FLUSH up to 11, written before the
 * flush), a segment whose sectors are not first <= last within its page, a
 * transfer not aligned to the logical sector, one reaching past the disk's
 * end, or a write to a read-only disk. Grant refs are checked by Xen when
 * the data moves.
 */
export function checkRequest(req: usize, disk: DiskGeometry): i32 {
  const op = requestOperation(req);
  if (op != BLKIF_OP_READ && op != BLKIF_OP_WRITE && !(op == BLKIF_OP_FLUSH_DISKCACHE && disk.flush)) {
    return BLKIF_RSP_EOPNOTSUPP;
  }
  const count = requestSegments(req);
  if (count > MAX_SEGMENTS || (count == 0 && op != BLKIF_OP_FLUSH_DISKCACHE)) return BLKIF_RSP_ERROR;
  if (op != BLKIF_OP_READ && count != 0 && disk.readOnly) return BLKIF_RSP_ERROR;
  // An empty flush names no sectors: Linux's block layer sends it at sector (sector_t)-1, and
  // Linux's blkback checks the range only of requests that have one.
  if (count == 0) return BLKIF_RSP_OKAY;
  // Logical sectors in 512-byte units, a power of two: `align - 1` masks a misaligned sector.
  const align = disk.sectorSize >> SECTOR_SHIFT;
  const start = requestSector(req);
  if ((start & u64(align - 1)) != 0) return BLKIF_RSP_ERROR;
  let total: u64 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const first = segmentFirst(req, i);
    const last = segmentLast(req, i);
    if (first > last || last >= SECTORS_PER_PAGE) return BLKIF_RSP_ERROR;
    if ((first & (align - 1)) != 0 || ((last + 1) & (align - 1)) != 0) return BLKIF_RSP_ERROR;
    total += last - first + 1;
  }
  // start + total <= sectors, without overflowing u64.
  if (start > disk.sectors || total > disk.sectors - start) return BLKIF_RSP_ERROR;
  return BLKIF_RSP_OKAY;
}

// Responses (the backend writes them; the frontend checks them).

export function encodeResponse(rsp: usize, id: u64, operation: i32, status: i32): void {
  store<u64>(rsp + blkif_response.id, id);
  store<u8>(rsp + blkif_response.operation, u8(operation));
  store<u8>(rsp + blkif_response.operation + 1, 0); // padding
  store<i16>(rsp + blkif_response.status, i16(status));
}

export function responseId(rsp: usize): u64 {
  return load<u64>(rsp + blkif_response.id);
}

/**
 * The status of the response at `rsp` to a request of operation `op`:
 * BLKIF_RSP_OKAY, _ERROR or _EOPNOTSUPP; -EIO when the backend answered
 * with another operation or a status blkif.h does not define (the caller
 * has already matched the id).
 */
export function checkResponse(rsp: usize, op: i32): i32 {
  if (i32(load<u8>(rsp + blkif_response.operation)) != op) return -EIO;
  const status = i32(load<i16>(rsp + blkif_response.status));
  if (status != BLKIF_RSP_OKAY && status != BLKIF_RSP_ERROR && status != BLKIF_RSP_EOPNOTSUPP) return -EIO;
  return status;
}

// Feature negotiation: each value as the other end wrote it (the bytes of a
// XenStore read), parsed strictly: decimal digits only, nothing else around
// them. A value out of its range is -EINVAL, never clamped into a guess.

/** The decimal number in [at, at + length), at most `max` (< 2^63); -EINVAL for anything else. */
export function parseDecimal64(at: usize, length: u32, max: u64): i64 {
  if (length == 0 || length > 20) return -EINVAL;
  let value: u64 = 0;
  for (let i: u32 = 0; i < length; i++) {
    const digit = u32(load<u8>(at + i)) - 0x30;
    if (digit > 9) return -EINVAL;
    // value * 10 + digit > max, without overflow.
    if (u64(digit) > max || value > (max - digit) / 10) return -EINVAL;
    value = value * 10 + digit;
  }
  return i64(value);
}

/** `feature-flush-cache` and other boolean features: 0 or 1. */
export function parseFlag(at: usize, length: u32): i32 {
  return i32(parseDecimal64(at, length, 1));
}

/** `sector-size`: a power of two from 512 to MAX_SECTOR_SIZE. */
export function parseSectorSize(at: usize, length: u32): i32 {
  const size = parseDecimal64(at, length, MAX_SECTOR_SIZE);
  if (size < 0) return i32(size);
  return isSectorSize(u64(size)) ? i32(size) : -EINVAL;
}

/** The most `sectors` believed: 2^54 sectors are 2^63 bytes, so byte offsets stay inside u64 arithmetic. */
export const MAX_SECTORS: u64 = u64(1) << 54;

/** `sectors`: the disk's size in 512-byte sectors. */
export function parseSectors(at: usize, length: u32): i64 {
  return parseDecimal64(at, length, MAX_SECTORS);
}

/** `info`: VDISK_* bits (every value up to their union is made of them); an unknown bit is refused rather than ignored. */
export function parseInfo(at: usize, length: u32): i32 {
  return i32(parseDecimal64(at, length, VDISK_KNOWN));
}

/** `max-ring-page-order` (the backend's offer): up to 31, so 1 << order fits a u32; the reader bounds it further by what it supports. */
export function parseRingPageOrder(at: usize, length: u32): i32 {
  return i32(parseDecimal64(at, length, 31));
}
