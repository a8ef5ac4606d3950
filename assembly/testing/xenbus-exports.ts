// The XenBus driver helpers (assembly/xenbus/client.ts) as exports
// (xenbus_*), for the tests only (build/harness.wasm): a unikernel calls the
// helpers themselves. On the conventions of the xs_* exports: strings as
// pointer + byte length anywhere in linear memory, results only into
// page_alloc pages, and every bad argument an error, never a trap. Devices are made here, before the
// bus exists to find them, and named by a handle (their index).

import { EFAULT, EINVAL, ENODEV } from "../xen/abi";
import { PAGE_SHIFT, PAGE_SIZE } from "../xen/pages";
import { areUserPages, inMemory, isUserPage, mayAlias, stringIn } from "../xen/userpages";
import {
  allocEvtchn,
  bindEvtchn,
  devError,
  devFatal,
  freeEvtchn,
  frontendClosed,
  grantRing,
  mapRing,
  mapRingValloc,
  RingMapping,
  readDriverState,
  readRingRefs,
  strstate,
  switchState,
  unmapRing,
  unmapRingVfree,
  watchPath,
  watchPathJoined,
  writeRingRefs,
  XenbusDevice,
} from "../xenbus/client";
import * as xenstore from "../xenstore/ring";
import { XsWatchHandler } from "../xenstore/watches";

/** Runs a device's watch events by counting them (the tests' view of dispatch). */
class CountingWatch extends XsWatchHandler {
  events: u32 = 0;

  onEvent(path: string, token: string): void {
    this.events++;
  }
}

const devices = new Array<XenbusDevice>();
const watches = new Array<CountingWatch>();

function isDevice(dev: i32): bool {
  return dev >= 0 && dev < devices.length;
}

/** The `count` u32s at `list` (a page of them at most), or null when they are not all in memory. */
function u32List(list: usize, count: u32): u32[] | null {
  if (count > PAGE_SIZE / 4 || !inMemory(list, count * 4)) return null;
  const values = new Array<u32>(count);
  for (let i: u32 = 0; i < count; i++) values[i] = load<u32>(list + (usize(i) << 2));
  return values;
}

/** `values` into the page_alloc page `out` (at most a page of them): their count. */
function deliverU32s(out: usize, values: u32[]): i32 {
  for (let i = 0; i < values.length; i++) store<u32>(out + (usize(i) << 2), values[i]);
  return values.length;
}

/**
 * A device whose own node is `nodename` (relative to the domain's home:
 * "device/vif/0") and whose other end is at `otherend` (absolute) in domain
 * `otherend_id`, its state not yet written (Unknown). Its handle, or -errno:
 * -ENODEV before xs_init, -EFAULT for a string outside memory, -EINVAL for
 * a domid beyond 16 bits.
 */
export function xenbus_device(
  nodename: usize,
  nodename_len: u32,
  otherend: usize,
  otherend_len: u32,
  otherend_id: u32,
): i32 {
  const store = xenstore.currentClient();
  if (store === null) return -ENODEV;
  const node = stringIn(nodename, nodename_len);
  const other = stringIn(otherend, otherend_len);
  if (node === null || other === null) return -EFAULT;
  if (otherend_id > 0xffff) return -EINVAL;
  devices.push(new XenbusDevice(store, node, other, otherend_id));
  watches.push(new CountingWatch());
  return devices.length - 1;
}

/** The state the device last wrote, or -EINVAL for a bad handle. */
export function xenbus_device_state(dev: i32): i32 {
  return isDevice(dev) ? devices[dev].state : -EINVAL;
}

/** 1 once xenbus_frontend_closed ran on the device, else 0; -EINVAL for a bad handle. */
export function xenbus_device_down(dev: i32): i32 {
  return isDevice(dev) ? i32(devices[dev].down) : -EINVAL;
}

/** The events the device's watches have run (from the upcall), or -EINVAL. */
export function xenbus_watch_events(dev: i32): i32 {
  return isDevice(dev) ? i32(watches[dev].events) : -EINVAL;
}

