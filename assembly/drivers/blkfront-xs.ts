// The block frontend's XenStore side (io/blkif.h), as Unikraft's
// blkfront_xs.c is to its blkfront.c: the `vbd` driver of the frontend bus,
// connecting as Linux's blkfront does. When the backend reaches InitWait we
// set up the ring (as many pages as the backend offers in
// max-ring-page-order, up to MAX_RING_PAGE_ORDER), publish ring refs,
// event-channel and protocol in one transaction and switch to Initialised;
// when the backend is Connected we read the disk (sectors, sector-size, info,
// feature-flush-cache) and switch to Connected; when it closes we tear down
// and close. The ring and the requests on it are blkfront.ts's.
import {
  EINVAL,
  ENOENT,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitialising,
  XenbusStateInitWait,
  XenbusStateUnknown,
} from "../xen/abi";
import { BusDevice, FoundDevice, registerFrontendDriver, XenbusDriver } from "../xenbus/bus";
import { devFatal, endDeferredGrants, frontendClosed, MAX_RING_PAGE_ORDER, writeRingRefs } from "../xenbus/client";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { BlkfrontDevice, reportBroken, setUpRing, teardown } from "./blkfront";
import { BLKIF_PROTOCOL, parseFlag, parseInfo, parseRingPageOrder, parseSectorSize, parseSectors } from "./blkif";

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
  newDevice(found: FoundDevice): BusDevice {
    return new BlkfrontDevice(found, this);
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
    endDeferredGrants();
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

/** Backend InitWait: a ring as large as offered, the nodes that name it, then Initialised. */
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
  if (setUpRing(dev, order) < 0) return;
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

registerFrontendDriver(new BlkfrontDriver("vbd"));
