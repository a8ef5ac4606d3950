// Exports of the network frontend (see runtime/xenbus.ts for the convention).
// A vif is named by its devid. Frames go out from anywhere in linear memory
// and come in to page_alloc pages (as many contiguous pages as the largest
// frame needs: net_frame_max).

import { EFAULT, EINVAL, EIO, ENODEV, NETTXF_csum_blank, NETTXF_data_validated, XenbusStateClosed } from "../xen/abi";
import { areUserPages, inMemory, isUserPage } from "../xen/userpages";
import { attachFrontendBus, closeDevice, currentFrontendBus, reopenDevice, waitOnBus } from "../xenbus/bus";
import * as xenstore from "../xenstore/ring";
import { NetfrontDevice, recv, send } from "./netfront";
import { setOptions } from "./netfront-xs";
import { slotsFor } from "./netif";

function vif(devid: u32): NetfrontDevice | null {
  const bus = currentFrontendBus();
  if (bus === null) return null;
  const dev = bus.find("vif", devid.toString());
  return dev === null ? null : (dev as NetfrontDevice);
}

/**
 * Attaches the frontend bus (after xs_init) so vifs are taken on as they
 * appear, asking for what the application takes from their next connection
 * on: frames with blank checksums (`checksum_offload`: feature-no-csum-offload
 * 0), GSO frames of up to 64 KiB (`gso`: feature-gso-tcpv4), and at most
 * `max_queues` queues (1 to 4). 0 or -errno (-EINVAL, -ENODEV before xs_init).
 */
export function net_start(checksum_offload: bool, gso: bool, max_queues: u32): i32 {
  const store = xenstore.currentClient();
  if (store === null) return -ENODEV;
  const rc = setOptions(checksum_offload, gso, max_queues);
  return rc < 0 ? rc : attachFrontendBus(store);
}

let waitDevid: u32 = 0;
let waitConnected: bool = true;

function settled(): bool {
  const dev = vif(waitDevid);
  if (dev === null) return !waitConnected;
  if (waitConnected) return dev.isConnected() || dev.state == XenbusStateClosed || dev.broken.length != 0;
  return dev.state == XenbusStateClosed;
}

function waitFor(devid: u32, connected: bool, timeoutMs: u32): i32 {
  waitDevid = devid;
  waitConnected = connected;
  return waitOnBus(currentFrontendBus()!, settled, timeoutMs);
}

/**
 * Blocks until vif `devid` is Connected at both ends, reopening it first if
 * it was closed (the backend then resets for it). 0, or -errno: -ENODEV
 * before net_start, -EIO when it closed or broke instead, -ETIMEDOUT after
 * `timeout_ms` of Xen's system time.
 */
export function net_open(devid: u32, timeout_ms: u32): i32 {
  if (currentFrontendBus() === null) return -ENODEV;
  const dev = vif(devid);
  if (dev !== null && dev.state == XenbusStateClosed) {
    const rc = reopenDevice(dev);
    if (rc < 0) return rc;
  }
  const rc = waitFor(devid, true, timeout_ms);
  if (rc < 0) return rc;
  return vif(devid)!.isConnected() ? 0 : -EIO;
}

/** Closes vif `devid` and blocks until it is Closed or gone: 0, or -ENODEV, -ETIMEDOUT. */
export function net_close(devid: u32, timeout_ms: u32): i32 {
  const dev = vif(devid);
  if (dev === null) return -ENODEV;
  const rc = closeDevice(dev);
  return rc < 0 ? rc : waitFor(devid, false, timeout_ms);
}

/** The largest frame vif `devid` sends or receives (MTU and header, or 64 KiB with GSO), or -ENODEV. */
export function net_frame_max(devid: u32): i32 {
  const dev = vif(devid);
  return dev === null ? -ENODEV : i32(dev.maxFrame(dev.rxGso || dev.gso));
}

/**
 * Sends the Ethernet frame at [frame, frame + len) on vif `devid`, with
 * NETTXF_csum_blank (1) / NETTXF_data_validated (2) `flags`, as GSO
 * segments of `gso_size` bytes when `gso_type` is XEN_NETIF_GSO_TYPE_TCPV4
 * (1; 0 for none). Waits while every transmit buffer is in flight. 0, or
 * -errno: -ENODEV, -EFAULT (not in memory), -EINVAL (other flags, a GSO
 * type other than TCPV4, or one the backend did not offer, a GSO size of
 * 0), -EMSGSIZE, -EIO (the device broke), -ETIMEDOUT.
 */