/** The state's name, "INVALID" for a value that is none: a pointer to the string (Guest.readString). */
export function xenbus_strstate(state: i32): usize {
  return changetype<usize>(strstate(state));
}

/** Watches `path` under `token`, counted by xenbus_watch_events. 0 or -errno (then the device is Closing). */
export function xenbus_watch_path(dev: i32, path: usize, path_len: u32, token: usize, token_len: u32): i32 {
  if (!isDevice(dev)) return -EINVAL;
  const watched = stringIn(path, path_len);
  const name = stringIn(token, token_len);
  if (watched === null || name === null) return -EFAULT;
  return watchPath(devices[dev], watched, name, watches[dev]);
}

/** xenbus_watch_path on `dir`/`name`. */
export function xenbus_watch_path_joined(
  dev: i32,
  dir: usize,
  dir_len: u32,
  name: usize,
  name_len: u32,
  token: usize,
  token_len: u32,
): i32 {
  if (!isDevice(dev)) return -EINVAL;
  const directory = stringIn(dir, dir_len);
  const child = stringIn(name, name_len);
  const watchToken = stringIn(token, token_len);
  if (directory === null || child === null || watchToken === null) return -EFAULT;
  return watchPathJoined(devices[dev], directory, child, watchToken, watches[dev]);
}

/**
 * 0 whatever the store said, as the seed (-EINVAL for a bad handle): a
 * failure is reported and the device switched to Closing, a removed node
 * left alone. xenbus_device_state and xenbus_device_switch_error say how it went.
 */
export function xenbus_switch_state(dev: i32, state: i32): i32 {
  if (!isDevice(dev)) return -EINVAL;
  switchState(devices[dev], state);
  return 0;
}

/**
 * How the device's last switch went: 0 written, -ENOENT its node gone, else
 * the -errno reported; -EINVAL: bad handle.
 */
export function xenbus_device_switch_error(dev: i32): i32 {
  return isDevice(dev) ? devices[dev].switchError : -EINVAL;
}

/** Switches to Closed and marks the device down: 0 (-EINVAL for a bad handle), as xenbus_switch_state. */
export function xenbus_frontend_closed(dev: i32): i32 {
  if (!isDevice(dev)) return -EINVAL;
  frontendClosed(devices[dev]);
  return 0;
}

/** Reports `err` (-errno) with `message` in error/<nodename>/error. 0, or -EINVAL / -EFAULT. */
export function xenbus_dev_error(dev: i32, err: i32, message: usize, message_len: u32): i32 {
  return report(dev, err, message, message_len, false);
}

/** xenbus_dev_error, then the device switches to Closing. */
export function xenbus_dev_fatal(dev: i32, err: i32, message: usize, message_len: u32): i32 {
  return report(dev, err, message, message_len, true);
}

function report(dev: i32, err: i32, message: usize, message_len: u32, fatal: bool): i32 {
  if (!isDevice(dev)) return -EINVAL;
  const text = stringIn(message, message_len);
  if (text === null) return -EFAULT;
  if (fatal) devFatal(devices[dev], err, text);
  else devError(devices[dev], err, text);
  return 0;
}

/**
 * Grants the other end the `pages` page_alloc pages from `ring` on (one run
 * of memory); their refs into `out` as u32s. The count, or -errno: -EINVAL
 * when a page or `out` is not a page_alloc page, else grantRing's.
 */
export function xenbus_grant_ring(dev: i32, ring: usize, pages: u32, out: usize): i32 {
  if (!isDevice(dev) || !isUserPage(out) || pages == 0 || pages > PAGE_SIZE / 4) return -EINVAL;
  if (!areUserPages(ring, pages)) return -EINVAL;
  const refs = new Array<u32>();
  const rc = grantRing(devices[dev], ring, pages, refs);
  return rc < 0 ? rc : deliverU32s(out, refs);
}

/** Publishes the `count` refs at `refs` under the device's node in transaction `tx` (0: none). 0 or -errno. */
export function xenbus_write_ring_refs(tx: u32, dev: i32, refs: usize, count: u32): i32 {
  if (!isDevice(dev)) return -EINVAL;
  const list = u32List(refs, count);
  return list === null ? -EFAULT : writeRingRefs(devices[dev], tx, list);
}

