// Event channels end to end: build/harness.wasm guests (xenbus.wasm with the
// tests' evtchn_bind_echo and evtchn_wait) on the simulated Xen, driven only
// through the module's exports; every error is Xen's exact errno.
import { beforeEach, describe, expect, test } from "vitest";
import { Hypervisor, type HypervisorOptions } from "../../host/xen/hypervisor.js";
import { loadGuest } from "../../runtime/index.js";
import type { XenbusExports } from "../../runtime/xenbus.js";
import { engines } from "../support/engines.js";
import { bootHarness, type Harness, type HarnessExports, harnessWasm } from "../support/xenbus.js";

const EINVAL = -22;
const ESRCH = -3;
const ENODEV = -19;
const DOMID_SELF = 0x7ff0;
const EVTCHNSTAT_closed = 0;
const EVTCHNSTAT_unbound = 1;
const EVTCHNSTAT_interdomain = 2;

/** A channel from `a` (which allocates) to `b` (which binds), with the bind-time event delivered. */
function connect(hv: Hypervisor, a: Harness, b: Harness): { pa: number; pb: number } {
  const pa = a.exports.evtchn_alloc_unbound(b.domid);
  expect(pa).toBeGreaterThan(0);
  const pb = b.exports.evtchn_bind_interdomain(a.domid, pa);
  expect(pb).toBeGreaterThan(0);
  hv.runUntilIdle();
  return { pa, pb };
}

function counts(a: Harness, pa: number, b: Harness, pb: number): [number, number] {
  return [a.exports.evtchn_event_count(pa), b.exports.evtchn_event_count(pb)];
}

