// Guest-physical pages outside the allocator's heap (gfn = address >> 12).
//
// Special pages: where the guest moves the xenstore and console rings that
// the toolstack placed at HVM_PARAM_STORE_PFN / HVM_PARAM_CONSOLE_PFN
// (xen/hvm.ts's SpecialRing).
//
// Page pool: pages the guest places or shares itself (shared_info, grant
// frames, rings and buffers it grants, targets for foreign mappings). It
// starts in static data and grows at the end of linear memory when a driver
// domain needs more.

import { PAGE_SHIFT, PAGE_SIZE } from "./abi";

export { PAGE_SHIFT, PAGE_SIZE } from "./abi";

// The console page first: the page after it is the store page, never static
// data the garbage collector writes to (its bookkeeping in the headers of
// static objects), so a write after the console ring is always a stray one.
export const CONSOLE_PAGE: usize = memory.data(PAGE_SIZE, PAGE_SIZE);
export const STORE_PAGE: usize = memory.data(PAGE_SIZE, PAGE_SIZE);

/** The pool's first region, in the module's static data: enough for a guest's own rings and grants. */
const STATIC_POOL_PAGES: u32 = 512;
/**
 * Beyond it the pool grows linear memory by regions of at least this many
 * pages (4 MiB): a driver domain maps a ring of up to 16 pages for every
 * device it serves. The heap allocator only ever claims memory it grew
 * itself, so these regions stay the pool's.
 */
const GROWTH_PAGES: u32 = 1024;
/** The most pages the pool grows to (64 MiB), so that no peer can make it take all memory. */
const MAX_POOL_PAGES: u32 = 16384;
const PAGES_PER_WASM_PAGE: u32 = 16;

/** A run of pool pages, with one bit per page set while the page is handed out. */
class PoolRegion {
  readonly inUse: StaticArray<u32>;

  constructor(
    readonly base: usize,
    readonly pages: u32,
  ) {
    this.inUse = new StaticArray<u32>((pages + 31) >> 5);
  }

  isHandedOut(index: u32): bool {
    return (this.inUse[index >> 5] & (1 << (index & 31))) != 0;
  }

  mark(index: u32, handedOut: bool): void {
    const mask: u32 = 1 << (index & 31);
    const word = this.inUse[index >> 5];
    this.inUse[index >> 5] = handedOut ? word | mask : word & ~mask;
  }

  /** `count` contiguous free pages, marked handed out: the first one's address, or 0. */
  take(count: u32): usize {
    let run: u32 = 0;
    for (let index: u32 = 0; index < this.pages; index++) {
      run = this.isHandedOut(index) ? 0 : run + 1;
      if (run < count) continue;
      const first = index + 1 - count;
      for (let page = first; page <= index; page++) this.mark(page, true);
      return this.base + (usize(first) << PAGE_SHIFT);
    }
    return 0;
  }

  /** Whether `page` is one of this region's and was handed out; if so it is free again. */
  give(page: usize): bool {
    if (page < this.base) return false;
    const index = (page - this.base) >> PAGE_SHIFT;
    if (index >= usize(this.pages) || !this.isHandedOut(u32(index))) return false;
    this.mark(u32(index), false);
    return true;
  }
}

const regions: PoolRegion[] = [
  new PoolRegion(memory.data(STATIC_POOL_PAGES << PAGE_SHIFT, PAGE_SIZE), STATIC_POOL_PAGES),
];
let poolPages: u32 = STATIC_POOL_PAGES;

export function isPageAligned(address: usize): bool {
  return (address & (PAGE_SIZE - 1)) == 0;
}

/** A zeroed page from the pool, or 0 when the pool is exhausted. */
export function allocPage(): usize {
  return allocPages(1);
}

/**
 * `count` contiguous zeroed pages from the pool (a multi-page ring is one
 * run of memory), lowest first; 0 when there is no such run and the pool
 * cannot grow one. Each page goes back with freePage.
 */
export function allocPages(count: u32): usize {
  if (count == 0) return 0;
  let base: usize = 0;
  for (let i = 0; i < regions.length && base == 0; i++) base = regions[i].take(count);
  if (base == 0 && grow(count)) base = regions[regions.length - 1].take(count);
  if (base == 0) return 0;
  memory.fill(base, 0, count << PAGE_SHIFT);
  return base;
}

/** Adds a region of at least `count` pages at the end of linear memory; false when memory cannot grow. */
function grow(count: u32): bool {
  const pages = max(count, GROWTH_PAGES);
  if (pages > MAX_POOL_PAGES - poolPages) return false;
  const wasmPages = i32((pages + PAGES_PER_WASM_PAGE - 1) / PAGES_PER_WASM_PAGE);
  const before = memory.grow(wasmPages);
  if (before < 0) return false;
  const added = u32(wasmPages) * PAGES_PER_WASM_PAGE;
  regions.push(new PoolRegion(usize(before) << 16, added));
  poolPages += added;
  return true;
}

/** Returns a pool page; false (and nothing changes) for any other address. */
export function freePage(page: usize): bool {
  if (!isPageAligned(page)) return false;
  for (let i = 0; i < regions.length; i++) {
    if (regions[i].give(page)) return true;
  }
  return false;
}
