// The `xen` imports of a Wasm guest: each hypercall reads its struct from the
// guest's linear memory (a struct that does not fit is -EFAULT), checks its
// arguments, runs the operation and writes results back, as Xen's handlers do.
// Guest pointers arrive as i32 and are linear-memory offsets (read unsigned).

import { DomainExit } from "../../runtime/hypervisor.js";
import {
  CONSOLEIO,
  ERRNO,
  EVTCHNOP,
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_close,
  evtchn_send,
  evtchn_status,
  evtchn_unmask,
  GNTCOPY,
  GNTST,
  GNTTABOP,
  gnttab_copy,
  gnttab_map_grant_ref,
  gnttab_query_size,
  gnttab_setup_table,
  gnttab_unmap_grant_ref,
  HVMOP,
  SCHEDOP,
  SHUTDOWN,
  sched_poll,
  sched_shutdown,
  XEN_LIMITS,
  XENMEM,
  XENVER,
  xen_add_to_physmap,
  xen_hvm_param,
  xen_memory_reservation,
} from "./abi.js";
import type { Domain } from "./domain.js";
import { getParam, setParam } from "./hvm.js";
import type { Hypervisor } from "./hypervisor.js";
import { toAddress } from "./memory.js";
import { addToPhysmap } from "./physmap.js";
import { shutdownReasonName } from "./sched.js";

export type Hypercall = (...args: number[]) => number;
export type XenImports = Record<string, Hypercall>;

/** Xen 4.17, as XENVER_version packs it. */
export const XEN_VERSION = (4 << 16) | 17;
export const XEN_EXTRAVERSION = ".0-xenbus-sim";
/** SCHEDOP_poll takes at most this many ports, as Xen. */
const POLL_PORTS_MAX = 128;

/** memory_op's command: the sub-command in the low bits, the extent a continuation starts from above. */
const MEMOP_EXTENT_SHIFT = 6;
const MEMOP_CMD_MASK = (1 << MEMOP_EXTENT_SHIFT) - 1;

const EFAULT = -ERRNO.EFAULT;
const ENOSYS = -ERRNO.ENOSYS;

