// io/ring.h rings (assembly/ring/shared.ts) as exports, for the tests
// (build/harness.wasm): one front and one back end, on the same or different
// shared rings.
import { BackRing, FrontRing, ringEntries } from "../ring/shared";

let front: FrontRing | null = null;
let back: BackRing | null = null;

export function ring_entries(pages: u32, entrySize: u32): u32 {
  return ringEntries(pages, entrySize);
}

/** A new front end (the shared ring untouched); returns its entry count. */
export function front_attach(sring: usize, pages: u32, entrySize: u32, index: u32): u32 {
  if (front) heap.free(changetype<usize>(front));
  front = new FrontRing(sring, pages, entrySize, index);
  return front!.entries;
}

export function front_init(): void {
  front!.init();
}

export function front_slot(index: u32): usize {
  return front!.slot(index);
}

export function front_free_requests(): u32 {
  return front!.freeRequests();
}

export function front_req_prod_pvt(): u32 {
  return front!.reqProdPvt;
}

export function front_set_req_prod_pvt(index: u32): void {
  front!.reqProdPvt = index;
}

export function front_rsp_cons(): u32 {
  return front!.rspCons;
}

export function front_set_rsp_cons(index: u32): void {
  front!.rspCons = index;
}

export function front_push_requests(): bool {
  return front!.pushRequests();
}

export function front_unconsumed_responses(): i32 {
  return front!.unconsumedResponses();
}

export function front_final_check(): i32 {
  return front!.finalCheckForResponses();
}

export function front_error(): i32 {
  return front!.error;
}

/** A new back end; returns its entry count. */
export function back_attach(sring: usize, pages: u32, entrySize: u32, index: u32): u32 {
  if (back) heap.free(changetype<usize>(back));
  back = new BackRing(sring, pages, entrySize, index);
  return back!.entries;
}

export function back_slot(index: u32): usize {
  return back!.slot(index);
}

export function back_req_cons(): u32 {
  return back!.reqCons;
}

export function back_set_req_cons(index: u32): void {
  back!.reqCons = index;
}

export function back_rsp_prod_pvt(): u32 {
  return back!.rspProdPvt;
}

export function back_set_rsp_prod_pvt(index: u32): void {
  back!.rspProdPvt = index;
}

export function back_unconsumed_requests(): i32 {
  return back!.unconsumedRequests();
}

export function back_push_responses(): bool {
  return back!.pushResponses();
}

export function back_final_check(): i32 {
  return back!.finalCheckForRequests();
}

export function back_error(): i32 {
  return back!.error;
}
