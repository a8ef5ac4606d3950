// The network backend's device side (io/netif.h), as Linux's xen-netback
// netback.c and rx.c are to its xenbus.c: each vif's queues (a transmit and a
// receive ring each, mapped, and one event channel or a pair), the packets the
// frontend transmits, copied out of its granted pages with GNTTABOP_copy and
// switched by the bridge (netback-bridge.ts) to the other vifs, and the frames
// the bridge hands a vif, copied into the receive buffers its frontend posted.
// netback-xs.ts negotiates through XenStore.
//
// Every request is copied out of the ring before it is looked at (the
// frontend may rewrite the slot meanwhile), and data moves only by grant
// copies bounded to one page on each side, so nothing outside a page the
// frontend granted is read or written. What Linux's netback does with a bad
// packet, this does too:
//   dropped, answered NETIF_RSP_ERROR and counted (txErrors): a first slot
//     smaller than an Ethernet header, a fragment larger than what the
//     first slot's size leaves, more than XEN_NETIF_NR_SLOTS_MIN fragments
//     after the first slot, a
//     grant that does not copy (a bogus ref, a page not granted to us);
//   fatal (xenvif_fatal_tx_err): the vif is disabled, as Linux's carrier
//     goes off: nothing more is taken off its rings or delivered to it, it
//     leaves the bridge, and the reason is logged and kept (netback_info)
//     until the frontend reconnects. Linux writes nothing to XenStore for
//     these and neither do we (the frontend stays Connected). They are:
//     impossible ring indices (either ring), a packet that claims more
//     slots than the ring holds or more than FATAL_FRAGMENTS fragments, a
//     fragment that
//     crosses its page, a missing or unknown extra-info segment, and a GSO
//     segment of size 0 or of a type we did not offer.
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
  NETTXF_extra_info,
  NETTXF_more_data,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE_GSO,
  XEN_NETIF_EXTRA_TYPE_MAX,
  XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
  XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
  XEN_NETIF_GSO_TYPE_TCPV4,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
} from "../xen/abi";
import {
  netif_extra_info,
  netif_rx_request,
  netif_rx_response,
  netif_tx_request,
  netif_tx_response,
} from "../xen/layout";
import { logLine } from "../xen/log";
import { allocPages, PAGE_SHIFT, PAGE_SIZE } from "../xen/pages";
import { BackendDevice } from "../xenbus/backend";
import { bindEvtchn, devFatal, freeEvtchn, mapRingValloc, RingMapping, unmapRingVfree } from "../xenbus/client";
import { FDB_UNKNOWN, ForwardingTable, isGroupMac, macAt } from "./netback-bridge";

/** Packets taken off one queue's transmit ring per event (Linux's NAPI weight). */
export const TX_BUDGET: i32 = 64;
/** A packet with more fragments than this after its first slot is an attack (Linux's fatal_skb_slots default). */
export const FATAL_FRAGMENTS: u32 = 20;
/** Bytes of an Ethernet header: a first slot holding less is dropped. */
const ETH_HLEN: u32 = 14;
/** A tx ring slot: the larger of a request (12 bytes) and a response (4). */
const TX_SLOT: u32 = netif_tx_request.SIZE;
/** An rx ring slot: request and response are both 8 bytes. */
const RX_SLOT: u32 = netif_rx_response.SIZE;
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
/** A private copy of the data slots of the packet being taken (the frontend may rewrite them). */
const slots = memory.data(<i32>(TX_SLOT * (1 + FATAL_FRAGMENTS)), 8);
/** A private copy of an extra-info segment. */
const extra = memory.data(<i32>netif_extra_info.SIZE, 8);
/** A private copy of a receive request. */
const rxRequest = memory.data(<i32>netif_rx_request.SIZE, 8);

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
    q.tx = new BackRing(q.txMapping.address, 1, TX_SLOT);
    refs[0] = rxRef;
    rc = mapRingValloc(vif, refs, q.rxMapping);
  }
  if (rc != GNTST_okay) {
    // A grant that did not map was reported by mapRingValloc; running out of pages was not.
    if (rc == -ENOMEM) devFatal(vif, rc, "allocating ring pages");
    return -EIO;
  }
  q.rx = new BackRing(q.rxMapping.address, 1, RX_SLOT);
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
 * One packet from `ring.reqCons` (`ready` slots are there): its first slot,
 * its extra-info segments, its fragments; checked, copied into `frame`,
 * answered, and switched. Leaves the vif disabled on a fatal error.
 */
