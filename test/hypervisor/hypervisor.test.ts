// Hypercalls from a Wasm guest: argument checks, Xen's error codes, event
// channels and their 2-level delivery bits, HVM params, console, version, death.
import { beforeEach, describe, expect, it } from "vitest";
import {
  CONSOLEIO,
  DOMID,
  ERRNO,
  EVTCHNOP,
  EVTCHNSTAT,
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_status,
  HVM_PARAM,
  HVMOP,
  SCHEDOP,
  SHUTDOWN,
  type StructLayout,
  sched_shutdown,
  XENMAPSPACE,
  XENMEM,
  XENVER,
  xen_add_to_physmap,
  xen_hvm_param,
} from "../../host/xen/abi.js";
import { CONSOLE_GFN, STORE_GFN } from "../../host/xen/builder.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { GuestMemory } from "../../host/xen/memory.js";
import { engines } from "../support/engines.js";
import { loadTestGuest, SCRATCH, type TestGuest, view } from "../support/hypervisor-guest.js";

const SHARED_INFO_GFN = 16;
const SI = SHARED_INFO_GFN * 4096;

function struct<F extends string>(guest: TestGuest, layout: StructLayout<F>, address = SCRATCH) {
  const memory = new GuestMemory(() => guest.memory());
  memory.bytes().fill(0, address, address + layout.sizeof);
  return memory.struct(address, layout)!;
}

function placeSharedInfo(guest: TestGuest): void {
  const op = struct(guest, xen_add_to_physmap);
  op.setU16("domid", DOMID.SELF);
  op.setU32("space", XENMAPSPACE.shared_info);
  op.setU64("gpfn", BigInt(SHARED_INFO_GFN));
  expect(guest.exports.hc_memory(XENMEM.add_to_physmap, SCRATCH)).toBe(0);
}

function allocUnbound(guest: TestGuest, dom: number, remoteDom: number): number {
  const op = struct(guest, evtchn_alloc_unbound);
  op.setU16("dom", dom);
  op.setU16("remote_dom", remoteDom);
  const rc = guest.exports.hc_evtchn(EVTCHNOP.alloc_unbound, SCRATCH);
  return rc < 0 ? rc : op.u32("port");
}

function bindInterdomain(guest: TestGuest, remoteDom: number, remotePort: number): number {
  const op = struct(guest, evtchn_bind_interdomain);
  op.setU16("remote_dom", remoteDom);
  op.setU32("remote_port", remotePort);
  const rc = guest.exports.hc_evtchn(EVTCHNOP.bind_interdomain, SCRATCH);
  return rc < 0 ? rc : op.u32("local_port");
}

function portOp(guest: TestGuest, cmd: number, port: number): number {
  view(guest).setUint32(SCRATCH, port, true);
  return guest.exports.hc_evtchn(cmd, SCRATCH);
}

const bit = (guest: TestGuest, base: number, n: number): boolean =>
  (guest.memory()[base + (n >> 3)]! & (1 << (n & 7))) !== 0;

