// The block frontend (io/blkif.h), the `vbd` driver of the frontend bus, as
// Linux's blkfront connects: when the backend reaches InitWait we allocate
// the ring (as many pages as the backend offers in max-ring-page-order, up to
// MAX_RING_PAGE_ORDER), grant it, allocate an event channel, publish ring
// refs, event-channel and protocol in one transaction and switch to
// Initialised; when the backend is Connected we read the disk (sectors,
// sector-size, info, feature-flush-cache) and switch to Connected; when it
// closes we tear down and close.
//
// I/O is blocking, one request on the ring at a time: the caller's pages are
// granted for the request (read-only for a write) and the grants ended after
// the response. Responses are checked: one for no request in flight, with
// another id or operation, with an undefined status, or a response index
// beyond what we pushed breaks the device (dev_fatal, -EIO to the caller,
// the ring no longer used) without trapping. The request in flight always
// ends, with its status or -EIO, also when the backend goes away.
import * as evtchn from "../evtchn/evtchn";
import * as gnttab from "../gnttab/gnttab";
import { FrontRing } from "../ring/shared";
import {
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_WRITE,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_OKAY,
  EBUSY,
  EINVAL,
  EIO,
  ENODEV,
  ENOENT,
  ENOMEM,
  EOPNOTSUPP,
  EROFS,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitialising,
  XenbusStateInitWait,
  XenbusStateUnknown,
} from "../xen/abi";
import { allocPages, freePage, PAGE_SHIFT } from "../xen/pages";
import { systemTime, waitUntilDeadline } from "../xen/time";
import { BusDevice, registerFrontendDriver, XenbusBus, XenbusDriver } from "../xenbus/bus";
import {
  allocEvtchn,
  devError,
  devFatal,
  freeEvtchn,
  frontendClosed,
  grantRing,
  MAX_RING_PAGE_ORDER,
  writeRingRefs,
} from "../xenbus/client";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import {
  BLKIF_ENTRY_SIZE,
  BLKIF_PROTOCOL,
  checkResponse,
  encodeRequest,
  encodeSegment,
  MAX_SEGMENTS,
  pagesFor,
  parseFlag,
  parseInfo,
  parseRingPageOrder,
  parseSectorSize,
  parseSectors,
  responseId,
  SECTOR_SHIFT,
  SECTORS_PER_PAGE,
  VDISK_READONLY,
} from "./blkif";

/** A vbd as the frontend drives it. */
export class BlkfrontDevice extends BusDevice {
  /** Our end of the ring, while set up; unmanaged, freed at teardown. */
  ring: FrontRing | null = null;
  ringPages: usize = 0;
  ringPageCount: u32 = 0;
  readonly ringRefs: u32[] = [];
  port: i32 = -1;

  // The disk, as the backend published it when it connected.
  sectors: u64 = 0;
  sectorSize: u32 = 0;
  info: u32 = 0;
  flush: bool = false;

  /** The request on the ring: its id and operation; `answered` once its response (status in `status`) came. */
  inFlight: bool = false;
  requestId: u64 = 0;
  requestOp: i32 = 0;
  answered: bool = false;
  status: i32 = 0;
  /** Ids are never reused, so a late or replayed response cannot pass for a new one. */
  nextId: u64 = 1;
  /** Why the ring may no longer be used ("" while it works); reported once the store may be used. */
  broken: string = "";
  brokenReported: bool = false;

  /** Requests completed and bytes moved, for the host's statistics. */
  requests: u64 = 0;
  bytes: u64 = 0;

  /** The devid, sent as each request's `handle`. */
  handle: u32 = 0;

  isConnected(): bool {
    return this.state == XenbusStateConnected && this.ring !== null && this.broken.length == 0;
  }
}

/** Devices by their event channel. */
const byPort = new Map<u32, BlkfrontDevice>();

function blkfrontEvent(port: u32): void {
  if (byPort.has(port)) takeResponses(byPort.get(port));
}

class PublishRing extends XsTransactionBody {
  constructor(readonly dev: BlkfrontDevice) {
    super();
  }

