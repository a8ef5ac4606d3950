// The grant table exports, and the pages the guest grants or maps grants at.
import { EBUSY, EINVAL, GNTST_bad_virt_addr } from "../xen/abi";
import { allocPage, freePage } from "../xen/pages";
import { addUserPage, isUserPage, mayAlias, removeUserPage } from "../xen/userpages";
import * as gnttab from "./gnttab";

export function gnttab_grant_access(domid: u32, gfn: u32, readonly: bool): i32 {
  return gnttab.grantAccess(domid, gfn, readonly);
}

export function gnttab_end_access(ref: u32): i32 {
  return gnttab.endAccess(ref);
}

export function gnttab_free_refs(): u32 {
  return gnttab.freeRefCount();
}

/** Pages a mapping left with no RAM because Xen would not populate them again: never reused. */
export function gnttab_hole_pages(): u32 {
  return gnttab.holeCount();
}

export function gnttab_map(domid: u32, ref: u32, host_addr: usize, readonly: bool): i32 {
  if (!mayAlias(host_addr)) return GNTST_bad_virt_addr;
  return gnttab.mapGrant(domid, ref, host_addr, readonly);
}

export function gnttab_unmap(host_addr: usize, handle: u32): i32 {
  return gnttab.unmapGrant(host_addr, handle);
}

export function gnttab_copy_from(domid: u32, ref: u32, offset: u32, dest: usize, len: u32): i32 {
  if (!mayAlias(dest)) return GNTST_bad_virt_addr;
  return gnttab.copyFromGrant(domid, ref, offset, dest, len);
}

/** A zeroed, page-aligned page outside the heap (to grant, or to map a grant at); 0 when none is left. */
export function page_alloc(): usize {
  const page = allocPage();
  if (page != 0) addUserPage(page);
  return page;
}

/**
 * 0; -EINVAL for anything page_alloc did not hand out (shared_info and grant
 * frames included); -EBUSY while a peer may still touch it (mapped here, or
 * granted and not yet ended).
 */
export function page_free(page: usize): i32 {
  if (!isUserPage(page)) return -EINVAL;
  if (gnttab.pageInUse(page)) return -EBUSY;
  removeUserPage(page);
  freePage(page);
  return 0;
}