export function net_send(devid: u32, frame: usize, len: u32, flags: u32, gso_size: u32, gso_type: u32): i32 {
  const dev = vif(devid);
  if (dev === null) return -ENODEV;
  if (!inMemory(frame, len)) return -EFAULT;
  if ((flags & ~(NETTXF_csum_blank | NETTXF_data_validated)) != 0 || gso_type > 1) return -EINVAL;
  if (gso_type != 0 && (!dev.gso || gso_size == 0 || gso_size > 0xffff)) return -EINVAL;
  return send(dev, frame, len, flags, gso_size, gso_type);
}

/**
 * Waits at most `timeout_ms` of Xen's time for a frame on vif `devid` and
 * copies it to `out`: page_alloc pages, contiguous, room for net_frame_max
 * bytes. Its length, or -errno: -ENODEV, -EINVAL (`out` too small or not
 * page_alloc's), -EIO (the device broke), -ETIMEDOUT. Its checksum and GSO
 * details are then net_rx_meta's.
 */
export function net_recv(devid: u32, out: usize, timeout_ms: u32): i32 {
  const dev = vif(devid);
  if (dev === null) return -ENODEV;
  if (!areUserPages(out, slotsFor(dev.maxFrame(dev.rxGso)))) return -EINVAL;
  return recv(dev, out, u64(timeout_ms) * 1_000_000);
}

/**
 * The last frame net_recv returned on vif `devid`: NETRXF_data_validated (1)
 * and NETRXF_csum_blank (2) | XEN_NETIF_GSO_TYPE_* << 8 | GSO size << 16
 * (a GSO size from 32768 on makes it negative as an i32; -ENODEV, which no
 * such value equals, for no such vif).
 */
export function net_rx_meta(devid: u32): i32 {
  const dev = vif(devid);
  return dev === null ? -ENODEV : i32(dev.rxMeta);
}

/** Bytes net_info writes. */
export const NET_INFO_SIZE: u32 = 96;

/**
 * Vif `devid` as the frontend sees it, into `out` (a page_alloc page),
 * little-endian: mac (6 bytes), 2 zero bytes, mtu u32, features u32 (bit 0
 * feature-sg, 1 feature-gso-tcpv4, 2 split event channels offered; 3
 * checksum offload, 4 GSO asked for), state u32, backend state u32, queues
 * u32, backend's multi-queue-max-queues u32 (0: not offered), backend domid
 * u32, 4 zero bytes, then u64 counters: frames sent, bytes sent, transmit
 * errors, frames received, bytes received, receive errors, malformed
 * packets and responses dropped. NET_INFO_SIZE, or -ENODEV / -EINVAL.
 */
export function net_info(devid: u32, out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  const dev = vif(devid);
  if (dev === null) return -ENODEV;
  memory.copy(out, changetype<usize>(dev.mac), 6);
  store<u16>(out + 6, 0);
  store<u32>(out + 8, dev.mtu);
  const features =
    u32(dev.sg) |
    (u32(dev.gso) << 1) |
    (u32(dev.split) << 2) |
    (u32(dev.rxChecksumOffload) << 3) |
    (u32(dev.rxGso) << 4);
  store<u32>(out + 12, features);
  store<u32>(out + 16, dev.state);
  store<u32>(out + 20, dev.otherendState);
  store<u32>(out + 24, dev.queues.length);
  store<u32>(out + 28, dev.maxQueues);
  store<u32>(out + 32, dev.otherendId);
  store<u32>(out + 36, 0);
  store<u64>(out + 40, dev.txPackets);
  store<u64>(out + 48, dev.txBytes);
  store<u64>(out + 56, dev.txErrors);
  store<u64>(out + 64, dev.rxPackets);
  store<u64>(out + 72, dev.rxBytes);
  store<u64>(out + 80, dev.rxErrors);
  store<u64>(out + 88, dev.malformed);
  return i32(NET_INFO_SIZE);
}
