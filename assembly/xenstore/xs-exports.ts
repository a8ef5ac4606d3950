// The XenStore exports: XsClient's operations on the guest's connection
// (ring.ts). Strings go in as pointer + length of UTF-8 (or raw value bytes)
// anywhere in linear memory; a list of strings (permissions "n0" "r5",
// CONTROL parameters) goes in as one buffer of NUL-terminated strings.
// Results come out into `out`, a page_alloc page: each export returns the
// byte count of the whole result, or -errno (xenstored's error, -ENODEV
// before xs_init, -EFAULT for an argument outside memory, -EINVAL for an
// `out` that is not a page_alloc page or a malformed list). `tx` is a handle
// from xs_transaction_start, or 0.
//
// A result longer than a page (a directory listing read with
// DIRECTORY_PART) has its first page written to `out`; the export keeps the
// whole result, and xs_result(offset, out) copies the page starting at
// `offset` until the next export that produces a result.
import { EFAULT, EINVAL, ENODEV, ENOENT } from "../xen/abi";
import { PAGE_SIZE } from "../xen/pages";
import { inMemory, isUserPage, stringIn } from "../xen/userpages";
import { XsClient } from "./client";
import * as xenstore from "./ring";
import { parsePerms, splitStrings } from "./wire";

/** Connects to xenstored through the store page and port from the HVM params (after xen_boot). 0 or -errno; idempotent. */
export function xs_init(): i32 {
  return xenstore.connect();
}

/**
 * The reconnection protocol: xenstored drops in-flight requests, watches and
 * transactions; the client registers its watches again (each fires once)
 * and open transactions become stale (-EAGAIN). 0, or -errno: -EBUSY while
 * a request is under way, or the first error registering the watches again
 * (xs_lost_watches counts those dropped).
 */
export function xs_reconnect(): i32 {
  return xenstore.reconnect();
}

/** Watches the last reconnection or resume could not register again, and dropped. */
export function xs_lost_watches(): u32 {
  const client = xenstore.currentClient();
  return client !== null ? client.lostWatches : 0;
}

/** The ring's `error` field: 0, or the XENSTORE_ERROR_* with which xenstored stopped serving us. */
export function xs_ring_error(): u32 {
  return xenstore.serverError();
}

/** The string argument (a path, a command, a quota name) of the XenStore export being run, decoded by xsBegin. */
let xsArg: string = "";

/** 0 when the client is up and [text, text + length) lies in memory (decoded into xsArg), else -errno. */
function xsBegin(text: usize, length: u32): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  const decoded = stringIn(text, length);
  if (decoded === null) return -EFAULT;
  xsArg = decoded;
  return 0;
}

/** xsBegin, then -EINVAL unless `out` is a page_alloc page for the result. */
function xsBeginInto(text: usize, length: u32, out: usize): i32 {
  const rc = xsBegin(text, length);
  if (rc < 0) return rc;
  return isUserPage(out) ? 0 : -EINVAL;
}

function xs(): XsClient {
  return xenstore.currentClient()!;
}

/** The last result, whole; it grows to the longest result so far, bounded by the client's DIRECTORY_LIST_MAX. */
let result = new StaticArray<u8>(PAGE_SIZE);
let resultLength: u32 = 0;

/** Room for a result of `length` bytes: where to put it. */
function resultSpace(length: u32): usize {
  if (u32(result.length) < length) result = new StaticArray<u8>(length);
  resultLength = length;
  return changetype<usize>(result);
}

/** Hands the result to the caller: its first page into `out`, its whole length returned. */
function deliver(out: usize): i32 {
  copyResultPage(0, out);
  return i32(resultLength);
}

/** The page of the result that starts at byte `offset` (short at its end), into `out`: the count copied. */
function copyResultPage(offset: u32, out: usize): u32 {
  const count = min(resultLength - offset, PAGE_SIZE);
  memory.copy(out, changetype<usize>(result) + offset, count);
  return count;
}

/** The last reply's payload as the result. */
function deliverReply(out: usize): i32 {
  const length = xs().replyLength();
  memory.copy(resultSpace(length), xs().replyPayload(), length);
  return deliver(out);
}

