// The block backend's XenStore side (io/blkif.h), as Linux's xen-blkback
// xenbus.c is to its blkback.c: the `vbd` operations of the backend lifecycle
// (assembly/xenbus/backend.ts). init publishes the disk and what we offer
// (sectors, sector-size, info, feature-flush-cache, max-ring-page-order);
// initialise reads the frontend's ring refs and protocol and has blkback.ts
// map the ring and bind its event channel; each event serves the ring.
import { EINVAL, ENODEV, ENOENT } from "../xen/abi";
import { BackendDevice, BackendDriver, BackendOps } from "../xenbus/backend";
import { FoundDevice, registerBackendDriver, XenbusBus, XenbusDriver } from "../xenbus/bus";
import { devFatal, MAX_RING_PAGE_ORDER, readRingRefs } from "../xenbus/client";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { BlkbackDevice, mapRing, releaseRing, reportKept, serve } from "./blkback";
import { BLKIF_PROTOCOL, DiskGeometry, parseDecimal64, VDISK_READONLY } from "./blkif";
import { diskAt, MAX_DISKS } from "./memdisk";

/** The ring order offered as max-ring-page-order (blkback_start sets it, at most MAX_RING_PAGE_ORDER). */
let offeredRingOrder: u32 = MAX_RING_PAGE_ORDER;

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
  newDevice(found: FoundDevice, driver: XenbusDriver): BackendDevice {
    return new BlkbackDevice(found, driver, this);
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

  /** The frontend's ring (one page or ring-page-order pages) as it names it, mapped, and its event channel bound. */
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
    return mapRing(blk, refs);
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
