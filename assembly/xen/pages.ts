// Guest-physical pages outside the allocator's heap (gfn = address >> 12).
//
// Special pages: the toolstack fills them before boot (xenstore ring, console
// ring) and points HVM_PARAM_STORE_PFN / HVM_PARAM_CONSOLE_PFN at them. The
// module exports where they are, as a PVH kernel's ELF notes would.
//
// Page pool: pages the guest places or shares itself (shared_info, grant
// frames, rings and buffers it grants, targets for foreign mappings).

export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;

export const SPECIAL_PAGES: u32 = 2;
export const SPECIAL_BASE: usize = memory.data(SPECIAL_PAGES << PAGE_SHIFT, PAGE_SIZE);

export const POOL_PAGES: u32 = 512;
const POOL_BASE: usize = memory.data(POOL_PAGES << PAGE_SHIFT, PAGE_SIZE);

/** One bit per pool page, set while the page is handed out. */
const inUse = memory.data(POOL_PAGES / 8);
let freePages: u32 = POOL_PAGES;

export function isPageAligned(address: usize): bool {
  return (address & (PAGE_SIZE - 1)) == 0;
}

/** A zeroed page from the pool, or 0 when the pool is exhausted. */
export function allocPage(): usize {
  return allocPages(1);
}

/**
 * `count` contiguous zeroed pages from the pool (a multi-page ring is one
 * run of memory), lowest first; 0 when there is no such run. Each page goes
 * back with freePage.
 */
export function allocPages(count: u32): usize {
  if (count == 0 || count > freePages) return 0;
  let run: u32 = 0;
  for (let index: u32 = 0; index < POOL_PAGES; index++) {
    run = isHandedOut(index) ? 0 : run + 1;
    if (run < count) continue;
    const first = index + 1 - count;
    for (let page = first; page <= index; page++) {
      const word = inUse + ((page >> 5) << 2);
      store<u32>(word, load<u32>(word) | (1 << (page & 31)));
    }
    freePages -= count;
    const base = POOL_BASE + (usize(first) << PAGE_SHIFT);
    memory.fill(base, 0, count << PAGE_SHIFT);
    return base;
  }
  return 0;
}

function isHandedOut(index: u32): bool {
  return (load<u32>(inUse + ((index >> 5) << 2)) & (1 << (index & 31))) != 0;
}

/** Returns a pool page; false (and nothing changes) for any other address. */
export function freePage(page: usize): bool {
  if (page < POOL_BASE || !isPageAligned(page)) return false;
  const index = u32((page - POOL_BASE) >> PAGE_SHIFT);
  if (index >= POOL_PAGES) return false;
  const word = inUse + ((index >> 5) << 2);
  const mask: u32 = 1 << (index & 31);
  if ((load<u32>(word) & mask) == 0) return false;
  store<u32>(word, load<u32>(word) & ~mask);
  freePages++;
  return true;
}

export function freePageCount(): u32 {
  return freePages;
}
