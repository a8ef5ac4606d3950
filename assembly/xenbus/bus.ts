// The XenBus buses (see FreeBSD sys/xen/xenbus/xenbusb.c): one implementation for
// the frontend bus, devices at device/<type>/<id> of this domain's home, and
// the backend bus, devices at backend/<type>/<frontend-domid>/<id>. The two
// differ only in their BusKind: where the bus lives, how many components an
// id has, and which nodes name the other end.
//
// Drivers: a driver is a subclass of XenbusDriver for one device type. It
// registers itself from its module's top level, so that importing the module
// is what makes the driver available:
//
//   class BlkfrontDriver extends XenbusDriver { ... }
//   registerFrontendDriver(new BlkfrontDriver("vbd"));
//
// and attachFrontendBus / attachBackendBus (the xenbus_bus_attach export)
// make this domain's bus with every driver registered for it and enumerate
// it. A device is taken on when it appears in state Initialising and its
// type has a driver: the bus reads where the other end is, the driver's
// newDevice makes the object (a BusDevice subclass carrying the driver's
// state), attach sets it up, and the bus then watches the other end's
// `state` and the device's own directory. Every driver callback runs from
// the upcall (watch events) or from the bus's own calls, never nested.
import {
  EACCES,
  EBUSY,
  EINVAL,
  ENOENT,
  ETIMEDOUT,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialising,
  XenbusStateUnknown,
} from "../xen/abi";
import { systemTime, waitUntilDeadline } from "../xen/time";
import { XsClient } from "../xenstore/client";
import { XsWatchHandler } from "../xenstore/watches";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { log, readDriverState, strstate, switchState, watchPath, watchPathJoined, XenbusDevice } from "./client";

/** Where the bus found a device: what its driver's newDevice makes the device object from. */
export class FoundDevice {
  constructor(
    readonly bus: XenbusBus,
    /** The device type: "vbd". */
    readonly type: string,
    /** "51712" on the frontend bus, "3/51712" (frontend domid / devid) on the backend bus. */
    readonly id: string,
    readonly nodename: string,
    readonly otherendPath: string,
    readonly otherendId: u32,
  ) {}
}

/** A device on a bus: what the helpers need (XenbusDevice) plus what the bus knows. */
export class BusDevice extends XenbusDevice {
  /** The other end's state as the bus last read it. */
  otherendState: i32 = XenbusStateUnknown;
  /** Holds bootWait until this end writes Connected or Closed, by whichever helper. */
  connecting: bool = true;
  /** The watches the bus registered for the device; null until it attached. */
  otherendWatch: OtherendWatch | null = null;
  localWatch: LocalWatch | null = null;

  readonly bus: XenbusBus;
  /** The device type: "vbd". */
  readonly type: string;
  /** "51712" on the frontend bus, "3/51712" (frontend domid / devid) on the backend bus. */
  readonly id: string;

  constructor(
    found: FoundDevice,
    readonly driver: XenbusDriver,
  ) {
    super(found.bus.store, found.nodename, found.otherendPath, found.otherendId);
    this.bus = found.bus;
    this.type = found.type;
    this.id = found.id;
    // The bus takes devices on only in this state.
    this.state = XenbusStateInitialising;
  }

  stateChanged(state: i32): void {
    if (state == XenbusStateConnected || state == XenbusStateClosed) this.connecting = false;
  }
}

/** A driver for one device type; subclass it. Every callback runs from the upcall or the bus's own calls, never nested. */
export abstract class XenbusDriver {
  constructor(readonly type: string) {}

  /** The object for a found device: drivers return a subclass of BusDevice carrying their own state. */
  newDevice(found: FoundDevice): BusDevice {
    return new BusDevice(found, this);
  }

  /** Sets the new device up; 0, or -errno: the bus then writes Closed and forgets the device. */
  abstract attach(dev: BusDevice): i32;

  /** The other end's `state` node changed; `state` is already in dev.otherendState. */
  otherendChanged(dev: BusDevice, state: i32): void {}

  /**
   * A node under this end's own directory changed: its path below the
   * directory, "/feature-x" ("" for the directory itself), as FreeBSD's
   * localend_changed gets it.
   */
  localChanged(dev: BusDevice, path: string): void {}

  /** The device goes away (its state node vanished): release rings, grants, channels. */
  detach(dev: BusDevice): void {}

  /** The domain is about to be suspended. */
  suspend(dev: BusDevice): void {}

