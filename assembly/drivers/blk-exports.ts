// Exports of the block frontend and backend (see runtime/xenbus.ts for the
// convention). A vbd is named by its devid (51712 for xvda), on the backend
// also by its frontend's domid; a frontend's data buffers are page_alloc
// pages, as many as the sectors need, contiguous. A backend serves disks the
// host creates in its memory (blk_disk_create), named by number in the vbd's
// backend `params` node.

import { BLKIF_OP_READ, BLKIF_OP_WRITE, EINVAL, EIO, ENODEV, XenbusStateClosed, XenbusStateUnknown } from "../xen/abi";
import { areUserPages, isUserPage } from "../xen/userpages";
import {
  attachBackendBus,
  attachFrontendBus,
  closeDevice,
  currentBackendBus,
  currentFrontendBus,
  reopenDevice,
  waitOnBus,
} from "../xenbus/bus";
import * as xenstore from "../xenstore/ring";
import { findBackend, setOfferedRingOrder } from "./blkback-xs";
import { BlkfrontDevice, flush, transfer } from "./blkfront";
import "./blkfront-xs"; // registers the vbd driver of the frontend bus
import { pagesFor } from "./blkif";
import { createDisk, diskAt } from "./memdisk";

/** Bytes blk_info writes. */
export const BLK_INFO_SIZE: u32 = 56;

function frontend(devid: u32): BlkfrontDevice | null {
  const bus = currentFrontendBus();
  if (bus === null) return null;
  const dev = bus.find("vbd", devid.toString());
  return dev === null ? null : (dev as BlkfrontDevice);
}

/** Attaches the frontend bus (after xs_init), so vbds are taken on as they appear. 0 or -errno; idempotent. */
export function blkfront_start(): i32 {
  const store = xenstore.currentClient();
  if (store === null) return -ENODEV;
  return attachFrontendBus(store);
}

/** The device a blocking export waits on, and what it waits for. */
let waitDevid: u32 = 0;
let waitForConnected: bool = true;

function reached(): bool {
  const dev = frontend(waitDevid);
  // Not there yet (opening), or removed (closing).
  if (dev === null) return !waitForConnected;
  if (waitForConnected) return dev.isConnected() || dev.state == XenbusStateClosed;
  // Closing is over when the backend has closed too (or is gone): only then may the device be opened again.
  const backend = dev.otherendState;
  return dev.state == XenbusStateClosed && (backend == XenbusStateClosed || backend == XenbusStateUnknown);
}

/** Waits for `reached` at most `timeoutMs` of Xen's system time (waitOnBus). */
function waitFor(devid: u32, connected: bool, timeoutMs: u32): i32 {
  waitDevid = devid;
  waitForConnected = connected;
  return waitOnBus(currentFrontendBus()!, reached, timeoutMs);
}

/**
 * Blocks until vbd `devid` is Connected, reopening it first if it was
 * closed (the backend then resets for it). 0, or -errno: -ENODEV before
 * blkfront_start, -EIO when it closed instead, -ETIMEDOUT after
 * `timeout_ms` of Xen's system time.
 */
export function blk_open(devid: u32, timeout_ms: u32): i32 {
  if (currentFrontendBus() === null) return -ENODEV;
  const dev = frontend(devid);
  if (dev !== null && dev.state == XenbusStateClosed) {
    const rc = reopenDevice(dev);
    if (rc < 0) return rc;
  }
  const rc = waitFor(devid, true, timeout_ms);
  if (rc < 0) return rc;
  return frontend(devid)!.isConnected() ? 0 : -EIO;
}

/**
 * Closes vbd `devid` (Closing; the backend's close takes it to Closed) and
 * blocks until both ends are Closed, or the device is gone. 0, or -errno: -ENODEV for no such
 * device, -ETIMEDOUT after `timeout_ms` of Xen's system time.
 */
export function blk_close(devid: u32, timeout_ms: u32): i32 {
  const dev = frontend(devid);
  if (dev === null) return -ENODEV;
  const rc = closeDevice(dev);
  if (rc < 0) return rc;
  return waitFor(devid, false, timeout_ms);
}

/**
 * Vbd `devid` as the frontend sees it, into `out` (a page_alloc page),
 * little-endian: sectors u64 (512-byte units), sector size u32, info u32
 * (VDISK_*), features u32 (bit 0: flush), state u32, backend state u32,
 * ring pages u32, backend domid u32, 4 bytes zero, requests u64, bytes u64.
 * BLK_INFO_SIZE, or -ENODEV / -EINVAL.
 */
