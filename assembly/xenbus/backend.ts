// The backend device lifecycle (see QEMU hw/xen/xen_backend.c) as a driver
// of the backend bus: one BackendDriver per device type, whose BackendOps say
// what the type does at each step. The state machine, run after every change
// of either end:
//
//   setup        read `online`; the lifecycle starts in Initialising
//   init         (online) ops.init, `hotplug-status` = connected as the
//                hotplug script would write it, then InitWait
//   initialise   (frontend Initialised or Connected) ops.initialise maps the
//                ring(s) and binds the event channel, then Connected
//   connected    (frontend Connected) ops.connected, once per connection
//   disconnect   (frontend Closing or Closed, from any state) the channel is
//                unbound and ops.disconnect unmaps; this end follows the
//                frontend to Closing / Closed
//   reset        (this end Closed, frontend Initialising) a new frontend
//                instance: back to Initialising, and on through init
//   free         (`online` 0, frontend Closed) ops.free: the toolstack is
//                removing the device
//
// A failed step leaves the device where it is, to be tried again at the next
// change (the ops report why, with devError / devFatal), except an initialise
// whose failure was reported with devFatal: that told the frontend Closing,
// and it stands. The lifecycle is Closing too, and does not connect until the
// frontend has closed and started over (reset), whatever it writes meanwhile.
//
// The frontend is watched twice. The bus watches its `state`, with at most
// one event pending (the state is read afresh anyway). The lifecycle watches
// its whole directory, as QEMU does, so that ops.frontendChanged hears of
// every node (`protocol`, `request-update`, ...); a node that changes again
// before it is told is told once, and at most FRONTEND_EVENTS_MAX are kept,
// the oldest dropped and counted beyond that, so a frontend writing without
// end cannot flood this domain.
import * as evtchn from "../evtchn/evtchn";
import {
  ENOENT,
  ENOTCONN,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitialising,
  XenbusStateInitWait,
  XenbusStateUnknown,
} from "../xen/abi";
import { XsWatchHandler } from "../xenstore/watches";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { BusDevice, FoundDevice, pathBelow, XenbusDriver } from "./bus";
import { bindEvtchn, devFatal, evtchnStale, freeEvtchn, log, strstate, watchPath } from "./client";

/** Frontend node changes kept per device until told, and queued per device in the store client. */
export const FRONTEND_EVENTS_MAX: i32 = 16;

/** A backend device: a BusDevice plus the lifecycle's view (QEMU's XenDevice). */
export class BackendDevice extends BusDevice {
  /** The backend's `online` node: 0 means the toolstack wants the device gone. */
  online: bool = false;
  /** Our end of the event channel once bindFrontendEvtchn bound it, else -1. */
  localPort: i32 = -1;
  /** Where the lifecycle is (QEMU's be_state): the state it last wrote, whatever the toolstack wrote since. */
  lifecycleState: i32 = XenbusStateUnknown;
  /** ops.free ran: the device waits for the toolstack to remove it, and nothing more happens. */
  freed: bool = false;
  /** ops.connected ran for the current connection. */
  connectedCalled: bool = false;
  /** Nodes of the frontend (below its directory) that changed, not yet told to ops.frontendChanged; oldest first. */
  readonly frontendNodes: string[] = [];
  /**
   * Frontend node changes dropped beyond FRONTEND_EVENTS_MAX: by frontendNodes,
   * and by this device's earlier frontend watches (the current one counts its own).
   */
  frontendDropped: u32 = 0;

  constructor(
    found: FoundDevice,
    driver: XenbusDriver,
    /** What the device's type does. */
    readonly ops: BackendOps,
  ) {
    super(found, driver);
  }
}

/** What one device type does at each step (QEMU's XenDevOps). Defaults do nothing and succeed. */
export abstract class BackendOps {
  /**
   * QEMU's DEVOPS_FLAG_IGNORE_STATE: initialise and connected do not wait
   * for the frontend's Initialised / Connected (for frontends that never
   * write them).
   */
  ignoreState: bool = false;

  /** The object for a new device: subclass BackendDevice for per-device state. */
  newDevice(found: FoundDevice, driver: XenbusDriver): BackendDevice {
    return new BackendDevice(found, driver, this);
  }

  /** Before InitWait: read own nodes, publish features (max-ring-page-order, ...). 0 or -errno. */
  init(dev: BackendDevice): i32 {
    return 0;
  }

