// The network backend's device side (io/netif.h), as Linux's xen-netback
// netback.c and rx.c are to its xenbus.c: each vif's queues (a transmit and a
// receive ring each, mapped, and one event channel or a pair), the packets the
// frontend transmits, copied out of its granted pages with GNTTABOP_copy and
// switched by the bridge (netback-bridge.ts) to the other vifs, and the frames
// the bridge hands a vif, copied into the receive buffers its frontend posted.
// netback-xs.ts negotiates through XenStore.
//
// Every packet's slots are copied out of the ring before they are looked at
// (the frontend may rewrite them meanwhile) and walked by netif.ts's
// walkTxPacket, and data moves only by grant copies bounded to one page on
// each side, so nothing outside a page the frontend granted is read or
// written. What the walk refuses is dropped, answered NETIF_RSP_ERROR (its
// extra segments NETIF_RSP_NULL) and counted (txErrors), as Linux's netback
// drops a first slot shorter than an Ethernet header, a fragment larger than
// what the first slot's size leaves or more than XEN_NETIF_NR_SLOTS_MIN
// fragments after the first slot; so is a packet whose grant does not copy (a bogus ref, a page
// not granted to us). Fatal (Linux's xenvif_fatal_tx_err): the vif is
// disabled, as Linux's carrier goes off: nothing more is taken off its rings
// or delivered to it, it leaves the bridge, and the reason is logged and
// kept (netback_info) until the frontend reconnects; Linux writes nothing to
// XenStore for these and neither do we (the frontend stays Connected). They
// are impossible ring indices (either ring), a packet whose slots run past
// what the frontend published, and one of more than FATAL_FRAGMENTS
// fragments after its first slot. Linux also disables the vif for a fragment
// that crosses its page, an extra segment of unknown type and a GSO segment
// of size 0 or unknown type, which the walk drops like any malformed packet
// (a deviation: the frontend hears NETIF_RSP_ERROR and may go on).
//
// Work is bounded per turn: at most TX_BUDGET packets per queue per event
// (Linux's NAPI weight); what is left raises the queue's own event again,
// to be served after whatever else (XenStore, another device) is pending, so
// a flood never starves the rest of the domain. Frames for a vif whose
// frontend has posted too few receive buffers are dropped and counted
// (rxDropped), as a full NIC ring drops; nothing queues without bound.
import * as evtchn from "../evtchn/evtchn";
import { copyFromGrant, copyToGrant } from "../gnttab/gnttab";
import { BackRing } from "../ring/shared";
import {
  EIO,
  ENOMEM,
  GNTST_okay,
  NETIF_RSP_ERROR,
  NETIF_RSP_NULL,
  NETIF_RSP_OKAY,
  NETRXF_csum_blank,
  NETRXF_data_validated,
  NETRXF_extra_info,
  NETRXF_more_data,
  NETTXF_csum_blank,
  NETTXF_data_validated,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_MAX_TX_SIZE,
} from "../xen/abi";
import { netif_extra_info } from "../xen/layout";
import { logLine } from "../xen/log";
import { allocPages, PAGE_SHIFT, PAGE_SIZE } from "../xen/pages";
import { BackendDevice } from "../xenbus/backend";
import { bindEvtchn, devFatal, freeEvtchn, mapRingValloc, RingMapping, unmapRingVfree } from "../xenbus/client";
import { FDB_UNKNOWN, ForwardingTable, isGroupMac, macAt } from "./netback-bridge";
import {
  encodeGsoExtra,
  encodeRxResponse,
  encodeTxResponse,
  MAX_EXTRAS,
  NETIF_RX_ENTRY_SIZE,
  NETIF_TX_ENTRY_SIZE,
  NetPacket,
  rxRequestGref,
  rxRequestId,
  slotsFor,
  txRequestGref,
  txRequestId,
  txRequestOffset,
  txRequestSize,
  walkTxPacket,
} from "./netif";

/** Packets taken off one queue's transmit ring per event (Linux's NAPI weight). */
export const TX_BUDGET: i32 = 64;
/** A packet with more fragments than this after its first slot is an attack (Linux's fatal_skb_slots default). */
export const FATAL_FRAGMENTS: u32 = 20;
/** Slots of one packet copied out of the ring to be walked: its first, its extras and FATAL_FRAGMENTS more fit. */
const PACKET_SLOTS: u32 = 32;
/** Pages of the frame buffer: the largest packet (64 KiB - 1). */
const FRAME_PAGES: u32 = (u32(XEN_NETIF_MAX_TX_SIZE) + PAGE_SIZE - 1) >> PAGE_SHIFT;

