// The block frontend's device side (io/blkif.h), as Unikraft's blkfront.c is
// to its blkfront_xs.c: the ring and its event channel, and the requests on
// it. blkfront-xs.ts negotiates with the backend through XenStore and calls
// setUpRing and teardown.
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
  EINVAL,
  EIO,
  ENODEV,
  ENOMEM,
  EOPNOTSUPP,
  EROFS,
  XenbusStateConnected,
} from "../xen/abi";
import { allocPages, freePage, PAGE_SHIFT } from "../xen/pages";
import { systemTime, waitUntilDeadline } from "../xen/time";
import { BusDevice } from "../xenbus/bus";
import {
  allocEvtchn,
  devError,
  devFatal,
  endDeferredGrants,
  endGrantFreePage,
  freeEvtchn,
  grantRing,
} from "../xenbus/client";
import {
  BLKIF_ENTRY_SIZE,
  checkResponse,
  encodeRequest,
  encodeSegment,
  MAX_SEGMENTS,
  pagesFor,
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

/**
 * A fresh ring of 2^`order` pages, granted to the backend, and an event
 * channel for it: 0, or -errno with the failure reported and nothing kept.
 */
export function setUpRing(dev: BlkfrontDevice, order: u32): i32 {
  const count: u32 = 1 << order;
  const pages = allocPages(count);
  if (pages == 0) {
    devFatal(dev, -ENOMEM, "allocating ring");
    return -ENOMEM;
  }
  const ring = new FrontRing(pages, count, BLKIF_ENTRY_SIZE);
  ring.init();
  dev.ring = ring;
  dev.ringPages = pages;
  dev.ringPageCount = count;
  const granted = grantRing(dev, pages, count, dev.ringRefs);
  if (granted < 0) {
    teardown(dev);
    return granted;
  }
  const port = allocEvtchn(dev);
  if (port < 0) {
    teardown(dev);
    return port;
  }
  dev.port = port;
  byPort.set(u32(port), dev);
  evtchn.setHandler(u32(port), blkfrontEvent);
  dev.broken = "";
  dev.brokenReported = false;
  return 0;
}

/**
 * Releases ring, grants and event channel; a request in flight ends with
 * -EIO. A ring page the backend still maps cannot be revoked yet: as
 * Linux's gnttab_end_foreign_access does, its grant is ended later, once
 * the backend has unmapped it, and only then does the page go back to the
 * pool (never reused under the backend's eyes).
 */
export function teardown(dev: BlkfrontDevice): void {
  if (dev.inFlight && !dev.answered) finish(dev, -EIO);
  if (dev.port >= 0) {
    // After a restore the port's number may already name another device's new channel.
    if (byPort.has(u32(dev.port)) && byPort.get(u32(dev.port)) === dev) byPort.delete(u32(dev.port));
    freeEvtchn(dev, u32(dev.port));
    dev.port = -1;
  }
  endDeferredGrants();
  const refs = dev.ringRefs;
  for (let i = 0; i < refs.length; i++) endGrantFreePage(dev, refs[i], dev.ringPages + (usize(i) << PAGE_SHIFT));
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
export function reportBroken(dev: BlkfrontDevice): void {
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