function takePacket(q: NetbackQueue, ring: BackRing, ready: u32): void {
  const vif = q.vif;
  let cons = ring.reqCons;
  memory.copy(slots, ring.slot(cons++), TX_SLOT);
  const firstFlags = u32(load<u16>(slots + netif_tx_request.flags));
  // Extra-info segments come right after the first slot.
  let extras: u32 = 0;
  let gsoSize: u32 = 0;
  let multicast = false;
  if ((firstFlags & NETTXF_extra_info) != 0) {
    while (true) {
      if (1 + extras >= ready) return disable(vif, "missing extra info");
      memory.copy(extra, ring.slot(cons++), netif_extra_info.SIZE);
      extras++;
      const type = u32(load<u8>(extra + netif_extra_info.type));
      if (type == 0 || type >= u32(XEN_NETIF_EXTRA_TYPE_MAX)) return disable(vif, `invalid extra type ${type}`);
      if (type == u32(XEN_NETIF_EXTRA_TYPE_GSO)) {
        gsoSize = load<u16>(extra + netif_extra_info.gso_size);
        const gsoType = load<u8>(extra + netif_extra_info.gso_type);
        if (gsoSize == 0) return disable(vif, "GSO size must not be zero");
        if (gsoType != u32(XEN_NETIF_GSO_TYPE_TCPV4)) return disable(vif, `bad GSO type ${gsoType}`);
      }
      if (type == u32(XEN_NETIF_EXTRA_TYPE_MCAST_ADD) || type == u32(XEN_NETIF_EXTRA_TYPE_MCAST_DEL)) multicast = true;
      // A hash segment (not offered) is taken and ignored, as Linux's netback does.
      if ((u32(load<u8>(extra + netif_extra_info.flags)) & XEN_NETIF_EXTRA_FLAG_MORE) == 0) break;
    }
  }
  if (multicast) {
    // A multicast filter request is the whole packet, answered OKAY, as in Linux: the bridge floods
    // multicast to every port anyway, so there is no filter to keep.
    ring.reqCons = cons;
    respond(ring, load<u16>(slots + netif_tx_request.id), NETIF_RSP_OKAY, extras);
    return;
  }
  // The fragments (xenvif_count_requests): each takes its size from what the first slot's leaves.
  const total = u32(load<u16>(slots + netif_tx_request.size));
  let firstSize = total;
  let fragments: u32 = 0;
  let drop = false;
  let flags = firstFlags;
  while ((flags & NETTXF_more_data) != 0) {
    // Taken so far: the first slot, the extras and the fragments; the next must be on the ring.
    if (1 + extras + fragments >= ready)
      return disable(vif, `a packet asks for more than the ${ready} slots on the ring`);
    if (fragments >= FATAL_FRAGMENTS) return disable(vif, `a packet of more than ${FATAL_FRAGMENTS} fragments`);
    // Beyond XEN_NETIF_NR_SLOTS_MIN fragments a packet is dropped (Linux's XEN_NETBK_LEGACY_SLOTS_MAX).
    if (fragments >= u32(XEN_NETIF_NR_SLOTS_MIN)) drop = true;
    const at = slots + usize(1 + fragments) * TX_SLOT;
    memory.copy(at, ring.slot(cons++), TX_SLOT);
    const size = u32(load<u16>(at + netif_tx_request.size));
    if (size > firstSize) drop = true;
    firstSize -= size;
    fragments++;
    if (u32(load<u16>(at + netif_tx_request.offset)) + size > PAGE_SIZE)
      return disable(vif, "a fragment crosses its page");
    flags = u32(load<u16>(at + netif_tx_request.flags));
  }
  const count: u32 = fragments + 1;
  if (!drop && firstSize < ETH_HLEN) drop = true;
  if (!drop && u32(load<u16>(slots + netif_tx_request.offset)) + firstSize > PAGE_SIZE)
    return disable(vif, "the first slot crosses its page");
  // The slots are taken: every one is answered, whatever happens to the packet.
  ring.reqCons = cons;
  let status = NETIF_RSP_OKAY;
  if (!drop) {
    let at: u32 = 0;
    for (let i: u32 = 0; i < count && status == NETIF_RSP_OKAY; i++) {
      const slot = slots + usize(i) * TX_SLOT;
      const size = i == 0 ? firstSize : u32(load<u16>(slot + netif_tx_request.size));
      const rc = copyIn(
        vif.otherendId,
        load<u32>(slot + netif_tx_request.gref),
        u32(load<u16>(slot + netif_tx_request.offset)),
        at,
        size,
      );
      if (rc != GNTST_okay) status = NETIF_RSP_ERROR;
      at += size;
    }
  } else status = NETIF_RSP_ERROR;
  respond(ring, load<u16>(slots + netif_tx_request.id), status, extras);
  for (let i: u32 = 1; i < count; i++)
    respond(ring, load<u16>(slots + usize(i) * TX_SLOT + netif_tx_request.id), status, 0);
  if (status != NETIF_RSP_OKAY) {
    vif.txErrors++;
    return;
  }
  vif.txPackets++;
  vif.txBytes += total;
  forward(vif, total, firstFlags, gsoSize);
}

