// Grant table v1: our own table (grant a page to a peer, end that access) and
// foreign grants (map a peer's page here, unmap it, copy through Xen).
//
// The table's frames are shared with Xen and the peers; an entry's flags word is
// published and retired with atomics so nobody sees a half-written entry and a
// peer's GTF_reading/GTF_writing can never be overwritten unseen.
//
// A mapping takes the place of our page at host_addr in the p2m, and an
// unmap leaves a hole there (Xen: create_grant_p2m_mapping and
// replace_grant_p2m_mapping), so, as Linux maps grants on ballooned pages,
// the page's RAM goes back to Xen before the map and comes back after the
// unmap: otherwise each map would leave Xen a page of ours it never frees,
// and each unmap a hole that crashes us when the pool hands it out again.

import {
  DOMID_SELF,
  EBUSY,
  EINVAL,
  ENODEV,
  ENOSPC,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_bad_copy_arg,
  GNTST_bad_domain,
  GNTST_bad_virt_addr,
  GNTST_okay,
  GNTTABOP_copy,
  GNTTABOP_map_grant_ref,
  GNTTABOP_query_size,
  GNTTABOP_setup_table,
  GNTTABOP_unmap_grant_ref,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
  XENMAPSPACE_grant_table,
} from "../xen/abi";
import { grant_table_op } from "../xen/hypercall";
import {
  gnttab_copy,
  gnttab_map_grant_ref,
  gnttab_query_size,
  gnttab_setup_table,
  gnttab_unmap_grant_ref,
  grant_entry_v1,
} from "../xen/layout";
import { allocPage, freePage, isPageAligned, PAGE_SHIFT, PAGE_SIZE } from "../xen/pages";
import { addToPhysmap } from "../xen/physmap";
import { populatePage, releasePage } from "../xen/reservation";

/** Frames we ask for: 2048 refs, enough for a block ring's worth of segments and more. */
export const WANTED_FRAMES: u32 = 4;
export const ENTRIES_PER_FRAME: u32 = PAGE_SIZE / grant_entry_v1.SIZE;
/** Refs 0..7 belong to the toolstack (0 console, 1 xenstore); never handed out. */
export const NR_RESERVED: u32 = 8;

const MAX_REFS: u32 = WANTED_FRAMES * ENTRIES_PER_FRAME;
/** The end of the free list, and the mark of a ref that is handed out. */
const NONE: u32 = 0xffffffff;
const ALLOCATED: u32 = 0xfffffffe;
const DOMID_MAX: u32 = 0xffff;

const frames = new StaticArray<usize>(WANTED_FRAMES);
let placedFrames: u32 = 0;
/** Frames in use: 0 until setup() has placed them all. */
let nrFrames: u32 = 0;
let nrRefs: u32 = 0;
/** next[ref]: the following free ref, or ALLOCATED while the ref is in use. */
const next = new StaticArray<u32>(MAX_REFS);
let freeHead: u32 = NONE;
let freeCount: u32 = 0;
/** Pages of ours that hold a foreign mapping (host_addr of each mapGrant not yet unmapped). */
const mappedPages = new Set<usize>();
/**
 * Pages of ours with no RAM behind them: Xen did not populate them again
 * after a mapping left them. Never reused (a touch would crash us); a
 * later mapGrant may still map a grant there, which fills the hole.
 */
const holes = new Set<usize>();

export function freeRefCount(): u32 {
  return freeCount;
}

/** Pages lost as holes (see `holes`): 0 unless Xen refused to populate a page again. */
export function holeCount(): u32 {
  return holes.size;
}

/**
 * Sizes the table (up to WANTED_FRAMES, within Xen's maximum) and places every
 * frame on a pool page. 0, or -errno / a GNTST_* status; it may be retried.
 */
export function setup(): i32 {
  if (nrFrames != 0) return 0;
  const query = memory.data(gnttab_query_size.SIZE, 8);
  memory.fill(query, 0, gnttab_query_size.SIZE);
  store<u16>(query + gnttab_query_size.dom, DOMID_SELF);
  let rc = grant_table_op(GNTTABOP_query_size, query, 1);
  if (rc < 0) return rc;
  rc = load<i16>(query + gnttab_query_size.status);
  if (rc != GNTST_okay) return rc;
  const max = load<u32>(query + gnttab_query_size.max_nr_frames);
  const count = min(max, WANTED_FRAMES);
  if (count == 0) return -ENOSPC;

  const frameList = memory.data(WANTED_FRAMES * 8, 8);
  const setupArg = memory.data(gnttab_setup_table.SIZE, 8);
  memory.fill(setupArg, 0, gnttab_setup_table.SIZE);
  store<u16>(setupArg + gnttab_setup_table.dom, DOMID_SELF);
  store<u32>(setupArg + gnttab_setup_table.nr_frames, count);
  store<u64>(setupArg + gnttab_setup_table.frame_list, frameList);
  rc = grant_table_op(GNTTABOP_setup_table, setupArg, 1);
  if (rc < 0) return rc;
  rc = load<i16>(setupArg + gnttab_setup_table.status);
  if (rc != GNTST_okay) return rc;

  // A frame Xen has placed stays Xen's page (it never goes back to the pool);
  // a retry after a failure carries on from the first frame not yet placed.
  for (let i = placedFrames; i < count; i++) {
    const page = allocPage();
    if (page == 0) return -ENODEV;
    rc = placeFrame(i, page);
    if (rc < 0) {
      freePage(page);
      return rc;
    }
    frames[i] = page;
    placedFrames = i + 1;
  }
  nrFrames = count;
  nrRefs = count * ENTRIES_PER_FRAME;
  // Lowest refs first, which keeps ref numbers small and predictable.
  freeHead = NONE;
  for (let ref = nrRefs; ref > NR_RESERVED; ref--) {
    next[ref - 1] = freeHead;
    freeHead = ref - 1;
  }
  freeCount = nrRefs - NR_RESERVED;
  return 0;
}

