// The block backend's device side (io/blkif.h), as Linux's xen-blkback
// blkback.c is to its xenbus.c: the frontend's ring, mapped, and the requests
// on it, served from a MemDisk. blkback-xs.ts negotiates through XenStore.
//
// Every request is copied out of the ring and checked (blkif.ts's
// checkRequest) before any data moves; data moves with grant copies between
// the frontend's granted pages and the image, so a bad grant ref fails that
// request (BLKIF_RSP_ERROR) and nothing else. A frontend that writes
// impossible ring indices gets a device error and is no longer served.
//
// Event-channel handlers may run while this domain waits for xenstored, when
// no XenStore request may be made: a failure found there is reported (dev_fatal)
// at once when the store is idle, else at the frontend's next state change.
import { copyFromGrant, copyToGrant } from "../gnttab/gnttab";
import { BackRing } from "../ring/shared";
import {
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_READ,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
  EIO,
  ENOMEM,
  GNTST_okay,
} from "../xen/abi";
import { blkif_request } from "../xen/layout";
import { PAGE_SIZE } from "../xen/pages";
import { BackendDevice, bindFrontendEvtchn, notifyFrontend } from "../xenbus/backend";
import { devFatal, mapRingValloc, RingMapping, unmapRingVfree } from "../xenbus/client";
import {
  BLKIF_ENTRY_SIZE,
  checkRequest,
  copyRequest,
  DiskGeometry,
  encodeResponse,
  requestId,
  requestOperation,
  requestSector,
  requestSegments,
  SECTOR_SHIFT,
  segmentFirst,
  segmentGref,
  segmentLast,
} from "./blkif";
import { MemDisk } from "./memdisk";

/** A vbd as the backend serves it. */
export class BlkbackDevice extends BackendDevice {
  disk: MemDisk | null = null;
  /** The disk as this vbd serves it: read-only when the toolstack's `mode` says so, whatever the disk allows. */
  geometry: DiskGeometry | null = null;
  /** Our end of the frontend's ring while connected; unmanaged, freed at disconnect. */
  ring: BackRing | null = null;
  readonly mapping: RingMapping = new RingMapping();
  ringPages: u32 = 0;
  /** A failure found where the store could not be used, not yet reported. */
  unreported: string = "";
  /** Requests answered and bytes moved, for the host's statistics. */
  requests: u64 = 0;
  bytes: u64 = 0;
}

/** A private copy of the request being served: the frontend may rewrite the slot meanwhile. */
const request = memory.data(blkif_request.SIZE, 8);

/**
 * Maps the frontend's ring pages `refs` and binds its event channel: 0, or
 * -errno with nothing kept.
 */
export function mapRing(blk: BlkbackDevice, refs: u32[]): i32 {
  const rc = mapRingValloc(blk, refs, blk.mapping);
  if (rc != GNTST_okay) {
    // A grant that did not map was reported by mapRingValloc; running out of pages was not.
    if (rc == -ENOMEM) devFatal(blk, rc, "allocating ring pages");
    return -EIO;
  }
  blk.ring = new BackRing(blk.mapping.address, u32(refs.length), BLKIF_ENTRY_SIZE);
  blk.ringPages = u32(refs.length);
  const port = bindFrontendEvtchn(blk);
  if (port < 0) {
    releaseRing(blk);
    return port;
  }
  return 0;
}

/** Unmaps the ring (the lifecycle has unbound its event channel). */
export function releaseRing(blk: BlkbackDevice): void {
  const ring = blk.ring;
  if (ring === null) return;
  blk.ring = null;
  heap.free(changetype<usize>(ring));
  unmapRingVfree(blk, blk.mapping.address);
  blk.mapping.address = 0;
  blk.ringPages = 0;
}

/** A failure found in an event handler: reported now if the store may be used, else kept for the next callback. */
function failDevice(blk: BlkbackDevice, message: string): void {
  blk.unreported = message;
  if (blk.store.idle()) reportKept(blk);
}

/** Reports (dev_fatal) a failure failDevice kept. */
export function reportKept(blk: BlkbackDevice): void {
  if (blk.unreported.length == 0) return;
  const message = blk.unreported;
  blk.unreported = "";
  devFatal(blk, -EIO, message);
}

/**
 * Serves every request on the ring, answering each, and notifies the
 * frontend when it asked to be. Impossible indices stop the serving for
 * good (the ring's error is latched) with a device error.
 */
export function serve(blk: BlkbackDevice): void {
  const ring = blk.ring;
  if (ring === null || ring.error != 0) return;
  while (true) {
    let ready = ring.finalCheckForRequests();
    if (ready < 0) {
      failDevice(blk, "frontend's ring indices are impossible");
      break;
    }
    if (ready == 0) break;
    for (; ready > 0; ready--) {
      copyRequest(request, ring.slot(ring.reqCons));
      ring.reqCons++;
      let status = checkRequest(request, blk.geometry!);
      if (status == BLKIF_RSP_OKAY) status = carryOut(blk, request);
      encodeResponse(ring.slot(ring.rspProdPvt), requestId(request), requestOperation(request), status);
      ring.rspProdPvt++;
      blk.requests++;
    }
    if (ring.pushResponses()) notifyFrontend(blk);
  }
}

/** Moves a checked request's data between the frontend's pages and the image: its status. */
function carryOut(blk: BlkbackDevice, req: usize): i32 {
  const disk = blk.disk!;
  const toFrontend = requestOperation(req) == BLKIF_OP_READ;
  let at = disk.image + (usize(requestSector(req)) << SECTOR_SHIFT);
  const count = requestSegments(req);
  for (let i: u32 = 0; i < count; i++) {
    const first = segmentFirst(req, i);
    const length = (segmentLast(req, i) - first + 1) << SECTOR_SHIFT;
    const rc = copySegment(blk, segmentGref(req, i), first << SECTOR_SHIFT, at, length, toFrontend);
    if (rc != GNTST_okay) return BLKIF_RSP_ERROR;
    at += length;
    blk.bytes += length;
  }
  if (requestOperation(req) == BLKIF_OP_FLUSH_DISKCACHE) disk.flushes++;
  return BLKIF_RSP_OKAY;
}

/**
 * One segment's bytes between offset `offset` of the frontend's grant `gref`
 * and the image at `at`, split where the image crosses a page (a grant copy
 * stays within one page on each side). GNTST_okay or Xen's failure.
 */
function copySegment(blk: BlkbackDevice, gref: u32, offset: u32, at: usize, length: u32, toFrontend: bool): i32 {
  while (length != 0) {
    const chunk = min(length, PAGE_SIZE - u32(at & (PAGE_SIZE - 1)));
    const rc = toFrontend
      ? copyToGrant(blk.otherendId, gref, offset, at, chunk)
      : copyFromGrant(blk.otherendId, gref, offset, at, chunk);
    if (rc != GNTST_okay) return rc;
    offset += chunk;
    at += chunk;
    length -= chunk;
  }
  return GNTST_okay;
}