/** What a vif's frontend negotiated (read at initialise). */
export class NetbackFeatures {
  /** feature-sg: it takes frames over several receive slots. */
  sg: bool = false;
  /** feature-gso-tcpv4: it takes TCPv4 GSO frames (with their extra-info segment). */
  gsoTcpv4: bool = false;
  /** feature-rx-notify: it notifies when it posts receive buffers. */
  rxNotify: bool = false;
  /** feature-no-csum-offload: it wants checksums filled in (we then drop what arrives with a blank one). */
  noCsumOffload: bool = false;
}

/** One queue of a vif: its rings and channels. */
export class NetbackQueue {
  tx: BackRing | null = null;
  rx: BackRing | null = null;
  readonly txMapping: RingMapping = new RingMapping();
  readonly rxMapping: RingMapping = new RingMapping();
  /** Our ports: the same one twice without split event channels; -1 while unbound. */
  txPort: i32 = -1;
  rxPort: i32 = -1;

  constructor(
    readonly vif: NetbackVif,
    readonly index: u32,
  ) {}
}

/** A vif as the backend serves it. */
export class NetbackVif extends BackendDevice {
  /** The frontend's MAC as the toolstack wrote it in our `mac` node. */
  mac: u64 = 0;
  readonly features: NetbackFeatures = new NetbackFeatures();
  queues: NetbackQueue[] = [];
  /** The bridge port while the vif is on the bridge, else -1. */
  port: i32 = -1;
  /** Why the vif was disabled (a fatal protocol error), "" while it is served. */
  fatal: string = "";
  /** Fatal errors since the device was found. */
  fatalCount: u32 = 0;
  // Statistics, as Linux's netdev counters (tx: from the frontend; rx: to it).
  txPackets: u64 = 0;
  txBytes: u64 = 0;
  txErrors: u64 = 0;
  rxPackets: u64 = 0;
  rxBytes: u64 = 0;
  rxDropped: u64 = 0;
  rxErrors: u64 = 0;

  get disabled(): bool {
    return this.fatal.length != 0;
  }
}

// The frame being switched: the driver domain handles one packet at a time.
let frame: usize = 0;
/** A private copy of the slots of the packet being taken (the frontend may rewrite the ring meanwhile). */
const slots = memory.data(<i32>(NETIF_TX_ENTRY_SIZE * PACKET_SLOTS), 8);
/** What the walk found in them. */
const packet = new NetPacket();

/** The frame buffer, once: 0, or -ENOMEM. */
export function netbackInit(): i32 {
  if (frame != 0) return 0;
  frame = allocPages(FRAME_PAGES);
  return frame == 0 ? -ENOMEM : 0;
}

// The bridge: its ports are the vifs whose rings are mapped.

const bridge = new ForwardingTable();
const ports: (NetbackVif | null)[] = [];
/** Frames flooded (broadcast, multicast, unknown destination) and sent to one learned port. */
let flooded: u64 = 0;
let forwarded: u64 = 0;

function joinBridge(vif: NetbackVif): void {
  if (vif.port >= 0) return;
  let port = ports.indexOf(null);
  if (port < 0) {
    port = ports.length;
    ports.push(vif);
  } else ports[port] = vif;
  vif.port = port;
}

function leaveBridge(vif: NetbackVif): void {
  if (vif.port < 0) return;
  bridge.forgetPort(vif.port);
  ports[vif.port] = null;
  vif.port = -1;
}

/** Bridge statistics for the host: [flooded, forwarded, table entries, entries evicted]. */
export function bridgeStats(): u64[] {
  return [flooded, forwarded, u64(bridge.size), bridge.evicted];
}

// Setting a queue up and down (netback-xs.ts reads what to map).

/** Each bound port's queue, for the upcall's handlers. */
const portQueues = new Map<u32, NetbackQueue>();

/**
 * Maps queue `q`'s rings (`txRef`, `rxRef`) and binds its channel(s): one
 * (`rxEvtchn` < 0) or split. 0, or -errno, reported (devFatal), with what
 * was set up left for releaseQueue.
 */