export function blk_info(devid: u32, out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  const dev = frontend(devid);
  if (dev === null) return -ENODEV;
  store<u64>(out, dev.sectors);
  store<u32>(out + 8, dev.sectorSize);
  store<u32>(out + 12, dev.info);
  store<u32>(out + 16, dev.flush ? 1 : 0);
  store<u32>(out + 20, dev.state);
  store<u32>(out + 24, dev.otherendState);
  store<u32>(out + 28, dev.ringPageCount);
  store<u32>(out + 32, dev.otherendId);
  store<u32>(out + 36, 0);
  store<u64>(out + 40, dev.requests);
  store<u64>(out + 48, dev.bytes);
  return i32(BLK_INFO_SIZE);
}

function io(devid: u32, op: i32, sector: u64, count: u32, buffer: usize): i32 {
  const dev = frontend(devid);
  if (dev === null) return -ENODEV;
  if (count == 0 || count > u32(1) << 20 || !areUserPages(buffer, pagesFor(count))) return -EINVAL;
  return transfer(dev, op, sector, count, buffer);
}

/**
 * Reads `count` 512-byte sectors from `sector` into `buffer`: page_alloc
 * pages, contiguous, as many as the sectors fill. 0, or -errno: -ENODEV (no
 * such device, or not connected), -EINVAL (a count of 0 or beyond 2^20, a
 * buffer that is not page_alloc's, a transfer not aligned to the logical
 * sector), -EIO (the backend refused it, a range beyond the disk included,
 * or the device broke or went away), -EOPNOTSUPP.
 */
export function blk_read(devid: u32, sector: u64, count: u32, buffer: usize): i32 {
  return io(devid, BLKIF_OP_READ, sector, count, buffer);
}

/** Writes `count` sectors from `buffer` to `sector`: as blk_read, and -EROFS for a read-only disk. */
export function blk_write(devid: u32, sector: u64, count: u32, buffer: usize): i32 {
  return io(devid, BLKIF_OP_WRITE, sector, count, buffer);
}

/** Flushes the backend's write cache: 0, or -ENODEV, -EOPNOTSUPP (not offered), -EIO. */
export function blk_flush(devid: u32): i32 {
  const dev = frontend(devid);
  return dev === null ? -ENODEV : flush(dev);
}

// The backend.

/**
 * Starts serving vbds: `max_ring_page_order` (at most 4) is what init offers
 * from now on, and the backend bus is attached (after xs_init). 0 or -errno
 * (-EINVAL for an order beyond 4, -ENODEV before xs_init); may be called
 * again to change the offer for devices that connect later.
 */
export function blkback_start(max_ring_page_order: u32): i32 {
  const store = xenstore.currentClient();
  if (store === null) return -ENODEV;
  const rc = setOfferedRingOrder(max_ring_page_order);
  return rc < 0 ? rc : attachBackendBus(store);
}

/**
 * A zeroed disk of `sectors` 512-byte sectors in logical sectors of
 * `sector_size` bytes (512 to 4096, a power of two), with VDISK_* `info`
 * bits (4: read-only) and feature-flush-cache offered if `flush`. Its number
 * (what a vbd's `params` names), or -EINVAL, -ENOMEM.
 */
export function blk_disk_create(sectors: u32, sector_size: u32, info: u32, flush: bool): i32 {
  return createDisk(sectors, sector_size, info, flush);
}

/** Where disk `disk`'s image starts in linear memory (sector n at image + 512 n), or 0 for no such disk. */
export function blk_disk_image(disk: u32): usize {
  const found = diskAt(disk);
  return found === null ? 0 : found.image;
}

/** Flush requests disk `disk` has served, or -ENODEV. */
export function blk_disk_flushes(disk: u32): i32 {
  const found = diskAt(disk);
  return found === null ? -ENODEV : i32(found.flushes);
}

/** Bytes blkback_info writes. */
export const BLKBACK_INFO_SIZE: u32 = 32;

/**
 * The backend's vbd `devid` of domain `frontend` into `out` (a page_alloc
 * page), little-endian: requests u64, bytes u64, state u32, frontend state
 * u32, ring pages u32 (0 while not connected), 4 zero bytes.
 * BLKBACK_INFO_SIZE, or -ENODEV / -EINVAL.
 */
export function blkback_info(frontend: u32, devid: u32, out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  const bus = currentBackendBus();
  if (bus === null) return -ENODEV;
  const dev = findBackend(bus, frontend, devid);
  if (dev === null) return -ENODEV;
  store<u64>(out, dev.requests);
  store<u64>(out + 8, dev.bytes);
  store<u32>(out + 16, dev.state);
  store<u32>(out + 20, dev.otherendState);
  store<u32>(out + 24, dev.ringPages);
  store<u32>(out + 28, 0);
  return i32(BLKBACK_INFO_SIZE);
}
