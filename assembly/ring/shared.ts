// io/ring.h request/response rings for any entry size (blkif, netif tx/rx, ...).
// The shared ring is a header (req_prod, req_event, rsp_prod, rsp_event, as in
// every DEFINE_RING_TYPES sring, hence blkif_sring's offsets) followed by a
// power-of-two array of entries, each the size of the larger of the request
// and the response. Each end keeps its private indices in a FrontRing or
// BackRing (unmanaged: it lives until the driver frees it, and hot loops pay
// no GC bookkeeping); indices are free-running u32, masked into the array.
//
// Used as in C: a driver fills or reads `slot(index)` for indices it keeps in
// locals, stores the index back (reqProdPvt, rspCons, reqCons, rspProdPvt),
// then pushes. The peer's producer index is checked before it is believed:
// unconsumedResponses/unconsumedRequests count only entries the peer could
// legally have produced, and an impossible index latches -EIO instead. Slot
// addresses are masked, so no index value can reach outside the ring.
import { EIO } from "../xen/abi";
import { blkif_sring as header } from "../xen/layout";
import { PAGE_SHIFT } from "../xen/pages";
import { storeMb } from "./store-mb";

/** Entries in a ring of `pages` pages: the largest power of two that fits after the header (0 if none does). */
export function ringEntries(pages: u32, entrySize: u32): u32 {
  // The ring's byte size must fit the u32 arithmetic below.
  if (pages == 0 || pages >= u32(1) << (32 - PAGE_SHIFT) || entrySize == 0) return 0;
  const fit = ((pages << PAGE_SHIFT) - header.ring) / entrySize;
  return fit == 0 ? 0 : u32(1) << (31 - clz(fit));
}

/** What both ends share: where the ring is, its geometry and the latched error. */
// @ts-ignore: decorator
@unmanaged
abstract class RingEnd {
  /** Entries in the ring, a power of two. */
  readonly entries: u32;
  /** entries - 1: masks a free-running index into the array. */
  readonly mask: u32;
  /** First entry: the shared ring's address plus the header. */
  readonly slots: usize;
  /** 0, or -EIO once the peer has written an impossible index. */
  error: i32 = 0;

  constructor(
    /** The shared ring (page-aligned, `pages` pages). */
    readonly sring: usize,
    pages: u32,
    readonly entrySize: u32,
  ) {
    this.entries = ringEntries(pages, entrySize);
    assert(this.entries != 0, "ring entry larger than the ring");
    this.mask = this.entries - 1;
    this.slots = sring + header.ring;
  }

  /**
   * Address of the entry for free-running index `index`. Hot loops can hoist
   * the geometry into locals (slots + (index & mask) * entrySize): the engine
   * cannot, as stores to the ring might alias this object.
   */
  // @ts-ignore: decorator
  @inline
  slot(index: u32): usize {
    return this.slots + usize(index & this.mask) * this.entrySize;
  }

  protected fail(): i32 {
    return (this.error = -EIO);
  }

  /**
   * Publishes our producer index (`prodField`) moving from `old` to `now`;
   * true when the peer's event index (`eventField`) lies in (old, now], i.e.
   * the peer asked to be notified of one of these entries. A store with a
   * full barrier, then the load: the entries are visible before the index,
   * and the index before we look at the event.
   */
  protected publish(prodField: u32, eventField: u32, old: u32, now: u32): bool {
    storeMb(this.sring + prodField, now);
    return now - atomic.load<u32>(this.sring + eventField) < now - old;
  }
}

/** The frontend's end: puts requests on the ring and takes responses off it. */
// @ts-ignore: decorator
@unmanaged
export class FrontRing extends RingEnd {
  /** Index of the next request slot to fill; pushRequests publishes up to it. */
  reqProdPvt: u32;
  /** Index of the next response to consume. */
  rspCons: u32;
  /** req_prod as we last published it: the backend cannot answer past it. */
  private reqPushed: u32;