export function connectQueue(q: NetbackQueue, txRef: u32, rxRef: u32, txEvtchn: u32, rxEvtchn: i64): i32 {
  const vif = q.vif;
  const refs = new Array<u32>(1);
  refs[0] = txRef;
  let rc = mapRingValloc(vif, refs, q.txMapping);
  if (rc == GNTST_okay) {
    q.tx = new BackRing(q.txMapping.address, 1, NETIF_TX_ENTRY_SIZE);
    refs[0] = rxRef;
    rc = mapRingValloc(vif, refs, q.rxMapping);
  }
  if (rc != GNTST_okay) {
    // A grant that did not map was reported by mapRingValloc; running out of pages was not.
    if (rc == -ENOMEM) devFatal(vif, rc, "allocating ring pages");
    return -EIO;
  }
  q.rx = new BackRing(q.rxMapping.address, 1, NETIF_RX_ENTRY_SIZE);
  rc = bindEvtchn(vif, txEvtchn);
  if (rc < 0) return rc;
  q.txPort = rc;
  portQueues.set(u32(rc), q);
  evtchn.setHandler(u32(rc), txEvent);
  if (rxEvtchn < 0) {
    q.rxPort = q.txPort;
    return 0;
  }
  rc = bindEvtchn(vif, u32(rxEvtchn));
  if (rc < 0) return rc;
  q.rxPort = rc;
  portQueues.set(u32(rc), q);
  // Receive buffers posted: nothing waits for them (frames without buffers are dropped).
  evtchn.setHandler(u32(rc), null);
  return 0;
}

/** Unbinds queue `q`'s channels and unmaps its rings (each only if set up). */
export function releaseQueue(q: NetbackQueue): void {
  const vif = q.vif;
  if (q.rxPort >= 0 && q.rxPort != q.txPort) unbind(vif, q.rxPort);
  if (q.txPort >= 0) unbind(vif, q.txPort);
  q.txPort = q.rxPort = -1;
  const tx = q.tx;
  if (tx !== null) {
    q.tx = null;
    heap.free(changetype<usize>(tx));
  }
  const rx = q.rx;
  if (rx !== null) {
    q.rx = null;
    heap.free(changetype<usize>(rx));
  }
  if (q.txMapping.address != 0) unmapRingVfree(vif, q.txMapping.address);
  if (q.rxMapping.address != 0) unmapRingVfree(vif, q.rxMapping.address);
  q.txMapping.address = q.rxMapping.address = 0;
}

function unbind(vif: NetbackVif, port: i32): void {
  portQueues.delete(u32(port));
  evtchn.setHandler(u32(port), null);
  freeEvtchn(vif, u32(port));
}

/** The vif's queues are connected: it joins the bridge, served afresh. */
export function startVif(vif: NetbackVif): void {
  vif.fatal = "";
  joinBridge(vif);
}

/** The vif goes: off the bridge, every queue released. */
export function stopVif(vif: NetbackVif): void {
  leaveBridge(vif);
  for (let i = 0; i < vif.queues.length; i++) releaseQueue(vif.queues[i]);
  vif.queues = [];
}

/** Serves every queue's transmit ring (requests queued before we were bound). */
export function kickVif(vif: NetbackVif): void {
  for (let i = 0; i < vif.queues.length; i++) serveTx(vif.queues[i]);
}

/**
 * A fatal protocol error (Linux's xenvif_fatal_tx_err): the vif is disabled
 * and leaves the bridge; its rings stay mapped until the frontend goes.
 */
function disable(vif: NetbackVif, reason: string): void {
  if (vif.disabled) return;
  vif.fatal = reason;
  vif.fatalCount++;
  leaveBridge(vif);
  logLine(`netback ${vif.nodename}: fatal error, disabling the vif: ${reason}`);
}

// Transmit: packets from the frontend.

function txEvent(port: u32): void {
  if (portQueues.has(port)) serveTx(portQueues.get(port));
}

/** Takes up to TX_BUDGET packets off the queue's transmit ring, answering each; raises its event again if more wait. */
export function serveTx(q: NetbackQueue): void {
  const vif = q.vif;
  const ring = q.tx;
  if (ring === null || vif.disabled) return;
  let budget = TX_BUDGET;
  while (budget > 0 && !vif.disabled) {
    let ready = ring.unconsumedRequests();
    if (ready == 0) ready = ring.finalCheckForRequests();
    if (ready < 0) {
      disable(vif, "impossible transmit ring indices");
      break;
    }
    if (ready == 0) break;
    takePacket(q, ring, u32(ready));
    budget--;
  }
  if (ring.pushResponses() && q.txPort >= 0) evtchn.send(u32(q.txPort));
  if (budget == 0 && !vif.disabled && q.txPort >= 0) evtchn.raise(u32(q.txPort));
}

