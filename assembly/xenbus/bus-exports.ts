// The XenBus buses as exports (xenbus_bus_*), on the conventions of the
// xs_* exports. A bus is named by its kind: 0 the frontend bus (device/),
// 1 the backend bus (backend/); a device by its index in the bus's list of
// attached devices, which changes as devices come and go.

import { EINVAL, ENODEV } from "../xen/abi";
import { isUserPage } from "../xen/userpages";
import * as xenstore from "../xenstore/ring";
import { BackendDevice, frontendEventsDropped } from "./backend";
import {
  attachBackendBus,
  attachFrontendBus,
  BusDevice,
  currentBackendBus,
  currentFrontendBus,
  XenbusBus,
} from "./bus";

const BUS_FRONTEND: u32 = 0;
const BUS_BACKEND: u32 = 1;

/** The bus of `kind` once attached, else null. */
function busOf(kind: u32): XenbusBus | null {
  if (kind == BUS_FRONTEND) return currentFrontendBus();
  if (kind == BUS_BACKEND) return currentBackendBus();
  return null;
}

function deviceOf(kind: u32, index: i32): BusDevice | null {
  const bus = busOf(kind);
  if (bus === null || index < 0 || index >= bus.devices.length) return null;
  return bus.devices[index];
}

/**
 * Attaches this domain's bus of `kind` with the drivers registered for it:
 * devices waiting in Initialising are taken on, and the bus is watched for
 * more. 0 (also when attached already), or -errno: -ENODEV before xs_init,
 * -EINVAL for another kind, or the error registering the bus's watch.
 */
export function xenbus_bus_attach(kind: u32): i32 {
  const store = xenstore.currentClient();
  if (store === null) return -ENODEV;
  if (kind == BUS_FRONTEND) return attachFrontendBus(store);
  if (kind == BUS_BACKEND) return attachBackendBus(store);
  return -EINVAL;
}

/**
 * Blocks until every device of the bus that was connecting is Connected or
 * Closed: 0, or -ETIMEDOUT after `timeout_ms` of Xen's system time (the
 * devices still waiting are printed on the console); -ENODEV for a bus not
 * attached.
 */
export function xenbus_bus_boot_wait(kind: u32, timeout_ms: u32): i32 {
  const bus = busOf(kind);
  return bus === null ? -ENODEV : bus.bootWait(u64(timeout_ms) * 1_000_000);
}

/** The bus's attached devices, or -ENODEV for a bus not attached. */
export function xenbus_bus_device_count(kind: u32): i32 {
  const bus = busOf(kind);
  return bus === null ? -ENODEV : bus.devices.length;
}

/** Device `index`'s type ("vbd") into `out` (a page_alloc page): its length, or -EINVAL. */
export function xenbus_bus_device_type(kind: u32, index: i32, out: usize): i32 {
  const dev = deviceOf(kind, index);
  return dev === null || !isUserPage(out) ? -EINVAL : stringOut(dev.type, out);
}

/** Device `index`'s id ("51712", or "3/51712" on the backend bus) into `out`: its length, or -EINVAL. */
export function xenbus_bus_device_id(kind: u32, index: i32, out: usize): i32 {
  const dev = deviceOf(kind, index);
  return dev === null || !isUserPage(out) ? -EINVAL : stringOut(dev.id, out);
}

/** The state device `index`'s end last wrote (or read back from its node), or -EINVAL. */
export function xenbus_bus_device_state(kind: u32, index: i32): i32 {
  const dev = deviceOf(kind, index);
  return dev === null ? -EINVAL : dev.state;
}

/** The other end's state as the bus last read it, or -EINVAL. */
export function xenbus_bus_device_otherend_state(kind: u32, index: i32): i32 {
  const dev = deviceOf(kind, index);
  return dev === null ? -EINVAL : dev.otherendState;
}

/** The other end's domid, or -EINVAL. */
export function xenbus_bus_device_otherend_id(kind: u32, index: i32): i32 {
  const dev = deviceOf(kind, index);
  return dev === null ? -EINVAL : i32(dev.otherendId);
}

/** 1 while device `index` holds the boot wait, 0 once it is Connected or Closed; -EINVAL. */
export function xenbus_bus_device_connecting(kind: u32, index: i32): i32 {
  const dev = deviceOf(kind, index);
  return dev === null ? -EINVAL : i32(dev.connecting);
}

/**
 * The frontend node changes device `index`, one run by the backend
 * lifecycle, dropped beyond FRONTEND_EVENTS_MAX (a flooding frontend's);
 * -EINVAL for any other device.
 */
export function xenbus_bus_device_frontend_dropped(kind: u32, index: i32): i32 {
  const dev = deviceOf(kind, index);
  return dev instanceof BackendDevice ? i32(frontendEventsDropped(changetype<BackendDevice>(dev))) : -EINVAL;
}

/** `text` as UTF-8 into the page `out` (types and ids come from store paths, shorter than a page): its length. */
function stringOut(text: string, out: usize): i32 {
  return i32(String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, out, false));
}