  /**
   * The frontend is Initialised or Connected: map its ring(s), then
   * bindFrontendEvtchn, last: from then on ops.event may run (from the
   * upcall, during any store request) even before this returns. 0, or
   * -errno with nothing left mapped: reported with devFatal, the device
   * closes; unreported, it is tried again at the frontend's next change.
   */
  initialise(dev: BackendDevice): i32 {
    return 0;
  }

  /** Both ends Connected: once per connection. */
  connected(dev: BackendDevice): void {}

  /** The frontend closes or goes away: unmap what initialise mapped (the event channel is already unbound). */
  disconnect(dev: BackendDevice): void {}

  /** The frontend notified the event channel. */
  event(dev: BackendDevice): void {}

  /**
   * A node of the frontend changed: its path below the frontend's directory
   * ("state", "protocol", "queue-0/ring-ref"). Nodes are told in the order
   * they changed, each once however often it changed meanwhile; `state`
   * after what changed before it. Read the value afresh: it may have changed again.
   */
  frontendChanged(dev: BackendDevice, node: string): void {}

  /** A node under the backend's own directory changed: its name ("" for the directory itself). */
  backendChanged(dev: BackendDevice, node: string): void {}

  /** The device is gone for good: release what init set up. */
  free(dev: BackendDevice): void {}
}

/** The QEMU state machine as a driver of the backend bus, for one device type. */
export class BackendDriver extends XenbusDriver {
  constructor(
    type: string,
    readonly ops: BackendOps,
  ) {
    super(type);
  }

  newDevice(found: FoundDevice): BusDevice {
    return this.ops.newDevice(found, this);
  }

  attach(dev: BusDevice): i32 {
    const backend = changetype<BackendDevice>(dev);
    const rc = watchFrontend(backend);
    if (rc < 0) return rc;
    checkState(backend);
    return 0;
  }

  otherendChanged(dev: BusDevice, state: i32): void {
    const backend = changetype<BackendDevice>(dev);
    if (backend.freed) return;
    tellFrontendNodes(backend);
    backend.ops.frontendChanged(backend, "state");
    checkState(backend);
  }

  localChanged(dev: BusDevice, path: string): void {
    const backend = changetype<BackendDevice>(dev);
    if (backend.freed) return;
    const node = path.length > 0 ? path.substring(1) : "";
    if (node == "" || node == "online") readOnline(backend);
    backend.ops.backendChanged(backend, node);
    checkState(backend);
  }

  detach(dev: BusDevice): void {
    const backend = changetype<BackendDevice>(dev);
    if (backend.freed) return;
    disconnect(backend, XenbusStateClosed);
    free(backend);
  }

  /**
   * After a restore the bus wrote Initialising and found the frontend
   * afresh (perhaps elsewhere: its directory is watched anew): what was
   * connected is torn down and the lifecycle starts over from init (a
   * frontend still Connected is initialised again at once). 0, or the
   * -errno of watching the frontend (reported, the device then Closing).
   */
  resume(dev: BusDevice): i32 {
    const backend = changetype<BackendDevice>(dev);
    if (backend.freed) return 0;
    unwatchFrontend(backend);
    const rc = watchFrontend(backend);
    if (rc < 0) return rc;
    teardown(backend);
    backend.lifecycleState = XenbusStateInitialising;
    checkState(backend);
    return 0;
  }
}

/**
 * Binds the frontend's `event-channel` for `dev` (from ops.initialise):
 * its events then run ops.event from the upcall. The local port (also in
 * dev.localPort; the same one when bound already), or -errno: -ENOENT, not
 * reported, while the frontend has not written the node (initialise is
 * tried again at its next change, as QEMU's); else reported and the device
 * then Closing: the node's read error (not a number, ...), or the bind's.
 */
export function bindFrontendEvtchn(dev: BackendDevice): i32 {
  if (dev.localPort >= 0) return dev.localPort;
  const rc = dev.store.readU32(XS_NO_TRANSACTION, `${dev.otherendPath}/event-channel`);
  if (rc == -ENOENT) return rc;
  if (rc < 0) {
    devFatal(dev, rc, "reading event-channel");
    return rc;
  }
  const port = bindEvtchn(dev, u32(dev.store.number));
  if (port < 0) return port;
  dev.localPort = port;
  portDevices.set(u32(port), dev);
  evtchn.setHandler(u32(port), frontendEvent);
  return port;
}