/**
 * One packet from `ring.reqCons` (`ready` slots are there): its slots copied
 * out and walked, its data copied into `frame`, every slot answered, and the
 * frame switched. Leaves the vif disabled on a fatal error.
 */
function takePacket(q: NetbackQueue, ring: BackRing, ready: u32): void {
  const vif = q.vif;
  const cons = ring.reqCons;
  const taken = min(ready, PACKET_SLOTS);
  const first = cons & ring.mask;
  const before = min(taken, ring.entries - first);
  memory.copy(slots, ring.slot(cons), before * NETIF_TX_ENTRY_SIZE);
  if (before < taken)
    memory.copy(slots + before * NETIF_TX_ENTRY_SIZE, ring.slot(0), (taken - before) * NETIF_TX_ENTRY_SIZE);
  const p = packet;
  const count = walkTxPacket(slots, PACKET_SLOTS - 1, 0, taken, u32(XEN_NETIF_MAX_TX_SIZE), p);
  if (count < 0) {
    // Its chain runs past what we copied: past what the frontend published, or into more than 20 fragments.
    return disable(
      vif,
      taken < ready
        ? `a packet of more than ${FATAL_FRAGMENTS} fragments`
        : `a packet runs past the ${ready} requests published`,
    );
  }
  if (p.fragments > FATAL_FRAGMENTS + 1) return disable(vif, `a packet of more than ${FATAL_FRAGMENTS} fragments`);
  ring.reqCons = cons + u32(count);
  const extras = p.extras;
  if (p.error == 0 && isMulticastControl(extras)) {
    // A multicast filter request (Linux answers it and forwards nothing): the bridge floods multicast to every
    // port anyway, so there is no filter to keep.
    respond(ring, txRequestId(slots), NETIF_RSP_OKAY, extras);
    return;
  }
  let status = p.error == 0 ? NETIF_RSP_OKAY : NETIF_RSP_ERROR;
  let at: u32 = 0;
  for (let i: u32 = 0; i < p.fragments && status == NETIF_RSP_OKAY; i++) {
    const slot = fragmentSlot(i, extras);
    const size = i == 0 ? p.firstSize : txRequestSize(slot);
    if (copyIn(vif.otherendId, txRequestGref(slot), txRequestOffset(slot), at, size) != GNTST_okay)
      status = NETIF_RSP_ERROR;
    at += size;
  }
  respond(ring, txRequestId(slots), status, extras);
  for (let i: u32 = 1; i < p.fragments; i++) respond(ring, txRequestId(fragmentSlot(i, extras)), status, 0);
  if (status != NETIF_RSP_OKAY) {
    vif.txErrors++;
    return;
  }
  vif.txPackets++;
  vif.txBytes += p.size;
  forward(vif, p.size, p.flags, p.gsoType == XEN_NETIF_GSO_TYPE_TCPV4 ? p.gsoSize : 0, p.gsoType);
}

/** The private copy of data slot `i` of the packet (slot 0, then after its `extras` extra segments). */
function fragmentSlot(i: u32, extras: u32): usize {
  return slots + usize(i == 0 ? 0 : i + extras) * NETIF_TX_ENTRY_SIZE;
}

/** Whether one of the packet's extra segments asks to add or remove a multicast address. */
function isMulticastControl(extras: u32): bool {
  for (let i: u32 = 1; i <= min(extras, MAX_EXTRAS); i++) {
    const type = u32(load<u8>(slots + usize(i) * NETIF_TX_ENTRY_SIZE + netif_extra_info.type));
    if (type == u32(XEN_NETIF_EXTRA_TYPE_MCAST_ADD) || type == u32(XEN_NETIF_EXTRA_TYPE_MCAST_DEL)) return true;
  }
  return false;
}

/** A transmit response for slot id `id`, then NETIF_RSP_NULL for each of `extras` extra-info slots after it. */
function respond(ring: BackRing, id: u32, status: i32, extras: u32): void {
  encodeTxResponse(ring.slot(ring.rspProdPvt++), id, status);
  for (let i: u32 = 0; i < extras; i++) encodeTxResponse(ring.slot(ring.rspProdPvt++), 0, NETIF_RSP_NULL);
}

