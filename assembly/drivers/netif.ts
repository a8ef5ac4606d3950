// The network device protocol (io/netif.h), its pure part: the slots of the
// transmit and receive rings, how a packet spreads over them, and what either
// end must refuse in a packet the other end wrote. No I/O here: netfront and
// netback do that, and the tests reach these rules through build/harness.wasm.
//
// A packet takes consecutive slots: its first data slot, then the extra-info
// segments that slot announces (NETTXF_extra_info / NETRXF_extra_info, chained
// by XEN_NETIF_EXTRA_FLAG_MORE), then its other data slots (chained by
// more_data). A transmit packet's first slot carries the packet's total size
// and the others their own; a receive packet's slots each carry their own
// size in `status`. Each transmit slot gets one response (NETIF_RSP_NULL in an
// extra segment's); a receive response is written in its request's slot.
import {
  E2BIG,
  EINVAL,
  EIO,
  EMSGSIZE,
  ENODATA,
  NETIF_RSP_DROPPED,
  NETIF_RSP_NULL,
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
  XEN_NETIF_GSO_TYPE_TCPV6,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
} from "../xen/abi";
import {
  netif_extra_info,
  netif_rx_request,
  netif_rx_response,
  netif_rx_sring,
  netif_tx_request,
  netif_tx_response,
  netif_tx_sring,
} from "../xen/layout";
import { PAGE_SHIFT, PAGE_SIZE } from "../xen/pages";

/** A transmit ring entry: the union of request (12 bytes) and response. */
export const NETIF_TX_ENTRY_SIZE: u32 = netif_tx_sring.SIZE - netif_tx_sring.ring;
/** A receive ring entry: request and response are both 8 bytes. */
export const NETIF_RX_ENTRY_SIZE: u32 = netif_rx_sring.SIZE - netif_rx_sring.ring;

/** An Ethernet header: no shorter frame is passed on. */
export const ETH_HLEN: u32 = 14;
/** The MTU when the toolstack wrote none (io/netif.h). */
export const DEFAULT_MTU: u32 = 1500;
/**
 * Data slots in a transmit packet: its first and XEN_NETIF_NR_SLOTS_MIN more,
 * as Linux's netback counts them (xenvif_count_requests drops a packet whose
 * slots after the first reach XEN_NETBK_LEGACY_SLOTS_MAX, 18).
 */
export const MAX_TX_DATA_SLOTS: u32 = 1 + XEN_NETIF_NR_SLOTS_MIN;
/** Data slots in a receive packet: Linux's netfront takes MAX_SKB_FRAGS + 1 (18 with 4 KiB pages). */
export const MAX_RX_DATA_SLOTS: u32 = XEN_NETIF_NR_SLOTS_MIN;
/** Extra-info segments in one packet: one of each type. */
export const MAX_EXTRAS: u32 = XEN_NETIF_EXTRA_TYPE_MAX - 1;

const TX_FLAGS: u32 = NETTXF_csum_blank | NETTXF_data_validated | NETTXF_more_data | NETTXF_extra_info;
/** NETRXF_gso_prefix is left out: it answers a request this module never makes. */
const RX_FLAGS: u32 = NETRXF_data_validated | NETRXF_csum_blank | NETRXF_more_data | NETRXF_extra_info;

