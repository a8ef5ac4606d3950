// What the unikernels here share: start() boots, says hello on the PV
// console and starts taking devices and shutdown requests; serve() stays up,
// saying when disks (and, with network.ts, vifs) connect and go, until the
// toolstack asks the domain to stop (`xl shutdown` / `xl reboot`), then
// closes the devices. A suspend
// (`xl save`) is taken on the way, and the domain goes on after the restore.
//
// Like a kernel, it is written in a blocking style: between events it waits
// in SCHEDOP_block, and whatever the event was (a watch firing, a disk
// connecting) has run its handler by the time the wait returns.
import "../xen/panic"; // the abort handler named in asconfig.json
import { BlkfrontDevice } from "../drivers/blkfront";
import "../drivers/blkfront-xs"; // registers the vbd driver with the frontend bus
import { SECTOR_SHIFT } from "../drivers/blkif";
import * as consoleFront from "../drivers/console";
import { suspendDomain } from "../drivers/suspend";
import * as evtchn from "../evtchn/evtchn";
import * as gnttab from "../gnttab/gnttab";
import { ENOENT, SHUTDOWN_poweroff, SHUTDOWN_reboot, XenbusStateClosed, XenbusStateUnknown } from "../xen/abi";
import { systemTime, waitUntilDeadline } from "../xen/time";
import { attachFrontendBus, BusDevice, closeDevice, currentFrontendBus, XenbusBus } from "../xenbus/bus";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import * as xenstore from "../xenstore/ring";
import { XsWatchHandler } from "../xenstore/watches";
import { XS_NO_TRANSACTION } from "../xenstore/wire";

/** Where the toolstack asks for a shutdown ("poweroff", "reboot", "halt", "suspend"), relative to our home. */
const SHUTDOWN_NODE = "control/shutdown";
/** How long the disks get to close, and the console to take our last words, at shutdown (Xen's system time). */
const CLOSE_TIMEOUT_NS: u64 = 5_000_000_000;

/** Connects to Xen, the console and XenStore, greets, and starts taking disks and shutdown requests. 0 or -errno. */
export function start(): i32 {
  // Xen's pages first: shared_info (event channels) and the grant table.
  let rc = evtchn.mapSharedInfo();
  if (rc == 0) rc = gnttab.setup();
  if (rc < 0) return rc;
  rc = consoleFront.connect();
  if (rc < 0) return rc;
  rc = xenstore.connect();
  if (rc < 0) return fail("cannot connect to XenStore", rc);
  const store = xenstore.currentClient()!;

  // The store says who we are: xenstored wants our real domid, never DOMID_SELF.
  rc = store.read(XS_NO_TRANSACTION, "domid");
  if (rc < 0) return fail("cannot read my domid", rc);
  say(`Hello from a Wasm unikernel on Xen: I am domain ${store.value}.`);

  // Disks come and go as the toolstack adds and removes them: the bus takes each on.
  rc = attachFrontendBus(store);
  if (rc < 0) return fail("cannot watch for devices", rc);
  rc = store.registerWatch(SHUTDOWN_NODE, "shutdown", new ShutdownWatch());
  if (rc < 0) return fail("cannot watch control/shutdown", rc);
  store.dispatchWatchEvents();
  return 0;
}

/**
 * Stays up, saying when disks come and go, until the toolstack asks for a
 * poweroff or a reboot (a suspend, xl save, comes back); then closes the
 * disks. main's result.
 */
export function serve(): i32 {
  while (request.length == 0 || request == "suspend") {
    if (request == "suspend") suspend();
    const rc = evtchn.waitUntil(somethingToSay);
    if (rc < 0) return fail("cannot wait for events", rc);
    for (let i = 0; i < reporters.length; i++) reporters[i].report();
  }

  say(`Shutdown requested (${request}): closing my ${closingWhat()}.`);
  closeDevices();
  say("Goodbye.");
  // What we said should reach the console's log before the domain goes.
  waitUntilDeadline(consoleFront.outputTaken, systemTime() + CLOSE_TIMEOUT_NS);
  return request == "reboot" ? SHUTDOWN_reboot : SHUTDOWN_poweroff;
}

/** Suspends the domain (xl save, migration); after a restore the disks connect again on their own. */
function suspend(): void {
  request = "";
  say("Suspending.");
  const rc = suspendDomain();
  if (rc == 0) say("Resumed.");
  else if (rc == 1) say("Suspend cancelled: going on.");
  else say(`Suspend failed: error ${-rc}`);
}

export function say(line: string): void {
  const bytes = String.UTF8.encode(`${line}\n`);
  consoleFront.write(changetype<usize>(bytes), bytes.byteLength);
}

function fail(what: string, rc: i32): i32 {
  say(`${what}: error ${-rc}`);
  return rc;
}

// Shutdown requests. The toolstack writes the request into control/shutdown;
// we take it and clear the node in one transaction, as Linux does, so that
// a request is acted on once.

/** The accepted request ("poweroff", "reboot", "halt", "suspend"), or "" while there is none. */
let request = "";

class TakeRequest extends XsTransactionBody {
  taken: string = "";

  run(store: XsClient, tx: u32): i32 {
    this.taken = "";
    const rc = store.read(tx, SHUTDOWN_NODE);
    if (rc == -ENOENT) return 0;
    if (rc < 0) return rc;
    this.taken = store.value;
    return this.taken.length == 0 ? 0 : store.write(tx, SHUTDOWN_NODE, "");
  }
}

