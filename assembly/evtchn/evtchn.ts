// 2-level event channels over shared_info: bind, send, close, mask, status, and
// the upcall that dispatches pending ports to per-port handlers.
//
// The pending, mask and selector words are shared with Xen, which changes them
// at any time; every access to them is an atomic operation (binaryen drops
// atomic.fence, so ordering comes from the atomics themselves).

import {
  DOMID_SELF,
  EINVAL,
  ENODEV,
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_bind_interdomain,
  EVTCHNOP_close,
  EVTCHNOP_send,
  EVTCHNOP_status,
  EVTCHNOP_unmask,
  SCHEDOP_block,
  XENMAPSPACE_shared_info,
} from "../xen/abi";
import { event_channel_op, sched_op } from "../xen/hypercall";
import {
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_close,
  evtchn_send,
  evtchn_status,
  evtchn_unmask,
  shared_info,
  vcpu_info,
} from "../xen/layout";
import { allocPage, freePage } from "../xen/pages";
import { addToPhysmap } from "../xen/physmap";

/** 64 selector bits × 64 ports per pending word on a 64-bit guest. */
export const NR_PORTS: u32 = 64 * 64;

/** Called from the upcall with the port whose event it is. */
export type Handler = (port: u32) => void;

const handlers = new StaticArray<Handler | null>(NR_PORTS);
/** Events dispatched per port since it was bound (statistics, tests). */
const delivered = new StaticArray<u32>(NR_PORTS);

/** Where shared_info sits in linear memory; 0 until mapped. */
let sharedInfo: usize = 0;

/** The largest domid that fits domid_t; beyond it the field would truncate to another domain. */
const DOMID_MAX: u32 = 0xffff;

/** Places shared_info on a pool page. 0, or -errno (the page goes back to the pool). */
export function mapSharedInfo(): i32 {
  if (sharedInfo != 0) return 0;
  const page = allocPage();
  if (page == 0) return -ENODEV;
  const rc = addToPhysmap(XENMAPSPACE_shared_info, 0, page);
  if (rc < 0) {
    freePage(page);
    return rc;
  }
  sharedInfo = page;
  return 0;
}

/** After a restore into a new domain (save/restore, migration): shared_info placed again on its page. 0 or -errno. */
export function placeSharedInfoAgain(): i32 {
  return sharedInfo == 0 ? 0 : addToPhysmap(XENMAPSPACE_shared_info, 0, sharedInfo);
}

/** Where shared_info sits (0 until mapped): the clock in it is read by xen/time. */
export function sharedInfoAddress(): usize {
  return sharedInfo;
}

function pendingWord(word: u32): usize {
  return sharedInfo + shared_info.evtchn_pending + (word << 3);
}

function maskWord(word: u32): usize {
  return sharedInfo + shared_info.evtchn_mask + (word << 3);
}

function vcpu0(): usize {
  return sharedInfo + shared_info.vcpu_info;
}

/** A fresh port that `remoteDom` may bind to; the port, or -errno. */
export function allocUnbound(remoteDom: u32): i32 {
  if (remoteDom > DOMID_MAX) return -EINVAL;
  const arg = memory.data(evtchn_alloc_unbound.SIZE, 8);
  store<u16>(arg + evtchn_alloc_unbound.dom, DOMID_SELF);
  store<u16>(arg + evtchn_alloc_unbound.remote_dom, remoteDom);
  store<u32>(arg + evtchn_alloc_unbound.port, 0);
  const rc = event_channel_op(EVTCHNOP_alloc_unbound, arg);
  if (rc < 0) return rc;
  return claim(load<u32>(arg + evtchn_alloc_unbound.port));
}