  run(store: XsClient, tx: u32): i32 {
    const dev = this.dev;
    let rc = writeRingRefs(dev, tx, dev.ringRefs);
    if (rc == 0) rc = store.writeInt(tx, `${dev.nodename}/event-channel`, dev.port);
    if (rc == 0) rc = store.write(tx, `${dev.nodename}/protocol`, BLKIF_PROTOCOL);
    return rc;
  }
}

class BlkfrontDriver extends XenbusDriver {
  newDevice(
    bus: XenbusBus,
    type: string,
    id: string,
    nodename: string,
    otherendPath: string,
    otherendId: u32,
  ): BusDevice {
    return new BlkfrontDevice(bus, this, type, id, nodename, otherendPath, otherendId);
  }

  attach(dev: BusDevice): i32 {
    // The devid names the device in every request: it must be a number.
    const id = I32.parseInt(dev.id);
    if (id <= 0 || id.toString() != dev.id) return -EINVAL;
    (dev as BlkfrontDevice).handle = u32(id) & 0xffff;
    return 0;
  }

  otherendChanged(dev: BusDevice, state: i32): void {
    const blk = dev as BlkfrontDevice;
    reportBroken(blk);
    // Any state change may follow the backend's unmapping of a dropped ring.
    endDeferred();
    if (state == XenbusStateInitWait) {
      if (blk.state == XenbusStateInitialising) talkToBackend(blk);
    } else if (state == XenbusStateConnected) {
      if (blk.state == XenbusStateInitialised) connect(blk);
    } else if (state == XenbusStateClosing) {
      closeFrontend(blk);
    } else if (state == XenbusStateClosed || state == XenbusStateUnknown) {
      // The backend is gone (or never was): nothing to wait for.
      if (blk.state != XenbusStateClosed && blk.state != XenbusStateInitialising) closeFrontend(blk);
    }
  }

  detach(dev: BusDevice): void {
    teardown(dev as BlkfrontDevice);
  }

  /**
   * After a restore (the bus wrote Initialising; a cancelled suspend leaves
   * the state and the connection as they were): the old ring belongs to the
   * connection before the save and is dropped, and a fresh one is offered
   * once the backend, set up anew by the toolstack, is in InitWait.
   */
  resume(dev: BusDevice): i32 {
    const blk = dev as BlkfrontDevice;
    if (blk.state != XenbusStateInitialising) return 0;
    teardown(blk);
    if (blk.otherendState == XenbusStateInitWait) talkToBackend(blk);
    return 0;
  }
}

/** Backend InitWait: ring, grants, event channel and the nodes that name them, then Initialised. */
function talkToBackend(dev: BlkfrontDevice): void {
  // A backend that went back to InitWait gets a fresh ring.
  if (dev.ring !== null) teardown(dev);
  const store = dev.store;
  // The ring as large as offered, within our bound; no offer (or a bad one) is a one-page ring.
  let order: u32 = 0;
  if (store.read(XS_NO_TRANSACTION, `${dev.otherendPath}/max-ring-page-order`) == 0) {
    const offered = parseRingPageOrder(store.replyPayload(), store.replyLength());
    if (offered > 0) order = min(u32(offered), MAX_RING_PAGE_ORDER);
  }
  const count: u32 = 1 << order;
  const pages = allocPages(count);
  if (pages == 0) {
    devFatal(dev, -ENOMEM, "allocating ring");
    return;
  }
  const ring = new FrontRing(pages, count, BLKIF_ENTRY_SIZE);
  ring.init();
  dev.ring = ring;
  dev.ringPages = pages;
  dev.ringPageCount = count;
  if (grantRing(dev, pages, count, dev.ringRefs) < 0) {
    teardown(dev);
    return;
  }
  const port = allocEvtchn(dev);
  if (port < 0) {
    teardown(dev);
    return;
  }
  dev.port = port;
  byPort.set(u32(port), dev);
  evtchn.setHandler(u32(port), blkfrontEvent);
  dev.broken = "";
  dev.brokenReported = false;
  const rc = store.runTransaction(new PublishRing(dev));
  if (rc < 0) {
    devFatal(dev, rc, "writing ring references");
    teardown(dev);
    return;
  }
  dev.bus.setState(dev, XenbusStateInitialised);
}

