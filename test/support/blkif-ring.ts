// A blkif shared ring (io/ring.h, io/blkif.h) as a native peer sees it, for
// the tests' hostile frontend and backend: raw slot access over the ring's
// pages (live views, read afresh on each access), and each end's private
// indices. Nothing here trusts the other end: indices are read as they are,
// so a test can write any of them and see what the other side does.
import {
  BLKIF,
  blkif_request,
  blkif_request_segment,
  blkif_response,
  blkif_sring,
  PAGE_SIZE,
} from "../../host/xen/abi.js";

export interface BlkSegment {
  gref: number;
  firstSect: number;
  lastSect: number;
}

export interface BlkRequest {
  operation: number;
  /** As written: may claim more segments than a request has room for. */
  nrSegments: number;
  handle: number;
  id: bigint;
  sector: bigint;
  /** The first min(nrSegments, BLKIF_MAX_SEGMENTS_PER_REQUEST) segments. */
  segments: BlkSegment[];
}

/** A request (read, write, or any other op) of whole pages, one segment per grant. */
export function rw(operation: number, id: bigint, sector: bigint, grefs: number[]): BlkRequest {
  return {
    operation,
    nrSegments: grefs.length,
    handle: 0,
    id,
    sector,
    segments: grefs.map((gref) => ({ gref, firstSect: 0, lastSect: 7 })),
  };
}

export interface BlkResponse {
  id: bigint;
  operation: number;
  status: number;
}

const SLOT = blkif_request.sizeof;
const HEADER = blkif_sring.fields.ring;
const REQ = blkif_request.fields;
const RSP = blkif_response.fields;
const SEG = blkif_request_segment.fields;

/** Slots in a ring of `pages` pages: __RING_SIZE, the largest power of two that fits after the header. */
export function ringSlots(pages: number): number {
  const fit = Math.floor((pages * PAGE_SIZE - HEADER) / SLOT);
  return 2 ** Math.floor(Math.log2(fit));
}

/** The shared page(s): header indices and slots. `pages` returns each page's live bytes. */
export class BlkifSharedRing {
  readonly size: number;

  constructor(private readonly pages: () => Uint8Array[]) {
    this.size = ringSlots(pages().length);
    if (this.size !== BLKIF.RING_SIZE * pages().length)
      throw new Error("a blkif ring has a power-of-two number of pages");
  }

  get reqProd(): number {
    return this.header(blkif_sring.fields.req_prod);
  }
  set reqProd(value: number) {
    this.setHeader(blkif_sring.fields.req_prod, value);
  }
  get reqEvent(): number {
    return this.header(blkif_sring.fields.req_event);
  }
  set reqEvent(value: number) {
    this.setHeader(blkif_sring.fields.req_event, value);
  }
  get rspProd(): number {
    return this.header(blkif_sring.fields.rsp_prod);
  }
  set rspProd(value: number) {
    this.setHeader(blkif_sring.fields.rsp_prod, value);
  }
  get rspEvent(): number {
    return this.header(blkif_sring.fields.rsp_event);
  }
  set rspEvent(value: number) {
    this.setHeader(blkif_sring.fields.rsp_event, value);
  }

  /** SHARED_RING_INIT: indices zero, each side asks to be told of the first entry. */
  init(): void {
    this.reqProd = 0;
    this.rspProd = 0;
    this.reqEvent = 1;
    this.rspEvent = 1;
  }

  request(index: number): BlkRequest {
    const slot = this.slot(index);
    const nrSegments = slot.getUint8(REQ.nr_segments);
    const segments: BlkSegment[] = [];
    for (let i = 0; i < Math.min(nrSegments, BLKIF.MAX_SEGMENTS_PER_REQUEST); i++) {
      const at = REQ.seg + i * blkif_request_segment.sizeof;
      segments.push({
        gref: slot.getUint32(at + SEG.gref, true),
        firstSect: slot.getUint8(at + SEG.first_sect),
        lastSect: slot.getUint8(at + SEG.last_sect),
      });
    }
    return {
      operation: slot.getUint8(REQ.operation),
      nrSegments,
      handle: slot.getUint16(REQ.handle, true),
      id: slot.getBigUint64(REQ.id, true),
      sector: slot.getBigUint64(REQ.sector_number, true),
      segments,
    };
  }

  setRequest(index: number, request: BlkRequest): void {
    const slot = new DataView(new ArrayBuffer(SLOT));
    slot.setUint8(REQ.operation, request.operation);
    slot.setUint8(REQ.nr_segments, request.nrSegments);
    slot.setUint16(REQ.handle, request.handle, true);
    slot.setBigUint64(REQ.id, BigInt.asUintN(64, request.id), true);
    slot.setBigUint64(REQ.sector_number, BigInt.asUintN(64, request.sector), true);
    request.segments.slice(0, BLKIF.MAX_SEGMENTS_PER_REQUEST).forEach((segment, i) => {
      const at = REQ.seg + i * blkif_request_segment.sizeof;
      slot.setUint32(at + SEG.gref, segment.gref, true);
      slot.setUint8(at + SEG.first_sect, segment.firstSect);
      slot.setUint8(at + SEG.last_sect, segment.lastSect);
    });
    this.write(this.slotOffset(index), new Uint8Array(slot.buffer));
  }