/** `parts` as UTF-8, each NUL-terminated if `terminate`, as the result. */
function deliverStrings(out: usize, parts: string[], terminate: bool): i32 {
  let length: u32 = 0;
  for (let i = 0; i < parts.length; i++) length += u32(String.UTF8.byteLength(parts[i], terminate));
  let at = resultSpace(length);
  for (let i = 0; i < parts.length; i++) {
    at += String.UTF8.encodeUnsafe(changetype<usize>(parts[i]), parts[i].length, at, terminate);
  }
  return deliver(out);
}

/**
 * The page of the last result that starts at byte `offset`, into `out`:
 * the count copied (0 at or past the end), or -EINVAL for an `out` that is
 * not a page_alloc page.
 */
export function xs_result(offset: u32, out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  return offset < resultLength ? i32(copyResultPage(offset, out)) : 0;
}

/** The value's bytes into `out`. */
export function xs_read(tx: u32, path: usize, path_len: u32, out: usize): i32 {
  let rc = xsBeginInto(path, path_len, out);
  if (rc < 0) return rc;
  rc = xs().read(tx, xsArg);
  return rc < 0 ? rc : deliverReply(out);
}

export function xs_write(tx: u32, path: usize, path_len: u32, value: usize, value_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  if (!inMemory(value, value_len)) return -EFAULT;
  return xs().writeBytes(tx, xsArg, value, value_len);
}

export function xs_mkdir(tx: u32, path: usize, path_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  return rc < 0 ? rc : xs().mkdir(tx, xsArg);
}

export function xs_rm(tx: u32, path: usize, path_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  return rc < 0 ? rc : xs().rm(tx, xsArg);
}

/** Removes the node and everything below it; outside a transaction, in one of its own (retried on conflicts). */
export function xs_rm_tree(tx: u32, path: usize, path_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  return rc < 0 ? rc : xs().rmTree(tx, xsArg);
}

/**
 * 1 when the node exists, 0 when it does not or cannot be listed (as the
 * seed's xs_exists); -ENODEV before xs_init, -EFAULT for a path outside memory.
 */
export function xs_exists(tx: u32, path: usize, path_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  return rc < 0 ? rc : xs().exists(tx, xsArg);
}

/** The children's names into `out`, each NUL-terminated (a long listing is read in parts and may take several pages). */
export function xs_directory(tx: u32, path: usize, path_len: u32, out: usize): i32 {
  let rc = xsBeginInto(path, path_len, out);
  if (rc < 0) return rc;
  rc = xs().directory(tx, xsArg);
  return rc < 0 ? rc : deliverStrings(out, xs().entries, true);
}

/** The node's permissions into `out`, each NUL-terminated ("n0", "r5": owner first, then the domains given access). */
export function xs_get_perms(tx: u32, path: usize, path_len: u32, out: usize): i32 {
  let rc = xsBeginInto(path, path_len, out);
  if (rc < 0) return rc;
  rc = xs().getPerms(tx, xsArg);
  return rc < 0 ? rc : deliverReply(out);
}

/** Sets the node's permissions from `perms`, NUL-terminated entries as xs_get_perms gives them. */
export function xs_set_perms(tx: u32, path: usize, path_len: u32, perms: usize, perms_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  if (!inMemory(perms, perms_len)) return -EFAULT;
  const parsed = parsePerms(perms, perms_len);
  return parsed === null ? -EINVAL : xs().setPerms(tx, xsArg, parsed);
}

/**
 * xenstored fires a new watch once at once; its events are then taken with
 * xs_next_event. The newest 64 are kept: older ones are dropped, and
 * counted (xs_watch_stats, xs_dropped_events).
 */
export function xs_watch(path: usize, path_len: u32, token: usize, token_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  const name = stringIn(token, token_len);
  return name === null ? -EFAULT : xs().watch(xsArg, name);
}

/** Stops the watch; its events not yet taken are dropped. */
export function xs_unwatch(path: usize, path_len: u32, token: usize, token_len: u32): i32 {
  const rc = xsBegin(path, path_len);
  if (rc < 0) return rc;
  const name = stringIn(token, token_len);
  return name === null ? -EFAULT : xs().unwatch(xsArg, name);
}

/** Makes xenstored forget all our watches and transactions; their queued events go too. 0 or -errno. */
export function xs_reset_watches(): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  return xs().resetWatches();
}

/** 0 or -errno; the new transaction's handle is then xs_transaction_id() (handles are u32, beyond i32's sign). */
export function xs_transaction_start(): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  return xs().transactionStart();
}