class ShutdownWatch extends XsWatchHandler {
  onEvent(path: string, token: string): void {
    const take = new TakeRequest();
    const rc = xenstore.currentClient()!.runTransaction(take);
    if (rc < 0) {
      say(`cannot read the shutdown request: error ${-rc}`);
    } else if (take.taken == "poweroff" || take.taken == "halt" || take.taken == "reboot" || take.taken == "suspend") {
      request = take.taken;
    } else if (take.taken.length != 0) {
      say(`Ignoring shutdown request "${take.taken}".`);
    }
  }
}

// What serve() speaks of: each reporter says what changed since it last
// spoke, and at shutdown closes the devices it speaks of.

/** Something the application tells its console about as it changes (a disk connecting, say). */
export abstract class Reporter {
  /** Whether something changed since report() last ran. */
  abstract changed(): bool;
  /** Says what changed. */
  abstract report(): void;
  /** What close() closes, in the shutdown line ("disks"); "" for nothing. */
  devices(): string {
    return "";
  }
  /** Asks each device to close. */
  close(): void {}
  /** Whether every device has closed at both ends. */
  closed(): bool {
    return true;
  }
}

/** Our disks (frontends); an application adds its own reporters with addReporter. */
const reporters: Reporter[] = [];

/** From now on serve() asks `reporter` after each event whether it has something to say. */
export function addReporter(reporter: Reporter): void {
  reporters.push(reporter);
}

/** A shutdown request, or a change a reporter has to speak of. */
function somethingToSay(): bool {
  if (request.length != 0) return true;
  for (let i = 0; i < reporters.length; i++) if (reporters[i].changed()) return true;
  return false;
}

// Our disks: what we said about each, so that we speak when that changes.

/** Our disks, connected or not. */
export function disks(): BlkfrontDevice[] {
  return devicesOf<BlkfrontDevice>(currentFrontendBus(), "vbd");
}

/** The devices of `type` on `bus` (none without a bus), as T: the class its driver makes them. */
export function devicesOf<T>(bus: XenbusBus | null, type: string): T[] {
  const found = new Array<T>();
  if (bus === null) return found;
  for (let i = 0; i < bus.devices.length; i++) {
    const dev = bus.devices[i];
    if (dev.type == type) found.push(dev as T);
  }
  return found;
}

/** Says when one of our disks connects (with its size) or goes. */
class OurDisks extends Reporter {
  devices(): string {
    return "disks";
  }

  close(): void {
    const current = disks();
    for (let i = 0; i < current.length; i++) closeDevice(current[i]);
  }

  closed(): bool {
    return devicesClosed(disks());
  }

  /** Devids of the disks we said are connected. */
  announced: Set<string> = new Set<string>();

  changed(): bool {
    const current = disks();
    let connected = 0;
    for (let i = 0; i < current.length; i++) {
      const dev = current[i];
      if (dev.isConnected() != this.announced.has(dev.id)) return true;
      if (dev.isConnected()) connected++;
    }
    return connected != this.announced.size;
  }

  report(): void {
    const current = disks();
    const connected = new Set<string>();
    for (let i = 0; i < current.length; i++) {
      const dev = current[i];
      if (!dev.isConnected()) continue;
      connected.add(dev.id);
      if (this.announced.has(dev.id)) continue;
      const bytes = dev.sectors << SECTOR_SHIFT;
      say(`Disk ${diskName(dev.id)} connected: ${bytes >> 20} MiB (${bytes} bytes, ${dev.sectorSize}-byte sectors).`);
    }
    const before = this.announced.values();
    for (let i = 0; i < before.length; i++) {
      if (!connected.has(before[i])) say(`Disk ${diskName(before[i])} disconnected.`);
    }
    this.announced = connected;
  }
}
addReporter(new OurDisks());

/** Linux's name for a vbd devid: 51712 (major 202, minor 0) is xvda; others keep their number. */
export function diskName(id: string): string {
  const devid = I32.parseInt(id);
  if (devid >> 8 != 202) return `vbd ${id}`;
  return `xvd${String.fromCharCode(0x61 + ((devid & 0xff) >> 4))} (vbd ${id})`;
}

/** What the reporters close at shutdown: "disks", "disks and vifs". */
function closingWhat(): string {
  const names: string[] = [];
  for (let i = 0; i < reporters.length; i++) if (reporters[i].devices().length != 0) names.push(reporters[i].devices());
  return names.join(" and ");
}

/** Asks every device to close, then waits (a while at most) until both ends of each are Closed. */
function closeDevices(): void {
  for (let i = 0; i < reporters.length; i++) reporters[i].close();
  if (waitUntilDeadline(allClosed, systemTime() + CLOSE_TIMEOUT_NS) < 0) say("Some devices did not close in time.");
}

function allClosed(): bool {
  for (let i = 0; i < reporters.length; i++) if (!reporters[i].closed()) return false;
  return true;
}

/** Whether both ends of each of `devices` are Closed (or the backend gone). */
export function devicesClosed<T extends BusDevice>(devices: T[]): bool {
  for (let i = 0; i < devices.length; i++) {
    const dev = devices[i];
    const backend = dev.otherendState;
    if (dev.state != XenbusStateClosed || (backend != XenbusStateClosed && backend != XenbusStateUnknown)) return false;
  }
  return true;
}
