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
import * as xenstore from "./xenstore/ring";
import { XsClient } from "./xenstore/client";
import { allocPage, freePage, PAGE_SIZE } from "./xen/pages";
import { E2BIG, EBUSY, EFAULT, EINVAL, ENODEV, GNTST_bad_virt_addr } from "./xen/abi";

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

// XenStore. Strings go in as pointer + length of UTF-8 (or raw value bytes)
// anywhere in linear memory; results come out into `out`, a page_alloc page
// (a page holds any payload): the byte count written, or -errno (xenstored's
// error, -ENODEV before xs_init, -EFAULT for an argument outside memory,
// -EINVAL for an `out` that is not a page_alloc page). `tx` is an id from
// xs_transaction_start, or 0.

/** Connects to xenstored through the store page and port from the HVM params (after xen_boot). 0 or -errno; idempotent. */
export function xs_init(): i32 {
  return xenstore.connect();
}

/** The reconnection protocol: in-flight requests, watches and transactions are dropped on both sides. 0 or -errno. */
export function xs_reconnect(): i32 {
  return xenstore.reconnect();
}

/** The ring's `error` field: 0, or the XENSTORE_ERROR_* with which xenstored stopped serving us. */
export function xs_ring_error(): u32 {
  return xenstore.serverError();
}

/** The path argument of the XenStore export being run, decoded by xsBegin. */
let xsPath: string = "";

/** 0 when the client is up and [path, path + length) lies in memory (decoded into xsPath), else -errno. */
function xsBegin(path: usize, length: u32): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  if (!inMemory(path, length)) return -EFAULT;
  xsPath = String.UTF8.decodeUnsafe(path, length);
  return 0;
}

function xs(): XsClient {
  return xenstore.currentClient()!;
}

function inMemory(address: usize, length: u32): bool {
  return u64(address) + u64(length) <= (u64(memory.size()) << 16);
}

function isUserPage(address: usize): bool {
  return (address & (<usize>PAGE_SIZE - 1)) == 0 && userPages.has(address);
}

/** Copies the last reply's payload to `out`: its length. */
function copyReply(out: usize): i32 {
  const length = xs().replyLength();
  memory.copy(out, xs().replyPayload(), length);
  return i32(length);
}

/** The value's bytes into `out`. */
export function xs_read(tx: u32, path: usize, path_len: u32, out: usize): i32 {
  let rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  if (!isUserPage(out)) return -EINVAL;
  rc = xs().read(tx, xsPath);
  return rc < 0 ? rc : copyReply(out);
}

export function xs_write(tx: u32, path: usize, path_len: u32, value: usize, value_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  if (!inMemory(value, value_len)) return -EFAULT;
  return xs().writeBytes(tx, xsPath, value, value_len);
}

export function xs_mkdir(tx: u32, path: usize, path_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  return rc < 0 ? rc : xs().mkdir(tx, xsPath);
}

export function xs_rm(tx: u32, path: usize, path_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  return rc < 0 ? rc : xs().rm(tx, xsPath);
}

/** The children's names into `out`, each NUL-terminated (-E2BIG for a listing longer than a page). */
export function xs_directory(tx: u32, path: usize, path_len: u32, out: usize): i32 {
  let rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  if (!isUserPage(out)) return -EINVAL;
  rc = xs().directory(tx, xsPath);
  return rc < 0 ? rc : writeStrings(out, xs().entries, true);
}

/** xenstored fires a new watch once at once; its events are then taken with xs_next_event. */
export function xs_watch(path: usize, path_len: u32, token: usize, token_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  if (!inMemory(token, token_len)) return -EFAULT;
  return xs().watch(xsPath, String.UTF8.decodeUnsafe(token, token_len));
}

/** Stops the watch; its events not yet taken are dropped. */
export function xs_unwatch(path: usize, path_len: u32, token: usize, token_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  if (!inMemory(token, token_len)) return -EFAULT;
  return xs().unwatch(xsPath, String.UTF8.decodeUnsafe(token, token_len));
}

/** 0 or -errno; the new transaction's id is then xs_transaction_id() (ids are u32, beyond i32's sign). */
export function xs_transaction_start(): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  return xs().transactionStart();
}

export function xs_transaction_id(): u32 {
  const client = xenstore.currentClient();
  return client !== null ? client.transaction : 0;
}

/** Commits (or aborts) `tx`: 0, or -EAGAIN when a conflicting change won and the caller should retry. */
export function xs_transaction_end(tx: u32, commit: bool): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  return xs().transactionEnd(tx, commit);
}

/** Domain `domid`'s home path into `out` (no terminating NUL). */
export function xs_get_domain_path(domid: u32, out: usize): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  if (!isUserPage(out)) return -EINVAL;
  const rc = xs().getDomainPath(domid);
  return rc < 0 ? rc : writeStrings(out, [xs().value], false);
}

/**
 * Takes in what xenstored has sent, then the oldest queued watch event into
 * `out` as path NUL token NUL: its length, 0 when there is none, or -errno
 * (-E2BIG for an event too long to return, which is dropped).
 */
export function xs_next_event(out: usize): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  if (!isUserPage(out)) return -EINVAL;
  const rc = xs().pollEvents();
  if (rc < 0) return rc;
  const event = xs().nextEvent();
  return event === null ? 0 : writeStrings(out, [event.path, event.token], true);
}

/** `parts` as UTF-8, each NUL-terminated if `terminate`, into the page at `out`: the length, or -E2BIG. */
function writeStrings(out: usize, parts: string[], terminate: bool): i32 {
  let length = 0;
  for (let i = 0; i < parts.length; i++) length += String.UTF8.byteLength(parts[i], terminate);
  if (length > i32(PAGE_SIZE)) return -E2BIG;
  let at = out;
  for (let i = 0; i < parts.length; i++) {
    at += String.UTF8.encodeUnsafe(changetype<usize>(parts[i]), parts[i].length, at, terminate);
  }
  return length;
}
