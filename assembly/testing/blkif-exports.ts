// The blkif protocol (assembly/drivers/blkif.ts) as exports, for the tests
// (build/harness.wasm): encoding, the backend's request check, the
// frontend's response check, negotiation values.
import * as blkif from "../drivers/blkif";
import { EINVAL } from "../xen/abi";

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