/** `size` bytes at `offset` of the frontend's grant `gref` into the frame at `at` (split where the frame crosses a page). */
function copyIn(domid: u32, gref: u32, offset: u32, at: u32, size: u32): i32 {
  while (size != 0) {
    const chunk = min(size, PAGE_SIZE - (at & (PAGE_SIZE - 1)));
    const rc = copyFromGrant(domid, gref, offset, frame + at, chunk);
    if (rc != GNTST_okay) return rc;
    offset += chunk;
    at += chunk;
    size -= chunk;
  }
  return GNTST_okay;
}

// The bridge: a frame that came in on `from` goes out on the port its destination was learned on, or on every other.

function forward(from: NetbackVif, length: u32, txFlags: u32, gsoSize: u32, gsoType: u32): void {
  if (from.port < 0) return;
  const source = macAt(frame + 6);
  const destination = macAt(frame);
  bridge.learn(source, from.port);
  const port = isGroupMac(destination) ? FDB_UNKNOWN : bridge.lookup(destination);
  if (port != FDB_UNKNOWN) {
    // A frame back to the port it came from goes nowhere (a bridge never hairpins).
    if (port != from.port && ports[port] !== null) {
      forwarded++;
      deliver(ports[port]!, length, txFlags, gsoSize, gsoType, source);
    }
    return;
  }
  flooded++;
  for (let i = 0; i < ports.length; i++) {
    const to = ports[i];
    if (to !== null && to !== from) deliver(to, length, txFlags, gsoSize, gsoType, source);
  }
}

// Receive: frames to the frontend, into the buffers it posted.

/**
 * The frame (`length` bytes) into the receive buffers of one of `vif`'s
 * queues, a page per slot, with an extra-info slot after the first for a
 * TCPv4 GSO frame; dropped and counted when the frontend cannot take it (too
 * few buffers posted, a size or GSO it did not negotiate, a blank checksum
 * it wants filled in).
 */
function deliver(vif: NetbackVif, length: u32, txFlags: u32, gsoSize: u32, gsoType: u32, source: u64): void {
  if (vif.disabled || vif.queues.length == 0) return;
  const q = vif.queues[i32(u32(source ^ (source >> 24)) % u32(vif.queues.length))];
  const ring = q.rx;
  if (ring === null) return;
  const features = vif.features;
  const dataSlots = slotsFor(length);
  const gso = gsoSize != 0;
  if (
    (dataSlots > 1 && !features.sg) ||
    (gsoType != 0 && (!gso || !features.gsoTcpv4)) ||
    ((txFlags & NETTXF_csum_blank) != 0 && features.noCsumOffload)
  ) {
    vif.rxDropped++;
    return;
  }
  const needed = dataSlots + (gso ? 1 : 0);
  const ready = ring.unconsumedRequests();
  if (ready < 0) return disable(vif, "impossible receive ring indices");
  if (u32(ready) < needed) {
    vif.rxDropped++;
    return;
  }
  let rxFlags: u32 = 0;
  if ((txFlags & NETTXF_csum_blank) != 0) rxFlags = NETRXF_csum_blank | NETRXF_data_validated;
  else if ((txFlags & NETTXF_data_validated) != 0) rxFlags = NETRXF_data_validated;
  let failed = false;
  let at: u32 = 0;
  for (let i: u32 = 0; i < dataSlots; i++) {
    // The request's id and ref, read once: the response goes in its slot.
    const slot = ring.slot(ring.reqCons++);
    const id = rxRequestId(slot);
    const gref = rxRequestGref(slot);
    const size = min(PAGE_SIZE, length - at);
    const rc = copyToGrant(vif.otherendId, gref, 0, frame + at, size);
    let flags = i == 0 ? rxFlags : 0;
    if (i + 1 < dataSlots) flags |= NETRXF_more_data;
    if (i == 0 && gso) flags |= NETRXF_extra_info;
    encodeRxResponse(ring.slot(ring.rspProdPvt++), id, 0, flags, rc == GNTST_okay ? i32(size) : NETIF_RSP_ERROR);
    if (rc != GNTST_okay) failed = true;
    at += size;
    if (i == 0 && gso) {
      // The GSO segment takes the next slot: a buffer of the frontend's, answered with the segment.
      ring.reqCons++;
      encodeGsoExtra(ring.slot(ring.rspProdPvt++), 0, gsoSize, XEN_NETIF_GSO_TYPE_TCPV4);
    }
  }
  if (failed) vif.rxErrors++;
  else {
    vif.rxPackets++;
    vif.rxBytes += length;
  }
  if (ring.pushResponses() && q.rxPort >= 0) evtchn.send(u32(q.rxPort));
}
