// The XenBus driver helpers (see Linux drivers/xen/xenbus/xenbus_client.c): what a
// frontend or backend driver does to a device through XenStore, the event
// channels and the grant table, with a failure reported in the store where
// the toolstack and the other end look for it.
//
// Errors are -errno, except where the grant table speaks: mapping and
// unmapping return its GNTST_* status, as the seed does; switchState, whose
// seed always returns 0, returns nothing and keeps its outcome on the device
// (XenbusDevice.switchError). Helpers whose failure leaves the device
// unusable (watching, granting, binding, mapping) report it with devFatal,
// which also switches the device to Closing so the other end tears down its
// half; freeing and unmapping only report it.
import * as evtchn from "../evtchn/evtchn";
import * as gnttab from "../gnttab/gnttab";
import {
  EAGAIN,
  EBUSY,
  EINVAL,
  ENOENT,
  ENOMEM,
  GNTST_bad_virt_addr,
  GNTST_okay,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateReconfigured,
  XenbusStateUnknown,
} from "../xen/abi";
import { logLine } from "../xen/log";
import { allocPages, freePage, PAGE_SHIFT, PAGE_SIZE } from "../xen/pages";
import { TRANSACTION_ATTEMPTS, XsClient } from "../xenstore/client";
import { XsWatchHandler } from "../xenstore/watches";
import { joinPath, XS_NO_TRANSACTION } from "../xenstore/wire";

/**
 * The most pages a ring may have is 1 << this (XENBUS_MAX_RING_GRANT_ORDER
 * in Linux): the bound on what a backend maps for a frontend, and on the
 * `ring-page-order` it believes.
 */
export const MAX_RING_PAGE_ORDER: u32 = 4;
export const MAX_RING_PAGES: u32 = 1 << MAX_RING_PAGE_ORDER;

/** A device as the helpers need it; the bus finds devices and owns them. */
export class XenbusDevice {
  /** The state this end last wrote (switchState skips a switch to it). */
  state: i32 = XenbusStateUnknown;
  /**
   * How the last switchState went, for callers that need to know (it
   * returns nothing, as the seed's returns 0): 0 when the state was written
   * or was that state already; the read's -errno when the node could not be
   * read (-ENOENT: gone; -EACCES: no longer ours), so nothing was written or
   * reported; any other -errno was reported and the device switched to
   * Closing.
   */
  switchError: i32 = 0;
  /** evtchn.epoch() when allocEvtchn or bindEvtchn made the device's channel (see evtchnStale). */
  evtchnEpoch: u32 = 0;
  /** frontendClosed ran: the bus's removal, which waits for the frontend to close, may go on. */
  down: bool = false;

  /**
   * A failure was reported and asked for Closing (devFatal, a switch that
   * failed) since the backend lifecycle last looked: Closing that nobody else
   * asked for, which the lifecycle holds to until the frontend resets.
   */
  fatalReported: bool = false;

  /** This end's state became `state`: switchState wrote it, or the bus found the toolstack had (the boot wait listens here). */
  stateChanged(state: i32): void {}

  constructor(
    /** The XenStore connection the device's nodes are reached through. */
    readonly store: XsClient,
    /** This end's directory, relative to the domain's home ("device/vif/0", "backend/vif/3/0"). */
    readonly nodename: string,
    /** The other end's directory, absolute (the bus reads it again on resume). */
    public otherendPath: string,
    /** The other end's domain: grants go to it, event channels and mappings come from it. */
    public otherendId: u32,
  ) {}
}

const STATE_NAMES: string[] = [
  "Unknown",
  "Initialising",
  "InitWait",
  "Initialised",
  "Connected",
  "Closing",
  "Closed",
  "Reconfiguring",
  "Reconfigured",
];

/** The name of a XenbusState, "INVALID" for any other value. */
export function strstate(state: i32): string {
  return state >= 0 && state < STATE_NAMES.length ? STATE_NAMES[state] : "INVALID";
}

/**
 * Registers a watch on `path` named `token`, whose events `handler` runs
 * from the upcall. 0, or -errno with the device switched to Closing.
 */
export function watchPath(
  dev: XenbusDevice,
  path: string,
  token: string,
  handler: XsWatchHandler,
  maxPending: i32 = 0,
): i32 {
  const rc = dev.store.registerWatch(path, token, handler, maxPending);
  if (rc < 0) devFatal(dev, rc, `adding watch on ${path}`);
  return rc;
}

/**
 * watchPath on `dir`/`name`: the formatted variant, for the usual watch on a
 * node of a directory (the other end's `state`, say).
 */
export function watchPathJoined(
  dev: XenbusDevice,
  dir: string,
  name: string,
  token: string,
  handler: XsWatchHandler,
  maxPending: i32 = 0,
): i32 {
  return watchPath(dev, joinPath(dir, name), token, handler, maxPending);
}