/** Closes the device's event channel, if bound; no more ops.event after this. */
export function unbindFrontendEvtchn(dev: BackendDevice): void {
  if (dev.localPort < 0) return;
  const port = u32(dev.localPort);
  dev.localPort = -1;
  // After a restore the port's number may already name another device's new channel.
  if (portDevices.has(port) && portDevices.get(port) === dev) portDevices.delete(port);
  if (evtchnStale(dev)) return;
  evtchn.setHandler(port, null);
  freeEvtchn(dev, port);
}

/** Notifies the frontend on the device's event channel: 0, or -errno (-ENOTCONN when none is bound). */
export function notifyFrontend(dev: BackendDevice): i32 {
  return dev.localPort < 0 ? -ENOTCONN : evtchn.send(u32(dev.localPort));
}

/** The frontend changes `dev` dropped, beyond FRONTEND_EVENTS_MAX waiting, since it was found. */
export function frontendEventsDropped(dev: BackendDevice): u32 {
  const watch = dev.store.watchOf(frontendToken(dev));
  return dev.frontendDropped + (watch === null ? 0 : watch.dropped);
}

/** Every change under the frontend's directory but `state` (the bus brings that), as QEMU's frontend watch. */
class FrontendWatch extends XsWatchHandler {
  constructor(readonly dev: BackendDevice) {
    super();
  }

  onEvent(path: string, token: string): void {
    const dev = this.dev;
    const below = pathBelow(dev.otherendPath, path);
    // The directory itself names no node (QEMU ignores it too).
    if (below !== null && below.length > 0 && below != "/state") queueFrontendNode(dev, below.substring(1));
    // More events of this watch right behind: take them in first, so that a node written again and again is told once.
    const watch = dev.store.watchOf(token);
    if ((watch !== null && watch.pending > 0) || dev.frontendNodes.length == 0) return;
    tellFrontendNodes(dev);
    checkState(dev);
  }
}

function frontendToken(dev: BackendDevice): string {
  return `frontend:${dev.nodename}`;
}

/**
 * Watches the frontend's directory, keeping at most FRONTEND_EVENTS_MAX of
 * its events queued (the oldest dropped). 0, or -errno (reported, the
 * device switched to Closing).
 */
function watchFrontend(dev: BackendDevice): i32 {
  return watchPath(dev, dev.otherendPath, frontendToken(dev), new FrontendWatch(dev), FRONTEND_EVENTS_MAX);
}

/** Stops watching the frontend's directory (its drops still counted); the changes not yet told are forgotten. */
function unwatchFrontend(dev: BackendDevice): void {
  const token = frontendToken(dev);
  const watch = dev.store.watchOf(token);
  if (watch === null) return;
  dev.frontendDropped += watch.dropped;
  dev.store.unregisterWatch(token);
  dev.frontendNodes.length = 0;
}

/** Keeps `node` to be told, once: beyond FRONTEND_EVENTS_MAX the oldest is dropped. */
function queueFrontendNode(dev: BackendDevice, node: string): void {
  const nodes = dev.frontendNodes;
  if (nodes.includes(node)) return;
  if (nodes.length >= FRONTEND_EVENTS_MAX) {
    nodes.shift();
    dev.frontendDropped++;
  }
  nodes.push(node);
}

/** Tells ops.frontendChanged of the frontend's changed nodes, oldest first. */
function tellFrontendNodes(dev: BackendDevice): void {
  while (dev.frontendNodes.length > 0) dev.ops.frontendChanged(dev, dev.frontendNodes.shift());
}

/** Each bound port's device, for the upcall's handler. */
const portDevices = new Map<u32, BackendDevice>();

function frontendEvent(port: u32): void {
  if (!portDevices.has(port)) return;
  const dev = portDevices.get(port);
  dev.ops.event(dev);
}

/** Steps through the state machine as far as both ends' states allow (QEMU's xen_be_check_state). */
function checkState(dev: BackendDevice): void {
  if (dev.freed) return;
  const frontend = dev.otherendState;
  // The frontend may ask to close from any state.
  if (frontend == XenbusStateClosing || frontend == XenbusStateClosed) {
    disconnect(dev, frontend);
    if (frontend == XenbusStateClosed && !dev.online) {
      free(dev);
      return;
    }
  }
  let advanced = true;
  while (advanced) {
    const state = dev.lifecycleState;
    if (state == XenbusStateUnknown) advanced = setup(dev);
    else if (state == XenbusStateInitialising) advanced = init(dev);
    else if (state == XenbusStateInitWait) advanced = initialise(dev);
    else if (state == XenbusStateConnected) {
      connected(dev);
      advanced = false;
    } else if (state == XenbusStateClosed) advanced = reset(dev);
    else advanced = false;
    if (stopAfterReportedFailure(dev)) advanced = false;
  }
}