export function createHypercalls(hv: Hypervisor, domain: Domain): XenImports {
  const memory = domain.memory;

  /** Wraps a handler: a dead domain's frames keep unwinding; pointers and counts are read unsigned. */
  const entry =
    (handler: (...args: number[]) => number): Hypercall =>
    (...args: number[]) => {
      if (!domain.alive) throw new DomainExit(domain.domid, domain.exit!);
      return handler(...args.map((arg) => arg >>> 0));
    };

  function eventChannelOp(cmd: number, arg: number): number {
    const ops = hv.evtchn;
    switch (cmd) {
      case EVTCHNOP.alloc_unbound: {
        const op = memory.struct(arg, evtchn_alloc_unbound);
        if (!op) return EFAULT;
        const port = ops.allocUnbound(domain, op.u16("dom"), op.u16("remote_dom"));
        if (port < 0) return port;
        op.setU32("port", port);
        return 0;
      }
      case EVTCHNOP.bind_interdomain: {
        const op = memory.struct(arg, evtchn_bind_interdomain);
        if (!op) return EFAULT;
        const port = ops.bindInterdomain(domain, op.u16("remote_dom"), op.u32("remote_port"));
        if (port < 0) return port;
        op.setU32("local_port", port);
        return 0;
      }
      case EVTCHNOP.send: {
        const op = memory.struct(arg, evtchn_send);
        return op ? ops.send(domain, op.u32("port")) : EFAULT;
      }
      case EVTCHNOP.close: {
        const op = memory.struct(arg, evtchn_close);
        return op ? ops.close(domain, op.u32("port")) : EFAULT;
      }
      case EVTCHNOP.unmask: {
        const op = memory.struct(arg, evtchn_unmask);
        return op ? ops.unmask(domain, op.u32("port")) : EFAULT;
      }
      case EVTCHNOP.status: {
        const op = memory.struct(arg, evtchn_status);
        if (!op) return EFAULT;
        const status = ops.status(domain, op.u16("dom"), op.u32("port"));
        if (typeof status === "number") return status;
        op.setU32("status", status.status);
        op.setU32("vcpu", 0);
        if (status.remoteDomid !== undefined)
          op.setU16(status.remotePort === undefined ? "u.unbound.dom" : "u.interdomain.dom", status.remoteDomid);
        if (status.remotePort !== undefined) op.setU32("u.interdomain.port", status.remotePort);
        return 0;
      }
      default:
        return ENOSYS;
    }
  }

  function grantTableOp(cmd: number, uop: number, count: number): number {
    const ops = hv.gnttab;
    if (count > 0x7fffffff) return -ERRNO.EINVAL; // Xen rejects a negative int count
    switch (cmd) {
      case GNTTABOP.map_grant_ref:
        for (let i = 0; i < count; i++) {
          const op = memory.struct(uop + i * gnttab_map_grant_ref.sizeof, gnttab_map_grant_ref);
          if (!op) return EFAULT;
          const { status, mapping } = ops.map(domain, {
            dom: op.u16("dom"),
            ref: op.u32("ref"),
            flags: op.u32("flags"),
            hostAddr: toAddress(op.u64("host_addr")),
          });
          op.setI16("status", status);
          if (mapping) {
            op.setU32("handle", mapping.handle);
            op.setU64("dev_bus_addr", BigInt(mapping.frame) << 12n);
          }
        }
        return 0;
      case GNTTABOP.unmap_grant_ref:
        for (let i = 0; i < count; i++) {
          const op = memory.struct(uop + i * gnttab_unmap_grant_ref.sizeof, gnttab_unmap_grant_ref);
          if (!op) return EFAULT;
          op.setI16(
            "status",
            ops.unmap(domain, op.u32("handle"), toAddress(op.u64("host_addr")), op.u64("dev_bus_addr")),
          );
        }
        return 0;
      case GNTTABOP.copy:
        for (let i = 0; i < count; i++) {
          const op = memory.struct(uop + i * gnttab_copy.sizeof, gnttab_copy);
          if (!op) return EFAULT;
          const flags = op.u16("flags");
          // u is a union: a 32-bit grant ref, or a 64-bit frame of the caller's own memory.
          const source = flags & GNTCOPY.source_gref ? op.u32("source.u.ref") : toAddress(op.u64("source.u.gmfn"));
          const dest = flags & GNTCOPY.dest_gref ? op.u32("dest.u.ref") : toAddress(op.u64("dest.u.gmfn"));
          op.setI16(
            "status",
            ops.copy(domain, {
              source: { refOrFrame: source, domid: op.u16("source.domid"), offset: op.u16("source.offset") },
              dest: { refOrFrame: dest, domid: op.u16("dest.domid"), offset: op.u16("dest.offset") },
              len: op.u16("len"),
              flags,
            }),
          );
        }
        return 0;
      case GNTTABOP.setup_table: {
        if (count !== 1) return -ERRNO.EINVAL;
        const op = memory.struct(uop, gnttab_setup_table);
        if (!op) return EFAULT;
        const nrFrames = op.u32("nr_frames");
        const list = memory.array(toAddress(op.u64("frame_list")), nrFrames, 8);
        if (!list) return EFAULT;
        const { status, frames } = ops.setupTable(domain, op.u16("dom"), nrFrames);
        op.setI16("status", status);
        frames.forEach((frame, i) => list.setBigUint64(i * 8, frame, true));
        return 0;
      }
      case GNTTABOP.query_size: {
        if (count !== 1) return -ERRNO.EINVAL;
        const op = memory.struct(uop, gnttab_query_size);
        if (!op) return EFAULT;
        const { status, nrFrames, maxNrFrames } = ops.querySize(domain, op.u16("dom"));
        op.setI16("status", status);
        if (status === GNTST.okay) {
          op.setU32("nr_frames", nrFrames);
          op.setU32("max_nr_frames", maxNrFrames);
        }
        return 0;
      }
      default:
        return ENOSYS;
    }
  }

  function memoryOp(cmd: number, arg: number): number {
    // The bits above the sub-command are where a continuation starts (MEMOP_EXTENT_SHIFT).
    const op = cmd & MEMOP_CMD_MASK;
    const startExtent = cmd >>> MEMOP_EXTENT_SHIFT;
    switch (op) {
      case XENMEM.decrease_reservation:
      case XENMEM.populate_physmap: {
        const reservation = memory.struct(arg, xen_memory_reservation);
        if (!reservation) return startExtent; // Xen's answer to a reservation it cannot read: nothing done
        return hv.reservations.change(domain, {
          op,
          domid: reservation.u16("domid"),
          extentStart: toAddress(reservation.u64("extent_start")),
          nrExtents: toAddress(reservation.u64("nr_extents")),
          extentOrder: reservation.u32("extent_order"),
          memFlags: reservation.u32("mem_flags"),
          startExtent,
        });
      }
      case XENMEM.add_to_physmap: {
        const physmap = memory.struct(arg, xen_add_to_physmap);
        if (!physmap) return EFAULT;
        return addToPhysmap(hv, hv.coherence, domain, {
          domid: physmap.u16("domid"),
          space: physmap.u32("space"),
          idx: toAddress(physmap.u64("idx")),
          gpfn: toAddress(physmap.u64("gpfn")),
        });
      }
      default:
        return ENOSYS;
    }
  }

  function hvmOp(cmd: number, arg: number): number {
    if (cmd !== HVMOP.get_param && cmd !== HVMOP.set_param) return ENOSYS;
    const op = memory.struct(arg, xen_hvm_param);
    if (!op) return EFAULT;
    if (cmd === HVMOP.set_param) return setParam(hv, domain, op.u16("domid"), op.u32("index"), op.u64("value"));
    const { rc, value } = getParam(hv, domain, op.u16("domid"), op.u32("index"));
    if (rc === 0) op.setU64("value", value);
    return rc;
  }

  function schedOp(cmd: number, arg: number): number {
    const scheduler = hv.scheduler;
    switch (cmd) {
      case SCHEDOP.yield:
        return scheduler.yield(domain);
      case SCHEDOP.block:
        return scheduler.block(domain);
      case SCHEDOP.shutdown: {
        const op = memory.struct(arg, sched_shutdown);
        if (!op) return EFAULT;
        const code = op.u32("reason");
        if (code === SHUTDOWN.suspend) return hv.suspend(domain);
        const reason = shutdownReasonName(code);
        // A crashing guest says why on its console just before (the panic handler does).
        const message = reason === "crash" ? (domain.console.lines().at(-1) ?? "") : "";
        return scheduler.exitRunning(domain, { reason, code, message });
      }
      case SCHEDOP.poll: {
        const op = memory.struct(arg, sched_poll);
        if (!op) return EFAULT;
        const count = op.u32("nr_ports");
        if (count > POLL_PORTS_MAX) return -ERRNO.EINVAL;
        const list = memory.array(toAddress(op.u64("ports")), count, 4);
        if (!list) return EFAULT;
        const ports = Array.from({ length: count }, (_, i) => list.getUint32(i * 4, true));
        if (ports.some((port) => !domain.ports.isValid(port))) return -ERRNO.EINVAL;
        return scheduler.poll(domain, ports, toAddress(op.u64("timeout")));
      }
      default:
        return ENOSYS;
    }
  }

  function consoleIo(cmd: number, count: number, buffer: number): number {
    // Xen lets an unprivileged domain write (as a debug build does) and nothing else.
    if (cmd !== CONSOLEIO.write) {
      if (!domain.privileged) return -ERRNO.EPERM;
      return cmd === CONSOLEIO.read ? 0 : ENOSYS; // no console input is simulated
    }
    if (!memory.contains(buffer, count)) return EFAULT;
    domain.console.write(memory.bytes().slice(buffer, buffer + count));
    return 0;
  }

  function xenVersion(cmd: number, arg: number): number {
    switch (cmd) {
      case XENVER.version:
        return XEN_VERSION;
      case XENVER.extraversion: {
        const text = memory.array(arg, XEN_LIMITS.XEN_EXTRAVERSION_LEN, 1);
        if (!text) return EFAULT;
        const bytes = new Uint8Array(XEN_LIMITS.XEN_EXTRAVERSION_LEN);
        bytes.set(new TextEncoder().encode(XEN_EXTRAVERSION).subarray(0, XEN_LIMITS.XEN_EXTRAVERSION_LEN - 1));
        bytes.forEach((byte, i) => text.setUint8(i, byte));
        return 0;
      }
      default:
        return ENOSYS;
    }
  }

  return {
    event_channel_op: entry(eventChannelOp),
    grant_table_op: entry(grantTableOp),
    memory_op: entry(memoryOp),
    hvm_op: entry(hvmOp),
    sched_op: entry(schedOp),
    console_io: entry(consoleIo),
    xen_version: entry(xenVersion),
  };
}
