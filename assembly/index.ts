// xenbus.wasm: the guest-side Xen driver stack. Everything exported here is the
// module's interface to the unikernel and to the host runtime.
import "./xen/panic"; // the abort handler named in asconfig.json
export { xen_abi_layouts, xen_abi_constants } from "./xen/describe";
import { SPECIAL_BASE, SPECIAL_PAGES } from "./xen/pages";

/** Where the toolstack puts the xenstore and console rings (store first). */
export const xen_special_base: usize = SPECIAL_BASE;
export const xen_special_pages: u32 = SPECIAL_PAGES;

import * as evtchn from "./evtchn/evtchn";
import * as gnttab from "./gnttab/gnttab";
import { allocPage, freePage, PAGE_SIZE } from "./xen/pages";
import { EBUSY, EINVAL, GNTST_bad_virt_addr } from "./xen/abi";

/**
 * Maps shared_info and sets up the grant table. 0, or the -errno / GNTST_*
 * of the step that failed. Idempotent: what is already up is kept, so a
 * second call returns 0 and a failed call may be retried.
 */
export function xen_boot(): i32 {
  const rc = evtchn.mapSharedInfo();
  if (rc < 0) return rc;
  return gnttab.setup();
}

/** Called by the hypervisor when events are pending and the guest is not running. */
export function xen_upcall(): void {
  evtchn.dispatch();
}

export function evtchn_alloc_unbound(remote_dom: u32): i32 {
  return evtchn.allocUnbound(remote_dom);
}

export function evtchn_bind_interdomain(remote_dom: u32, remote_port: u32): i32 {
  return evtchn.bindInterdomain(remote_dom, remote_port);
}

export function evtchn_send(port: u32): i32 {
  return evtchn.send(port);
}

export function evtchn_close(port: u32): i32 {
  return evtchn.close(port);
}

export function evtchn_mask(port: u32): i32 {
  return evtchn.mask(port);
}

export function evtchn_unmask(port: u32): i32 {
  return evtchn.unmask(port);
}

/** EVTCHNSTAT_*; the peer of that port is then read with the two functions below. */
export function evtchn_status(port: u32): i32 {
  return evtchn.status(port);
}

export function evtchn_status_remote_dom(): u32 {
  return evtchn.lastStatus.remoteDom;
}

export function evtchn_status_remote_port(): u32 {
  return evtchn.lastStatus.remotePort;
}

export function evtchn_event_count(port: u32): u32 {
  return evtchn.eventCount(port);
}

function echo(port: u32): void {
  evtchn.send(port);
}

/** Every event on `port` is answered with an event back on the same port. */
export function evtchn_bind_echo(port: u32): i32 {
  return evtchn.setHandler(port, echo);
}

let waitPort: u32 = 0;
let waitCount: u32 = 0;

function waitReached(): bool {
  return evtchn.eventCount(waitPort) >= waitCount;
}

/** Blocks (SCHEDOP_block) until `port` has seen `count` events in all. 0 or -errno. */
export function evtchn_wait(port: u32, count: u32): i32 {
  if (port >= evtchn.NR_PORTS) return -EINVAL;
  waitPort = port;
  waitCount = count;
  return evtchn.waitUntil(waitReached);
}

export function gnttab_grant_access(domid: u32, gfn: u32, readonly: bool): i32 {
  return gnttab.grantAccess(domid, gfn, readonly);
}

export function gnttab_end_access(ref: u32): i32 {
  return gnttab.endAccess(ref);
}

export function gnttab_free_refs(): u32 {
  return gnttab.freeRefCount();
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

/** Pages handed out by page_alloc: the only guest memory the exports let Xen write into. */
const userPages = new Set<usize>();

/** A zeroed, page-aligned page outside the heap (to grant, or to map a grant at); 0 when none is left. */
export function page_alloc(): usize {
  const page = allocPage();
  if (page != 0) userPages.add(page);
  return page;
}

/**
 * 0; -EINVAL for anything page_alloc did not hand out (shared_info and grant
 * frames included); -EBUSY while a peer may still touch it (mapped here, or
 * granted and not yet ended).
 */
export function page_free(page: usize): i32 {
  if (!userPages.has(page)) return -EINVAL;
  if (gnttab.pageInUse(page)) return -EBUSY;
  userPages.delete(page);
  freePage(page);
  return 0;
}

/**
 * Whether an export may have Xen put foreign data at `address`: inside linear
 * memory only on a page_alloc page, so a hostile caller cannot overwrite the
 * module's data, heap, shared_info or grant frames; beyond linear memory the
 * address goes to Xen, which rejects it with its own error.
 */
function mayAlias(address: usize): bool {
  if (address >= (<usize>memory.size() << 16)) return true;
  return userPages.has(address & ~(<usize>PAGE_SIZE - 1));
}
