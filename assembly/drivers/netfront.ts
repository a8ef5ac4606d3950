// The network frontend's device side (io/netif.h), as Unikraft's netfront.c is
// to its netfront_xs.c: each queue's transmit and receive rings, their event
// channels and buffers, and the frames on them. netfront-xs.ts negotiates
// with the backend through XenStore and calls setUpQueues and teardown.
//
// Buffers are pages granted once, when the queue is set up, and revoked at
// teardown: a frame to send is copied into free transmit pages (one slot a
// page; more than one only with feature-sg), and the receive ring always
// holds RX_BUFFERS writable pages the backend copies frames into
// (request-rx-copy), posted with the slot's position as id as Linux's
// netfront does. A received frame waits on the ring until the application
// takes it (recv copies it out and posts the buffers again), so a flood
// costs the guest nothing until it reads: the ring is the queue, and what
// does not fit is the backend's to drop. Nothing is allocated per frame.
//
// The backend's answers are checked (netif.ts): a malformed receive packet
// or transmit response is dropped and counted; a response index beyond what
// was pushed breaks the device (dev_fatal, -EIO), without trapping.

import * as evtchn from "../evtchn/evtchn";
import * as gnttab from "../gnttab/gnttab";
import { FrontRing } from "../ring/shared";
import {
  EIO,
  EMSGSIZE,
  ENODATA,
  ENODEV,
  ENOMEM,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_GSO_TYPE_NONE,
  XEN_NETIF_MAX_TX_SIZE,
  XenbusStateConnected,
} from "../xen/abi";
import { allocPage, allocPages, freePage, PAGE_SHIFT, PAGE_SIZE } from "../xen/pages";
import { systemTime, waitUntilDeadline } from "../xen/time";
import { BusDevice } from "../xenbus/bus";
import { allocEvtchn, devFatal, endDeferredGrants, endGrantFreePage, freeEvtchn } from "../xenbus/client";
import {
  checkTxResponse,
  DEFAULT_MTU,
  ETH_HLEN,
  encodeGsoExtra,
  encodeRxRequest,
  encodeTxRequest,
  NETIF_RX_ENTRY_SIZE,
  NETIF_TX_ENTRY_SIZE,
  NetPacket,
  rxResponseOffset,
  rxResponseStatus,
  slotsFor,
  txResponseId,
  walkRxPacket,
} from "./netif";

/** Transmit buffers per queue: a frame of up to 64 KiB (GSO) takes 16 of them. */
export const TX_BUFFERS: u32 = 32;
/** Receive buffers posted per queue. */
export const RX_BUFFERS: u32 = 64;
/** The most queues the frontend asks for (io/netif.h's multi-queue-num-queues). */
export const MAX_QUEUES: u32 = 4;

// A queue's bookkeeping, one heap block: the grant refs of its buffers, the
// stacks of free buffer indices, which transmit buffers await a response,
// and the receive buffer posted in each slot position of the one-page ring
// (NO_BUFFER for none).
const TX_REFS: usize = 0;
const RX_REFS: usize = TX_REFS + 4 * TX_BUFFERS;
const TX_FREE: usize = RX_REFS + 4 * RX_BUFFERS;
const TX_BUSY: usize = TX_FREE + TX_BUFFERS;
const RX_FREE: usize = TX_BUSY + TX_BUFFERS;
const RX_SLOT: usize = RX_FREE + RX_BUFFERS;
const TABLES: usize = RX_SLOT + 256;
const NO_BUFFER: u8 = 0xff;

/** One queue: a transmit and a receive ring, their channel(s) and buffers. */
// @ts-ignore: decorator
@unmanaged
export class NetQueue {
  tx: FrontRing | null = null;
  rx: FrontRing | null = null;
  txRef: i32 = -1;
  rxRef: i32 = -1;
  /** The transmit channel; the receive channel is the same port unless the channels are split. */
  txPort: i32 = -1;
  rxPort: i32 = -1;
  /** TX_BUFFERS and RX_BUFFERS contiguous pages, each granted once; a transmit buffer's index is its request's id. */
  txPages: usize = 0;
  rxPages: usize = 0;
  txFreeCount: u32 = 0;
  rxFreeCount: u32 = 0;
  readonly tables: usize = heap.alloc(TABLES);
}