  /** FRONT_RING_ATTACH: private indices start at `index` (0 for a new ring). */
  constructor(sring: usize, pages: u32, entrySize: u32, index: u32 = 0) {
    super(sring, pages, entrySize);
    this.reqProdPvt = this.rspCons = this.reqPushed = index;
  }

  /** SHARED_RING_INIT plus a fresh start at index 0: done by the frontend before it grants the page. */
  init(): void {
    const s = this.sring;
    store<u32>(s + header.req_prod, 0);
    store<u32>(s + header.rsp_prod, 0);
    // Ask for an event on the very first message in each direction.
    store<u32>(s + header.req_event, 1);
    store<u32>(s + header.rsp_event, 1);
    memory.fill(s + header.rsp_event + 4, 0, header.ring - header.rsp_event - 4);
    this.reqProdPvt = this.rspCons = this.reqPushed = 0;
    this.error = 0;
  }

  /** Request slots that can be filled now: those not holding an unanswered request. */
  freeRequests(): u32 {
    return this.entries - (this.reqProdPvt - this.rspCons);
  }

  /** Publishes requests up to reqProdPvt; true when the backend asked to be notified (req_event). */
  pushRequests(): bool {
    const old = this.reqPushed;
    this.reqPushed = this.reqProdPvt;
    return this.publish(header.req_prod, header.req_event, old, this.reqProdPvt);
  }

  /**
   * Responses ready from rspCons on, or -EIO (latched) once the backend has
   * published an rsp_prod it could not have: answers to requests never pushed,
   * or an index behind rspCons.
   */
  unconsumedResponses(): i32 {
    if (this.error != 0) return this.error;
    const ready = atomic.load<u32>(this.sring + header.rsp_prod) - this.rspCons;
    if (ready > this.reqPushed - this.rspCons) return this.fail();
    return i32(ready);
  }

  /** Before sleeping: responses ready (> 0), none and rsp_event armed for the next one (0), or -EIO. */
  finalCheckForResponses(): i32 {
    const ready = this.unconsumedResponses();
    if (ready != 0) return ready;
    storeMb(this.sring + header.rsp_event, this.rspCons + 1);
    // A response that raced with arming the event would not notify: look again.
    return this.unconsumedResponses();
  }
}

/** The backend's end: takes requests off the ring and puts responses on it. */
// @ts-ignore: decorator
@unmanaged
export class BackRing extends RingEnd {
  /** Index of the next request to consume. */
  reqCons: u32;
  /** Index of the next response slot to fill; pushResponses publishes up to it. */
  rspProdPvt: u32;
  /** rsp_prod as we last published it: the frontend cannot reuse slots past it. */
  private rspPushed: u32;

  /** BACK_RING_ATTACH: private indices start at `index` (0 for a new ring). */
  constructor(sring: usize, pages: u32, entrySize: u32, index: u32 = 0) {
    super(sring, pages, entrySize);
    this.reqCons = this.rspProdPvt = this.rspPushed = index;
  }

  /**
   * Requests ready from reqCons on, or -EIO (latched) once the frontend has
   * published a req_prod it could not have: more requests than slots we
   * freed, or an index behind reqCons.
   */
  unconsumedRequests(): i32 {
    if (this.error != 0) return this.error;
    const prod = atomic.load<u32>(this.sring + header.req_prod);
    const inFlight = prod - this.rspPushed;
    const ready = prod - this.reqCons;
    if (inFlight > this.entries || ready > inFlight) return this.fail();
    return i32(ready);
  }

  /** Publishes responses up to rspProdPvt; true when the frontend asked to be notified (rsp_event). */
  pushResponses(): bool {
    const old = this.rspPushed;
    this.rspPushed = this.rspProdPvt;
    return this.publish(header.rsp_prod, header.rsp_event, old, this.rspProdPvt);
  }

  /** Before sleeping: requests ready (> 0), none and req_event armed for the next one (0), or -EIO. */
  finalCheckForRequests(): i32 {
    const ready = this.unconsumedRequests();
    if (ready != 0) return ready;
    storeMb(this.sring + header.req_event, this.reqCons + 1);
    return this.unconsumedRequests();
  }
}