/**
 * Writes `state` to the device's `state` node, unless it is what this end
 * last wrote (so nobody's watch fires for nothing). It reads the node and
 * writes in one transaction, retried on conflicts, so a node removed
 * meanwhile (the device is being torn down) is never created again, and
 * that is not reported, nor is a node this end may no longer read (the
 * seed gives up silently on any failed read). Any other failure is reported and the device
 * switched to Closing. Nothing is returned, so that no caller reports a
 * failure twice or a vanished device at all: dev.state and dev.switchError
 * say how it went.
 */
export function switchState(dev: XenbusDevice, state: i32): void {
  dev.switchError = writeState(dev, state, false);
}

/** The frontend's half of closing: its state goes to Closed, and the device is marked down for the bus's removal. */
export function frontendClosed(dev: XenbusDevice): void {
  switchState(dev, XenbusStateClosed);
  dev.down = true;
}

/**
 * Reports `err` (a -errno, or a GNTST_* status) about the device: "<errno>
 * <message>" on the console and in the store at error/<nodename>/error of
 * the domain's home, where the toolstack looks.
 */
export function devError(dev: XenbusDevice, err: i32, message: string): void {
  const report = `${-err} ${message}`;
  log(`${dev.nodename}: ${report}`);
  const rc = dev.store.write(XS_NO_TRANSACTION, `error/${dev.nodename}/error`, report);
  if (rc < 0) log(`${dev.nodename}: failed to write error node (${-rc}) for ${report}`);
}

/** devError, then a switch to Closing: an orderly close of both ends. */
export function devFatal(dev: XenbusDevice, err: i32, message: string): void {
  devError(dev, err, message);
  dev.fatalReported = true;
  switchState(dev, XenbusStateClosing);
}

/**
 * Grants the other end access to the `pageCount` pages of the ring at
 * `ring` (page-aligned), their refs into `refs` in order. 0, or -errno with
 * nothing left granted and the device switched to Closing. The refs are
 * published with writeRingRefs, in the transaction that also publishes the
 * rest of what the other end needs.
 */
export function grantRing(dev: XenbusDevice, ring: usize, pageCount: u32, refs: u32[]): i32 {
  refs.length = 0;
  if ((ring & (PAGE_SIZE - 1)) != 0 || pageCount == 0) return -EINVAL;
  for (let i: u32 = 0; i < pageCount; i++) {
    const gfn = u32((ring >> PAGE_SHIFT) + i);
    const ref = gnttab.grantAccess(dev.otherendId, gfn, false);
    if (ref < 0) {
      for (let j = 0; j < refs.length; j++) gnttab.endAccess(refs[j]);
      refs.length = 0;
      devFatal(dev, ref, "granting access to ring page");
      return ref;
    }
    refs.push(u32(ref));
  }
  return 0;
}

/**
 * Publishes a ring's refs under the device's node in transaction `tx`: one
 * page as `ring-ref`; more (a power of two, at most MAX_RING_PAGES) as
 * `ring-page-order` and `ring-ref0`, `ring-ref1`, ... (io/blkif.h's
 * multi-page rings). 0 or -errno.
 */
export function writeRingRefs(dev: XenbusDevice, tx: u32, refs: u32[]): i32 {
  const count = u32(refs.length);
  if (count == 0 || count > MAX_RING_PAGES || (count & (count - 1)) != 0) return -EINVAL;
  if (count == 1) return dev.store.writeInt(tx, `${dev.nodename}/ring-ref`, refs[0]);
  let rc = dev.store.writeInt(tx, `${dev.nodename}/ring-page-order`, ctz(count));
  for (let i: u32 = 0; i < count && rc >= 0; i++) rc = dev.store.writeInt(tx, `${dev.nodename}/ring-ref${i}`, refs[i]);
  return rc;
}

/**
 * A backend's reading of what writeRingRefs published at the other end:
 * the refs into `refs`. No `ring-page-order` means a one-page ring at
 * `ring-ref`. 0, or -errno: the read's, -ERANGE for a value that is not a
 * number, -EINVAL for an order beyond `maxOrder` (at most MAX_RING_PAGE_ORDER).
 */
export function readRingRefs(dev: XenbusDevice, tx: u32, maxOrder: u32, refs: u32[]): i32 {
  refs.length = 0;
  const store = dev.store;
  let rc = store.readU32(tx, `${dev.otherendPath}/ring-page-order`);
  if (rc == -ENOENT) {
    rc = store.readU32(tx, `${dev.otherendPath}/ring-ref`);
    if (rc < 0) return rc;
    refs.push(u32(store.number));
    return 0;
  }
  if (rc < 0) return rc;
  const order = u32(store.number);
  if (order > min(maxOrder, MAX_RING_PAGE_ORDER)) return -EINVAL;
  for (let i: u32 = 0; i < (<u32>1) << order; i++) {
    rc = store.readU32(tx, `${dev.otherendPath}/ring-ref${i}`);
    if (rc < 0) {
      refs.length = 0;
      return rc;
    }
    refs.push(u32(store.number));
  }
  return 0;
}