/**
 * A failure reported with devFatal (by a step, an op, or a state write that
 * failed) told the frontend Closing, and that stands until the frontend
 * resets, as in Linux: the connection is torn down and the lifecycle is
 * Closing, so no later step writes InitWait or Connected over it. (A Closing
 * the toolstack writes, as unplug does, is not this: the backend serves
 * until the frontend closes.) True when it stopped the lifecycle now.
 */
function stopAfterReportedFailure(dev: BackendDevice): bool {
  if (!dev.fatalReported) return false;
  dev.fatalReported = false;
  const current = dev.lifecycleState;
  if (current == XenbusStateClosing || current == XenbusStateClosed) return false;
  teardown(dev);
  dev.lifecycleState = XenbusStateClosing;
  return true;
}

/** The bus found the device in Initialising, with its frontend known and watched: read `online`. */
function setup(dev: BackendDevice): bool {
  readOnline(dev);
  dev.lifecycleState = XenbusStateInitialising;
  return true;
}

function init(dev: BackendDevice): bool {
  if (!dev.online) return false;
  const rc = dev.ops.init(dev);
  if (rc < 0) {
    log(`${dev.nodename}: init failed (${-rc})`);
    return false;
  }
  dev.store.write(XS_NO_TRANSACTION, `${dev.nodename}/hotplug-status`, "connected");
  return setLifecycleState(dev, XenbusStateInitWait);
}

function initialise(dev: BackendDevice): bool {
  const frontend = dev.otherendState;
  if (frontend != XenbusStateInitialised && frontend != XenbusStateConnected && !dev.ops.ignoreState) return false;
  const rc = dev.ops.initialise(dev);
  if (rc < 0) {
    log(`${dev.nodename}: initialise failed (${-rc}) with the frontend ${strstate(frontend)}`);
    // No event may reach a ring that is not mapped. A failure ops.initialise
    // reported stops the lifecycle in Closing (stopAfterReportedFailure; QEMU
    // would try again and could connect after saying Closing); one it did
    // not report is tried again at the frontend's next change.
    unbindFrontendEvtchn(dev);
    return false;
  }
  return setLifecycleState(dev, XenbusStateConnected);
}

/** ops.connected, once per connection, when the frontend is Connected too. */
function connected(dev: BackendDevice): void {
  if (dev.connectedCalled || (dev.otherendState != XenbusStateConnected && !dev.ops.ignoreState)) return;
  dev.connectedCalled = true;
  dev.ops.connected(dev);
}

/** Tears the connection down, once, and follows the frontend to `state` (Closing or Closed). */
function disconnect(dev: BackendDevice, state: i32): void {
  teardown(dev);
  if (dev.lifecycleState != state) setLifecycleState(dev, state);
}

/**
 * The connection's end, unless the lifecycle is already Closing or Closed:
 * the channel first, so that no event reaches a ring ops.disconnect unmapped.
 */
function teardown(dev: BackendDevice): void {
  const current = dev.lifecycleState;
  if (current == XenbusStateClosing || current == XenbusStateClosed) return;
  unbindFrontendEvtchn(dev);
  dev.connectedCalled = false;
  dev.ops.disconnect(dev);
}

/** A new frontend instance (it went back to Initialising) may connect: start over. */
function reset(dev: BackendDevice): bool {
  if (dev.otherendState != XenbusStateInitialising) return false;
  log(`${dev.nodename}: reset for a new frontend`);
  return setLifecycleState(dev, XenbusStateInitialising);
}

function free(dev: BackendDevice): void {
  unwatchFrontend(dev);
  unbindFrontendEvtchn(dev);
  dev.ops.free(dev);
  dev.freed = true;
}

function readOnline(dev: BackendDevice): void {
  const rc = dev.store.readU32(XS_NO_TRANSACTION, `${dev.nodename}/online`);
  dev.online = rc == 0 && dev.store.number == 1;
}

/** Writes `state` and moves the lifecycle there: true, or false when the write failed (reported). */
function setLifecycleState(dev: BackendDevice, state: i32): bool {
  if (dev.bus.setState(dev, state) < 0) return false;
  dev.lifecycleState = state;
  return true;
}