/** Backend Connected: the disk's geometry and features, then Connected. */
function connect(dev: BlkfrontDevice): void {
  const store = dev.store;
  const backend = dev.otherendPath;
  const sectors = readValue(store, `${backend}/sectors`, SECTORS);
  const sectorSize = readValue(store, `${backend}/sector-size`, SECTOR_SIZE_VALUE);
  const info = readValue(store, `${backend}/info`, INFO);
  // Not offered is a backend without flush; an unreadable offer is an error.
  let flush = readValue(store, `${backend}/feature-flush-cache`, FLAG);
  if (flush == -ENOENT) flush = 0;
  const failed =
    sectors < 0
      ? "sectors"
      : sectorSize < 0
        ? "sector-size"
        : info < 0
          ? "info"
          : flush < 0
            ? "feature-flush-cache"
            : "";
  if (failed.length != 0) {
    const rc = sectors < 0 ? sectors : sectorSize < 0 ? sectorSize : info < 0 ? info : flush;
    devFatal(dev, i32(rc), `reading ${backend}/${failed}`);
    return;
  }
  dev.sectors = u64(sectors);
  dev.sectorSize = u32(sectorSize);
  dev.info = u32(info);
  dev.flush = flush == 1;
  dev.bus.setState(dev, XenbusStateConnected);
}

const SECTORS = 0;
const SECTOR_SIZE_VALUE = 1;
const INFO = 2;
const FLAG = 3;

/** The backend's value at `path` parsed as `kind`: the value, or the read's or the parser's -errno. */
function readValue(store: XsClient, path: string, kind: i32): i64 {
  const rc = store.read(XS_NO_TRANSACTION, path);
  if (rc < 0) return rc;
  const at = store.replyPayload();
  const length = store.replyLength();
  if (kind == SECTORS) return parseSectors(at, length);
  if (kind == SECTOR_SIZE_VALUE) return parseSectorSize(at, length);
  if (kind == INFO) return parseInfo(at, length);
  return parseFlag(at, length);
}

/** Backend Closing, Closed or gone: release everything, then Closed. */
function closeFrontend(dev: BlkfrontDevice): void {
  teardown(dev);
  if (dev.state != XenbusStateClosed) frontendClosed(dev);
}

/**
 * Releases ring, grants and event channel; a request in flight ends with
 * -EIO. A ring page the backend still maps cannot be revoked yet: as
 * Linux's gnttab_end_foreign_access does, its grant is ended later, once
 * the backend has unmapped it, and only then does the page go back to the
 * pool (never reused under the backend's eyes).
 */
function teardown(dev: BlkfrontDevice): void {
  if (dev.inFlight && !dev.answered) finish(dev, -EIO);
  if (dev.port >= 0) {
    // After a restore the port's number may already name another device's new channel.
    if (byPort.has(u32(dev.port)) && byPort.get(u32(dev.port)) === dev) byPort.delete(u32(dev.port));
    freeEvtchn(dev, u32(dev.port));
    dev.port = -1;
  }
  endDeferred();
  const refs = dev.ringRefs;
  for (let i = 0; i < refs.length; i++) endRingGrant(dev, refs[i], dev.ringPages + (usize(i) << PAGE_SHIFT));
  const granted = u32(refs.length);
  refs.length = 0;
  if (dev.ring !== null) {
    heap.free(changetype<usize>(dev.ring));
    dev.ring = null;
    // Pages never granted (a failed grantRing) go back at once.
    for (let i = granted; i < dev.ringPageCount; i++) freePage(dev.ringPages + (usize(i) << PAGE_SHIFT));
    dev.ringPages = 0;
    dev.ringPageCount = 0;
  }
}

/** Ring grants the backend still mapped when the ring was dropped, with their pages: ended and freed by endDeferred. */
const deferredRefs: u32[] = [];
const deferredPages: usize[] = [];

/** Ends the grant of ring page `page` and frees the page, or defers both while the backend maps it. */
function endRingGrant(dev: BlkfrontDevice, ref: u32, page: usize): void {
  const rc = gnttab.endAccess(ref);
  if (rc == 0) {
    freePage(page);
  } else if (rc == -EBUSY) {
    deferredRefs.push(ref);
    deferredPages.push(page);
  } else {
    // Not a grant of ours any more: the page's fate is unknown, so it stays out of the pool.
    devError(dev, rc, `revoking ring page grant ${ref}`);
  }
}

