// What the module's exports let the host touch. Strings and input buffers
// may lie anywhere in linear memory; anything Xen or a peer writes into (a
// result, a mapping, a granted page) must be on a page page_alloc handed
// out, so a hostile caller cannot have the module's data, heap, shared_info
// or grant frames overwritten or shared.
import { PAGE_SHIFT, PAGE_SIZE } from "./pages";

const userPages = new Set<usize>();

/** page_alloc handed `page` to the host. */
export function addUserPage(page: usize): void {
  userPages.add(page);
}

/** The host gave `page` back; false when it was not a user page. */
export function removeUserPage(page: usize): bool {
  return userPages.delete(page);
}

/** `address` is the start of a page page_alloc handed out. */
export function isUserPage(address: usize): bool {
  return (address & (<usize>PAGE_SIZE - 1)) == 0 && userPages.has(address);
}

/** The `count` pages from `first` on (one run of memory) are all pages page_alloc handed out. */
export function areUserPages(first: usize, count: usize): bool {
  for (let i: usize = 0; i < count; i++) {
    if (!isUserPage(first + (i << PAGE_SHIFT))) return false;
  }
  return true;
}

/**
 * Whether an export may have Xen put foreign data at `address`: inside
 * linear memory only on a page_alloc page; beyond linear memory the address
 * goes to Xen, which rejects it with its own error.
 */
export function mayAlias(address: usize): bool {
  if (address >= (<usize>memory.size()) << 16) return true;
  return userPages.has(address & ~(<usize>PAGE_SIZE - 1));
}

/** [address, address + length) lies in linear memory. */
export function inMemory(address: usize, length: u32): bool {
  return u64(address) + u64(length) <= u64(memory.size()) << 16;
}

/** The UTF-8 string at [text, text + length), or null when it is not all in memory. */
export function stringIn(text: usize, length: u32): string | null {
  return inMemory(text, length) ? String.UTF8.decodeUnsafe(text, length) : null;
}