/** Grants the other end still mapped when a frontend let them go, with their pages: ended and freed by endDeferredGrants. */
const deferredRefs: u32[] = [];
const deferredPages: usize[] = [];

/**
 * Ends our grant `ref` of `page` and gives the page back to the pool. A
 * page the other end still maps cannot be revoked yet: as Linux's
 * gnttab_end_foreign_access does, its grant is ended later, once the other
 * end has unmapped it, and only then does the page go back (never reused
 * under the other end's eyes).
 */
export function endGrantFreePage(dev: XenbusDevice, ref: u32, page: usize): void {
  const rc = gnttab.endAccess(ref);
  if (rc == 0) {
    freePage(page);
  } else if (rc == -EBUSY) {
    deferredRefs.push(ref);
    deferredPages.push(page);
  } else {
    // Not a grant of ours any more: the page's fate is unknown, so it stays out of the pool.
    devError(dev, rc, `revoking grant ${ref}`);
  }
}

/** Retries the deferred ends (the other end may have unmapped since): each ended grant's page is freed. */
export function endDeferredGrants(): void {
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

/**
 * A new event channel the other end may bind to: the port, or -errno with
 * the device switched to Closing.
 */
export function allocEvtchn(dev: XenbusDevice): i32 {
  const port = evtchn.allocUnbound(dev.otherendId);
  if (port < 0) devFatal(dev, port, "allocating event channel");
  else dev.evtchnEpoch = evtchn.epoch();
  return port;
}

/**
 * Binds to the other end's `remotePort`: the local port, or -errno with
 * the device switched to Closing.
 */
export function bindEvtchn(dev: XenbusDevice, remotePort: u32): i32 {
  const port = evtchn.bindInterdomain(dev.otherendId, remotePort);
  if (port < 0) devFatal(dev, port, `binding to event channel ${remotePort} from domain ${dev.otherendId}`);
  else dev.evtchnEpoch = evtchn.epoch();
  return port;
}

/** The device's channel (from allocEvtchn or bindEvtchn) went with the domain that was saved: after a restore it is not ours to close. */
export function evtchnStale(dev: XenbusDevice): bool {
  return dev.evtchnEpoch != evtchn.epoch();
}

/** Closes `port`, the device's channel: 0 (also when it went with a restore: evtchnStale), or -errno, reported. */
export function freeEvtchn(dev: XenbusDevice, port: u32): i32 {
  if (evtchnStale(dev)) return 0;
  const rc = evtchn.close(port);
  if (rc < 0) devError(dev, rc, `freeing event channel ${port}`);
  return rc;
}

/** The handles of each ring mapRingValloc mapped, by its address: what unmapRingVfree looks up. */
const vallocRings = new Map<usize, u32[]>();

/** Where mapRingValloc mapped a ring: the address of its first page, 0 while none is mapped. */
export class RingMapping {
  address: usize = 0;
}

/**
 * Maps the other end's `refs` (at most MAX_RING_PAGES) on fresh pages,
 * into `mapping`. GNTST_okay; -ENOMEM when no run of pages is free; -EINVAL
 * for a count out of bounds; or mapRing's failure (reported, the device
 * switched to Closing, nothing left mapped, the pages back in the pool).
 * unmapRingVfree undoes it.
 */
export function mapRingValloc(dev: XenbusDevice, refs: u32[], mapping: RingMapping): i32 {
  mapping.address = 0;
  const count = u32(refs.length);
  if (count == 0 || count > MAX_RING_PAGES) return -EINVAL;
  const pages = allocPages(count);
  if (pages == 0) return -ENOMEM;
  const handles = new Array<u32>();
  const rc = mapRing(dev, refs, pages, handles);
  if (rc != GNTST_okay) {
    releaseRingPages(pages, count);
    return rc;
  }
  vallocRings.set(pages, handles);
  mapping.address = pages;
  return GNTST_okay;
}

/**
 * Maps the other end's `refs` at `address`, one page each, their handles
 * into `handles`. GNTST_okay, or the first failure's GNTST_* status (or
 * Xen's -errno): reported, the device switched to Closing, and the pages
 * mapped before it unmapped again, so nothing is left mapped.
 */
export function mapRing(dev: XenbusDevice, refs: u32[], address: usize, handles: u32[]): i32 {
  handles.length = 0;
  for (let i = 0; i < refs.length; i++) {
    const handle = gnttab.mapGrant(dev.otherendId, refs[i], address + (usize(i) << PAGE_SHIFT), false);
    if (handle < 0) {
      unmapRing(dev, handles, address);
      handles.length = 0;
      devFatal(dev, handle, `mapping in shared page ${refs[i]} from domain ${dev.otherendId}`);
      return handle;
    }
    handles.push(u32(handle));
  }
  return GNTST_okay;
}

/**
 * Undoes mapRingValloc: unmaps the ring at `address` and gives its pages
 * back. GNTST_okay; GNTST_bad_virt_addr (reported as -ENOENT) when no ring
 * was mapped there; or unmapRing's first failure (a page still mapped then
 * stays out of the pool for good).
 */
export function unmapRingVfree(dev: XenbusDevice, address: usize): i32 {
  if (!vallocRings.has(address)) {
    devError(dev, -ENOENT, `can't find mapped virtual address ${address}`);
    return GNTST_bad_virt_addr;
  }
  const handles = vallocRings.get(address);
  vallocRings.delete(address);
  const rc = unmapRing(dev, handles, address);
  releaseRingPages(address, u32(handles.length));
  return rc;
}

/** Gives a ring's pages back to the pool, except any still mapped: reused, it would show the peer's page. */
function releaseRingPages(address: usize, count: u32): void {
  for (let i: u32 = 0; i < count; i++) {
    const page = address + (usize(i) << PAGE_SHIFT);
    if (!gnttab.pageInUse(page)) freePage(page);
  }
}

/**
 * Unmaps the pages from `address` on, one per handle. Every page is tried;
 * each failure is reported. GNTST_okay or the first failure's status.
 */
export function unmapRing(dev: XenbusDevice, handles: u32[], address: usize): i32 {
  let first = GNTST_okay;
  for (let i = 0; i < handles.length; i++) {
    const rc = gnttab.unmapGrant(address + (usize(i) << PAGE_SHIFT), handles[i]);
    if (rc == GNTST_okay) continue;
    devError(dev, rc, `unmapping page at handle ${handles[i]} error ${rc}`);
    if (first == GNTST_okay) first = rc;
  }
  return first;
}

/**
 * The state in the `state` node under `path`. Unknown when it cannot be
 * read, and for anything but a decimal XenbusState (garbage, a number out of
 * range): the other end's value is not to be trusted, and Unknown is what
 * "no state" already means to every caller.
 */
export function readDriverState(store: XsClient, path: string): i32 {
  if (store.readU32(XS_NO_TRANSACTION, `${path}/state`) < 0) return XenbusStateUnknown;
  const state = store.number;
  return state <= XenbusStateReconfigured ? i32(state) : XenbusStateUnknown;
}

/**
 * switchState's work: 0, or the -errno it ended with. `afterFailure`: this
 * is the switch to Closing that a failure asked for, whose own failures are
 * only reported, so a store that keeps failing costs one more attempt,
 * never a loop.
 */
function writeState(dev: XenbusDevice, state: i32, afterFailure: bool): i32 {
  if (state == dev.state) return 0;
  const store = dev.store;
  const path = `${dev.nodename}/state`;
  let rc = -EAGAIN;
  let step = "";
  for (let attempt = 0; attempt < TRANSACTION_ATTEMPTS && rc == -EAGAIN; attempt++) {
    step = "starting transaction";
    rc = store.transactionStart();
    if (rc < 0) continue;
    const tx = store.transaction;
    // Only whether the node is there matters: a garbage value is still our node to overwrite.
    step = "reading state";
    rc = store.read(tx, path);
    if (rc < 0 && rc != -EAGAIN) {
      // The node is gone or no longer ours to read: the device is being torn
      // down, so nothing is written and, as in the seed, nothing reported,
      // unless even abandoning the transaction fails.
      step = "ending transaction";
      const ended = store.transactionEnd(tx, false);
      if (ended == 0) return rc;
      rc = ended;
      break;
    }
    if (rc == 0) {
      step = "writing new state";
      rc = store.writeInt(tx, path, state);
    }
    if (rc < 0) {
      store.transactionEnd(tx, false);
      continue;
    }
    step = "ending transaction";
    rc = store.transactionEnd(tx, true);
  }
  if (rc == 0) {
    dev.state = state;
    dev.stateChanged(state);
  } else failedSwitch(dev, rc, step, afterFailure);
  return rc;
}

function failedSwitch(dev: XenbusDevice, err: i32, step: string, afterFailure: bool): void {
  devError(dev, err, step);
  dev.fatalReported = true;
  if (!afterFailure) writeState(dev, XenbusStateClosing, true);
}

/** One line on the Xen console, for the bus and drivers as for the helpers. */
export function log(text: string): void {
  logLine(`xenbus ${text}`);
}
