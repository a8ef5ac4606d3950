// The backend lifecycle (assembly/xenbus/backend.ts, QEMU hw/xen/xen_backend.c)
// through the real module: a backend guest (build/harness.wasm, whose test
// device type "vlife" maps the frontend's ring and binds its channel) on
// its backend bus, and a frontend guest driving it with the xenbus_* helper
// exports; dom0 adds the device as the toolstack does, and plays a hostile
// frontend by writing the frontend's nodes itself.
import { describe, expect, test } from "vitest";
import { heapHighWater } from "../../bench/memory.js";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import type { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { type XenStore, xenstore } from "../../runtime/xenstore.js";
import { beforeCommits, TRANSACTION_ATTEMPTS } from "../support/commits.js";
import { engines } from "../support/engines.js";
import { bootHarness, type Harness, HarnessGuest } from "../support/xenbus.js";

const BACKEND = 1;
const { Unknown, Initialising, InitWait, Initialised, Connected, Closing, Closed } = XENBUS_STATE;

const encoder = new TextEncoder();

/** The frontend guest: a ring page granted to the backend, a channel offered to it, states written by the helpers. */
class Frontend {
  readonly x: Harness["exports"];
  readonly xs: XenStore;
  readonly ring: number;
  private readonly scratch: number;
  dev = -1;
  ref = -1;
  port = -1;

  constructor(readonly guest: Harness) {
    this.x = guest.exports;
    this.xs = xenstore(guest);
    this.ring = this.x.page_alloc();
    this.scratch = this.x.page_alloc();
  }

  private text(value: string, at: number): [number, number] {
    const bytes = encoder.encode(value);
    this.guest.memory().set(bytes, at);
    return [at, bytes.length];
  }

  /** Its device for `nodename` with the backend at `backend` in `backendId`. */
  device(nodename: string, backend: string, backendId: number): void {
    this.dev = this.x.xenbus_device(
      ...this.text(nodename, this.scratch),
      ...this.text(backend, this.scratch + 2048),
      backendId,
    );
    expect(this.dev).toBeGreaterThanOrEqual(0);
  }

  /** Grants the ring, offers a channel, publishes both (as a frontend's talk_to_backend). */
  publish(nodename: string): void {
    expect(this.x.xenbus_grant_ring(this.dev, this.ring, 1, this.scratch)).toBe(1);
    this.ref = new DataView(this.guest.memory().buffer).getUint32(this.scratch, true);
    this.port = this.x.xenbus_alloc_evtchn(this.dev);
    expect(this.port).toBeGreaterThan(0);
    this.xs.write(`${nodename}/ring-ref`, String(this.ref));
    this.xs.write(`${nodename}/event-channel`, String(this.port));
  }

  switchState(state: number): void {
    expect(this.x.xenbus_switch_state(this.dev, state)).toBe(0);
  }

  /** Puts `value` at the start of the ring page and notifies the backend. */
  kick(value: number): void {
    new DataView(this.guest.memory().buffer).setUint32(this.ring, value, true);
    expect(this.x.evtchn_send(this.port)).toBe(0);
  }

  events(): number {
    return this.x.evtchn_event_count(this.port);
  }
}

interface Setup {
  hv: Hypervisor;
  service: XenstoreService;
  dom0: LocalClient;
  front: Frontend;
  back: HarnessGuest;
  frontPath: string;
  backPath: string;
  /** The backend's device node, relative to its home. */
  node: string;
  run: () => void;
}

describe.each(engines)("under $name", ({ engine }) => {
  function setup(type = "vlife"): Setup {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const back = new HarnessGuest(bootHarness(hv, "back", engine));
    const front = new Frontend(bootHarness(hv, "front", engine));
    const paths = service.devices.add({ type, devid: 0, frontend: front.guest.domid, backend: back.guest.domid });
    front.device(`device/${type}/0`, paths.backend, back.guest.domid);
    expect(back.x.xenbus_bus_attach(BACKEND)).toBe(0);
    hv.runUntilIdle();
    return {
      hv,
      service,
      dom0: service.tools,
      front,
      back,
      frontPath: paths.frontend,
      backPath: paths.backend,
      node: `backend/${type}/${front.guest.domid}/0`,
      run: () => void hv.runUntilIdle(),
    };
  }

  function backendState(s: Setup): number {
    return Number(s.dom0.read(`${s.backPath}/state`));
  }

  /** Frontend publishes and goes Initialised then Connected: the backend ends Connected. */
  function connect(s: Setup): void {
    s.front.publish(s.frontPath);
    s.front.switchState(Initialised);
    s.run();
    s.front.switchState(Connected);
    s.run();
  }

  describe("the lifecycle", () => {
    test("setup → init: hotplug-status connected, features published, InitWait", () => {
      const s = setup();
      expect(backendState(s)).toBe(InitWait);
      expect(s.dom0.read(`${s.backPath}/hotplug-status`)).toBe("connected");
      expect(s.dom0.read(`${s.backPath}/max-ring-page-order`)).toBe("1");
      expect(s.back.log()).toEqual([`init ${s.node}`, `frontend-changed ${s.node} state ${Initialising}`]);
    });

    test("init waits for online", () => {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      const back = new HarnessGuest(bootHarness(hv, "back", engine));
      const paths = service.devices.add({
        type: "vlife",
        devid: 0,
        frontend: 0,
        backend: back.guest.domid,
        backendParams: { online: "0" },
      });
      back.x.xenbus_bus_attach(BACKEND);
      hv.runUntilIdle();
      expect(service.tools.read(`${paths.backend}/state`)).toBe(String(Initialising));
      service.tools.write(`${paths.backend}/online`, "1");
      hv.runUntilIdle();
      expect(service.tools.read(`${paths.backend}/state`)).toBe(String(InitWait));
      expect(back.log()).toContain("backend-changed backend/vlife/0/0 online true");
    });

    test("initialise when the frontend is Initialised: ring mapped, channel bound, Connected; connected once the frontend is", () => {
      const s = setup();
      s.back.log();
      s.front.publish(s.frontPath);
      s.front.switchState(Initialised);
      s.run();
      expect(backendState(s)).toBe(Connected);
      const log = s.back.log();
      expect(log.find((line) => line.startsWith("initialise"))).toMatch(
        new RegExp(`^initialise ${s.node} pages 1 port \\d+$`),
      );
      expect(log.some((line) => line.startsWith("connected"))).toBe(false);
      s.front.switchState(Connected);
      s.run();
      expect(s.back.log()).toContain(`connected ${s.node}`);
      expect(s.back.x.xenbus_bus_device_otherend_state(BACKEND, 0)).toBe(Connected);
      // Once per connection: more changes at either end do not call it again.
      s.dom0.write(`${s.backPath}/poke`, "1");
      s.dom0.write(`${s.frontPath}/state`, String(Connected));
      s.run();
      expect(s.back.log().filter((line) => line.startsWith("connected"))).toEqual([]);
    });

    test("the event channel: the frontend's notification runs ops.event on the mapped ring, which answers", () => {
      const s = setup();
      connect(s);
      s.back.log();
      const before = s.front.events();
      s.front.kick(0xc0ffee);
      s.run();
      expect(s.back.log()).toEqual([`event ${s.node} ${0xc0ffee}`]);
      expect(s.front.events()).toBe(before + 1);
    });

    test("a frontend that comes up straight in Connected (a reconnecting one) is initialised too", () => {
      const s = setup();
      s.front.publish(s.frontPath);
      s.front.switchState(Connected);
      s.run();
      expect(backendState(s)).toBe(Connected);
      expect(s.back.log()).toContain(`connected ${s.node}`);
    });

    test("frontend Closing → disconnect and Closing; Closed → Closed; a new frontend (Initialising) → reset and connected again", () => {
      const s = setup();
      connect(s);
      s.back.log();
      s.front.switchState(Closing);
      s.run();
      expect(backendState(s)).toBe(Closing);
      expect(s.back.log().filter((line) => line.startsWith("disconnect"))).toEqual([
        `disconnect ${s.node} port -1 mapped true`,
      ]);
      // The channel is closed and the ring unmapped: the frontend can take its grant back.
      expect(s.front.x.gnttab_end_access(s.front.ref)).toBe(0);
      expect(s.front.x.evtchn_status(s.front.port)).toBe(1 /* unbound: the backend closed its end */);
      s.front.switchState(Closed);
      s.run();
      expect(backendState(s)).toBe(Closed);
      expect(s.back.log().some((line) => line.startsWith("disconnect"))).toBe(false);

      // A new frontend instance.
      expect(s.front.x.evtchn_close(s.front.port)).toBe(0);
      s.front.switchState(Initialising);
      s.run();
      expect(backendState(s)).toBe(InitWait);
      expect(s.back.guest.console().some((line) => line.includes("reset for a new frontend"))).toBe(true);
      connect(s);
      expect(backendState(s)).toBe(Connected);
      s.front.kick(7);
      s.run();
      expect(s.back.log()).toContain(`event ${s.node} 7`);
    });

    test("frontend Closed straight from Connected disconnects once and goes Closed", () => {
      const s = setup();
      connect(s);
      s.back.log();
      s.front.switchState(Closed);
      s.run();
      expect(backendState(s)).toBe(Closed);
      expect(s.back.log().filter((line) => line.startsWith("disconnect"))).toHaveLength(1);
    });

    test("a Closing the toolstack writes (unplug asking the frontend to close) does not stop the backend: it serves until the frontend closes", () => {
      const s = setup();
      connect(s);
      s.back.log();
      s.dom0.write(`${s.backPath}/state`, String(Closing));
      s.run();
      s.front.kick(7);
      s.run();
      expect(s.back.log()).toEqual([`event ${s.node} 7`]);
      s.front.switchState(Closing);
      s.run();
      expect(s.back.log().filter((line) => line.startsWith("disconnect"))).toHaveLength(1);
    });

    test("hot-unplug: online 0 and the frontend Closed → disconnect, Closed, free; removal detaches nothing more", () => {
      const s = setup();
      connect(s);
      s.back.log();
      const id = { type: "vlife", devid: 0, frontend: s.front.guest.domid, backend: s.back.guest.domid };
      // The toolstack writes online 0 and Closing; the frontend (here the test) closes in answer.
      s.service.tools.transaction((tx) => {
        s.dom0.write(`${s.backPath}/online`, "0", tx);
        s.dom0.write(`${s.backPath}/state`, String(Closing), tx);
      });
      s.run();
      s.front.switchState(Closed);
      s.run();
      expect(backendState(s)).toBe(Closed);
      const log = s.back.log();
      expect(log.filter((line) => line.startsWith("disconnect") || line.startsWith("free"))).toEqual([
        `disconnect ${s.node} port -1 mapped true`,
        `free ${s.node}`,
      ]);
      // The toolstack, seeing Closed, removes the device.
      s.service.devices.unplug(id, { force: true });
      s.run();
      expect(s.back.log().filter((line) => line.startsWith("disconnect") || line.startsWith("free"))).toEqual([]);
      expect(s.back.x.xenbus_bus_device_count(BACKEND)).toBe(0);
    });

    test("a forced removal while connected disconnects and frees", () => {
      const s = setup();
      connect(s);
      s.back.log();
      s.service.devices.unplug(
        { type: "vlife", devid: 0, frontend: s.front.guest.domid, backend: s.back.guest.domid },
        { force: true },
      );
      s.run();
      expect(s.back.log().filter((line) => line.startsWith("disconnect") || line.startsWith("free"))).toEqual([
        `disconnect ${s.node} port -1 mapped true`,
        `free ${s.node}`,
      ]);
      expect(s.front.x.gnttab_end_access(s.front.ref)).toBe(0);
    });

    test("ignoreState: initialise and connected do not wait for the frontend's state", () => {
      const s = setup("vlife-ignore");
      s.front.publish(s.frontPath);
      // The frontend still says Initialising: the next event (any backend change) moves on anyway.
      s.dom0.write(`${s.backPath}/poke`, "1");
      s.run();
      expect(backendState(s)).toBe(Connected);
      expect(s.back.log()).toContain(`connected backend/vlife-ignore/${s.front.guest.domid}/0`);
    });
  });

  describe("the frontend's directory", () => {
    /** The frontend nodes ops.frontendChanged heard of since the last call, in order. */
    function heard(s: Setup): string[] {
      const prefix = `frontend-changed ${s.node} `;
      return s.back
        .log()
        .filter((line) => line.startsWith(prefix))
        .map((line) => line.slice(prefix.length).split(" ")[0]!);
    }

    function dropped(s: Setup): number {
      return s.back.x.xenbus_bus_device_frontend_dropped(BACKEND, 0);
    }

    test("ops.frontendChanged hears of every node the frontend writes or removes, in order, and of state after them", () => {
      const s = setup();
      s.back.log();
      s.dom0.write(`${s.frontPath}/protocol`, "x86_64-abi");
      s.dom0.write(`${s.frontPath}/request-update`, "1");
      s.dom0.write(`${s.frontPath}/queue-0/ring-ref`, "8");
      s.dom0.write(`${s.frontPath}/state`, String(Initialising));
      s.run();
      expect(heard(s)).toEqual(["protocol", "request-update", "queue-0/ring-ref", "state"]);
      s.dom0.rm(`${s.frontPath}/request-update`);
      s.run();
      expect(heard(s)).toEqual(["request-update"]);
      expect(dropped(s)).toBe(0);
    });

    /**
     * Runs `writes` (dom0's, as the frontend) while the backend waits for
     * xenstored's answer to a request of its own: their events reach it
     * all at once, more than the ring holds.
     */
    function whileBackendWaits(s: Setup, writes: () => void): void {
      const xenstored = s.service.xenstored;
      const receive = xenstored.receive.bind(xenstored);
      xenstored.receive = (conn, bytes) => {
        if (conn.domid === s.back.domid) {
          xenstored.receive = receive;
          writes();
        }
        receive(conn, bytes);
      };
      s.back.xs.write("data/busy", "1");
      s.run();
    }

    test("a node written again and again before the backend can take its events is heard of once", () => {
      const s = setup();
      s.back.log();
      whileBackendWaits(s, () => {
        for (let i = 0; i < 200; i++) s.dom0.write(`${s.frontPath}/request-update`, String(i));
      });
      expect(heard(s)).toEqual(["request-update"]);
      // Written while the backend runs, a dozen or so events (what the ring holds) at a time: once a batch.
      for (let i = 0; i < 200; i++) s.dom0.write(`${s.frontPath}/request-update`, String(i));
      s.run();
      const told = heard(s);
      expect(new Set(told)).toEqual(new Set(["request-update"]));
      expect(told.length).toBeLessThanOrEqual(20);
    });

    test("a frontend flooding its directory: the backend keeps at most 16 changes, counts what it drops, and still connects", () => {
      const s = setup();
      s.back.log();
      const flood = () => {
        whileBackendWaits(s, () => {
          for (let i = 0; i < 100; i++) s.dom0.write(`${s.frontPath}/flood/n${i}`, String(i));
        });
      };
      flood();
      const told = heard(s);
      expect(told).toEqual(Array.from({ length: 16 }, (_, i) => `flood/n${84 + i}`));
      expect(dropped(s)).toBe(84);
      // Flood after flood, the backend's heap settles (the garbage collector's cycles: some 25 floods) and then stays put.
      const floods = (count: number) => {
        for (let round = 0; round < count; round++) {
          flood();
          s.back.log();
        }
        return heapHighWater(s.back.guest.memory());
      };
      const settled = floods(30);
      expect(floods(30)).toBe(settled);
      expect(dropped(s)).toBe(61 * 84);
      connect(s);
      expect(backendState(s)).toBe(Connected);
      expect(s.back.guest.exit).toBeNull();
    });

    test("the state keeps its own watch, one event at most: a frontend writing its state without end is read once", () => {
      const s = setup();
      s.back.log();
      whileBackendWaits(s, () => {
        for (let i = 0; i < 200; i++) s.dom0.write(`${s.frontPath}/state`, String(Initialising));
      });
      expect(heard(s)).toEqual(["state"]);
      // The directory's watch sees them too, and drops all but 16 it has no use for.
      expect(dropped(s)).toBe(184);
    });
  });

  describe("suspend and resume of the backend domain", () => {
    test("after a restore the backend starts over from init and, the frontend still Connected, reconnects at once", () => {
      const s = setup();
      connect(s);
      s.back.log();
      expect(s.back.x.xen_suspend()).toBe(0);
      s.run();
      expect(backendState(s)).toBe(Connected);
      // Binding raises an event on the new port (as Xen's bind_interdomain does): the ring is read once at 0.
      const steps = s.back
        .log()
        .filter((line) => !line.startsWith("frontend-changed"))
        .map((line) => line.split(" ")[0]);
      expect(steps).toEqual(["disconnect", "init", "initialise", "event", "connected"]);
      const before = s.front.events();
      s.front.kick(99);
      s.run();
      expect(s.back.log()).toContain(`event ${s.node} 99`);
      expect(s.front.events()).toBe(before + 1);
    });
  });

  describe("a hostile frontend", () => {
    /** dom0 writes the frontend's nodes as a misbehaving frontend would. */
    function frontendWrites(s: Setup, nodes: Record<string, string>): void {
      for (const [name, value] of Object.entries(nodes)) s.dom0.write(`${s.frontPath}/${name}`, value);
      s.run();
    }

    test("bogus states are Unknown to the backend and move nothing", () => {
      const s = setup();
      s.back.log();
      for (const bogus of ["9", "-3", "3garbage", "", "4294967299", "Connected"]) {
        frontendWrites(s, { state: bogus });
        expect(backendState(s)).toBe(InitWait);
        expect(s.back.x.xenbus_bus_device_otherend_state(BACKEND, 0)).toBe(Unknown);
      }
      expect(s.back.log().filter((line) => line.startsWith("initialise"))).toEqual([]);
    });

    test("a bogus ring ref fails initialise: reported, the backend Closing, nothing mapped; a good one after a reset works", () => {
      const s = setup();
      s.back.log();
      frontendWrites(s, { "ring-ref": "123456", "event-channel": "1", state: String(Initialised) });
      expect(backendState(s)).toBe(Closing);
      expect(s.back.log().find((line) => line.startsWith("initialise-failed"))).toMatch(/map/);
      expect(s.dom0.read(`/local/domain/${s.back.guest.domid}/error/${s.node}/error`)).toMatch(
        /mapping in shared page 123456/,
      );
      // The frontend closes and starts over properly.
      frontendWrites(s, { state: String(Closed) });
      expect(backendState(s)).toBe(Closed);
      frontendWrites(s, { state: String(Initialising) });
      expect(backendState(s)).toBe(InitWait);
      connect(s);
      expect(backendState(s)).toBe(Connected);
    });

    /**
     * The backend stayed Closing through the frontend's states so far, with
     * nothing initialised or connected; once the frontend closes and a new
     * instance comes (Initialising), it connects and serves the ring.
     */
    function expectClosingUntilReset(s: Setup): void {
      expect(backendState(s)).toBe(Closing);
      expect(s.back.log().filter((line) => line.startsWith("initialise") || line.startsWith("connected"))).toEqual([]);
      frontendWrites(s, { state: String(Closed) });
      expect(backendState(s)).toBe(Closed);
      frontendWrites(s, { state: String(Initialising) });
      expect(backendState(s)).toBe(InitWait);
      s.front.switchState(Initialised);
      s.run();
      s.front.switchState(Connected);
      s.run();
      expect(backendState(s)).toBe(Connected);
      s.front.kick(5);
      s.run();
      expect(s.back.log()).toContain(`event ${s.node} 5`);
    }

    test("after a failed initialise (Closing written), the frontend's next states do not connect the backend until it resets", () => {
      // A ring that does not map, and a channel that does not bind: both reported with dev_fatal.
      const failures: Record<string, string>[] = [
        { "ring-ref": "123456", "event-channel": "1" },
        { "event-channel": "4095" },
      ];
      for (const nodes of failures) {
        const s = setup();
        if (!("ring-ref" in nodes)) s.front.publish(s.frontPath);
        frontendWrites(s, { ...nodes, state: String(Initialised) });
        expect(backendState(s)).toBe(Closing);
        s.back.log();
        // The frontend carries on as if nothing happened: a good ring and channel, Initialised, then Connected.
        if ("ring-ref" in nodes) s.front.publish(s.frontPath);
        else frontendWrites(s, { "event-channel": String(s.front.port) });
        frontendWrites(s, { state: String(Connected) });
        frontendWrites(s, { state: String(Initialised) });
        frontendWrites(s, { state: String(Connected) });
        expectClosingUntilReset(s);
      }
    });

    test("a switch to Connected that fails (reported, Closing written) tears the connection down and stands until the frontend resets", () => {
      const s = setup();
      s.front.publish(s.frontPath);
      s.back.log();
      // Every commit of the backend's switch to Connected conflicts; its switch to Closing then goes through.
      beforeCommits(s.service, s.back.guest.domid, TRANSACTION_ATTEMPTS, () =>
        s.dom0.write(`${s.backPath}/state`, String(InitWait)),
      );
      frontendWrites(s, { state: String(Initialised) });
      expect(backendState(s)).toBe(Closing);
      expect(s.dom0.read(`/local/domain/${s.back.guest.domid}/error/${s.node}/error`)).toBe("11 ending transaction");
      // It had initialised (ring mapped, channel bound): both are given back, the channel first.
      const log = s.back.log();
      expect(log.filter((line) => line.startsWith(`initialise ${s.node} pages 1 port`))).toHaveLength(1);
      expect(log).toContain(`disconnect ${s.node} port -1 mapped true`);
      // The frontend carries on: its Connected does not connect the backend, nor map the ring again.
      frontendWrites(s, { state: String(Connected) });
      expectClosingUntilReset(s);
    });

    test("ring refs that are not numbers, or a ring-page-order beyond the offer, fail initialise", () => {
      const bogus: Record<string, string>[] = [
        { "ring-ref": "x1" },
        { "ring-page-order": "4", "ring-ref0": "8" },
        { "ring-page-order": "-1" },
      ];
      for (const nodes of bogus) {
        const s = setup();
        s.back.log();
        frontendWrites(s, { ...nodes, "event-channel": "1", state: String(Initialised) });
        expect(backendState(s)).toBe(InitWait);
        expect(s.back.log().find((line) => line.startsWith("initialise-failed"))).toMatch(/ring-ref/);
      }
    });

    test("a bogus event channel fails initialise, and the ring it mapped is unmapped again", () => {
      for (const channel of ["4095", "99999", "0", "nope"]) {
        const s = setup();
        s.front.publish(s.frontPath);
        s.back.log();
        frontendWrites(s, { "event-channel": channel, state: String(Initialised) });
        expect(backendState(s)).not.toBe(Connected);
        expect(s.back.log().find((line) => line.startsWith("initialise-failed"))).toMatch(/event-channel/);
        // Unmapped: the frontend may end its grant.
        expect(s.front.x.gnttab_end_access(s.front.ref)).toBe(0);
      }
    });

    test("a frontend flapping between states ends where its last state says, with one ring mapping", () => {
      const s = setup();
      s.front.publish(s.frontPath);
      s.back.log();
      for (const state of [Initialised, Closing, Initialising, Initialised, Connected])
        s.dom0.write(`${s.frontPath}/state`, String(state));
      s.run();
      expect(backendState(s)).toBe(Connected);
      s.front.kick(42);
      s.run();
      expect(s.back.log()).toContain(`event ${s.node} 42`);
    });
  });
});