export function xs_transaction_id(): u32 {
  const client = xenstore.currentClient();
  return client !== null ? client.transaction : 0;
}

/** Commits (or aborts) `tx`: 0, or -EAGAIN when a conflicting change won or a reset dropped it, and the caller should retry. */
export function xs_transaction_end(tx: u32, commit: bool): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  return xs().transactionEnd(tx, commit);
}

/** Domain `domid`'s home path into `out` (no terminating NUL). */
export function xs_get_domain_path(domid: u32, out: usize): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  if (!isUserPage(out)) return -EINVAL;
  const rc = xs().getDomainPath(domid);
  return rc < 0 ? rc : deliverStrings(out, [xs().value], false);
}

/** A CONTROL command (xenstored's own, privileged) with `parameters` (NUL-terminated strings); its reply into `out`. */
export function xs_control(command: usize, command_len: u32, parameters: usize, parameters_len: u32, out: usize): i32 {
  let rc = xsBeginInto(command, command_len, out);
  if (rc < 0) return rc;
  if (!inMemory(parameters, parameters_len)) return -EFAULT;
  const list = splitStrings(parameters, parameters_len);
  if (list === null) return -EINVAL;
  rc = xs().control(xsArg, list);
  return rc < 0 ? rc : deliverReply(out);
}

/** The XENSTORE_SERVER_FEATURE_* bits of `domid` (negative: the server's own); 0 or -errno, the bits then xs_number(). */
export function xs_get_feature(domid: i32): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  return xs().getFeature(domid);
}

export function xs_set_feature(domid: u32, features: u32): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  return xs().setFeature(domid, features);
}

/** Quota `name` of `domid` (negative: the global default); 0 or -errno, the value then xs_number(). */
export function xs_get_quota(domid: i32, name: usize, name_len: u32): i32 {
  const rc = xsBegin(name, name_len);
  return rc < 0 ? rc : xs().getQuota(domid, xsArg);
}

/** Sets quota `name` of `domid` (negative: the global default); 0 disables the check. */
export function xs_set_quota(domid: i32, name: usize, name_len: u32, value: u32): i32 {
  const rc = xsBegin(name, name_len);
  return rc < 0 ? rc : xs().setQuota(domid, xsArg, value);
}

/** The quota names xenstored knows into `out`, each NUL-terminated. */
export function xs_quota_names(out: usize): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  if (!isUserPage(out)) return -EINVAL;
  const rc = xs().quotaNames();
  return rc < 0 ? rc : deliverStrings(out, xs().entries, true);
}

/** The value of the last successful xs_get_feature or xs_get_quota. */
export function xs_number(): u32 {
  const client = xenstore.currentClient();
  return client !== null ? u32(client.number) : 0;
}

/**
 * Takes in what xenstored has sent, then the oldest queued watch event into
 * `out` as path NUL token NUL: its length, 0 when there is none, or -errno.
 */
export function xs_next_event(out: usize): i32 {
  if (xenstore.currentClient() === null) return -ENODEV;
  if (!isUserPage(out)) return -EINVAL;
  const rc = xs().pollEvents();
  if (rc < 0) return rc;
  const event = xs().nextEvent();
  if (event !== null) return deliverStrings(out, [event.path, event.token], true);
  resultLength = 0;
  return 0;
}

/** Watch events lost so far: malformed, for no watch of ours, or pushed out of a bounded watch's queue (xs_watch's keep the newest 64). */
export function xs_dropped_events(): u32 {
  const client = xenstore.currentClient();
  return client !== null ? client.droppedEvents : 0;
}

/**
 * The watch `token` names, as three u32s into `out`: its events queued now,
 * those dropped (oldest first, past its bound), and the times its events
 * collapsed into one on its own path (a watch that loses none, past its
 * bound). 12, or -errno: -ENOENT when no watch has that token.
 */
export function xs_watch_stats(token: usize, token_len: u32, out: usize): i32 {
  const rc = xsBeginInto(token, token_len, out);
  if (rc < 0) return rc;
  const watch = xs().watchOf(xsArg);
  if (watch === null) return -ENOENT;
  store<u32>(out, watch.pending);
  store<u32>(out + 4, watch.dropped);
  store<u32>(out + 8, watch.collapsed);
  return 12;
}