/** A vif as the frontend drives it. */
export class NetfrontDevice extends BusDevice {
  readonly mac: StaticArray<u8> = new StaticArray<u8>(6);
  /** From the frontend's `mtu` node, as MirageOS reads it (1500 when absent or unreadable). */
  mtu: u32 = DEFAULT_MTU;
  queues: NetQueue[] = [];
  /** The backend's multi-queue-max-queues (0: not offered). */
  maxQueues: u32 = 0;
  /** The backend's offers. */
  sg: bool = false;
  gso: bool = false;
  split: bool = false;
  /** What we asked for: frames with blank checksums, GSO frames (net_start's options when we connected). */
  rxChecksumOffload: bool = false;
  rxGso: bool = false;
  /** Why the rings may no longer be used ("" while they work); reported once. */
  broken: string = "";
  brokenReported: bool = false;

  // Counters, for net_info.
  txPackets: u64 = 0;
  txBytes: u64 = 0;
  /** Transmit responses NETIF_RSP_ERROR or _DROPPED. */
  txErrors: u64 = 0;
  rxPackets: u64 = 0;
  rxBytes: u64 = 0;
  /** Receive packets the backend answered with an error status. */
  rxErrors: u64 = 0;
  /** Malformed packets and responses dropped. */
  malformed: u64 = 0;
  /** From the last frame received: NETRXF_* checksum bits | GSO type << 8 | GSO size << 16. */
  rxMeta: u32 = 0;
  /** Round-robin start for recv, so that no queue starves the others. */
  nextRx: u32 = 0;

  isConnected(): bool {
    return (
      this.state == XenbusStateConnected &&
      this.otherendState == XenbusStateConnected &&
      this.queues.length != 0 &&
      this.broken.length == 0
    );
  }

  /** The largest frame either way: the MTU and an Ethernet header, or 64 KiB with GSO. */
  maxFrame(gso: bool): u32 {
    return gso ? u32(XEN_NETIF_MAX_TX_SIZE) : this.mtu + ETH_HLEN;
  }
}

/** Grants each of `count` pages from `pages` on to the backend, their refs as u32 from `refs`: 0 or -errno (the refs made stay). */
function grantPages(dev: NetfrontDevice, pages: usize, count: u32, readonly: bool, refs: usize): i32 {
  for (let i: u32 = 0; i < count; i++) {
    const ref = gnttab.grantAccess(dev.otherendId, u32(pages >> PAGE_SHIFT) + i, readonly);
    if (ref < 0) return ref;
    store<i32>(refs + (usize(i) << 2), ref);
  }
  return 0;
}

/** Ends the grants of the pages from `pages` on (refs at `refs`, -1 from the first never made) and frees them. */
function releasePages(dev: NetfrontDevice, pages: usize, count: u32, refs: usize): void {
  if (pages == 0) return;
  let i: u32 = 0;
  for (; i < count; i++) {
    const ref = load<i32>(refs + (usize(i) << 2));
    if (ref < 0) break;
    endGrantFreePage(dev, u32(ref), pages + (usize(i) << PAGE_SHIFT));
  }
  for (; i < count; i++) freePage(pages + (usize(i) << PAGE_SHIFT));
}

/** Rings and buffers of queue `q`, granted: 0 or -errno (what was made stays for teardown). */
function setUpBuffers(dev: NetfrontDevice, q: NetQueue): i32 {
  const t = q.tables;
  memory.fill(t + TX_REFS, 0xff, TX_FREE - TX_REFS);
  memory.fill(t + RX_SLOT, NO_BUFFER, 256);
  memory.fill(t + TX_BUSY, 0, TX_BUFFERS);
  const txRing = allocPage();
  const rxRing = allocPage();
  q.txPages = allocPages(TX_BUFFERS);
  q.rxPages = allocPages(RX_BUFFERS);
  if (txRing != 0) q.tx = new FrontRing(txRing, 1, NETIF_TX_ENTRY_SIZE);
  if (rxRing != 0) q.rx = new FrontRing(rxRing, 1, NETIF_RX_ENTRY_SIZE);
  if (txRing == 0 || rxRing == 0 || q.txPages == 0 || q.rxPages == 0) return -ENOMEM;
  q.tx!.init();
  q.rx!.init();
  q.txRef = gnttab.grantAccess(dev.otherendId, u32(txRing >> PAGE_SHIFT), false);
  if (q.txRef < 0) return q.txRef;
  q.rxRef = gnttab.grantAccess(dev.otherendId, u32(rxRing >> PAGE_SHIFT), false);
  if (q.rxRef < 0) return q.rxRef;
  let rc = grantPages(dev, q.txPages, TX_BUFFERS, true, t + TX_REFS);
  if (rc == 0) rc = grantPages(dev, q.rxPages, RX_BUFFERS, false, t + RX_REFS);
  if (rc < 0) return rc;
  for (let i: u32 = 0; i < TX_BUFFERS; i++) store<u8>(t + TX_FREE + i, u8(i));
  for (let i: u32 = 0; i < RX_BUFFERS; i++) store<u8>(t + RX_FREE + i, u8(i));
  q.txFreeCount = TX_BUFFERS;
  q.rxFreeCount = RX_BUFFERS;
  return 0;
}