describe.each(engines)("under $name", ({ engine }) => {
  function setup(options: HypervisorOptions = {}): { hv: Hypervisor; a: Harness; b: Harness } {
    const hv = new Hypervisor(options);
    return { hv, a: bootHarness(hv, "a", engine), b: bootHarness(hv, "b", engine) };
  }

  describe("boot", () => {
    test("xen_boot is idempotent", () => {
      const { a } = setup();
      expect(a.exports.xen_boot()).toBe(0);
      expect(a.exports.xen_boot()).toBe(0);
      expect(a.exit).toBeNull();
    });

    test("before xen_boot, operations on shared_info say -ENODEV and nothing traps", () => {
      const hv = new Hypervisor();
      const guest = loadGuest<XenbusExports & HarnessExports>(hv, harnessWasm, { name: "early", engine });
      expect(guest.exports.evtchn_mask(1)).toBe(ENODEV);
      expect(guest.exports.evtchn_unmask(1)).toBe(ENODEV);
      expect(guest.exports.evtchn_wait(1, 1)).toBe(ENODEV);
      guest.exports.xen_upcall();
      expect(guest.exit).toBeNull();
      expect(guest.exports.xen_boot()).toBe(0);
    });
  });

  describe("interdomain channel between two Wasm guests", () => {
    let hv: Hypervisor;
    let a: Harness;
    let b: Harness;
    beforeEach(() => ({ hv, a, b } = setup()));

    test("alloc_unbound then bind: status on both ends names the peer", () => {
      const pa = a.exports.evtchn_alloc_unbound(b.domid);
      expect(pa).toBe(1); // port 0 is reserved
      expect(a.exports.evtchn_status(pa)).toBe(EVTCHNSTAT_unbound);
      expect(a.exports.evtchn_status_remote_dom()).toBe(b.domid);

      const pb = b.exports.evtchn_bind_interdomain(a.domid, pa);
      expect(pb).toBe(1);
      expect(a.exports.evtchn_status(pa)).toBe(EVTCHNSTAT_interdomain);
      expect([a.exports.evtchn_status_remote_dom(), a.exports.evtchn_status_remote_port()]).toEqual([b.domid, pb]);
      expect(b.exports.evtchn_status(pb)).toBe(EVTCHNSTAT_interdomain);
      expect([b.exports.evtchn_status_remote_dom(), b.exports.evtchn_status_remote_port()]).toEqual([a.domid, pa]);
    });

    test("binding raises one event on the new local port, as Xen does", () => {
      const pa = a.exports.evtchn_alloc_unbound(b.domid);
      const pb = b.exports.evtchn_bind_interdomain(a.domid, pa);
      hv.runUntilIdle();
      expect(counts(a, pa, b, pb)).toEqual([0, 1]);
    });

    test("events flow both ways with exact counts", () => {
      const { pa, pb } = connect(hv, a, b);
      for (let i = 1; i <= 5; i++) {
        expect(a.exports.evtchn_send(pa)).toBe(0);
        hv.runUntilIdle();
        expect(counts(a, pa, b, pb)).toEqual([0, 1 + i]);
      }
      for (let i = 1; i <= 3; i++) {
        expect(b.exports.evtchn_send(pb)).toBe(0);
        hv.runUntilIdle();
        expect(counts(a, pa, b, pb)).toEqual([i, 6]);
      }
    });

    test("sends before the peer runs coalesce into one event (one pending bit)", () => {
      const { pa, pb } = connect(hv, a, b);
      for (let i = 0; i < 4; i++) expect(a.exports.evtchn_send(pa)).toBe(0);
      hv.runUntilIdle();
      expect(counts(a, pa, b, pb)).toEqual([0, 2]);
    });

    test("an echo handler answers each event on the same port", () => {
      const { pa, pb } = connect(hv, a, b);
      expect(b.exports.evtchn_bind_echo(pb)).toBe(0);
      for (let i = 1; i <= 4; i++) {
        a.exports.evtchn_send(pa);
        hv.runUntilIdle();
        expect(counts(a, pa, b, pb)).toEqual([i, 1 + i]);
      }
    });

    test("evtchn_wait blocks in SCHEDOP_block until the peer's answer is dispatched", () => {
      const { pa, pb } = connect(hv, a, b);
      b.exports.evtchn_bind_echo(pb);
      for (let i = 1; i <= 3; i++) {
        expect(a.exports.evtchn_send(pa)).toBe(0);
        expect(a.exports.evtchn_wait(pa, i)).toBe(0);
        expect(a.exports.evtchn_event_count(pa)).toBe(i);
      }
      expect(a.exit).toBeNull();
      expect(counts(a, pa, b, pb)).toEqual([3, 4]);
    });

    test("waiting for an event that can never come is a reported deadlock, not a spin", () => {
      const { pa } = connect(hv, a, b);
      expect(a.exports.evtchn_wait(pa, 1)).toBeUndefined();
      expect(a.exit?.reason).toBe("crash");
      expect(a.exit?.message).toMatch(/can never wake/);
    });

    test("a masked port keeps its event pending; unmask delivers it exactly once", () => {
      const { pa, pb } = connect(hv, a, b);
      expect(b.exports.evtchn_mask(pb)).toBe(0);
      a.exports.evtchn_send(pa);
      hv.runUntilIdle();
      a.exports.evtchn_send(pa);
      hv.runUntilIdle();
      expect(counts(a, pa, b, pb)).toEqual([0, 1]);
      expect(b.exports.evtchn_status(pb)).toBe(EVTCHNSTAT_interdomain);

      expect(b.exports.evtchn_unmask(pb)).toBe(0);
      hv.runUntilIdle();
      expect(counts(a, pa, b, pb)).toEqual([0, 2]);
      expect(b.exports.evtchn_unmask(pb)).toBe(0);
      hv.runUntilIdle();
      expect(counts(a, pa, b, pb)).toEqual([0, 2]);

      a.exports.evtchn_send(pa);
      hv.runUntilIdle();
      expect(counts(a, pa, b, pb)).toEqual([0, 3]);
    });

    test("masking one port does not hold back another in the same word", () => {
      const first = connect(hv, a, b);
      const second = connect(hv, a, b);
      b.exports.evtchn_mask(first.pb);
      a.exports.evtchn_send(first.pa);
      a.exports.evtchn_send(second.pa);
      hv.runUntilIdle();
      expect(b.exports.evtchn_event_count(first.pb)).toBe(1);
      expect(b.exports.evtchn_event_count(second.pb)).toBe(2);
    });

    test("sending on an unbound port does nothing; status says unbound", () => {
      const port = a.exports.evtchn_alloc_unbound(b.domid);
      expect(a.exports.evtchn_send(port)).toBe(0);
      hv.runUntilIdle();
      expect(a.exports.evtchn_event_count(port)).toBe(0);
      expect(a.exports.evtchn_status(port)).toBe(EVTCHNSTAT_unbound);
      expect(a.exports.evtchn_status_remote_dom()).toBe(b.domid);
    });

    test("close: the peer's end becomes unbound; a second close is -EINVAL", () => {
      const { pa, pb } = connect(hv, a, b);
      expect(a.exports.evtchn_close(pa)).toBe(0);
      expect(a.exports.evtchn_close(pa)).toBe(EINVAL);
      expect(a.exports.evtchn_status(pa)).toBe(EVTCHNSTAT_closed);
      expect(b.exports.evtchn_status(pb)).toBe(EVTCHNSTAT_unbound);
      expect(b.exports.evtchn_status_remote_dom()).toBe(a.domid);
      expect(a.exports.evtchn_send(pa)).toBe(EINVAL);
      expect(b.exports.evtchn_send(pb)).toBe(0);
      hv.runUntilIdle();
      expect(counts(a, pa, b, pb)).toEqual([0, 1]);
    });

    test("a port reused after close starts with no handler and a zero count", () => {
      const { pa, pb } = connect(hv, a, b);
      b.exports.evtchn_bind_echo(pb);
      a.exports.evtchn_send(pa);
      hv.runUntilIdle();
      expect(a.exports.evtchn_close(pa)).toBe(0);
      expect(b.exports.evtchn_close(pb)).toBe(0);
      const again = connect(hv, b, a);
      expect(again).toEqual({ pa: pb, pb: pa });
      expect(counts(b, pb, a, pa)).toEqual([0, 1]);
      b.exports.evtchn_send(pb);
      hv.runUntilIdle();
      expect(counts(b, pb, a, pa)).toEqual([0, 2]); // no echo left behind
    });

    test("a port masked before it was closed is unmasked when its number is reused", () => {
      const { pa, pb } = connect(hv, a, b);
      expect(b.exports.evtchn_mask(pb)).toBe(0);
      expect(b.exports.evtchn_close(pb)).toBe(0);
      const again = b.exports.evtchn_bind_interdomain(a.domid, pa);
      expect(again).toBe(pb);
      hv.runUntilIdle();
      expect(b.exports.evtchn_event_count(pb)).toBe(1); // the bind-time event got through
      a.exports.evtchn_send(pa);
      hv.runUntilIdle();
      expect(b.exports.evtchn_event_count(pb)).toBe(2);
    });

    test("a loopback channel (DOMID_SELF) delivers to the other local port", () => {
      const p1 = a.exports.evtchn_alloc_unbound(DOMID_SELF);
      const p2 = a.exports.evtchn_bind_interdomain(DOMID_SELF, p1);
      expect(p2).toBe(p1 + 1);
      hv.runUntilIdle();
      expect(a.exports.evtchn_send(p2)).toBe(0);
      hv.runUntilIdle();
      expect(counts(a, p1, a, p2)).toEqual([1, 1]);
    });
  });

  describe("hostile ports and domains get Xen's errors", () => {
    let a: Harness;
    let b: Harness;
    beforeEach(() => ({ a, b } = setup({ maxPorts: 1024 })));

    test.each([0, 5, 1023, 1024, 4095, 4096, 0x7fffffff, 0xffffffff])(
      "send/close/status of port %i (nothing open)",
      (port) => {
        expect(a.exports.evtchn_send(port)).toBe(EINVAL);
        expect(a.exports.evtchn_close(port)).toBe(EINVAL);
        const inRange = port < 1024;
        expect(a.exports.evtchn_status(port)).toBe(inRange ? EVTCHNSTAT_closed : EINVAL);
        expect(a.exit).toBeNull();
      },
    );

    test("ports the 2-level ABI cannot name are refused before anything is indexed", () => {
      for (const port of [4096, 65536, 0xffffffff]) {
        expect(a.exports.evtchn_mask(port)).toBe(EINVAL);
        expect(a.exports.evtchn_unmask(port)).toBe(EINVAL);
        expect(a.exports.evtchn_bind_echo(port)).toBe(EINVAL);
        expect(a.exports.evtchn_wait(port, 1)).toBe(EINVAL);
        expect(a.exports.evtchn_event_count(port)).toBe(0);
      }
      // Inside the 2-level range but beyond this domain's limit: Xen's unmask refuses it.
      expect(a.exports.evtchn_unmask(2000)).toBe(EINVAL);
      expect(a.exit).toBeNull();
    });

    test("binding: unknown domain -ESRCH, port not offered to us or already bound -EINVAL", () => {
      expect(b.exports.evtchn_bind_interdomain(999, 1)).toBe(ESRCH);
      expect(b.exports.evtchn_bind_interdomain(a.domid, 1)).toBe(EINVAL); // nothing allocated yet
      const forDom0 = a.exports.evtchn_alloc_unbound(0);
      expect(b.exports.evtchn_bind_interdomain(a.domid, forDom0)).toBe(EINVAL);
      const pa = a.exports.evtchn_alloc_unbound(b.domid);
      expect(b.exports.evtchn_bind_interdomain(a.domid, pa)).toBeGreaterThan(0);
      expect(b.exports.evtchn_bind_interdomain(a.domid, pa)).toBe(EINVAL);
      expect(b.exports.evtchn_bind_interdomain(a.domid, 0xffffffff)).toBe(EINVAL);
    });

    test("a domid that does not fit domid_t is -EINVAL, not truncated to another domain", () => {
      expect(a.exports.evtchn_alloc_unbound(0x10000 + b.domid)).toBe(EINVAL);
      expect(b.exports.evtchn_bind_interdomain(0x10000 + a.domid, 1)).toBe(EINVAL);
      expect(a.exports.evtchn_status(1)).toBe(EVTCHNSTAT_closed);
    });

    test("alloc_unbound for a domain that does not exist yet is allowed, as in Xen", () => {
      const port = a.exports.evtchn_alloc_unbound(999);
      expect(port).toBe(1);
      expect(a.exports.evtchn_status(port)).toBe(EVTCHNSTAT_unbound);
      expect(a.exports.evtchn_status_remote_dom()).toBe(999);
    });
  });

  describe("port limits", () => {
    test("port exhaustion is Xen's -ENOSPC and closing frees a port", () => {
      const small = setup({ maxPorts: 8 });
      const ports = Array.from({ length: 7 }, () => small.a.exports.evtchn_alloc_unbound(small.b.domid));
      expect(ports).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(small.a.exports.evtchn_alloc_unbound(small.b.domid)).toBe(-28);
      expect(small.a.exports.evtchn_close(4)).toBe(0);
      expect(small.a.exports.evtchn_alloc_unbound(small.b.domid)).toBe(4);
    });
  });

  describe("a Wasm guest and a native dom0 service", () => {
    test("dom0 offers a port, the guest binds; both directions count exactly", () => {
      const hv = new Hypervisor();
      const guest = bootHarness(hv, "guest", engine);
      const dom0 = hv.dom0;
      const served: number[] = [];
      const port0 = dom0.evtchn.bindUnboundPort(guest.domid);
      dom0.evtchn.on(port0, (port) => {
        served.push(port);
        dom0.evtchn.notify(port); // answer every request
      });

      const port = guest.exports.evtchn_bind_interdomain(dom0.domid, port0);
      expect(port).toBeGreaterThan(0);
      expect(guest.exports.evtchn_status(port)).toBe(EVTCHNSTAT_interdomain);
      expect([guest.exports.evtchn_status_remote_dom(), guest.exports.evtchn_status_remote_port()]).toEqual([0, port0]);
      expect(dom0.evtchn.status(DOMID_SELF, port0)).toEqual({
        status: EVTCHNSTAT_interdomain,
        remoteDomid: guest.domid,
        remotePort: port,
      });
      hv.runUntilIdle();
      expect(guest.exports.evtchn_event_count(port)).toBe(1); // the bind-time event

      for (let i = 1; i <= 3; i++) {
        expect(guest.exports.evtchn_send(port)).toBe(0);
        expect(guest.exports.evtchn_wait(port, 1 + i)).toBe(0);
      }
      expect(served).toEqual([port0, port0, port0]);
      expect(guest.exports.evtchn_event_count(port)).toBe(4);

      dom0.evtchn.notify(port0);
      hv.runUntilIdle();
      expect(guest.exports.evtchn_event_count(port)).toBe(5);
      expect(served.length).toBe(3);
    });

    test("a guest-offered port bound by dom0; the guest echoes dom0's notifications", () => {
      const hv = new Hypervisor();
      const guest = bootHarness(hv, "guest", engine);
      const dom0 = hv.dom0;
      const port = guest.exports.evtchn_alloc_unbound(0);
      expect(guest.exports.evtchn_bind_echo(port)).toBe(0);
      const port0 = dom0.evtchn.bindInterdomain(guest.domid, port);
      let answers = 0;
      dom0.evtchn.on(port0, () => answers++);
      hv.runUntilIdle();
      expect(answers).toBe(1); // dom0's own bind-time event
      for (let i = 1; i <= 4; i++) {
        dom0.evtchn.notify(port0);
        hv.runUntilIdle();
        expect([guest.exports.evtchn_event_count(port), answers]).toEqual([i, 1 + i]);
      }
      expect(guest.exports.evtchn_close(port)).toBe(0);
      expect(dom0.evtchn.status(DOMID_SELF, port0).status).toBe(EVTCHNSTAT_unbound);
    });
  });
});