/** A transmit response for slot id `id`, then NETIF_RSP_NULL for each of `extras` extra-info slots after it. */
function respond(ring: BackRing, id: u16, status: i32, extras: u32): void {
  const slot = ring.slot(ring.rspProdPvt++);
  store<u16>(slot + netif_tx_response.id, id);
  store<i16>(slot + netif_tx_response.status, i16(status));
  for (let i: u32 = 0; i < extras; i++)
    store<i16>(ring.slot(ring.rspProdPvt++) + netif_tx_response.status, i16(NETIF_RSP_NULL));
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

function forward(from: NetbackVif, length: u32, txFlags: u32, gsoSize: u32): void {
  if (from.port < 0) return;
  const source = macAt(frame + 6);
  const destination = macAt(frame);
  bridge.learn(source, from.port);
  const port = isGroupMac(destination) ? FDB_UNKNOWN : bridge.lookup(destination);
  if (port != FDB_UNKNOWN) {
    // A frame back to the port it came from goes nowhere (a bridge never hairpins).
    if (port != from.port && ports[port] !== null) {
      forwarded++;
      deliver(ports[port]!, length, txFlags, gsoSize, source);
    }
    return;
  }
  flooded++;
  for (let i = 0; i < ports.length; i++) {
    const to = ports[i];
    if (to !== null && to !== from) deliver(to, length, txFlags, gsoSize, source);
  }
}

// Receive: frames to the frontend, into the buffers it posted.

/**
 * The frame (`length` bytes) into the receive buffers of one of `vif`'s
 * queues, a page per slot, with an extra-info slot after the first for a
 * GSO frame; dropped and counted when the frontend cannot take it (too few
 * buffers posted, a size or GSO it did not negotiate).
 */
function deliver(vif: NetbackVif, length: u32, txFlags: u32, gsoSize: u32, source: u64): void {
  if (vif.disabled || vif.queues.length == 0) return;
  const q = vif.queues[i32(u32(source ^ (source >> 24)) % u32(vif.queues.length))];
  const ring = q.rx;
  if (ring === null) return;
  const features = vif.features;
  const dataSlots = (length + PAGE_SIZE - 1) >> PAGE_SHIFT;
  const gso = gsoSize != 0;
  if (
    (dataSlots > 1 && !features.sg) ||
    (gso && !features.gsoTcpv4) ||
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
    memory.copy(rxRequest, ring.slot(ring.reqCons++), RX_SLOT);
    const size = min(PAGE_SIZE, length - at);
    const rc = copyToGrant(vif.otherendId, load<u32>(rxRequest + netif_rx_request.gref), 0, frame + at, size);
    let flags = i == 0 ? rxFlags : 0;
    if (i + 1 < dataSlots) flags |= NETRXF_more_data;
    if (i == 0 && gso) flags |= NETRXF_extra_info;
    const slot = ring.slot(ring.rspProdPvt++);
    store<u16>(slot + netif_rx_response.id, load<u16>(rxRequest + netif_rx_request.id));
    store<u16>(slot + netif_rx_response.offset, 0);
    store<u16>(slot + netif_rx_response.flags, u16(flags));
    store<i16>(slot + netif_rx_response.status, rc == GNTST_okay ? i16(size) : i16(NETIF_RSP_ERROR));
    if (rc != GNTST_okay) failed = true;
    at += size;
    if (i == 0 && gso) {
      // The GSO segment takes the next slot: a buffer of the frontend's, answered with the segment.
      ring.reqCons++;
      const info = ring.slot(ring.rspProdPvt++);
      memory.fill(info, 0, RX_SLOT);
      store<u8>(info + netif_extra_info.type, u8(XEN_NETIF_EXTRA_TYPE_GSO));
      store<u16>(info + netif_extra_info.gso_size, u16(gsoSize));
      store<u8>(info + netif_extra_info.gso_type, u8(XEN_NETIF_GSO_TYPE_TCPV4));
    }
  }
  if (failed) vif.rxErrors++;
  else {
    vif.rxPackets++;
    vif.rxBytes += length;
  }
  if (ring.pushResponses() && q.rxPort >= 0) evtchn.send(u32(q.rxPort));
}