/** Connects to `remotePort`, an unbound port of `remoteDom`; the local port, or -errno. */
export function bindInterdomain(remoteDom: u32, remotePort: u32): i32 {
  if (remoteDom > DOMID_MAX) return -EINVAL;
  const arg = memory.data(evtchn_bind_interdomain.SIZE, 8);
  store<u16>(arg + evtchn_bind_interdomain.remote_dom, remoteDom);
  store<u32>(arg + evtchn_bind_interdomain.remote_port, remotePort);
  store<u32>(arg + evtchn_bind_interdomain.local_port, 0);
  const rc = event_channel_op(EVTCHNOP_bind_interdomain, arg);
  if (rc < 0) return rc;
  return claim(load<u32>(arg + evtchn_bind_interdomain.local_port));
}

/** A port Xen just gave us starts unmasked, with no handler and a zero count. */
function claim(port: u32): i32 {
  // Xen never hands out a port the 2-level ABI cannot signal; if it did, the
  // port would be unusable here, so give it back rather than track it.
  if (port >= NR_PORTS) {
    close(port);
    return -EINVAL;
  }
  handlers[port] = null;
  delivered[port] = 0;
  // A mask left on this port number by its previous use must not silence the
  // new channel; unmasking through Xen also raises what is already pending.
  if (sharedInfo != 0 && (atomic.load<u64>(maskWord(port >> 6)) & ((<u64>1) << (port & 63))) != 0) unmask(port);
  return i32(port);
}

/** Notifies the other end. 0, or Xen's -errno (-EINVAL for a port that is not ours). */
export function send(port: u32): i32 {
  const arg = memory.data(evtchn_send.SIZE, 4);
  store<u32>(arg + evtchn_send.port, port);
  return event_channel_op(EVTCHNOP_send, arg);
}

/** Closes the port and forgets its handler. 0, or Xen's -errno (-EINVAL when already closed). */
export function close(port: u32): i32 {
  const arg = memory.data(evtchn_close.SIZE, 4);
  store<u32>(arg + evtchn_close.port, port);
  const rc = event_channel_op(EVTCHNOP_close, arg);
  if (rc == 0 && port < NR_PORTS) handlers[port] = null;
  return rc;
}

/** What EVTCHNOP_status reported last: the state, and the peer for unbound/interdomain ports. */
export class ChannelStatus {
  state: i32 = 0;
  remoteDom: u32 = 0;
  remotePort: u32 = 0;
}

export const lastStatus = new ChannelStatus();

/** EVTCHNSTAT_* for one of our ports (details in lastStatus), or Xen's -errno. */
export function status(port: u32): i32 {
  const arg = memory.data(evtchn_status.SIZE, 8);
  memory.fill(arg, 0, evtchn_status.SIZE);
  store<u16>(arg + evtchn_status.dom, DOMID_SELF);
  store<u32>(arg + evtchn_status.port, port);
  const rc = event_channel_op(EVTCHNOP_status, arg);
  if (rc < 0) return rc;
  const state = load<u32>(arg + evtchn_status.status);
  lastStatus.state = i32(state);
  // u.unbound.dom and u.interdomain.dom share an offset; port only means something for interdomain.
  lastStatus.remoteDom = load<u16>(arg + evtchn_status.interdomain_dom);
  lastStatus.remotePort = load<u32>(arg + evtchn_status.interdomain_port);
  return i32(state);
}

/** Stops delivery: the event stays pending until unmasked. 0, -EINVAL, or -ENODEV before boot. */
export function mask(port: u32): i32 {
  if (port >= NR_PORTS) return -EINVAL;
  if (sharedInfo == 0) return -ENODEV;
  atomic.or<u64>(maskWord(port >> 6), (<u64>1) << (port & 63));
  return 0;
}

/** Through Xen, so that an event that arrived while masked is raised again. */
export function unmask(port: u32): i32 {
  if (port >= NR_PORTS) return -EINVAL;
  if (sharedInfo == 0) return -ENODEV;
  const arg = memory.data(evtchn_unmask.SIZE, 4);
  store<u32>(arg + evtchn_unmask.port, port);
  return event_channel_op(EVTCHNOP_unmask, arg);
}