/** The other end's ring refs (an order up to `max_order`) into `out` as u32s: their count, or -errno. */
export function xenbus_read_ring_refs(tx: u32, dev: i32, max_order: u32, out: usize): i32 {
  if (!isDevice(dev) || !isUserPage(out)) return -EINVAL;
  const refs = new Array<u32>();
  const rc = readRingRefs(devices[dev], tx, max_order, refs);
  return rc < 0 ? rc : deliverU32s(out, refs);
}

/** A port for the other end: the port, or -errno (the device then Closing). */
export function xenbus_alloc_evtchn(dev: i32): i32 {
  return isDevice(dev) ? allocEvtchn(devices[dev]) : -EINVAL;
}

/** Binds the other end's `remote_port`: the local port, or -errno (the device then Closing). */
export function xenbus_bind_evtchn(dev: i32, remote_port: u32): i32 {
  return isDevice(dev) ? bindEvtchn(devices[dev], remote_port) : -EINVAL;
}

/** 0, or -errno (reported). */
export function xenbus_free_evtchn(dev: i32, port: u32): i32 {
  return isDevice(dev) ? freeEvtchn(devices[dev], port) : -EINVAL;
}

const mapping = new RingMapping();

/**
 * Maps the other end's `count` refs at `refs` on pages of the module's own:
 * the ring's address (> 0), or a negative GNTST_* status or -errno (-EINVAL
 * for a bad handle, -EFAULT for `refs` outside memory, -ENOMEM).
 */
export function xenbus_map_ring_valloc(dev: i32, refs: usize, count: u32): i32 {
  if (!isDevice(dev)) return -EINVAL;
  const list = u32List(refs, count);
  if (list === null) return -EFAULT;
  const rc = mapRingValloc(devices[dev], list, mapping);
  return rc < 0 ? rc : i32(mapping.address);
}

/**
 * Maps the other end's `count` refs at `refs` on the page_alloc pages from
 * `address` on, their handles into `out` as u32s (which must not be one of
 * those pages). GNTST_okay (0), a negative GNTST_* status, or -errno.
 */
export function xenbus_map_ring(dev: i32, refs: usize, count: u32, address: usize, out: usize): i32 {
  if (!isDevice(dev) || !isUserPage(out) || count > PAGE_SIZE / 4) return -EINVAL;
  const end = u64(address) + (u64(count) << PAGE_SHIFT);
  if (u64(out) >= u64(address) && u64(out) < end) return -EINVAL;
  const list = u32List(refs, count);
  if (list === null) return -EFAULT;
  for (let i: u32 = 0; i < count; i++) if (!mayAlias(address + (usize(i) << PAGE_SHIFT))) return -EINVAL;
  const handles = new Array<u32>();
  const rc = mapRing(devices[dev], list, address, handles);
  if (rc == 0) deliverU32s(out, handles);
  return rc;
}

/** Unmaps and frees a ring xenbus_map_ring_valloc mapped: GNTST_okay (0) or a negative GNTST_* status. */
export function xenbus_unmap_ring_vfree(dev: i32, address: usize): i32 {
  return isDevice(dev) ? unmapRingVfree(devices[dev], address) : -EINVAL;
}

/** Unmaps the pages from `address` on, one per handle of the `count` at `handles`: 0 or the first GNTST_* failure. */
export function xenbus_unmap_ring(dev: i32, handles: usize, count: u32, address: usize): i32 {
  if (!isDevice(dev)) return -EINVAL;
  const list = u32List(handles, count);
  return list === null ? -EFAULT : unmapRing(devices[dev], list, address);
}

/** The XenbusState in `path`/state, Unknown (0) when absent or not a state; -ENODEV before xs_init, -EFAULT. */
export function xenbus_read_driver_state(path: usize, path_len: u32): i32 {
  const store = xenstore.currentClient();
  if (store === null) return -ENODEV;
  const dir = stringIn(path, path_len);
  return dir === null ? -EFAULT : readDriverState(store, dir);
}