describe.each(engines)("under $name", ({ engine }) => {
  let hv: Hypervisor;
  let guest: TestGuest;

  beforeEach(() => {
    hv = new Hypervisor();
    guest = loadTestGuest(hv, "domU", engine);
  });

  describe("argument checks", () => {
    it("faults on structs that do not fit in linear memory, whatever the call", () => {
      const end = guest.memory().byteLength;
      const e = guest.exports;
      for (const arg of [end - 2, end, 0xffffffff | 0]) {
        for (const cmd of Object.values(EVTCHNOP)) expect(e.hc_evtchn(cmd, arg)).toBe(-ERRNO.EFAULT);
        expect(e.hc_memory(XENMEM.add_to_physmap, arg)).toBe(-ERRNO.EFAULT);
        expect(e.hc_hvm(HVMOP.get_param, arg)).toBe(-ERRNO.EFAULT);
        expect(e.hc_hvm(HVMOP.set_param, arg)).toBe(-ERRNO.EFAULT);
        expect(e.hc_sched(SCHEDOP.shutdown, arg)).toBe(-ERRNO.EFAULT);
        expect(e.hc_sched(SCHEDOP.poll, arg)).toBe(-ERRNO.EFAULT);
        expect(e.hc_version(XENVER.extraversion, arg)).toBe(-ERRNO.EFAULT);
        for (const cmd of [0, 1, 5]) expect(e.hc_gnttab(cmd, arg, 1)).toBe(-ERRNO.EFAULT);
      }
      expect(e.hc_console(CONSOLEIO.write, 16, end - 8)).toBe(-ERRNO.EFAULT);
      expect(guest.exit).toBeNull();
    });

    it("answers unknown commands with -ENOSYS", () => {
      const e = guest.exports;
      expect(e.hc_evtchn(99, SCRATCH)).toBe(-ERRNO.ENOSYS);
      expect(e.hc_gnttab(99, SCRATCH, 1)).toBe(-ERRNO.ENOSYS);
      expect(e.hc_memory(99, SCRATCH)).toBe(-ERRNO.ENOSYS);
      expect(e.hc_hvm(99, SCRATCH)).toBe(-ERRNO.ENOSYS);
      expect(e.hc_sched(99, SCRATCH)).toBe(-ERRNO.ENOSYS);
      expect(e.hc_version(99, SCRATCH)).toBe(-ERRNO.ENOSYS);
      expect(e.hc_evtchn(-1, SCRATCH)).toBe(-ERRNO.ENOSYS);
    });
  });

  describe("event channels", () => {
    it("alloc_unbound: only for itself, ESRCH for a missing domain, ports from 1", () => {
      expect(allocUnbound(guest, DOMID.SELF, 0)).toBe(1);
      expect(allocUnbound(guest, guest.domid, 0)).toBe(2);
      expect(allocUnbound(guest, 0, guest.domid)).toBe(-ERRNO.EPERM);
      expect(allocUnbound(guest, 999, 0)).toBe(-ERRNO.ESRCH);
      // dom0 is privileged: it may allocate in the guest's table (the toolstack's xenstore port).
      expect(hv.dom0.evtchn.allocUnbound(guest.domid, 0)).toBe(3);
    });

    it("bind_interdomain: only to a port left unbound for us; both ends then interdomain", () => {
      const offered = hv.dom0.evtchn.bindUnboundPort(guest.domid);
      const forOther = hv.dom0.evtchn.bindUnboundPort(7);
      expect(bindInterdomain(guest, 0, forOther)).toBe(-ERRNO.EINVAL);
      expect(bindInterdomain(guest, 0, 500)).toBe(-ERRNO.EINVAL);
      expect(bindInterdomain(guest, 0, 5000)).toBe(-ERRNO.EINVAL);
      expect(bindInterdomain(guest, 42, offered)).toBe(-ERRNO.ESRCH);
      const local = bindInterdomain(guest, 0, offered);
      expect(local).toBe(1);
      expect(bindInterdomain(guest, 0, offered)).toBe(-ERRNO.EINVAL); // already bound

      const status = struct(guest, evtchn_status);
      status.setU16("dom", DOMID.SELF);
      status.setU32("port", local);
      expect(guest.exports.hc_evtchn(EVTCHNOP.status, SCRATCH)).toBe(0);
      expect(status.u32("status")).toBe(EVTCHNSTAT.interdomain);
      expect(status.u16("u.interdomain.dom")).toBe(0);
      expect(status.u32("u.interdomain.port")).toBe(offered);
      expect(hv.dom0.evtchn.status(0, offered)).toEqual({
        status: EVTCHNSTAT.interdomain,
        remoteDomid: guest.domid,
        remotePort: local,
      });

      status.setU16("dom", 0); // another domain's port: not for an unprivileged guest
      expect(guest.exports.hc_evtchn(EVTCHNOP.status, SCRATCH)).toBe(-ERRNO.EPERM);
      status.setU16("dom", DOMID.SELF);
      status.setU32("port", 4096);
      expect(guest.exports.hc_evtchn(EVTCHNOP.status, SCRATCH)).toBe(-ERRNO.EINVAL);
      status.setU32("port", 0);
      expect(guest.exports.hc_evtchn(EVTCHNOP.status, SCRATCH)).toBe(0);
      expect(status.u32("status")).toBe(EVTCHNSTAT.closed);
    });

    it("send, close and unmask errors are Xen's; closing one end leaves the other unbound", () => {
      const offered = hv.dom0.evtchn.bindUnboundPort(guest.domid);
      const local = bindInterdomain(guest, 0, offered);
      const unbound = allocUnbound(guest, DOMID.SELF, 0);
      expect(portOp(guest, EVTCHNOP.send, unbound)).toBe(0); // nobody there yet: dropped
      expect(portOp(guest, EVTCHNOP.send, 77)).toBe(-ERRNO.EINVAL);
      expect(portOp(guest, EVTCHNOP.send, 0)).toBe(-ERRNO.EINVAL);
      expect(portOp(guest, EVTCHNOP.send, 1 << 20)).toBe(-ERRNO.EINVAL);
      expect(portOp(guest, EVTCHNOP.close, 0)).toBe(-ERRNO.EINVAL);
      expect(portOp(guest, EVTCHNOP.close, 77)).toBe(-ERRNO.EINVAL);
      expect(portOp(guest, EVTCHNOP.unmask, 1 << 20)).toBe(-ERRNO.EINVAL);
      expect(portOp(guest, EVTCHNOP.close, local)).toBe(0);
      expect(portOp(guest, EVTCHNOP.close, local)).toBe(-ERRNO.EINVAL);
      expect(hv.dom0.evtchn.status(0, offered)).toEqual({ status: EVTCHNSTAT.unbound, remoteDomid: guest.domid });
      expect(() => hv.dom0.evtchn.notify(offered)).not.toThrow();
      // The guest may bind to it again.
      expect(bindInterdomain(guest, 0, offered)).toBeGreaterThan(0);
    });

    it("runs out of ports with ENOSPC", () => {
      hv = new Hypervisor({ maxPorts: 8 });
      guest = loadTestGuest(hv, "small", engine);
      for (let port = 1; port < 8; port++) expect(allocUnbound(guest, DOMID.SELF, 0)).toBe(port);
      expect(allocUnbound(guest, DOMID.SELF, 0)).toBe(-ERRNO.ENOSPC);
      expect(bindInterdomain(guest, 0, hv.dom0.evtchn.bindUnboundPort(guest.domid))).toBe(-ERRNO.ENOSPC);
    });

    it("gives dom0 every port of the 2-level ABI, two for each of 1000 guests, while a guest gets maxPorts", () => {
      hv = new Hypervisor({ maxPorts: 8 });
      guest = loadTestGuest(hv, "small", engine);
      for (let i = 0; i < 2000; i++) expect(hv.dom0.evtchn.bindUnboundPort(guest.domid)).toBe(i + 1);
      for (let port = 1; port < 8; port++) expect(allocUnbound(guest, DOMID.SELF, 0)).toBe(port);
      expect(allocUnbound(guest, DOMID.SELF, 0)).toBe(-ERRNO.ENOSPC);
    });

    it("delivers into shared_info with the 2-level bits: pending, selector, upcall; mask holds it back", () => {
      placeSharedInfo(guest);
      const ports: number[] = [];
      for (let i = 0; i < 70; i++) ports.push(hv.dom0.evtchn.bindUnboundPort(guest.domid));
      const locals = ports.map((port) => bindInterdomain(guest, 0, port));
      // Binding raises the new local port (Xen's conservative notification); clear that state.
      guest.memory().fill(0, SI, SI + 4096);

      const port = locals[66]!; // in selector word 1
      hv.dom0.evtchn.notify(ports[66]!);
      expect(bit(guest, SI + 2048, port)).toBe(true);
      expect(bit(guest, SI + 8, port >> 6)).toBe(true);
      expect(bit(guest, SI + 8, 0)).toBe(false);
      expect(guest.memory()[SI]).toBe(1); // evtchn_upcall_pending

      guest.memory().fill(0, SI, SI + 4096);
      const masked = locals[3]!;
      guest.memory()[SI + 2560 + (masked >> 3)]! |= 1 << (masked & 7);
      hv.dom0.evtchn.notify(ports[3]!);
      expect(bit(guest, SI + 2048, masked)).toBe(true);
      expect(bit(guest, SI + 8, 0)).toBe(false);
      expect(guest.memory()[SI]).toBe(0);
      expect(portOp(guest, EVTCHNOP.unmask, masked)).toBe(0);
      expect(bit(guest, SI + 2560, masked)).toBe(false);
      expect(bit(guest, SI + 8, 0)).toBe(true);
      expect(guest.memory()[SI]).toBe(1);

      // Already pending: a second send changes nothing.
      guest.memory()[SI] = 0;
      hv.dom0.evtchn.notify(ports[3]!);
      expect(guest.memory()[SI]).toBe(0);
    });

    it("keeps events in Xen's page until shared_info is placed, then the guest sees them", () => {
      const local = bindInterdomain(guest, 0, hv.dom0.evtchn.bindUnboundPort(guest.domid));
      expect(
        guest
          .memory()
          .subarray(SI, SI + 4096)
          .every((b) => b === 0),
      ).toBe(true);
      placeSharedInfo(guest);
      expect(bit(guest, SI + 2048, local)).toBe(true);
      expect(guest.memory()[SI]).toBe(1);
    });

    it("native handlers run from runUntilIdle when their port is pending", () => {
      const port = hv.dom0.evtchn.bindUnboundPort(guest.domid);
      const seen: number[] = [];
      hv.dom0.evtchn.on(port, (p) => seen.push(p));
      const local = bindInterdomain(guest, 0, port);
      expect(portOp(guest, EVTCHNOP.send, local)).toBe(0);
      expect(hv.runUntilIdle()).toBe(1);
      expect(seen).toEqual([port]);
      expect(hv.runUntilIdle()).toBe(0);
    });
  });

  describe("domains starting and exiting", () => {
    it("announces each guest as it starts, its special pages already placed, to every onStart listener", () => {
      const heard: string[] = [];
      hv.onStart((domain) => heard.push(`a:${domain.domid}:${domain.params.get(HVM_PARAM.STORE_PFN)}`));
      hv.onStart((domain) => heard.push(`b:${domain.domid}:${domain.specialPages.has(CONSOLE_GFN)}`));
      const other = loadTestGuest(hv, "other", engine);
      expect(heard).toEqual([`a:${other.domid}:${STORE_GFN}`, `b:${other.domid}:true`]);
      expect(hv.domain(other.domid)!.name).toBe("other");
    });

    it("announces an exit to every onExit listener, a destroyed domain's too", () => {
      const exits: string[] = [];
      hv.onExit((domain) => exits.push(`${domain.domid}:${domain.exit!.reason}`));
      const other = loadTestGuest(hv, "other", engine);
      hv.destroyDomain(other.domid);
      expect(exits).toEqual([`${other.domid}:destroyed`]);
    });
  });

  describe("HVM params", () => {
    const param = (domid: number, index: number) => {
      const op = struct(guest, xen_hvm_param);
      op.setU16("domid", domid);
      op.setU32("index", index);
      return op;
    };

    it("tells the guest where its special pages are, and nothing of others'", () => {
      const op = param(DOMID.SELF, HVM_PARAM.STORE_PFN);
      expect(guest.exports.hc_hvm(HVMOP.get_param, SCRATCH)).toBe(0);
      expect(op.u64("value")).toBe(BigInt(STORE_GFN));
      op.setU32("index", HVM_PARAM.CONSOLE_PFN);
      expect(guest.exports.hc_hvm(HVMOP.get_param, SCRATCH)).toBe(0);
      expect(op.u64("value")).toBe(BigInt(CONSOLE_GFN));
      param(0, HVM_PARAM.STORE_PFN);
      expect(guest.exports.hc_hvm(HVMOP.get_param, SCRATCH)).toBe(-ERRNO.EPERM);
      param(999, HVM_PARAM.STORE_PFN);
      expect(guest.exports.hc_hvm(HVMOP.get_param, SCRATCH)).toBe(-ERRNO.ESRCH);
      param(DOMID.SELF, 39);
      expect(guest.exports.hc_hvm(HVMOP.get_param, SCRATCH)).toBe(-ERRNO.EINVAL);
      param(DOMID.SELF, HVM_PARAM.STORE_PFN).setU64("value", 9n);
      expect(guest.exports.hc_hvm(HVMOP.set_param, SCRATCH)).toBe(-ERRNO.EPERM);
      param(DOMID.SELF, HVM_PARAM.CALLBACK_IRQ).setU64("value", 5n);
      expect(guest.exports.hc_hvm(HVMOP.set_param, SCRATCH)).toBe(0);
      expect(guest.domain.params.get(HVM_PARAM.CALLBACK_IRQ)).toBe(5n);
    });
  });

  describe("moving a page (XENMAPSPACE_gmfn)", () => {
    const STORE_TARGET = 20;
    const move = (idx: number, gpfn: number, domid: number = DOMID.SELF): number => {
      const op = struct(guest, xen_add_to_physmap);
      op.setU16("domid", domid);
      op.setU32("space", XENMAPSPACE.gmfn);
      op.setU64("idx", BigInt(idx));
      op.setU64("gpfn", BigInt(gpfn));
      return guest.exports.hc_memory(XENMEM.add_to_physmap, SCRATCH);
    };
    const page = (gfn: number) => guest.memory().subarray(gfn * 4096, (gfn + 1) * 4096);

    it("brings the store page into memory as the same frame; its old gfn becomes a hole; the param stays", () => {
      const mapped = guest.domain.frame(STORE_GFN)!; // as xenstored maps it when the domain is introduced
      mapped.bytes().fill(0x5a, 0, 16);
      expect(move(STORE_GFN, STORE_TARGET)).toBe(0);
      expect(page(STORE_TARGET).subarray(0, 17)).toEqual(new Uint8Array([...Array(16).fill(0x5a), 0]));
      page(STORE_TARGET)[100] = 7; // the guest writes: the earlier mapping sees it, and the reverse
      expect(mapped.bytes()[100]).toBe(7);
      mapped.bytes()[101] = 8;
      expect(page(STORE_TARGET)[101]).toBe(8);
      expect(guest.domain.frame(STORE_GFN)).toBeNull();
      expect(move(STORE_GFN, STORE_TARGET + 1)).toBe(-ERRNO.EINVAL);
      expect(guest.domain.params.get(HVM_PARAM.STORE_PFN)).toBe(BigInt(STORE_GFN));
    });

    it("refuses a hole, a page of the memory itself, a destination beyond the physical address space, and another domain's pages", () => {
      expect(move(0x12345, STORE_TARGET)).toBe(-ERRNO.EINVAL);
      expect(move(STORE_TARGET, STORE_TARGET + 1)).toBe(-ERRNO.EINVAL);
      expect(move(STORE_GFN, 2 ** 36)).toBe(-ERRNO.EINVAL);
      expect(move(STORE_GFN, 2 ** 53)).toBe(-ERRNO.EINVAL);
      const other = loadTestGuest(hv, "other", engine);
      expect(move(STORE_GFN, STORE_TARGET, other.domid)).toBe(-ERRNO.EPERM);
      expect(guest.domain.frame(STORE_GFN)).toBe(guest.domain.specialPages.get(STORE_GFN));
    });

    it("a page moved into memory and parked back at its gfn beyond memory (before a suspend) keeps its content", () => {
      const store = guest.domain.specialPages.get(STORE_GFN)!;
      expect(move(STORE_GFN, STORE_TARGET)).toBe(0);
      page(STORE_TARGET).fill(7);
      expect(move(STORE_TARGET, STORE_GFN)).toBe(0);
      expect(store.gfn).toBe(STORE_GFN);
      expect(guest.domain.frame(STORE_GFN)).toBe(store);
      expect(store.bytes().every((byte) => byte === 7)).toBe(true);
      expect(move(STORE_GFN, STORE_TARGET)).toBe(0);
      expect(page(STORE_TARGET).every((byte) => byte === 7)).toBe(true);
    });

    it("a page moved over another special page displaces it back to its buffer, content kept", () => {
      const console = guest.domain.specialPages.get(CONSOLE_GFN)!;
      expect(move(CONSOLE_GFN, STORE_TARGET)).toBe(0);
      page(STORE_TARGET).fill(3);
      expect(move(STORE_GFN, STORE_TARGET)).toBe(0);
      expect(console.gfn).toBeNull();
      expect(console.bytes().every((byte) => byte === 3)).toBe(true);
    });
  });

  describe("console, version, shutdown", () => {
    it("collects console lines and refuses reads", () => {
      const lines: string[] = [];
      guest.domain.console.listener = (line) => lines.push(line);
      guest.memory().set(new TextEncoder().encode("hello\nwor"), SCRATCH);
      expect(guest.exports.hc_console(CONSOLEIO.write, 9, SCRATCH)).toBe(0);
      expect(lines).toEqual(["hello"]);
      expect(guest.console()).toEqual(["hello", "wor"]);
      expect(guest.exports.hc_console(CONSOLEIO.read, 4, SCRATCH)).toBe(-ERRNO.EPERM);
    });

    it("reports a version and extraversion", () => {
      expect(guest.exports.hc_version(XENVER.version, 0)).toBe((4 << 16) | 17);
      guest.memory().fill(0xff, SCRATCH, SCRATCH + 16);
      expect(guest.exports.hc_version(XENVER.extraversion, SCRATCH)).toBe(0);
      const text = guest.memory().subarray(SCRATCH, SCRATCH + 16);
      expect(text[15]).toBe(0);
      expect(new TextDecoder().decode(text.subarray(0, text.indexOf(0)))).toMatch(/^\.\d/);
    });

    it("a crash unwinds the guest and is reported with its last console line", () => {
      const exits: string[] = [];
      hv.onExit((domain) => exits.push(`${domain.domid}:${domain.exit!.reason}`));
      guest.memory().set(new TextEncoder().encode("panic: out of memory\n"), SCRATCH + 64);
      guest.exports.hc_console(CONSOLEIO.write, 21, SCRATCH + 64);
      struct(guest, sched_shutdown).setU32("reason", SHUTDOWN.crash);
      expect(guest.exports.hc_sched(SCHEDOP.shutdown, SCRATCH)).toBeUndefined();
      expect(guest.exit).toEqual({ reason: "crash", code: SHUTDOWN.crash, message: "panic: out of memory" });
      expect(exits).toEqual([`${guest.domid}:crash`]);
      expect(() => guest.exports.hc_version(0, 0)).toThrow(/exited \(crash\)/);
    });

    it("poweroff is recorded; a trap is a crash", () => {
      struct(guest, sched_shutdown).setU32("reason", SHUTDOWN.poweroff);
      guest.exports.hc_sched(SCHEDOP.shutdown, SCRATCH);
      expect(guest.exit).toMatchObject({ reason: "poweroff", code: 0 });
      const other = loadTestGuest(hv, "trapper", engine);
      expect(other.exports.trap()).toBeUndefined();
      expect(other.exit?.reason).toBe("crash");
      // The export, then the engine's own words for the trap (V8: "unreachable"; wasmtime: "wasm `unreachable` instruction executed").
      expect(other.exit?.message).toMatch(/^trap in trap: .*unreachable/);
    });
  });
});