  /** After resume (otherend path re-read, watches re-registered, state back to Initialising): reconnect. */
  resume(dev: BusDevice): i32 {
    return 0;
  }
}

/** What tells the two buses apart (FreeBSD's overridable bus methods). */
class BusKind {
  constructor(
    /** The bus's directory, relative to the home. */
    readonly root: string,
    /** Path components of a device id below the type. */
    readonly idComponents: i32,
    /** The nodes of a device naming the other end's directory and domain. */
    readonly otherendPathNode: string,
    readonly otherendIdNode: string,
  ) {}
}

const FRONTEND = new BusKind("device", 1, "backend", "backend-id");
const BACKEND = new BusKind("backend", 2, "frontend", "frontend-id");

/** The largest domid: an otherend id beyond it names no domain. */
const DOMID_MAX: u32 = 0x7fef;

/** The other end's `state` changed: read it, and tell the driver. */
class OtherendWatch extends XsWatchHandler {
  constructor(readonly dev: BusDevice) {
    super();
  }

  onEvent(path: string, token: string): void {
    const dev = this.dev;
    dev.otherendState = readDriverState(dev.store, dev.otherendPath);
    dev.driver.otherendChanged(dev, dev.otherendState);
  }
}

/** Something under the device's own directory changed. */
class LocalWatch extends XsWatchHandler {
  constructor(readonly dev: BusDevice) {
    super();
  }

  onEvent(path: string, token: string): void {
    const dev = this.dev;
    const below = pathBelow(dev.nodename, path);
    if (below === null) return;
    // The toolstack may have written our state (hot-unplug does): what is
    // stored is what a later switch compares with. A vanished node reads as
    // Unknown, and the bus root's watch tears the device down.
    dev.state = readDriverState(dev.store, dev.nodename);
    dev.stateChanged(dev.state);
    dev.driver.localChanged(dev, below);
  }
}

/** Something changed under the bus's directory: a device may have come or gone. */
class BusWatch extends XsWatchHandler {
  constructor(readonly bus: XenbusBus) {
    super();
  }

  onEvent(path: string, token: string): void {
    this.bus.changed(path);
  }
}

export class XenbusBus {
  /** Attached devices, in the order they attached. */
  readonly devices: BusDevice[] = [];
  private readonly drivers: Map<string, XenbusDriver> = new Map<string, XenbusDriver>();
  private attached: bool = false;

  private constructor(
    readonly store: XsClient,
    private readonly kind: BusKind,
  ) {}

  /** The frontend bus: device/<type>/<id>, the other end named by `backend` and `backend-id`. */
  static frontend(store: XsClient): XenbusBus {
    return new XenbusBus(store, FRONTEND);
  }

  /** The backend bus: backend/<type>/<frontend-domid>/<id>, the other end named by `frontend` and `frontend-id`. */
  static backend(store: XsClient): XenbusBus {
    return new XenbusBus(store, BACKEND);
  }

  /** Devices of `driver.type` go to `driver` from now on (the next rescan finds those already waiting). */
  register(driver: XenbusDriver): void {
    this.drivers.set(driver.type, driver);
  }

  /**
   * Watches the bus's directory for devices that come and go, losing no
   * event (max_pending 0, as the seed's), and runs the watch's first event
   * at once: an event on the directory itself rescans the bus, so the
   * devices already there are taken on and none added meanwhile is missed.
   * 0, or the -errno of registering the watch. A bus directory that does
   * not exist yet is no error: devices may be added to it later.
   */
  attach(): i32 {
    if (this.attached) return 0;
    const rc = this.store.registerWatch(this.kind.root, `bus:${this.kind.root}`, new BusWatch(this));
    if (rc < 0) return rc;
    this.attached = true;
    attachedBuses.push(this);
    this.runWatchEvents();
    return 0;
  }

  /**
   * Looks at every device under the bus's directory: new ones in
   * Initialising are taken on, known ones whose state node is gone are torn
   * down. Devices hidden for want of a driver are looked at again.
   */
  rescan(): void {
    this.enumerate(this.kind.root, "", "", 0);
    for (let i = this.devices.length - 1; i >= 0; i--) this.verify(this.devices[i]);
  }

  /** The attached device of `type` with `id`, or null. */
  find(type: string, id: string): BusDevice | null {
    for (let i = 0; i < this.devices.length; i++) {
      const dev = this.devices[i];
      if (dev.type == type && dev.id == id) return dev;
    }
    return null;
  }