/** Rings, buffers and channel(s) of queue `q`: 0 or -errno, reported (what was made stays for teardown). */
function setUpQueue(dev: NetfrontDevice, q: NetQueue): i32 {
  const rc = setUpBuffers(dev, q);
  if (rc < 0) {
    devFatal(dev, rc, "setting up rings and buffers");
    return rc;
  }
  // allocEvtchn reports its own failure.
  const port = allocEvtchn(dev);
  if (port < 0) return port;
  q.txPort = q.rxPort = port;
  if (dev.split) {
    const rxPort = allocEvtchn(dev);
    if (rxPort < 0) return rxPort;
    q.rxPort = rxPort;
  }
  postReceiveBuffers(q);
  return 0;
}

/**
 * `count` queues (the backend's offers already in `dev`): 0, or -errno with
 * the failure reported and nothing kept.
 */
export function setUpQueues(dev: NetfrontDevice, count: u32): i32 {
  dev.broken = "";
  dev.brokenReported = false;
  for (let i: u32 = 0; i < count; i++) {
    const q = new NetQueue();
    dev.queues.push(q);
    const rc = setUpQueue(dev, q);
    if (rc < 0) {
      teardown(dev);
      return rc;
    }
  }
  return 0;
}

/** Ends the grant of ring page `ring` (or frees it if it was never granted). */
function releaseRing(dev: NetfrontDevice, ring: FrontRing | null, ref: i32): void {
  if (ring === null) return;
  if (ref >= 0) endGrantFreePage(dev, u32(ref), ring.sring);
  else freePage(ring.sring);
  heap.free(changetype<usize>(ring));
}

/** Releases every queue's rings, buffers and channels. */
export function teardown(dev: NetfrontDevice): void {
  endDeferredGrants();
  for (let i = 0; i < dev.queues.length; i++) {
    const q = dev.queues[i];
    if (q.rxPort >= 0 && q.rxPort != q.txPort) freeEvtchn(dev, u32(q.rxPort));
    if (q.txPort >= 0) freeEvtchn(dev, u32(q.txPort));
    releasePages(dev, q.txPages, TX_BUFFERS, q.tables + TX_REFS);
    releasePages(dev, q.rxPages, RX_BUFFERS, q.tables + RX_REFS);
    releaseRing(dev, q.tx, q.txRef);
    releaseRing(dev, q.rx, q.rxRef);
    heap.free(q.tables);
    heap.free(changetype<usize>(q));
  }
  dev.queues.length = 0;
}

/** Marks the rings unusable (a backend that wrote an impossible index). */
function breakRings(dev: NetfrontDevice, why: string): void {
  if (dev.broken.length == 0) dev.broken = why;
}

/** dev_fatal for broken rings, once, from where the store may be used. */
export function reportBroken(dev: NetfrontDevice): void {
  if (dev.broken.length == 0 || dev.brokenReported) return;
  dev.brokenReported = true;
  devFatal(dev, -EIO, dev.broken);
}

/** Posts every free receive buffer, then publishes them (notifying the backend if it asked). */
function postReceiveBuffers(q: NetQueue): void {
  const rx = q.rx!;
  const t = q.tables;
  while (q.rxFreeCount > 0 && rx.freeRequests() > 0) {
    const b = load<u8>(t + RX_FREE + --q.rxFreeCount);
    const position = rx.reqProdPvt & rx.mask;
    store<u8>(t + RX_SLOT + position, b);
    encodeRxRequest(rx.slot(rx.reqProdPvt), position, load<u32>(t + RX_REFS + (usize(b) << 2)));
    rx.reqProdPvt++;
  }
  if (rx.pushRequests()) evtchn.send(u32(q.rxPort));
}

