// The scheduler: SCHEDOP_block/yield/poll semantics, upcall delivery only to
// idle guests, spin and deadlock detection, step bounds, determinism.
import { beforeEach, describe, expect, it } from "vitest";
import {
  DOMID,
  ERRNO,
  EVTCHNOP,
  SCHEDOP,
  sched_poll,
  XENMAPSPACE,
  XENMEM,
  xen_add_to_physmap,
} from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { GuestMemory } from "../../host/xen/memory.js";
import { SimulationError } from "../../host/xen/sched.js";
import type { Engine } from "../../runtime/engine.js";
import { engines } from "../support/engines.js";
import {
  loadTestGuest,
  SCRATCH,
  type TestGuest,
  UPCALL_CLEAR_AT,
  UPCALL_COUNT,
  UPCALL_SEND_PORT,
  view,
} from "../support/hypervisor-guest.js";

const SI = 16 * 4096;

/** A guest with shared_info placed and clean event state. */
function bootGuest(hv: Hypervisor, name: string, engine: Engine): TestGuest {
  const guest = loadTestGuest(hv, name, engine);
  const op = new GuestMemory(() => guest.memory()).struct(SCRATCH, xen_add_to_physmap)!;
  op.setU16("domid", DOMID.SELF);
  op.setU32("space", XENMAPSPACE.shared_info);
  op.setU64("idx", 0n);
  op.setU64("gpfn", 16n);
  expect(guest.exports.hc_memory(XENMEM.add_to_physmap, SCRATCH)).toBe(0);
  return guest;
}

/** Connects `guest` to `remote` (dom0 or another guest): returns [guest's port, remote's port]. */
function connect(hv: Hypervisor, guest: TestGuest, remote: TestGuest | null): [number, number] {
  let remotePort: number;
  if (remote) {
    const v = view(remote);
    v.setUint32(SCRATCH, DOMID.SELF | (guest.domid << 16), true);
    expect(remote.exports.hc_evtchn(EVTCHNOP.alloc_unbound, SCRATCH)).toBe(0);
    remotePort = v.getUint32(SCRATCH + 4, true);
  } else {
    remotePort = hv.dom0.evtchn.bindUnboundPort(guest.domid);
  }
  const v = view(guest);
  v.setUint32(SCRATCH, remote ? remote.domid : 0, true);
  v.setUint32(SCRATCH + 4, remotePort, true);
  expect(guest.exports.hc_evtchn(EVTCHNOP.bind_interdomain, SCRATCH)).toBe(0);
  const local = v.getUint32(SCRATCH + 8, true);
  guest.memory().fill(0, SI, SI + 4096); // forget the bind's own notification
  return [local, remotePort];
}

function send(guest: TestGuest, port: number): number {
  view(guest).setUint32(SCRATCH + 64, port, true);
  return guest.exports.hc_evtchn(EVTCHNOP.send, SCRATCH + 64);
}

function poll(
  guest: TestGuest,
  ports: number[],
  timeout: bigint,
  count = ports.length,
  list = SCRATCH + 128,
): number | undefined {
  const v = view(guest);
  ports.forEach((port, i) => v.setUint32(list + i * 4, port, true));
  const op = new GuestMemory(() => guest.memory()).struct(SCRATCH, sched_poll)!;
  op.setU64("ports", BigInt(list));
  op.setU32("nr_ports", count);
  op.setU64("timeout", timeout);
  return guest.exports.hc_sched(SCHEDOP.poll, SCRATCH);
}

const upcalls = (guest: TestGuest) => view(guest).getUint32(UPCALL_COUNT, true);

