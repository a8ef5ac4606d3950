// Raw memory_op and grant hypercalls of the hypervisor tests' guest
// (test/support/hypervisor-guest.ts), for the reservation and p2m tests: structs are
// built at SCRATCH, extent lists after them.
import { expect } from "vitest";
import {
  DOMID,
  GNTCOPY,
  GNTMAP,
  GNTTABOP,
  GTF,
  gnttab_copy,
  gnttab_map_grant_ref,
  gnttab_unmap_grant_ref,
  type StructLayout,
  XENMAPSPACE,
  XENMEM,
  xen_add_to_physmap,
  xen_memory_reservation,
} from "../../host/xen/abi.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import { GuestMemory } from "../../host/xen/memory.js";
import type { Engine } from "../../runtime/engine.js";
import { loadTestGuest, SCRATCH, type TestGuest, view, WASM_PAGES } from "./hypervisor-guest.js";

export const PAGE = 4096;
export const TABLE_GFN = 17;
export const GRANTED_GFN = 20;
export const REF = 8;
/** Where the extent list goes, after the struct at SCRATCH. */
const LIST = SCRATCH + 256;
/** The test guest's gfns: 64, all RAM. */
export const GFNS = WASM_PAGES * 16;

export function struct<F extends string>(guest: TestGuest, layout: StructLayout<F>) {
  const memory = new GuestMemory(() => guest.memory());
  memory.bytes().fill(0, SCRATCH, SCRATCH + layout.sizeof);
  return memory.struct(SCRATCH, layout)!;
}

export interface Reservation {
  order?: number;
  domid?: number;
  flags?: number;
  /** The continuation's start, in the command's bits above 6. */
  start?: number;
  nrExtents?: bigint;
  list?: number;
}

/** One XENMEM_decrease_reservation or populate_physmap of `gfns`: what memory_op returned. */
export function reserve(guest: TestGuest, op: number, gfns: number[], r: Reservation = {}): number {
  const arg = struct(guest, xen_memory_reservation);
  const list = r.list ?? LIST;
  gfns.forEach((gfn, i) => view(guest).setBigUint64(list + i * 8, BigInt(gfn), true));
  arg.setU64("extent_start", BigInt(list));
  arg.setU64("nr_extents", r.nrExtents ?? BigInt(gfns.length));
  arg.setU32("extent_order", r.order ?? 0);
  arg.setU32("mem_flags", r.flags ?? 0);
  arg.setU16("domid", r.domid ?? DOMID.SELF);
  return guest.exports.hc_memory(op | ((r.start ?? 0) << 6), SCRATCH);
}

export const decrease = (guest: TestGuest, gfns: number[], r?: Reservation) =>
  reserve(guest, XENMEM.decrease_reservation, gfns, r);
export const populate = (guest: TestGuest, gfns: number[], r?: Reservation) =>
  reserve(guest, XENMEM.populate_physmap, gfns, r);

export function place(guest: TestGuest, space: number, idx: number, gpfn: number): number {
  const op = struct(guest, xen_add_to_physmap);
  op.setU16("domid", DOMID.SELF);
  op.setU32("space", space);
  op.setU64("idx", BigInt(idx));
  op.setU64("gpfn", BigInt(gpfn));
  return guest.exports.hc_memory(XENMEM.add_to_physmap, SCRATCH);
}

export function map(mapper: TestGuest, granter: TestGuest, gfn: number): { status: number; handle: number } {
  const op = struct(mapper, gnttab_map_grant_ref);
  op.setU64("host_addr", BigInt(gfn * PAGE));
  op.setU32("flags", GNTMAP.host_map);
  op.setU32("ref", REF);
  op.setU16("dom", granter.domid);
  expect(mapper.exports.hc_gnttab(GNTTABOP.map_grant_ref, SCRATCH, 1)).toBe(0);
  return { status: op.i16("status"), handle: op.u32("handle") };
}

export function unmap(mapper: TestGuest, gfn: number, handle: number): number {
  const op = struct(mapper, gnttab_unmap_grant_ref);
  op.setU64("host_addr", BigInt(gfn * PAGE));
  op.setU32("handle", handle);
  expect(mapper.exports.hc_gnttab(GNTTABOP.unmap_grant_ref, SCRATCH, 1)).toBe(0);
  return op.i16("status");
}

/** A grant copy of 8 bytes between the caller's own frames `from` and `to`. */
export function copyFrames(guest: TestGuest, from: number, to: number): number {
  const op = struct(guest, gnttab_copy);
  op.setU64("source.u.gmfn", BigInt(from));
  op.setU16("source.domid", DOMID.SELF);
  op.setU64("dest.u.gmfn", BigInt(to));
  op.setU16("dest.domid", DOMID.SELF);
  op.setU16("len", 8);
  expect(guest.exports.hc_gnttab(GNTTABOP.copy, SCRATCH, 1)).toBe(0);
  return op.i16("status");
}

/** A grant copy of 8 bytes from `granter`'s grant REF to the mapper's own frame `to`. */
export function copyFromGrant(mapper: TestGuest, granter: TestGuest, to: number): number {
  const op = struct(mapper, gnttab_copy);
  op.setU32("source.u.ref", REF);
  op.setU16("source.domid", granter.domid);
  op.setU64("dest.u.gmfn", BigInt(to));
  op.setU16("dest.domid", DOMID.SELF);
  op.setU16("len", 8);
  op.setU16("flags", GNTCOPY.source_gref);
  expect(mapper.exports.hc_gnttab(GNTTABOP.copy, SCRATCH, 1)).toBe(0);
  return op.i16("status");
}

/** Two test guests: `peer` grants `guest` (ref REF) its page GRANTED_GFN, filled with 0x5a. */
export function grantingPair(hv: Hypervisor, engine: Engine): { guest: TestGuest; peer: TestGuest } {
  const guest = loadTestGuest(hv, "guest", engine);
  const peer = loadTestGuest(hv, "peer", engine);
  expect(place(peer, XENMAPSPACE.grant_table, 0, TABLE_GFN)).toBe(0);
  const entry = TABLE_GFN * PAGE + REF * 8;
  view(peer).setUint16(entry + 2, guest.domid, true);
  view(peer).setUint32(entry + 4, GRANTED_GFN, true);
  view(peer).setUint16(entry, GTF.permit_access, true);
  peer.memory().fill(0x5a, GRANTED_GFN * PAGE, (GRANTED_GFN + 1) * PAGE);
  return { guest, peer };
}