/** Takes the transmit responses off queue `q`'s ring, freeing their buffers. */
function collectTransmitted(dev: NetfrontDevice, q: NetQueue): void {
  const tx = q.tx!;
  const t = q.tables;
  while (true) {
    let ready = tx.finalCheckForResponses();
    if (ready < 0) {
      breakRings(dev, "transmit response index beyond the requests pushed");
      return;
    }
    if (ready == 0) return;
    for (; ready > 0; ready--) {
      const rsp = tx.slot(tx.rspCons++);
      const status = checkTxResponse(rsp);
      if (status == NETIF_RSP_NULL) continue;
      const id = txResponseId(rsp);
      if (status == -EIO || id >= TX_BUFFERS || load<u8>(t + TX_BUSY + id) == 0) {
        // An undefined status, or an id not in flight: its buffer (if any) stays where it is.
        dev.malformed++;
        continue;
      }
      store<u8>(t + TX_BUSY + id, 0);
      store<u8>(t + TX_FREE + q.txFreeCount++, u8(id));
      if (status != NETIF_RSP_OKAY) dev.txErrors++;
    }
  }
}

/** How long send waits for transmit buffers (Xen's system time) before giving up. */
const TX_TIMEOUT_NS: u64 = 1_000_000_000;

let waitingDev: NetfrontDevice | null = null;
let waitingQueue: NetQueue | null = null;
let waitingSlots: u32 = 0;

function transmitRoom(): bool {
  const dev = waitingDev!;
  const q = waitingQueue!;
  collectTransmitted(dev, q);
  return dev.broken.length != 0 || (q.txFreeCount >= waitingSlots && q.tx!.freeRequests() >= waitingSlots);
}

/** The queue a frame goes out on: one per pair of MAC addresses, so each conversation keeps its order. */
function queueFor(dev: NetfrontDevice, frame: usize): NetQueue {
  const count = u32(dev.queues.length);
  let hash: u32 = 0;
  for (let i: usize = 0; i < 12; i++) hash = hash * 31 + load<u8>(frame + i);
  return dev.queues[hash % count];
}

/**
 * Sends the frame at [frame, frame + length) (an Ethernet frame, header
 * included) with NETTXF_csum_blank / _data_validated `flags`, and as TCP
 * segments of `gsoSize` bytes of XEN_NETIF_GSO_TYPE_* `gsoType` when that is
 * not NONE (feature-gso-tcpv4 offered). Waits for transmit buffers if none
 * are free. 0, or -errno: -ENODEV (not connected), -EIO (broken), -EMSGSIZE
 * (shorter than a header, longer than the MTU allows, or more than a page
 * without feature-sg), -ETIMEDOUT when no buffers came free.
 */
export function send(dev: NetfrontDevice, frame: usize, length: u32, flags: u32, gsoSize: u32, gsoType: u32): i32 {
  reportBroken(dev);
  if (!dev.isConnected()) return dev.broken.length != 0 ? -EIO : -ENODEV;
  const gso = gsoType != XEN_NETIF_GSO_TYPE_NONE;
  if (length < ETH_HLEN || length > dev.maxFrame(gso)) return -EMSGSIZE;
  const slots = slotsFor(length);
  if (slots > 1 && !dev.sg) return -EMSGSIZE;
  const q = queueFor(dev, frame);
  waitingDev = dev;
  waitingQueue = q;
  waitingSlots = slots + u32(gso);
  const rc = waitUntilDeadline(transmitRoom, systemTime() + TX_TIMEOUT_NS);
  waitingDev = null;
  waitingQueue = null;
  if (dev.broken.length != 0) {
    reportBroken(dev);
    return -EIO;
  }
  if (rc < 0) return rc;
  const tx = q.tx!;
  const t = q.tables;
  for (let done: u32 = 0; done < length; ) {
    const b = load<u8>(t + TX_FREE + --q.txFreeCount);
    store<u8>(t + TX_BUSY + b, 1);
    const chunk = min(length - done, PAGE_SIZE);
    memory.copy(q.txPages + (usize(b) << PAGE_SHIFT), frame + done, chunk);
    const ref = load<u32>(t + TX_REFS + (usize(b) << 2));
    const more = done + chunk < length ? NETTXF_more_data : 0;
    // The first slot carries the whole frame's size, and the GSO segment follows it.
    const first = done == 0;
    const extra = first && gso ? NETTXF_extra_info : 0;
    encodeTxRequest(tx.slot(tx.reqProdPvt++), ref, 0, (first ? flags : 0) | more | extra, b, first ? length : chunk);
    if (extra != 0) encodeGsoExtra(tx.slot(tx.reqProdPvt++), 0, gsoSize, gsoType);
    done += chunk;
  }
  if (tx.pushRequests()) evtchn.send(u32(q.txPort));
  dev.txPackets++;
  dev.txBytes += length;
  return 0;
}