/**
 * Makes `port` pending as if its peer had sent an event, so its handler runs
 * from the upcall once the guest is idle (a kernel's retrigger: mask, set
 * the pending bit, and unmask through Xen, which raises what is pending).
 * The port is left unmasked. 0, -EINVAL, or -ENODEV before boot.
 */
export function raise(port: u32): i32 {
  if (port >= NR_PORTS) return -EINVAL;
  if (sharedInfo == 0) return -ENODEV;
  const bit = (<u64>1) << (port & 63);
  atomic.or<u64>(maskWord(port >> 6), bit);
  atomic.or<u64>(pendingWord(port >> 6), bit);
  return unmask(port);
}

/** Restores so far: a channel bound before the last one belonged to the domain that was saved. */
let restores: u32 = 0;

/** Which domain (counted in restores) the channels bound from now on belong to. */
export function epoch(): u32 {
  return restores;
}

/**
 * After a restore: the domain is a new one to Xen, with none of the old
 * channels (closing one would fail, or close a new channel that got its
 * number): every handler goes, and ports bound before are stale (epoch).
 */
export function forgetChannels(): void {
  for (let port: u32 = 0; port < u32(NR_PORTS); port++) {
    handlers[port] = null;
    delivered[port] = 0;
  }
  restores++;
}

/** Installs (or with null removes) the handler for a port. 0 or -EINVAL. */
export function setHandler(port: u32, handler: Handler | null): i32 {
  if (port >= NR_PORTS) return -EINVAL;
  handlers[port] = handler;
  return 0;
}

export function eventCount(port: u32): u32 {
  return port < NR_PORTS ? delivered[port] : 0;
}

/**
 * Runs the handlers of every port pending and unmasked now, once each.
 * Events raised meanwhile set the upcall flag again and wait for the next
 * call: the hypervisor calls the upcall again while the flag is set, and the
 * waits below loop. A handler that keeps raising events (a watch storm) so
 * returns to the host between passes, which xenbus.wasm's host needs to
 * collect garbage (tools/build.ts).
 */
export function dispatch(): void {
  if (sharedInfo == 0) return;
  const vcpu = vcpu0();
  if (atomic.load<u8>(vcpu + vcpu_info.evtchn_upcall_pending) == 0) return;
  atomic.store<u8>(vcpu + vcpu_info.evtchn_upcall_pending, 0);
  let selector = atomic.xchg<u64>(vcpu + vcpu_info.evtchn_pending_sel, 0);
  while (selector != 0) {
    const word = u32(ctz(selector));
    selector &= selector - 1;
    let ready = atomic.load<u64>(pendingWord(word)) & ~atomic.load<u64>(maskWord(word));
    while (ready != 0) {
      const bit = u32(ctz(ready));
      ready &= ready - 1;
      // Clear before running the handler: an event raised while it runs sets
      // the bit again and is seen on the next pass instead of being lost.
      atomic.and<u64>(pendingWord(word), ~((<u64>1) << bit));
      deliver((word << 6) | bit);
    }
  }
}

function deliver(port: u32): void {
  delivered[port]++;
  const handler = handlers[port];
  if (handler !== null) handler(port);
}

/** Something for dispatch() to do: the upcall flag Xen sets with each new event. */
export function hasPending(): bool {
  return sharedInfo != 0 && atomic.load<u8>(vcpu0() + vcpu_info.evtchn_upcall_pending) != 0;
}

/**
 * Blocks until `done()` holds, running handlers as events arrive. Xen does not
 * call the upcall of a domain that is running, so a blocked guest dispatches
 * its own events when SCHEDOP_block returns. 0, or the -errno with which Xen
 * refused to block (nothing could ever wake us), so the caller never spins.
 */
export function waitUntil(done: () => bool): i32 {
  if (sharedInfo == 0) return -ENODEV;
  dispatch();
  while (!done()) {
    if (!hasPending()) {
      const rc = sched_op(SCHEDOP_block, 0);
      if (rc < 0) return rc;
    }
    dispatch();
  }
  return 0;
}