/**
 * After a restore into a new domain (save/restore, migration), which has no
 * grant frames of its own yet: each frame is placed again on its page. 0 or -errno.
 */
export function placeFramesAgain(): i32 {
  for (let i: u32 = 0; i < placedFrames; i++) {
    const rc = placeFrame(i, frames[i]);
    if (rc < 0) return rc;
  }
  return 0;
}

function placeFrame(index: u32, page: usize): i32 {
  return addToPhysmap(XENMAPSPACE_grant_table, index, page);
}

function entry(ref: u32): usize {
  return frames[ref / ENTRIES_PER_FRAME] + (ref % ENTRIES_PER_FRAME) * grant_entry_v1.SIZE;
}

/** Lets `domid` map (or copy) our frame `gfn`. The ref, or -ENOSPC / -EINVAL / -ENODEV. */
export function grantAccess(domid: u32, gfn: u32, readonly: bool): i32 {
  if (nrFrames == 0) return -ENODEV;
  if (domid > DOMID_MAX) return -EINVAL;
  if (freeHead == NONE) return -ENOSPC;
  const ref = freeHead;
  freeHead = next[ref];
  next[ref] = ALLOCATED;
  freeCount--;
  const e = entry(ref);
  store<u16>(e + grant_entry_v1.domid, domid);
  store<u32>(e + grant_entry_v1.frame, gfn);
  // The flags go last and atomically: once they say "permit", domid and frame are valid.
  atomic.store<u16>(e + grant_entry_v1.flags, GTF_permit_access | (readonly ? GTF_readonly : 0));
  return i32(ref);
}

/**
 * Revokes a grant. -EBUSY while the peer still has it mapped (the ref stays
 * granted and allocated: retry after the peer unmaps); -EINVAL for a ref we
 * did not hand out; 0 once revoked and the ref is free again.
 */
export function endAccess(ref: u32): i32 {
  if (nrFrames == 0) return -ENODEV;
  if (ref < NR_RESERVED || ref >= nrRefs || next[ref] != ALLOCATED) return -EINVAL;
  const flags = entry(ref) + grant_entry_v1.flags;
  let seen = atomic.load<u16>(flags);
  // Clear the entry only if, at the instant of the exchange, nobody is reading or writing it.
  while (true) {
    if ((seen & (GTF_reading | GTF_writing)) != 0) return -EBUSY;
    const found = atomic.cmpxchg<u16>(flags, seen, 0);
    if (found == seen) break;
    seen = found;
  }
  next[ref] = freeHead;
  freeHead = ref;
  freeCount++;
  return 0;
}

/**
 * Maps grant `ref` of `domid` at our page `hostAddr`, whose RAM goes back to
 * Xen meanwhile. The handle (≥ 0) for unmap; GNTST_bad_virt_addr when
 * `hostAddr` is not a page Xen takes back (unaligned, beyond memory, already
 * a mapping); or the negative GNTST_* status (or -errno) of the map, after
 * which the page is RAM again (or, if Xen would not populate it, a hole).
 */
export function mapGrant(domid: u32, ref: u32, hostAddr: usize, readonly: bool): i32 {
  if (domid > DOMID_MAX) return GNTST_bad_domain;
  if (!isPageAligned(hostAddr)) return GNTST_bad_virt_addr;
  if (!holes.has(hostAddr)) {
    if (!releasePage(hostAddr)) return GNTST_bad_virt_addr;
    holes.add(hostAddr);
  }
  const op = memory.data(gnttab_map_grant_ref.SIZE, 8);
  memory.fill(op, 0, gnttab_map_grant_ref.SIZE);
  store<u64>(op + gnttab_map_grant_ref.host_addr, hostAddr);
  store<u32>(op + gnttab_map_grant_ref.flags, GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0));
  store<u32>(op + gnttab_map_grant_ref.ref, ref);
  store<u16>(op + gnttab_map_grant_ref.dom, domid);
  const rc = grant_table_op(GNTTABOP_map_grant_ref, op, 1);
  const st = rc < 0 ? rc : i32(load<i16>(op + gnttab_map_grant_ref.status));
  if (st != GNTST_okay) {
    refill(hostAddr);
    return st;
  }
  holes.delete(hostAddr);
  mappedPages.add(hostAddr);
  return i32(load<u32>(op + gnttab_map_grant_ref.handle));
}