const walked = new NetPacket();

/**
 * The next frame on queue `q`'s receive ring into `out` (room for
 * maxFrame): its length; 0 when none is ready; a malformed packet is
 * dropped, counted and skipped. The buffers it took are posted again.
 */
function receiveFrom(dev: NetfrontDevice, q: NetQueue, out: usize): i32 {
  const rx = q.rx!;
  const t = q.tables;
  const p = walked;
  while (true) {
    const ready = rx.unconsumedResponses();
    if (ready < 0) {
      breakRings(dev, "receive response index beyond the requests pushed");
      return 0;
    }
    if (ready == 0) return 0;
    const cons = rx.rspCons;
    let slots = walkRxPacket(rx.slots, rx.mask, cons, u32(ready), dev.maxFrame(dev.rxGso), p);
    let good = false;
    if (slots < 0) {
      // A packet cut short: what is there is dropped.
      slots = ready;
      dev.malformed++;
    } else if (p.error == -ENODATA) {
      dev.rxErrors++;
    } else if (p.error != 0) {
      dev.malformed++;
    } else {
      good = true;
    }
    let copied: u32 = 0;
    for (let i: u32 = 0; i < u32(slots); i++) {
      const position = (cons + i) & rx.mask;
      const b = load<u8>(t + RX_SLOT + position);
      if (b == NO_BUFFER) continue;
      store<u8>(t + RX_SLOT + position, NO_BUFFER);
      store<u8>(t + RX_FREE + q.rxFreeCount++, b);
      // Data slots are the first and those after the extra segments; the walk checked their sizes.
      if (!good || (i != 0 && i <= p.extras)) continue;
      const rsp = rx.slot(cons + i);
      const size = u32(rxResponseStatus(rsp));
      memory.copy(out + copied, q.rxPages + (usize(b) << PAGE_SHIFT) + rxResponseOffset(rsp), size);
      copied += size;
    }
    rx.rspCons = cons + u32(slots);
    postReceiveBuffers(q);
    if (good) {
      dev.rxPackets++;
      dev.rxBytes += copied;
      dev.rxMeta = (p.flags & 3) | (p.gsoType << 8) | (p.gsoSize << 16);
      return i32(copied);
    }
  }
}

let receiving: NetfrontDevice | null = null;
let receiveOut: usize = 0;
let received: i32 = 0;

function frameArrived(): bool {
  const dev = receiving!;
  const count = u32(dev.queues.length);
  let armed = false;
  while (!armed) {
    for (let i: u32 = 0; i < count && dev.broken.length == 0; i++) {
      const q = dev.queues[(dev.nextRx + i) % count];
      received = receiveFrom(dev, q, receiveOut);
      if (received > 0) {
        dev.nextRx = (dev.nextRx + i + 1) % count;
        return true;
      }
    }
    if (dev.broken.length != 0) return true;
    // Nothing on any ring: ask for an event on the next response, and look again if one raced in.
    armed = true;
    for (let i: u32 = 0; i < count; i++) {
      if (dev.queues[i].rx!.finalCheckForResponses() != 0) armed = false;
    }
  }
  return false;
}

/**
 * Waits at most `timeoutNs` of Xen's time for a frame and copies it to
 * `out` (room for dev.maxFrame(dev.rxGso) bytes): its length, or -errno:
 * -ENODEV, -EIO (broken), -ETIMEDOUT when none came.
 */
export function recv(dev: NetfrontDevice, out: usize, timeoutNs: u64): i32 {
  reportBroken(dev);
  if (!dev.isConnected()) return dev.broken.length != 0 ? -EIO : -ENODEV;
  receiving = dev;
  receiveOut = out;
  received = 0;
  const rc = waitUntilDeadline(frameArrived, systemTime() + timeoutNs);
  receiving = null;
  if (dev.broken.length != 0) {
    reportBroken(dev);
    return -EIO;
  }
  return rc < 0 ? rc : received;
}