  /**
   * Writes this end's state in a transaction (the helpers' switchState:
   * skipped when unchanged, never recreating a removed node, a failure
   * reported and the device closed). For callers that act on the outcome:
   * 0 once written, and for a node removed by the toolstack (the device is
   * going away; nothing to report); else the -errno, already reported.
   */
  setState(dev: BusDevice, state: i32): i32 {
    switchState(dev, state);
    return dev.switchError == -ENOENT ? 0 : dev.switchError;
  }

  /**
   * Blocks until every device that was connecting is Connected or Closed
   * (or gone), running watch events meanwhile. 0, or -ETIMEDOUT once
   * `timeoutNs` of Xen's system time passed, after printing the devices
   * still waiting; or the -errno with which Xen refused to wait.
   */
  bootWait(timeoutNs: u64): i32 {
    waitingBus = this;
    const rc = waitUntilDeadline(noDeviceConnecting, systemTime() + timeoutNs);
    waitingBus = null;
    if (rc == -ETIMEDOUT) {
      for (let i = 0; i < this.devices.length; i++) {
        const dev = this.devices[i];
        if (!dev.connecting) continue;
        log(
          `timeout waiting for ${dev.nodename} to connect: ${strstate(dev.state)}, ` +
            `other end ${dev.otherendPath} ${strstate(dev.otherendState)}`,
        );
      }
    }
    return rc;
  }

  /** Devices holding bootWait. */
  connectingCount(): i32 {
    let count = 0;
    for (let i = 0; i < this.devices.length; i++) if (this.devices[i].connecting) count++;
    return count;
  }

  /** Before a suspend: each driver's suspend. */
  suspend(): void {
    for (let i = 0; i < this.devices.length; i++) this.devices[i].driver.suspend(this.devices[i]);
  }

  /**
   * After a resume: where the other end is may have changed, so each
   * device's state goes back to Initialising, its other end is read again
   * and watched there, and its driver reconnects. `cancelled`: the suspend
   * was cancelled and the same connection goes on, so drivers only resume.
   * 0, or the first -errno (the other devices are still resumed).
   */
  resume(cancelled: bool = false): i32 {
    let first = 0;
    const devices = this.devices.slice();
    for (let i = 0; i < devices.length; i++) {
      const dev = devices[i];
      let rc = cancelled ? 0 : this.reconnect(dev);
      if (rc == 0) rc = dev.driver.resume(dev);
      if (rc < 0 && first == 0) first = rc;
    }
    this.runWatchEvents();
    return first;
  }

  /**
   * The bus watch's event at `path` under the bus's directory: a device
   * came, changed or went. An event above the devices (the bus's directory
   * itself: the watch's registration, or its events collapsed past their
   * bound; a type's directory, removed with its devices) may stand for any
   * of them, so the whole bus is rescanned.
   */
  changed(path: string): void {
    const parts = path.split("/");
    const idEnd = 2 + this.kind.idComponents;
    if (parts[0] != this.kind.root) return;
    if (parts.length < idEnd) {
      this.rescan();
      return;
    }
    for (let i = 1; i < idEnd; i++) if (parts[i].length == 0) return;
    const type = parts[1];
    const id = parts.slice(2, idEnd).join("/");
    const known = this.find(type, id);
    if (known !== null) this.verify(known);
    else this.add(type, id);
  }

  /**
   * Runs the queued watch events now: those of watches just registered
   * (each fires once) would otherwise wait for the next store event. Within
   * a watch handler this does nothing, and the running dispatch takes them.
   */
  private runWatchEvents(): void {
    this.store.dispatchWatchEvents();
  }

  /** Walks `depth` levels of ids below the types, adding each device found. */
  private enumerate(dir: string, type: string, id: string, depth: i32): void {
    if (this.store.directory(XS_NO_TRANSACTION, dir) < 0) return;
    const names = this.store.entries.slice();
    for (let i = 0; i < names.length; i++) {
      const path = `${dir}/${names[i]}`;
      if (depth == 0) this.enumerate(path, names[i], "", 1);
      else if (depth < this.kind.idComponents) this.enumerate(path, type, `${id}${names[i]}/`, depth + 1);
      else if (this.find(type, id + names[i]) === null) this.add(type, id + names[i]);
    }
  }