/** Retries the deferred ends (the backend may have unmapped since): each ended grant's page is freed. */
function endDeferred(): void {
  for (let i = deferredRefs.length - 1; i >= 0; i--) {
    const rc = gnttab.endAccess(deferredRefs[i]);
    if (rc == -EBUSY) continue;
    if (rc == 0) freePage(deferredPages[i]);
    const last = deferredRefs.length - 1;
    deferredRefs[i] = deferredRefs[last];
    deferredPages[i] = deferredPages[last];
    deferredRefs.length = last;
    deferredPages.length = last;
  }
}

/** The response came (or the request is given up): the waiting caller gets `status`. */
function finish(dev: BlkfrontDevice, status: i32): void {
  dev.status = status;
  dev.answered = true;
}

/** Marks the ring unusable; the request in flight ends with -EIO. */
function breakRing(dev: BlkfrontDevice, why: string): void {
  if (dev.broken.length == 0) dev.broken = why;
  if (dev.inFlight && !dev.answered) finish(dev, -EIO);
  if (dev.store.idle()) reportBroken(dev);
}

/** dev_fatal for a broken ring, once, from where the store may be used. */
function reportBroken(dev: BlkfrontDevice): void {
  if (dev.broken.length == 0 || dev.brokenReported) return;
  dev.brokenReported = true;
  devFatal(dev, -EIO, dev.broken);
}

/** Takes every response off the ring (from the event handler, or before sleeping). */
function takeResponses(dev: BlkfrontDevice): void {
  const ring = dev.ring;
  if (ring === null || dev.broken.length != 0) return;
  while (true) {
    let ready = ring.finalCheckForResponses();
    if (ready < 0) {
      breakRing(dev, "response index beyond the requests pushed");
      return;
    }
    if (ready == 0) return;
    for (; ready > 0; ready--) {
      const rsp = ring.slot(ring.rspCons);
      ring.rspCons++;
      if (!dev.inFlight || dev.answered || responseId(rsp) != dev.requestId) {
        breakRing(dev, `response for unknown id ${responseId(rsp)}`);
        return;
      }
      const status = checkResponse(rsp, dev.requestOp);
      if (status < BLKIF_RSP_EOPNOTSUPP) {
        breakRing(dev, "response with a bad status or operation");
        return;
      }
      finish(dev, status);
    }
  }
}

/** How long a request may go unanswered (Xen's system time) before the device is given up. */
const IO_TIMEOUT_NS: u64 = 30_000_000_000;

/** The device a blocking call waits on. */
let waitingFor: BlkfrontDevice | null = null;

function requestDone(): bool {
  return waitingFor!.answered;
}

/**
 * Puts the request encoded at the next slot (with `segments` segments) on
 * the ring, notifies the backend, and waits for the answer: 0, -EIO
 * (BLKIF_RSP_ERROR, a broken ring, the backend gone), -EOPNOTSUPP, or the
 * -errno with which Xen refused to let us wait.
 */
function submit(dev: BlkfrontDevice, op: i32, segments: u32, sector: u64): i32 {
  const ring = dev.ring!;
  const id = dev.nextId++;
  encodeRequest(ring.slot(ring.reqProdPvt), op, segments, dev.handle, id, sector);
  ring.reqProdPvt++;
  dev.inFlight = true;
  dev.answered = false;
  dev.requestId = id;
  dev.requestOp = op;
  if (ring.pushRequests()) evtchn.send(u32(dev.port));
  waitingFor = dev;
  const rc = waitUntilDeadline(requestDone, systemTime() + IO_TIMEOUT_NS);
  waitingFor = null;
  dev.inFlight = false;
  reportBroken(dev);
  if (!dev.answered) {
    // The request stays on the ring unanswered, so the ring cannot be used again.
    breakRing(dev, "no response in time");
    return rc;
  }
  dev.requests++;
  if (dev.status == BLKIF_RSP_OKAY) return 0;
  return dev.status == BLKIF_RSP_EOPNOTSUPP ? -EOPNOTSUPP : -EIO;
}

