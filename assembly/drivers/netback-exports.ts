// Exports of the network backend (see runtime/xenbus.ts for the convention),
// in build/netback.wasm only (assembly/apps/netback.ts): the host of a
// network driver domain starts it and reads its statistics. A vif is named by
// its frontend's domid and its devid.
import { EINVAL, ENODEV } from "../xen/abi";
import { isUserPage } from "../xen/userpages";
import { attachBackendBus, currentBackendBus } from "../xenbus/bus";
import * as xenstore from "../xenstore/ring";
import { bridgeStats, NetbackVif, netbackInit } from "./netback";
import { findVif } from "./netback-xs";

/** Serves vifs from now on (after xs_init): the backend bus attached, the frame buffer allocated. 0 or -errno. */
export function netback_start(): i32 {
  const store = xenstore.currentClient();
  if (store === null) return -ENODEV;
  const rc = netbackInit();
  return rc < 0 ? rc : attachBackendBus(store);
}

/** Bytes netback_info writes. */
export const NETBACK_INFO_SIZE: u32 = 88;

function vifOf(frontend: u32, devid: u32): NetbackVif | null {
  const bus = currentBackendBus();
  return bus === null ? null : findVif(bus, frontend, devid);
}

/**
 * The backend's vif `devid` of domain `frontend` into `out` (a page_alloc
 * page), little-endian: from the frontend tx packets, bytes, errors (u64
 * each); to it rx packets, bytes, dropped, errors (u64 each); state u32,
 * frontend state u32, queues u32 (0 while not connected), split event
 * channels u32 (0/1), fatal errors u32, features u32 (bit 0 sg, 1
 * gso-tcpv4, 2 rx-notify, 3 no-csum-offload), the toolstack's MAC u64 (its
 * first byte lowest). NETBACK_INFO_SIZE, or -ENODEV / -EINVAL.
 */
export function netback_info(frontend: u32, devid: u32, out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  const vif = vifOf(frontend, devid);
  if (vif === null) return -ENODEV;
  store<u64>(out, vif.txPackets);
  store<u64>(out + 8, vif.txBytes);
  store<u64>(out + 16, vif.txErrors);
  store<u64>(out + 24, vif.rxPackets);
  store<u64>(out + 32, vif.rxBytes);
  store<u64>(out + 40, vif.rxDropped);
  store<u64>(out + 48, vif.rxErrors);
  store<u32>(out + 56, vif.state);
  store<u32>(out + 60, vif.otherendState);
  store<u32>(out + 64, vif.queues.length);
  store<u32>(out + 68, vif.queues.length > 0 && vif.queues[0].rxPort != vif.queues[0].txPort ? 1 : 0);
  store<u32>(out + 72, vif.fatalCount);
  const f = vif.features;
  store<u32>(out + 76, (f.sg ? 1 : 0) | (f.gsoTcpv4 ? 2 : 0) | (f.rxNotify ? 4 : 0) | (f.noCsumOffload ? 8 : 0));
  store<u64>(out + 80, vif.mac);
  return i32(NETBACK_INFO_SIZE);
}

/**
 * Why vif `devid` of `frontend` is disabled (a fatal protocol error), as
 * UTF-8 into `out` (a page_alloc page): its length, 0 while it is served,
 * or -ENODEV / -EINVAL.
 */
export function netback_fatal(frontend: u32, devid: u32, out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  const vif = vifOf(frontend, devid);
  if (vif === null) return -ENODEV;
  const bytes = String.UTF8.encode(vif.fatal);
  const length = min(bytes.byteLength, 4096);
  memory.copy(out, changetype<usize>(bytes), length);
  return length;
}

/** Bytes netback_bridge_info writes. */
export const NETBACK_BRIDGE_INFO_SIZE: u32 = 32;

/**
 * The bridge into `out` (a page_alloc page), u64 each: frames flooded,
 * frames forwarded to one learned port, MACs known, MACs forgotten to make
 * room. NETBACK_BRIDGE_INFO_SIZE, or -EINVAL.
 */
export function netback_bridge_info(out: usize): i32 {
  if (!isUserPage(out)) return -EINVAL;
  const stats = bridgeStats();
  for (let i = 0; i < stats.length; i++) store<u64>(out + 8 * i, stats[i]);
  return i32(NETBACK_BRIDGE_INFO_SIZE);
}