  /**
   * Takes on the device `type`/`id` if it is new (Initialising) and has a
   * driver. One with another state is not new: it may be going away after
   * it closed, and is left alone. One without a driver stays hidden, its
   * state untouched (another driver, an emulated device, may want it),
   * until a later rescan or event finds a driver for it.
   */
  private add(type: string, id: string): void {
    const nodename = `${this.kind.root}/${type}/${id}`;
    if (!this.drivers.has(type)) return;
    if (readDriverState(this.store, nodename) != XenbusStateInitialising) return;
    const driver = this.drivers.get(type);
    const otherend = this.readOtherend(nodename);
    if (otherend === null) {
      log(`${nodename}: no usable ${this.kind.otherendPathNode} / ${this.kind.otherendIdNode}, ignored`);
      return;
    }
    const dev = driver.newDevice(new FoundDevice(this, type, id, nodename, otherend.path, otherend.id));
    dev.otherendState = readDriverState(this.store, dev.otherendPath);
    this.devices.push(dev);
    const rc = driver.attach(dev);
    if (rc < 0) {
      log(`${nodename}: attach failed (${-rc}), closing`);
      this.setState(dev, XenbusStateClosed);
      this.forget(dev);
      return;
    }
    if (this.watchOtherend(dev) < 0 || this.watchLocal(dev) < 0) {
      // Reported, and the device switched to Closing: it cannot work unwatched.
      this.forget(dev);
      driver.detach(dev);
    }
  }

  /**
   * Watches the other end's `state`, keeping one pending event: it is read
   * afresh anyway, and a chatty peer cannot fill our queue. Fires once on
   * registration, so the driver hears the current state. 0, or -errno
   * (reported, the device switched to Closing).
   */
  private watchOtherend(dev: BusDevice): i32 {
    const watch = new OtherendWatch(dev);
    const rc = watchPathJoined(dev, dev.otherendPath, "state", otherendToken(dev), watch, 1);
    if (rc == 0) dev.otherendWatch = watch;
    return rc;
  }

  /** Watches the device's own directory (only we and dom0 write it: no event lost). 0 or -errno, as watchOtherend. */
  private watchLocal(dev: BusDevice): i32 {
    const watch = new LocalWatch(dev);
    const rc = watchPath(dev, dev.nodename, localToken(dev), watch);
    if (rc == 0) dev.localWatch = watch;
    return rc;
  }

  /**
   * Tears a known device down when its state node is gone (the toolstack
   * removed it), or cannot be read: a device we cannot see is not kept. A
   * request that a restart of the connection cut off (-EAGAIN), or a broken
   * connection, says nothing about the device: it is kept, and looked at
   * again at the next event or the rescan after the restart.
   */
  private verify(dev: BusDevice): void {
    const rc = this.store.directory(XS_NO_TRANSACTION, `${dev.nodename}/state`);
    if (rc >= 0 || (rc != -ENOENT && rc != -EACCES)) return;
    this.forget(dev);
    dev.driver.detach(dev);
  }

  /** Stops watching the device and drops it from the bus. */
  private forget(dev: BusDevice): void {
    if (dev.otherendWatch !== null) this.store.unregisterWatch(otherendToken(dev));
    if (dev.localWatch !== null) this.store.unregisterWatch(localToken(dev));
    dev.otherendWatch = null;
    dev.localWatch = null;
    const index = this.devices.indexOf(dev);
    if (index >= 0) this.devices.splice(index, 1);
  }

  /** resume's work on one device, before its driver's resume. */
  private reconnect(dev: BusDevice): i32 {
    if (dev.otherendWatch !== null) this.store.unregisterWatch(otherendToken(dev));
    dev.otherendWatch = null;
    // The restored domain's store may not hold our last write: write it anew.
    dev.state = XenbusStateUnknown;
    this.setState(dev, XenbusStateInitialising);
    const otherend = this.readOtherend(dev.nodename);
    if (otherend === null) {
      log(`${dev.nodename}: no usable ${this.kind.otherendPathNode} / ${this.kind.otherendIdNode} after resume`);
      return -EINVAL;
    }
    dev.otherendPath = otherend.path;
    dev.otherendId = otherend.id;
    dev.otherendState = readDriverState(this.store, dev.otherendPath);
    return this.watchOtherend(dev);
  }

  /**
   * Where the other end of the device at `nodename` is: an absolute path
   * and a domid, or null when either node is missing or unusable.
   */
  private readOtherend(nodename: string): Otherend | null {
    const store = this.store;
    if (store.readU32(XS_NO_TRANSACTION, `${nodename}/${this.kind.otherendIdNode}`) < 0) return null;
    const id = u32(store.number);
    if (id > DOMID_MAX) return null;
    if (store.read(XS_NO_TRANSACTION, `${nodename}/${this.kind.otherendPathNode}`) < 0) return null;
    const path = store.value;
    if (path.length < 2 || !path.startsWith("/") || path.endsWith("/")) return null;
    return new Otherend(path, id);
  }
}