  response(index: number): BlkResponse {
    const slot = this.slot(index);
    return {
      id: slot.getBigUint64(RSP.id, true),
      operation: slot.getUint8(RSP.operation),
      status: slot.getInt16(RSP.status, true),
    };
  }

  setResponse(index: number, response: BlkResponse): void {
    const slot = new DataView(new ArrayBuffer(blkif_response.sizeof));
    slot.setBigUint64(RSP.id, BigInt.asUintN(64, response.id), true);
    slot.setUint8(RSP.operation, response.operation & 0xff);
    slot.setInt16(RSP.status, response.status, true);
    this.write(this.slotOffset(index), new Uint8Array(slot.buffer));
  }

  /** Raw bytes anywhere in the slots (a test's garbage). */
  setSlotBytes(index: number, bytes: Uint8Array): void {
    this.write(this.slotOffset(index), bytes.subarray(0, SLOT));
  }

  private slotOffset(index: number): number {
    return HEADER + (index & (this.size - 1)) * SLOT;
  }

  private slot(index: number): DataView {
    return new DataView(this.read(this.slotOffset(index), SLOT).buffer);
  }

  private header(field: number): number {
    return new DataView(this.read(field, 4).buffer).getUint32(0, true);
  }

  private setHeader(field: number, value: number): void {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value >>> 0, true);
    this.write(field, bytes);
  }

  /** A copy of `length` bytes at `offset` into the ring's pages, across page boundaries (slots straddle them). */
  private read(offset: number, length: number): Uint8Array {
    const pages = this.pages();
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = pages[Math.floor((offset + i) / PAGE_SIZE)]![(offset + i) % PAGE_SIZE]!;
    return out;
  }

  private write(offset: number, bytes: Uint8Array): void {
    const pages = this.pages();
    bytes.forEach((byte, i) => (pages[Math.floor((offset + i) / PAGE_SIZE)]![(offset + i) % PAGE_SIZE] = byte));
  }
}

/** The backend's end: takes requests, produces responses (io/ring.h's back ring). */
export class BackRing {
  reqCons = 0;
  rspProdPvt = 0;
  /** The frontend once published more requests than the ring holds. */
  overflowed = false;

  constructor(readonly shared: BlkifSharedRing) {}

  /**
   * The next request, or null when none is published. A req_prod more than a
   * ring ahead of what was taken is no ring at all: null, and `overflowed`.
   */
  take(): BlkRequest | null {
    const prod = this.shared.reqProd;
    if (prod === this.reqCons) return null;
    if ((prod - this.reqCons) >>> 0 > this.shared.size) {
      this.overflowed = true;
      return null;
    }
    const request = this.shared.request(this.reqCons);
    this.reqCons = (this.reqCons + 1) >>> 0;
    return request;
  }

  respond(response: BlkResponse): void {
    this.shared.setResponse(this.rspProdPvt, response);
    this.rspProdPvt = (this.rspProdPvt + 1) >>> 0;
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publishes; whether the frontend asked to be told. */
  push(): boolean {
    const old = this.shared.rspProd;
    const now = this.rspProdPvt;
    this.shared.rspProd = now;
    return (now - this.shared.rspEvent) >>> 0 < (now - old) >>> 0;
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS: asks for an event on the next request; whether one came meanwhile. */
  finalCheck(): boolean {
    if (this.shared.reqProd !== this.reqCons) return true;
    this.shared.reqEvent = (this.reqCons + 1) >>> 0;
    return this.shared.reqProd !== this.reqCons;
  }
}

/** The frontend's end: produces requests, takes responses (io/ring.h's front ring). */
export class FrontRing {
  reqProdPvt = 0;
  rspCons = 0;

  constructor(readonly shared: BlkifSharedRing) {}

  submit(request: BlkRequest): void {
    this.shared.setRequest(this.reqProdPvt, request);
    this.reqProdPvt = (this.reqProdPvt + 1) >>> 0;
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY. */
  push(): boolean {
    const old = this.shared.reqProd;
    const now = this.reqProdPvt;
    this.shared.reqProd = now;
    return (now - this.shared.reqEvent) >>> 0 < (now - old) >>> 0;
  }

  /** The responses published since the last call; asks for an event on the next one. */
  takeResponses(): BlkResponse[] {
    const responses: BlkResponse[] = [];
    for (;;) {
      const prod = this.shared.rspProd;
      while (this.rspCons !== prod && responses.length <= this.shared.size) {
        responses.push(this.shared.response(this.rspCons));
        this.rspCons = (this.rspCons + 1) >>> 0;
      }
      this.shared.rspEvent = (this.rspCons + 1) >>> 0;
      if (this.shared.rspProd === this.rspCons || responses.length > this.shared.size) return responses;
    }
  }
}