/**
 * Undoes a mapGrant: GNTST_okay, or the GNTST_* status (or -errno) Xen gave.
 * After an unmap the page gets RAM again; if Xen refuses, the unmap still
 * succeeded, and the page is counted in holeCount and never reused.
 */
export function unmapGrant(hostAddr: usize, handle: u32): i32 {
  const op = memory.data(gnttab_unmap_grant_ref.SIZE, 8);
  memory.fill(op, 0, gnttab_unmap_grant_ref.SIZE);
  store<u64>(op + gnttab_unmap_grant_ref.host_addr, hostAddr);
  store<u32>(op + gnttab_unmap_grant_ref.handle, handle);
  const rc = grant_table_op(GNTTABOP_unmap_grant_ref, op, 1);
  if (rc < 0) return rc;
  const st = load<i16>(op + gnttab_unmap_grant_ref.status);
  if (st == GNTST_okay && mappedPages.delete(hostAddr)) {
    holes.add(hostAddr);
    refill(hostAddr);
  }
  return st;
}

/** Puts RAM back at `page`, a hole of ours; one Xen will not populate stays in `holes`. */
function refill(page: usize): void {
  if (populatePage(page)) holes.delete(page);
}

/**
 * Whether a page must not be reused: it holds a foreign mapping, or one of
 * our live grants names its frame (the peer would go on reading or writing
 * whatever it held next), or it is a hole (touching it would crash us).
 */
export function pageInUse(page: usize): bool {
  if (mappedPages.has(page) || holes.has(page)) return true;
  const gfn = u32(page >> PAGE_SHIFT);
  for (let ref = NR_RESERVED; ref < nrRefs; ref++) {
    if (next[ref] == ALLOCATED && load<u32>(entry(ref) + grant_entry_v1.frame) == gfn) return true;
  }
  return false;
}

/**
 * Copies `len` bytes from offset `offset` of `domid`'s grant `ref` to our
 * memory at `dest` (within one page), without mapping. GNTST_okay, a GNTST_*
 * status, or -errno.
 */
export function copyFromGrant(domid: u32, ref: u32, offset: u32, dest: usize, len: u32): i32 {
  return copy(GNTCOPY_source_gref, domid, ref, offset, dest, len);
}

/**
 * Copies `len` bytes from our memory at `source` (within one page) to offset
 * `offset` of `domid`'s grant `ref`, which must be writable. GNTST_okay, a
 * GNTST_* status, or -errno.
 */
export function copyToGrant(domid: u32, ref: u32, offset: u32, source: usize, len: u32): i32 {
  return copy(GNTCOPY_dest_gref, domid, ref, offset, source, len);
}

/** One GNTTABOP_copy between `domid`'s grant `ref` (at `offset`) and our `local` address, in the direction `flags` names. */
function copy(flags: u32, domid: u32, ref: u32, offset: u32, local: usize, len: u32): i32 {
  if (domid > DOMID_MAX) return GNTST_bad_domain;
  // offset and len are u16 fields: a larger value would wrap into a valid-looking copy.
  if (offset > 0xffff || len > 0xffff) return GNTST_bad_copy_arg;
  const op = memory.data(gnttab_copy.SIZE, 8);
  memory.fill(op, 0, gnttab_copy.SIZE);
  const fromGrant = flags == GNTCOPY_source_gref;
  copySide(op + (fromGrant ? gnttab_copy.source_ref : gnttab_copy.dest_ref), ref, domid, offset);
  copySide(
    op + (fromGrant ? gnttab_copy.dest_gmfn : gnttab_copy.source_gmfn),
    local >> PAGE_SHIFT,
    DOMID_SELF,
    u32(local & (PAGE_SIZE - 1)),
  );
  store<u16>(op + gnttab_copy.len, len);
  store<u16>(op + gnttab_copy.flags, flags);
  const rc = grant_table_op(GNTTABOP_copy, op, 1);
  if (rc < 0) return rc;
  return load<i16>(op + gnttab_copy.status);
}

/** Fills one side of a gnttab_copy (source or dest, laid out alike) at `side`: a ref or gmfn, its domain, the offset. */
function copySide(side: usize, refOrGmfn: u64, domid: u32, offset: u32): void {
  // A ref is the low half of the 64-bit union it shares with the gmfn.
  store<u64>(side, refOrGmfn);
  store<u16>(side + (gnttab_copy.source_domid - gnttab_copy.source_ref), domid);
  store<u16>(side + (gnttab_copy.source_offset - gnttab_copy.source_ref), offset);
}