/**
 * Reads (op READ) or writes (op WRITE) `count` 512-byte sectors from
 * `sector` on, to or from the pages at `buffer` (page-aligned, as many as
 * the sectors need), in requests of up to MAX_SEGMENTS pages. 0, or -errno:
 * -ENODEV when not connected, -EINVAL for a count of 0 or a transfer not
 * aligned to the logical sector, -EROFS for a write to a read-only disk,
 * -EIO for a range that does not lie within the disk (refused before any
 * request goes out, as Linux's block layer ends such a bio) or when the
 * backend failed a request, or submit's errors. A transfer that fails part
 * of the way leaves the sectors before the failing request done and the
 * rest of the range unspecified, as a failed write does under Linux.
 */
export function transfer(dev: BlkfrontDevice, op: i32, sector: u64, count: u32, buffer: usize): i32 {
  if (!dev.isConnected()) return dev.broken.length != 0 ? -EIO : -ENODEV;
  const align = u64(dev.sectorSize >> SECTOR_SHIFT) - 1;
  if (count == 0 || (sector & align) != 0 || (u64(count) & align) != 0) return -EINVAL;
  if (op == BLKIF_OP_WRITE && (dev.info & VDISK_READONLY) != 0) return -EROFS;
  if (sector > dev.sectors || u64(count) > dev.sectors - sector) return -EIO;
  let done: u32 = 0;
  while (done < count) {
    const chunk = min(count - done, MAX_SEGMENTS * SECTORS_PER_PAGE);
    const rc = transferChunk(dev, op, sector + done, chunk, buffer + (usize(done) << SECTOR_SHIFT));
    if (rc < 0) return rc;
    done += chunk;
  }
  return 0;
}

/** The grant refs of the request's data pages (one request is under way at a time). */
const dataRefs = new StaticArray<i32>(MAX_SEGMENTS);

/** One request: grants the pages, submits, then ends the grants. */
function transferChunk(dev: BlkfrontDevice, op: i32, sector: u64, count: u32, buffer: usize): i32 {
  const ring = dev.ring!;
  const req = ring.slot(ring.reqProdPvt);
  const pages = pagesFor(count);
  const refs = dataRefs;
  let rc = 0;
  let granted: u32 = 0;
  for (; granted < pages; granted++) {
    const gfn = u32((buffer >> PAGE_SHIFT) + granted);
    const ref = gnttab.grantAccess(dev.otherendId, gfn, op == BLKIF_OP_WRITE);
    if (ref < 0) {
      rc = ref;
      break;
    }
    refs[granted] = ref;
    const sectors = min(count - granted * SECTORS_PER_PAGE, SECTORS_PER_PAGE);
    encodeSegment(req, granted, u32(ref), 0, sectors - 1);
  }
  if (rc == 0) rc = submit(dev, op, pages, sector);
  for (let i: u32 = 0; i < granted; i++) {
    const ended = gnttab.endAccess(u32(refs[i]));
    // The backend still maps the page: it stays granted, and page_free refuses it (-EBUSY).
    if (ended < 0) devError(dev, ended, `revoking data page grant ${refs[i]}`);
  }
  if (rc == 0) dev.bytes += u64(count) << SECTOR_SHIFT;
  return rc;
}

/** Flushes the backend's write cache: 0, -EOPNOTSUPP when not offered, or submit's errors. */
export function flush(dev: BlkfrontDevice): i32 {
  if (!dev.isConnected()) return dev.broken.length != 0 ? -EIO : -ENODEV;
  if (!dev.flush) return -EOPNOTSUPP;
  return submit(dev, BLKIF_OP_FLUSH_DISKCACHE, 0, 0);
}

/** Closes the device from our side: Closing, then the backend's close takes us to Closed. */
export function close(dev: BlkfrontDevice): i32 {
  if (dev.state == XenbusStateClosed) return 0;
  return dev.bus.setState(dev, XenbusStateClosing);
}

/** Opens a closed device again: Initialising, which the backend answers by resetting for a new frontend. */
export function reopen(dev: BlkfrontDevice): i32 {
  if (dev.state != XenbusStateClosed) return dev.state == XenbusStateInitialising ? 0 : -EBUSY;
  dev.down = false;
  return dev.bus.setState(dev, XenbusStateInitialising);
}

registerFrontendDriver(new BlkfrontDriver("vbd"));
