// The netif protocol (assembly/drivers/netif.ts) as exports, for the tests
// (build/harness.wasm): slot encoding and decoding, the walks over a packet's
// slots each end makes, transmit response statuses, negotiation values.
import * as netif from "../drivers/netif";

export function netif_encode_tx_request(req: usize, gref: u32, offset: u32, flags: u32, id: u32, size: u32): void {
  netif.encodeTxRequest(req, gref, offset, flags, id, size);
}

export function netif_encode_tx_response(rsp: usize, id: u32, status: i32): void {
  netif.encodeTxResponse(rsp, id, status);
}

export function netif_encode_rx_request(req: usize, id: u32, gref: u32): void {
  netif.encodeRxRequest(req, id, gref);
}

export function netif_encode_rx_response(rsp: usize, id: u32, offset: u32, flags: u32, status: i32): void {
  netif.encodeRxResponse(rsp, id, offset, flags, status);
}

export function netif_encode_gso_extra(slot: usize, flags: u32, size: u32, type: u32): void {
  netif.encodeGsoExtra(slot, flags, size, type);
}

/** A slot's field as netif.ts reads it: 0-4 tx request gref, offset, flags, id, size; 5 tx response id; 6-7 rx request id, gref; 8-11 rx response id, offset, flags, status. */
export function netif_field(field: i32, slot: usize): i32 {
  switch (field) {
    case 0:
      return netif.txRequestGref(slot);
    case 1:
      return netif.txRequestOffset(slot);
    case 2:
      return netif.txRequestFlags(slot);
    case 3:
      return netif.txRequestId(slot);
    case 4:
      return netif.txRequestSize(slot);
    case 5:
      return netif.txResponseId(slot);
    case 6:
      return netif.rxRequestId(slot);
    case 7:
      return netif.rxRequestGref(slot);
    case 8:
      return netif.rxResponseId(slot);
    case 9:
      return netif.rxResponseOffset(slot);
    case 10:
      return netif.rxResponseFlags(slot);
    default:
      return netif.rxResponseStatus(slot);
  }
}

export function netif_check_tx_response(rsp: usize): i32 {
  return netif.checkTxResponse(rsp);
}

export function netif_slots_for(size: u32): u32 {
  return netif.slotsFor(size);
}

const walked = new netif.NetPacket();

/** walkTxPacket (tx) or walkRxPacket over the ring entries at `slots`; netif_packet reads what it found. */
export function netif_walk(tx: bool, slots: usize, mask: u32, cons: u32, ready: u32, maxSize: u32): i32 {
  return tx
    ? netif.walkTxPacket(slots, mask, cons, ready, maxSize, walked)
    : netif.walkRxPacket(slots, mask, cons, ready, maxSize, walked);
}

/** The last walk's packet: 0 slots, 1 fragments, 2 size, 3 firstSize, 4 flags, 5 gsoSize, 6 gsoType, 7 error. */
export function netif_packet(field: i32): i32 {
  switch (field) {
    case 0:
      return walked.slots;
    case 1:
      return walked.fragments;
    case 2:
      return walked.size;
    case 3:
      return walked.firstSize;
    case 4:
      return walked.flags;
    case 5:
      return walked.gsoSize;
    case 6:
      return walked.gsoType;
    default:
      return walked.error;
  }
}

export function netif_parse_mac(at: usize, length: u32, out: usize): i32 {
  return netif.parseMac(at, length, out);
}
