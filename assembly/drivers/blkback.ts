// The block backend (io/blkif.h) of a driver domain: the `vbd` operations of
// the backend lifecycle (assembly/xenbus/backend.ts), serving a MemDisk.
//
// init publishes the disk and what we offer (sectors, sector-size, info,
// feature-flush-cache, max-ring-page-order); initialise maps the frontend's
// ring and binds its event channel; each event serves the requests on the
// ring. Every request is copied out of the ring and checked (blkif.ts's
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
  EINVAL,
  EIO,
  ENODEV,
  ENOENT,
  ENOMEM,
  GNTST_okay,
} from "../xen/abi";
import { blkif_request } from "../xen/layout";
import { PAGE_SIZE } from "../xen/pages";
import { BackendDevice, BackendDriver, BackendOps, bindFrontendEvtchn, notifyFrontend } from "../xenbus/backend";
import { registerBackendDriver, XenbusBus, XenbusDriver } from "../xenbus/bus";
import {
  devFatal,
  MAX_RING_PAGE_ORDER,
  mapRingValloc,
  RingMapping,
  readRingRefs,
  unmapRingVfree,
} from "../xenbus/client";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import {
  BLKIF_ENTRY_SIZE,
  BLKIF_PROTOCOL,
  checkRequest,
  copyRequest,
  DiskGeometry,
  encodeResponse,
  parseDecimal64,
  requestId,
  requestOperation,
  requestSector,
  requestSegments,
  SECTOR_SHIFT,
  segmentFirst,
  segmentGref,
  segmentLast,
  VDISK_READONLY,
} from "./blkif";
import { diskAt, MAX_DISKS, MemDisk } from "./memdisk";

/** The ring order offered as max-ring-page-order (blkback_start sets it, at most MAX_RING_PAGE_ORDER). */
let offeredRingOrder: u32 = MAX_RING_PAGE_ORDER;

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

class PublishDisk extends XsTransactionBody {
  constructor(readonly dev: BlkbackDevice) {
    super();
  }

  run(store: XsClient, tx: u32): i32 {
    const node = this.dev.nodename;
    const disk = this.dev.disk!;
    let rc = store.writeInt(tx, `${node}/sectors`, i64(disk.geometry.sectors));
    if (rc == 0) rc = store.writeInt(tx, `${node}/sector-size`, disk.geometry.sectorSize);
    if (rc == 0)
      rc = store.writeInt(tx, `${node}/info`, disk.info | (this.dev.geometry!.readOnly ? VDISK_READONLY : 0));
    if (rc == 0) rc = store.writeInt(tx, `${node}/feature-flush-cache`, disk.geometry.flush ? 1 : 0);
    if (rc == 0) rc = store.writeInt(tx, `${node}/max-ring-page-order`, offeredRingOrder);
    return rc;
  }
}

class BlkbackOps extends BackendOps {
  newDevice(
    bus: XenbusBus,
    driver: XenbusDriver,
    type: string,
    id: string,
    nodename: string,
    otherendPath: string,
    otherendId: u32,
  ): BackendDevice {
    return new BlkbackDevice(bus, driver, this, type, id, nodename, otherendPath, otherendId);
  }

  /** Finds the disk named by `params` and publishes it with what we offer. */
  init(dev: BackendDevice): i32 {
    const blk = dev as BlkbackDevice;
    const store = blk.store;
    let rc = store.read(XS_NO_TRANSACTION, `${blk.nodename}/params`);
    if (rc < 0) {
      devFatal(blk, rc, "reading params");
      return rc;
    }
    const index = parseDecimal64(store.replyPayload(), store.replyLength(), u64(MAX_DISKS));
    blk.disk = index < 0 ? null : diskAt(u64(index));
    if (blk.disk === null) {
      devFatal(blk, -ENODEV, `no disk "${store.value}"`);
      return -ENODEV;
    }
    // The access the toolstack grants (xl's access=ro writes "r"): without a
    // 'w' the vbd is read-only, as in Linux's blkback; no mode is "w", as in QEMU's.
    rc = store.read(XS_NO_TRANSACTION, `${blk.nodename}/mode`);
    if (rc < 0 && rc != -ENOENT) {
      devFatal(blk, rc, "reading mode");
      return rc;
    }
    const disk = blk.disk!.geometry;
    const readOnly = disk.readOnly || (rc == 0 && !store.value.includes("w"));
    blk.geometry = new DiskGeometry(disk.sectors, disk.sectorSize, readOnly, disk.flush);
    rc = store.runTransaction(new PublishDisk(blk));
    if (rc < 0) devFatal(blk, rc, "publishing disk");
    return rc < 0 ? rc : 0;
  }

  /** Maps the frontend's ring (one page or ring-page-order pages) and binds its event channel. */
  initialise(dev: BackendDevice): i32 {
    const blk = dev as BlkbackDevice;
    const store = blk.store;
    const refs = new Array<u32>();
    let rc = readRingRefs(blk, XS_NO_TRANSACTION, offeredRingOrder, refs);
    if (rc < 0) {
      devFatal(blk, rc, "reading ring references");
      return rc;
    }
    // No protocol node: the frontend speaks ours (blkif.h's default is the native ABI).
    rc = store.read(XS_NO_TRANSACTION, `${blk.otherendPath}/protocol`);
    if (rc == 0 && store.value != BLKIF_PROTOCOL) {
      devFatal(blk, -EINVAL, `unsupported protocol "${store.value}"`);
      return -EINVAL;
    }
    if (rc < 0 && rc != -ENOENT) {
      devFatal(blk, rc, "reading protocol");
      return rc;
    }
    rc = mapRingValloc(blk, refs, blk.mapping);
    if (rc != GNTST_okay) {
      // A grant that did not map was reported by mapRing; running out of pages was not.
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

  /** Requests the frontend queued before we were bound. */
  connected(dev: BackendDevice): void {
    serve(dev as BlkbackDevice);
  }

  event(dev: BackendDevice): void {
    serve(dev as BlkbackDevice);
  }

  /** Each change of the frontend's state: a moment to report what an event handler had to keep. */
  frontendChanged(dev: BackendDevice, node: string): void {
    reportKept(dev as BlkbackDevice);
  }

  /** The lifecycle has unbound the event channel already. */
  disconnect(dev: BackendDevice): void {
    const blk = dev as BlkbackDevice;
    reportKept(blk);
    releaseRing(blk);
  }
}

function releaseRing(blk: BlkbackDevice): void {
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
function reportKept(blk: BlkbackDevice): void {
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
function serve(blk: BlkbackDevice): void {
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

/** The max-ring-page-order published by init from now on: 0, or -EINVAL beyond MAX_RING_PAGE_ORDER. */
export function setOfferedRingOrder(order: u32): i32 {
  if (order > MAX_RING_PAGE_ORDER) return -EINVAL;
  offeredRingOrder = order;
  return 0;
}

/** The device serving `frontend`'s vbd `devid`, or null. */
export function findBackend(bus: XenbusBus, frontend: u32, devid: u32): BlkbackDevice | null {
  const dev = bus.find("vbd", `${frontend}/${devid}`);
  return dev === null ? null : (dev as BlkbackDevice);
}

registerBackendDriver(new BackendDriver("vbd", new BlkbackOps()));
