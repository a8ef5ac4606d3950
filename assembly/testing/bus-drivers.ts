// Test-only XenBus drivers for build/harness.wasm (never in xenbus.wasm):
// type "vtest" on both buses, each callback recorded in a log the tests read
// with harness_bus_log, and a frontend that walks the usual handshake so a
// test can play the backend from dom0.

import {
  EINVAL,
  EIO,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitWait,
} from "../xen/abi";
import { PAGE_SIZE } from "../xen/pages";
import { isUserPage } from "../xen/userpages";
import { BusDevice, registerBackendDriver, registerFrontendDriver, XenbusDriver } from "../xenbus/bus";
import { XS_NO_TRANSACTION } from "../xenstore/wire";

/** Callbacks run, oldest first, until a test takes them. */
const entries = new Array<string>();

export function record(entry: string): void {
  entries.push(entry);
}

/**
 * A driver that records each callback and walks the handshake of its end:
 * a frontend answers InitWait with Initialised, Connected with Connected,
 * Closing with Closed; a backend goes to InitWait on attach, to Connected
 * when the frontend is Initialised, and to Closed when it closed. attach
 * fails with -EIO when the device has a `fail-attach` node, and resume when
 * it has a `fail-resume` node, so tests reach the bus's failure paths.
 */
class RecordingDriver extends XenbusDriver {
  constructor(
    type: string,
    readonly frontend: bool,
  ) {
    super(type);
  }

  attach(dev: BusDevice): i32 {
    if (dev.store.exists(XS_NO_TRANSACTION, `${dev.nodename}/fail-attach`) == 1) {
      record(`attach-failed ${dev.nodename}`);
      return -EIO;
    }
    record(`attach ${dev.nodename} ${dev.otherendPath} ${dev.otherendId} ${dev.otherendState}`);
    if (!this.frontend) dev.bus.setState(dev, XenbusStateInitWait);
    return 0;
  }

  otherendChanged(dev: BusDevice, state: i32): void {
    record(`otherend ${dev.nodename} ${state}`);
    if (this.frontend) {
      if (state == XenbusStateInitWait) dev.bus.setState(dev, XenbusStateInitialised);
      else if (state == XenbusStateConnected) dev.bus.setState(dev, XenbusStateConnected);
      else if (state == XenbusStateClosing) dev.bus.setState(dev, XenbusStateClosed);
    } else {
      if (state == XenbusStateInitialised) dev.bus.setState(dev, XenbusStateConnected);
      else if (state == XenbusStateClosed) dev.bus.setState(dev, XenbusStateClosed);
    }
  }

  localChanged(dev: BusDevice, path: string): void {
    record(`local ${path}`);
  }

  detach(dev: BusDevice): void {
    record(`detach ${dev.nodename}`);
  }

  suspend(dev: BusDevice): void {
    record(`suspend ${dev.nodename}`);
  }

  resume(dev: BusDevice): i32 {
    record(`resume ${dev.nodename} ${dev.otherendPath} ${dev.otherendId} ${dev.state}`);
    return dev.store.exists(XS_NO_TRANSACTION, `${dev.nodename}/fail-resume`) == 1 ? -EIO : 0;
  }
}

registerFrontendDriver(new RecordingDriver("vtest", true));
registerBackendDriver(new RecordingDriver("vtest", false));

/**
 * Takes the oldest log entries that fit in the page `out`, one per line:
 * the byte count, 0 when the log is empty, -EINVAL for an `out` that is
 * not a page_alloc page.
 */
export function harness_bus_log(out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  let length: usize = 0;
  let taken = 0;
  while (taken < entries.length) {
    const line = `${entries[taken]}\n`;
    const size = usize(String.UTF8.byteLength(line));
    if (length + size > PAGE_SIZE) break;
    length += String.UTF8.encodeUnsafe(changetype<usize>(line), line.length, out + length);
    taken++;
  }
  entries.splice(0, taken);
  return i32(length);
}