/** `path` below `dir`: "" for `dir` itself, "/name..." for a node under it, null for a path elsewhere. */
export function pathBelow(dir: string, path: string): string | null {
  if (!path.startsWith(dir)) return null;
  const below = path.substring(dir.length);
  return below.length == 0 || below.startsWith("/") ? below : null;
}

class Otherend {
  constructor(
    readonly path: string,
    readonly id: u32,
  ) {}
}

function otherendToken(dev: BusDevice): string {
  return `otherend:${dev.nodename}`;
}

function localToken(dev: BusDevice): string {
  return `local:${dev.nodename}`;
}

/** The bus bootWait waits on. */
let waitingBus: XenbusBus | null = null;

function noDeviceConnecting(): bool {
  return waitingBus!.connectingCount() == 0;
}

// The driver registry, and this domain's buses.

const frontendDrivers = new Array<XenbusDriver>();
const backendDrivers = new Array<XenbusDriver>();
/** Buses that attached, for suspend and resume. */
const attachedBuses = new Array<XenbusBus>();
let frontendBus: XenbusBus | null = null;
let backendBus: XenbusBus | null = null;

/** Makes `driver` the frontend bus's driver for its type (call it from the driver module's top level). */
export function registerFrontendDriver(driver: XenbusDriver): void {
  frontendDrivers.push(driver);
  if (frontendBus !== null) frontendBus!.register(driver);
}

/** Makes `driver` the backend bus's driver for its type (call it from the driver module's top level). */
export function registerBackendDriver(driver: XenbusDriver): void {
  backendDrivers.push(driver);
  if (backendBus !== null) backendBus!.register(driver);
}

/** Makes this domain's frontend bus with the registered drivers and attaches it: attach()'s 0 or -errno. */
export function attachFrontendBus(store: XsClient): i32 {
  if (frontendBus === null) frontendBus = withDrivers(XenbusBus.frontend(store), frontendDrivers);
  return frontendBus!.attach();
}

/** Makes this domain's backend bus with the registered drivers and attaches it: attach()'s 0 or -errno. */
export function attachBackendBus(store: XsClient): i32 {
  if (backendBus === null) backendBus = withDrivers(XenbusBus.backend(store), backendDrivers);
  return backendBus!.attach();
}

export function currentFrontendBus(): XenbusBus | null {
  return frontendBus;
}

/**
 * Waits at most `timeoutMs` of Xen's system time for `done` (a device
 * reaching a state). Watch events already queued on `bus`'s store (a new
 * watch's first firing among them) run first: they are what moves a device
 * along. 0, or -ETIMEDOUT or the -errno with which Xen refused to wait.
 */
export function waitOnBus(bus: XenbusBus, done: () => bool, timeoutMs: u32): i32 {
  bus.store.pollEvents();
  bus.store.dispatchWatchEvents();
  return waitUntilDeadline(done, systemTime() + u64(timeoutMs) * 1_000_000);
}

/** Closes a frontend device from our side: Closing, then the backend's close takes it to Closed. */
export function closeDevice(dev: BusDevice): i32 {
  if (dev.state == XenbusStateClosed) return 0;
  return dev.bus.setState(dev, XenbusStateClosing);
}

/** Opens a closed frontend device again: Initialising, which the backend answers by resetting for a new frontend. */
export function reopenDevice(dev: BusDevice): i32 {
  if (dev.state != XenbusStateClosed) return dev.state == XenbusStateInitialising ? 0 : -EBUSY;
  dev.down = false;
  return dev.bus.setState(dev, XenbusStateInitialising);
}

export function currentBackendBus(): XenbusBus | null {
  return backendBus;
}

function withDrivers(bus: XenbusBus, drivers: XenbusDriver[]): XenbusBus {
  for (let i = 0; i < drivers.length; i++) bus.register(drivers[i]);
  return bus;
}

/** Before the domain suspends: every attached bus's drivers. */
export function suspendBuses(): void {
  for (let i = 0; i < attachedBuses.length; i++) attachedBuses[i].suspend();
}

/** After the domain resumed (or its suspend was cancelled): every attached bus. 0 or the first -errno. */
export function resumeBuses(cancelled: bool): i32 {
  let first = 0;
  for (let i = 0; i < attachedBuses.length; i++) {
    const rc = attachedBuses[i].resume(cancelled);
    if (rc < 0 && first == 0) first = rc;
  }
  return first;
}