describe.each(engines)("under $name", ({ engine }) => {
  let hv: Hypervisor;

  beforeEach(() => {
    hv = new Hypervisor({ spinLimit: 50, maxSteps: 500 });
  });

  describe("SCHEDOP_block", () => {
    it("returns at once when an event is already pending, and re-enables event delivery", () => {
      const guest = bootGuest(hv, "domU", engine);
      guest.memory()[SI] = 1;
      guest.memory()[SI + 1] = 1; // evtchn_upcall_mask
      expect(guest.exports.hc_sched(SCHEDOP.block, 0)).toBe(0);
      expect(guest.memory()[SI + 1]).toBe(0);
    });

    it("runs others until the guest has an event; its upcall is not called while it runs", () => {
      const guest = bootGuest(hv, "domU", engine);
      const [local, remote] = connect(hv, guest, null);
      hv.dom0.evtchn.on(remote, () => hv.dom0.evtchn.notify(remote));
      view(guest).setUint32(UPCALL_CLEAR_AT, SI, true);
      expect(send(guest, local)).toBe(0);
      expect(guest.exports.hc_sched(SCHEDOP.block, 0)).toBe(0);
      expect(upcalls(guest)).toBe(0);
      expect(guest.memory()[SI]).toBe(1);
      // Idle again, it now gets its upcall.
      expect(hv.runUntilIdle()).toBe(1);
      expect(upcalls(guest)).toBe(1);
      expect(guest.memory()[SI]).toBe(0);
    });

    it("wakes a guest through another guest's upcall run nested inside its block", () => {
      const a = bootGuest(hv, "a", engine);
      const b = bootGuest(hv, "b", engine);
      const [bPort] = connect(hv, b, a);
      view(b).setUint32(UPCALL_SEND_PORT, bPort, true);
      view(b).setUint32(UPCALL_CLEAR_AT, SI, true);
      b.memory()[SI] = 1; // b has an upcall due
      expect(a.exports.hc_sched(SCHEDOP.block, 0)).toBe(0);
      expect(upcalls(b)).toBe(1);
      expect(a.exit).toBeNull();
    });

    it("crashes a guest that blocks with nothing able to wake it, naming it and its ports", () => {
      const guest = bootGuest(hv, "lonely", engine);
      connect(hv, guest, null);
      expect(guest.exports.hc_sched(SCHEDOP.block, 0)).toBeUndefined();
      expect(guest.exit?.reason).toBe("crash");
      expect(guest.exit?.message).toMatch(
        /^dom1 \(lonely\) blocked with no event pending .* can never wake; its ports: 1→dom0:1$/,
      );
    });

    it("with nothing able to run, lets the outside world act, one action per idle moment, never nested", () => {
      const guest = bootGuest(hv, "waiting", engine);
      const [, dom0Port] = connect(hv, guest, null);
      view(guest).setUint32(UPCALL_CLEAR_AT, SI, true);
      const acted: string[] = [];
      hv.whenIdle(() => {
        acted.push("first");
        hv.runUntilIdle(); // a toolstack command that runs the domains itself takes no further action
      });
      hv.whenIdle(() => {
        acted.push("second");
        hv.dom0.evtchn.notify(dom0Port);
      });
      hv.whenIdle(() => acted.push("third"));
      expect(guest.exports.hc_sched(SCHEDOP.block, 0)).toBe(0);
      expect(acted).toEqual(["first", "second"]);
      expect(hv.runUntilIdle()).toBe(1); // the event's upcall; runUntilIdle leaves the outside world alone
      expect(acted).toEqual(["first", "second"]);
      expect(guest.exports.hc_sched(SCHEDOP.block, 0)).toBeUndefined(); // "third" woke nobody
      expect(acted).toEqual(["first", "second", "third"]);
      expect(guest.exit?.message).toMatch(/can never wake/);
    });
  });

  describe("spinning", () => {
    it("crashes a guest that yields while nothing happens anywhere", () => {
      const guest = bootGuest(hv, "spinner", engine);
      expect(guest.exports.yield_n(49)).toBe(0);
      expect(guest.exit).toBeNull();
      expect(guest.exports.yield_n(1000)).toBeUndefined();
      expect(guest.exit?.message).toMatch(/dom1 \(spinner\) is spinning: 50 consecutive yields/);
    });

    it("does not count yields that let others work", () => {
      const guest = bootGuest(hv, "polite", engine);
      const [local, remote] = connect(hv, guest, null);
      let handled = 0;
      hv.dom0.evtchn.on(remote, () => handled++);
      for (let i = 0; i < 200; i++) {
        expect(send(guest, local)).toBe(0);
        expect(guest.exports.yield_n(1)).toBe(0);
      }
      expect(handled).toBe(200);
      expect(guest.exit).toBeNull();
    });

    it("crashes a guest whose upcall never clears evtchn_upcall_pending", () => {
      const guest = bootGuest(hv, "deaf", engine);
      const [, remote] = connect(hv, guest, null);
      hv.dom0.evtchn.notify(remote);
      hv.runUntilIdle();
      expect(upcalls(guest)).toBe(50);
      expect(guest.exit?.message).toMatch(/dom1 \(deaf\) is spinning: its upcall returned 50 times/);
    });

    it("bounds runUntilIdle when domains keep each other busy", () => {
      const ping = hv.createNativeDomain("ping");
      const pong = hv.createNativeDomain("pong");
      const offered = ping.evtchn.bindUnboundPort(pong.domid);
      const back = pong.evtchn.bindInterdomain(ping.domid, offered);
      ping.evtchn.on(offered, () => ping.evtchn.notify(offered));
      pong.evtchn.on(back, () => pong.evtchn.notify(back));
      ping.evtchn.notify(offered);
      expect(() => hv.runUntilIdle()).toThrow(SimulationError);
      expect(() => hv.runUntilIdle()).toThrow(/still busy after 500 steps; runnable: dom\d \((ping|pong)\)/);
    });
  });

  describe("SCHEDOP_poll", () => {
    it("checks its arguments", () => {
      const guest = bootGuest(hv, "poller", engine);
      const [local] = connect(hv, guest, null);
      expect(poll(guest, [local], 0n, 129)).toBe(-ERRNO.EINVAL);
      expect(poll(guest, [local, 5000], 0n)).toBe(-ERRNO.EINVAL);
      expect(poll(guest, [local], 0n, 4, guest.memory().byteLength - 8)).toBe(-ERRNO.EFAULT);
    });

    it("returns when a listed port is pending, even masked; otherwise the clock runs to the timeout", () => {
      const guest = bootGuest(hv, "poller", engine);
      const [local, remote] = connect(hv, guest, null);
      guest.memory()[SI + 2560] = 0xff; // mask ports 0-7
      hv.dom0.evtchn.notify(remote);
      expect(poll(guest, [local], 5_000n)).toBe(0);
      expect(hv.now).toBe(0);
      guest.memory().fill(0, SI, SI + 4096);
      expect(poll(guest, [local], 5_000n)).toBe(0);
      expect(hv.now).toBe(5_000);
      expect(poll(guest, [local], 0n)).toBeUndefined();
      expect(guest.exit?.message).toMatch(/polled ports \[1\] with no event pending/);
    });

    it("publishes the clock as every domain's vcpu_time_info.system_time, version even between updates", () => {
      const guest = bootGuest(hv, "poller", engine);
      const other = bootGuest(hv, "other", engine);
      const [local] = connect(hv, guest, null);
      expect(poll(guest, [local], 7_000n)).toBe(0);
      expect(hv.now).toBe(7_000);
      for (const domain of [guest, other]) {
        const time = new DataView(domain.memory().buffer, SI + 32, 32);
        expect(time.getBigUint64(16, true)).toBe(7_000n);
        expect(time.getUint32(0, true) % 2).toBe(0);
        expect(time.getUint32(0, true)).toBeGreaterThan(0);
      }
    });
  });

  describe("determinism", () => {
    function scenario(): string[] {
      const hv = new Hypervisor({ spinLimit: 50, maxSteps: 500 });
      const trace: string[] = [];
      const guests = ["a", "b", "c"].map((name) => bootGuest(hv, name, engine));
      const ports = guests.map((guest) => connect(hv, guest, null));
      guests.forEach((guest, i) => {
        view(guest).setUint32(UPCALL_CLEAR_AT, SI, true);
        view(guest).setUint32(UPCALL_SEND_PORT, ports[i]![0], true);
        hv.dom0.evtchn.on(ports[i]![1], (port) => {
          trace.push(`dom0:${port}@${hv.now}`);
          if (trace.length < 40) hv.dom0.evtchn.notify(ports[(i + 1) % 3]![1]);
        });
      });
      hv.dom0.evtchn.notify(ports[2]![1]);
      hv.dom0.evtchn.notify(ports[0]![1]);
      // b polls, upcalls masked, a port nobody sends on: it waits out the exchange until the timeout.
      guests[1]!.memory()[SI + 1] = 1;
      poll(guests[1]!, [7], 1_000n);
      guests[1]!.memory()[SI + 1] = 0;
      hv.runUntilIdle();
      trace.push(...guests.map((guest) => `${guest.name}:${upcalls(guest)}`), `now=${hv.now}`);
      return trace;
    }

    it("runs the same way twice", () => {
      const first = scenario();
      expect(first.length).toBeGreaterThan(30);
      expect(first.at(-1)).toBe("now=1000");
      expect(scenario()).toEqual(first);
    });
  });
});