/** Data slots for `size` bytes copied into whole pages from offset 0 (one at least). */
export function slotsFor(size: u32): u32 {
  return size == 0 ? 1 : (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

// Encoding (each end writes its own kind of slot).

export function encodeTxRequest(req: usize, gref: u32, offset: u32, flags: u32, id: u32, size: u32): void {
  store<u32>(req + netif_tx_request.gref, gref);
  store<u16>(req + netif_tx_request.offset, u16(offset));
  store<u16>(req + netif_tx_request.flags, u16(flags));
  store<u16>(req + netif_tx_request.id, u16(id));
  store<u16>(req + netif_tx_request.size, u16(size));
}

export function encodeTxResponse(rsp: usize, id: u32, status: i32): void {
  store<u16>(rsp + netif_tx_response.id, u16(id));
  store<i16>(rsp + netif_tx_response.status, i16(status));
}

export function encodeRxRequest(req: usize, id: u32, gref: u32): void {
  store<u16>(req + netif_rx_request.id, u16(id));
  store<u16>(req + netif_rx_request.pad, 0);
  store<u32>(req + netif_rx_request.gref, gref);
}

export function encodeRxResponse(rsp: usize, id: u32, offset: u32, flags: u32, status: i32): void {
  store<u16>(rsp + netif_rx_response.id, u16(id));
  store<u16>(rsp + netif_rx_response.offset, u16(offset));
  store<u16>(rsp + netif_rx_response.flags, u16(flags));
  store<i16>(rsp + netif_rx_response.status, i16(status));
}

/** A GSO segment (`flags` XEN_NETIF_EXTRA_FLAG_MORE when another follows): segments of `size` bytes, XEN_NETIF_GSO_TYPE_*. */
export function encodeGsoExtra(slot: usize, flags: u32, size: u32, type: u32): void {
  store<u8>(slot + netif_extra_info.type, u8(XEN_NETIF_EXTRA_TYPE_GSO));
  store<u8>(slot + netif_extra_info.flags, u8(flags));
  store<u16>(slot + netif_extra_info.gso_size, u16(size));
  store<u8>(slot + netif_extra_info.gso_type, u8(type));
  store<u8>(slot + netif_extra_info.gso_pad, 0);
  store<u16>(slot + netif_extra_info.gso_features, 0);
}

// Reading a slot's fields.

export function txRequestGref(req: usize): u32 {
  return load<u32>(req + netif_tx_request.gref);
}

export function txRequestOffset(req: usize): u32 {
  return load<u16>(req + netif_tx_request.offset);
}

export function txRequestFlags(req: usize): u32 {
  return load<u16>(req + netif_tx_request.flags);
}

export function txRequestId(req: usize): u32 {
  return load<u16>(req + netif_tx_request.id);
}

export function txRequestSize(req: usize): u32 {
  return load<u16>(req + netif_tx_request.size);
}

export function txResponseId(rsp: usize): u32 {
  return load<u16>(rsp + netif_tx_response.id);
}

export function rxRequestId(req: usize): u32 {
  return load<u16>(req + netif_rx_request.id);
}

export function rxRequestGref(req: usize): u32 {
  return load<u32>(req + netif_rx_request.gref);
}

export function rxResponseId(rsp: usize): u32 {
  return load<u16>(rsp + netif_rx_response.id);
}

export function rxResponseOffset(rsp: usize): u32 {
  return load<u16>(rsp + netif_rx_response.offset);
}

export function rxResponseFlags(rsp: usize): u32 {
  return load<u16>(rsp + netif_rx_response.flags);
}

export function rxResponseStatus(rsp: usize): i32 {
  return load<i16>(rsp + netif_rx_response.status);
}

/**
 * The status of a transmit response: NETIF_RSP_OKAY, _ERROR, _DROPPED or
 * _NULL (an extra segment's slot); -EIO for any other value. Whether its id
 * names a request in flight is the frontend's to check.
 */
export function checkTxResponse(rsp: usize): i32 {
  const status = i32(load<i16>(rsp + netif_tx_response.status));
  if (status < NETIF_RSP_DROPPED || status > NETIF_RSP_NULL) return -EIO;
  return status;
}

// Walking a packet written by the other end.

/** One packet as walkTxPacket or walkRxPacket found it. */
// @ts-ignore: decorator
@final
export class NetPacket {
  /** Ring slots it takes: slot 0 is its first data slot, 1..extras its extra segments, the rest its other data slots. */
  slots: u32 = 0;
  /** Data slots. */
  fragments: u32 = 0;
  /** Bytes in all fragments. */
  size: u32 = 0;
  /** Bytes in the first fragment (transmit: the total less the other fragments). */
  firstSize: u32 = 0;
  /** The first slot's flags: the checksum bits. */
  flags: u32 = 0;
  /** From a GSO segment: the segment size and XEN_NETIF_GSO_TYPE_* (0 and 0 without one). */
  gsoSize: u32 = 0;
  gsoType: u32 = 0;
  /**
   * 0, or why the packet must be dropped: -EINVAL for a field out of range
   * (flags, an offset and size reaching past the page, a fragment larger than
   * the packet, an extra segment of unknown type, a response id that is not
   * its slot's), -E2BIG for too many data slots or extra segments, -EMSGSIZE
   * for a packet larger than allowed or shorter than an Ethernet header,
   * -ENODATA for a receive fragment the backend answered with an error.
   */
  error: i32 = 0;

  reset(): void {
    this.slots = this.fragments = this.size = this.firstSize = this.flags = this.gsoSize = this.gsoType = 0;
    this.error = 0;
  }

  get extras(): u32 {
    return this.slots - this.fragments;
  }

  /** The first reason found to drop the packet is kept. */
  fail(error: i32): void {
    if (this.error == 0) this.error = error;
  }
}

/**
 * Reads the extra segments that follow the first data slot (from slot index
 * 1 on); the index after the last, or -EIO if the chain runs past `ready`.
 * `tx` allows the multicast segments a frontend sends; a receive packet
 * carries only GSO and hash segments.
 */
function walkExtras(slots: usize, mask: u32, entry: u32, cons: u32, ready: u32, tx: bool, p: NetPacket): i32 {
  let i: u32 = 1;
  let flags: u32 = XEN_NETIF_EXTRA_FLAG_MORE;
  while ((flags & XEN_NETIF_EXTRA_FLAG_MORE) != 0) {
    if (i >= ready) return -EIO;
    const extra = slots + usize((cons + i) & mask) * entry;
    i++;
    flags = load<u8>(extra + netif_extra_info.flags);
    const type = u32(load<u8>(extra + netif_extra_info.type));
    if ((flags & ~XEN_NETIF_EXTRA_FLAG_MORE) != 0 || type == 0 || type >= u32(XEN_NETIF_EXTRA_TYPE_MAX)) {
      p.fail(-EINVAL);
    } else if (type == XEN_NETIF_EXTRA_TYPE_GSO) {
      const size = u32(load<u16>(extra + netif_extra_info.gso_size));
      const gso = u32(load<u8>(extra + netif_extra_info.gso_type));
      if (size == 0 || (gso != XEN_NETIF_GSO_TYPE_TCPV4 && gso != XEN_NETIF_GSO_TYPE_TCPV6)) p.fail(-EINVAL);
      p.gsoSize = size;
      p.gsoType = gso;
    } else if (!tx && (type == XEN_NETIF_EXTRA_TYPE_MCAST_ADD || type == XEN_NETIF_EXTRA_TYPE_MCAST_DEL)) {
      p.fail(-EINVAL);
    }
  }
  if (i - 1 > MAX_EXTRAS) p.fail(-E2BIG);
  return i32(i);
}

/** The size limit and the Ethernet header minimum, once the packet's size is known. */
function checkSize(p: NetPacket, maxSize: u32, maxSlots: u32): void {
  const limit = p.gsoType != 0 ? u32(XEN_NETIF_MAX_TX_SIZE) : maxSize;
  if (p.size < ETH_HLEN || p.size > limit) p.fail(-EMSGSIZE);
  if (p.fragments > maxSlots) p.fail(-E2BIG);
}

/**
 * The backend's walk over the transmit packet whose first slot is at
 * free-running index `cons`, with `ready` requests published from it, in the
 * ring whose entries start at `slots` (`mask` = entries - 1). Returns the
 * slots the packet takes, with `p` describing it (p.error nonzero: answer
 * each of its data slots NETIF_RSP_ERROR, each extra NETIF_RSP_NULL, and go
 * on); or -EIO when its chain runs past the published requests, which a
 * frontend never does (it pushes whole packets): the ring is broken. A
 * packet without a GSO segment may carry `maxSize` bytes, one with one
 * XEN_NETIF_MAX_TX_SIZE. Grant refs are checked by Xen when the data moves.
 */
export function walkTxPacket(slots: usize, mask: u32, cons: u32, ready: u32, maxSize: u32, p: NetPacket): i32 {
  const entry = NETIF_TX_ENTRY_SIZE;
  p.reset();
  if (ready == 0) return -EIO;
  const first = slots + usize(cons & mask) * entry;
  let flags = txRequestFlags(first);
  const offset = txRequestOffset(first);
  p.flags = flags;
  p.size = txRequestSize(first);
  p.fragments = 1;
  if ((flags & ~TX_FLAGS) != 0) p.fail(-EINVAL);
  let i: i32 = 1;
  if ((flags & NETTXF_extra_info) != 0) {
    i = walkExtras(slots, mask, entry, cons, ready, true, p);
    if (i < 0) return i;
  }
  let rest = p.size;
  while ((flags & NETTXF_more_data) != 0) {
    if (u32(i) >= ready) return -EIO;
    const req = slots + usize((cons + u32(i)) & mask) * entry;
    i++;
    p.fragments++;
    flags = txRequestFlags(req);
    const size = txRequestSize(req);
    if ((flags & ~TX_FLAGS) != 0 || (flags & NETTXF_extra_info) != 0) p.fail(-EINVAL);
    if (size > rest || txRequestOffset(req) + size > PAGE_SIZE) p.fail(-EINVAL);
    rest -= min(size, rest);
  }
  p.slots = u32(i);
  p.firstSize = rest;
  if (offset + rest > PAGE_SIZE) p.fail(-EINVAL);
  checkSize(p, maxSize, MAX_TX_DATA_SLOTS);
  return i;
}

/**
 * The frontend's walk over the receive packet whose first response is at
 * free-running index `cons`, `ready` responses published from it. Each
 * receive request's id is its slot's position (index & mask, as Linux's
 * netfront posts them), and a data response must echo it. Returns the slots
 * the packet takes, with `p` describing it (p.error nonzero: drop it and
 * count it); or -EIO when its chain runs past the published responses (drop
 * those: a backend pushes whole packets). `maxSize` as for walkTxPacket.
 */
export function walkRxPacket(slots: usize, mask: u32, cons: u32, ready: u32, maxSize: u32, p: NetPacket): i32 {
  const entry = NETIF_RX_ENTRY_SIZE;
  p.reset();
  let i: i32 = 0;
  let flags: u32 = NETRXF_more_data;
  while ((flags & NETRXF_more_data) != 0) {
    if (u32(i) >= ready) return -EIO;
    const index = cons + u32(i);
    const rsp = slots + usize(index & mask) * entry;
    i++;
    p.fragments++;
    flags = rxResponseFlags(rsp);
    const status = rxResponseStatus(rsp);
    // Extra segments follow only the first slot.
    const misplaced = i > 1 && (flags & NETRXF_extra_info) != 0;
    if ((flags & ~RX_FLAGS) != 0 || misplaced || rxResponseId(rsp) != (index & mask)) p.fail(-EINVAL);
    if (status < 0) {
      p.fail(-ENODATA);
    } else {
      if (rxResponseOffset(rsp) + u32(status) > PAGE_SIZE) p.fail(-EINVAL);
      p.size += u32(status);
    }
    if (i == 1) {
      p.flags = flags;
      p.firstSize = status < 0 ? 0 : u32(status);
      if ((flags & NETRXF_extra_info) != 0) {
        i = walkExtras(slots, mask, entry, cons, ready, false, p);
        if (i < 0) return i;
      }
    }
  }
  p.slots = u32(i);
  checkSize(p, maxSize, MAX_RX_DATA_SLOTS);
  return i;
}

// Negotiation values.

function hexDigit(c: u32): i32 {
  if (c - 0x30 < 10) return i32(c - 0x30);
  const lower = c | 0x20;
  if (lower - 0x61 < 6) return i32(lower - 0x61 + 10);
  return -1;
}

/** `mac`: six two-digit hex bytes separated by ':' (either case), stored at `out`; 0, or -EINVAL for anything else. */
export function parseMac(at: usize, length: u32, out: usize): i32 {
  if (length != 17) return -EINVAL;
  for (let i: u32 = 0; i < 6; i++) {
    const p = at + i * 3;
    if (i > 0 && load<u8>(p - 1) != 0x3a) return -EINVAL;
    const high = hexDigit(load<u8>(p));
    const low = hexDigit(load<u8>(p + 1));
    if (high < 0 || low < 0) return -EINVAL;
    store<u8>(out + i, u8((high << 4) | low));
  }
  return 0;
}
