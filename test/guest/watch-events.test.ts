// Watch events through the real module on the simulated Xen: what a flood
// may cost (never a hot-plugged or removed device, never unbounded memory),
// what a bounded watch's dropped events tell the application, a new watch's
// first event reaching its handler by itself, and the store ring the guest
// finds at connect and at resume (FreeBSD sys/xen/xenstore/xenstore.c's
// xs_init_comms, FreeBSD sys/xen/xenbus/xenbusb.c's bus watch with max_pending 0,
// Linux drivers/xen/xenbus/xenbus_client.c's xenbus_watch_path).
import { describe, expect, test } from "vitest";
import { heapHighWater } from "../../bench/memory.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { encodeMessage, XsType } from "../../host/dom0/xenstored/wire.js";
import { XENBUS_STATE, XENSTORE, xenstore_domain_interface } from "../../host/xen/abi.js";
import { STORE_GFN } from "../../host/xen/builder.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { xenstore } from "../../runtime/xenstore.js";
import { engines } from "../support/engines.js";
import { HelperGuest } from "../support/helper-guest.js";
import { perms } from "../support/perms.js";
import { bootHarness, bootXenbus, HarnessGuest, type Xenbus } from "../support/xenbus.js";

const FRONTEND = 0;
const RING = xenstore_domain_interface.fields;
const { Initialising, Connected } = XENBUS_STATE;
/** The newest events a watch made with xs_watch keeps for the caller to take. */
const WATCH_EVENTS_MAX = 64;
/** xenstored drops events queued for a guest past 1024: the late taker's writes come in rounds the guest takes in between. */
const ROUND = 500;

/** A harness guest (the test "vtest" drivers) whose frontend bus is attached, and the devices it has taken on. */
class BusGuest extends HarnessGuest {
  ids(): string[] {
    const count = this.x.xenbus_bus_device_count(FRONTEND);
    expect(count).toBeGreaterThanOrEqual(0);
    return Array.from({ length: count }, (_, i) => this.text(this.x.xenbus_bus_device_id(FRONTEND, i, this.out)));
  }

  state(id: string): number {
    return this.x.xenbus_bus_device_state(FRONTEND, this.ids().indexOf(id));
  }
}

const byNumber = (ids: Iterable<number>): string[] => [...ids].sort((a, b) => a - b).map(String);

/**
 * Events of each flood, and at most how many warm-up floods come before the
 * measured one: as many as it takes for the heap's high water to stay put
 * for a whole flood (every watch's queue filled to its bound, and the
 * garbage collector settled, which takes longer the less garbage there is).
 */
const FLOOD = { events: 12_000, warmUps: 6 };

describe.each(engines)("under $name", ({ engine }) => {
  function setup() {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    return { hv, service, dom0: service.tools };
  }

  function attachedBus(hv: Hypervisor) {
    const front = new BusGuest(bootHarness(hv, "front", engine));
    expect(front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
    hv.runUntilIdle();
    return front;
  }

  const device = (front: BusGuest, devid: number) => ({ type: "vtest", devid, frontend: front.domid, backend: 0 });

  describe("the bus watch (max_pending 0) loses no device", () => {
    test("20 devices plugged in one burst are all taken on, and all torn down when unplugged in one burst", () => {
      const { hv, service } = setup();
      const front = attachedBus(hv);
      const devids = Array.from({ length: 20 }, (_, i) => i + 1);
      // The guest does not run between these: every event of the burst is queued at once.
      for (const devid of devids) service.devices.add(device(front, devid));
      hv.runUntilIdle();
      expect(front.ids().sort()).toEqual(byNumber(devids).sort());
      for (const devid of devids) expect(front.state(String(devid))).toBe(Initialising);
      expect(front.log().filter((line) => line.startsWith("attach "))).toHaveLength(20);

      for (const devid of devids) service.devices.unplug(device(front, devid), { force: true });
      hv.runUntilIdle();
      expect(front.ids()).toEqual([]);
      expect(front.log().filter((line) => line.startsWith("detach "))).toHaveLength(20);
    });

    test("a flood of thousands of events at once costs bounded memory, and every device ends in the right state", () => {
      // A xenstored that never drops an event, however many wait for the guest.
      const hv = new Hypervisor();
      const service = startXenstore(hv, { maxQueuedWatchEvents: Number.MAX_SAFE_INTEGER });
      const dom0 = service.tools;
      const front = attachedBus(hv);
      const home = `/local/domain/${front.domid}`;
      const present = new Set<number>();
      let next = 1;
      const plug = () => {
        service.devices.add(device(front, next));
        present.add(next++);
      };
      for (let i = 0; i < 10; i++) plug();
      hv.runUntilIdle();
      /** `count` writes under the present devices' own directories, with plugs and unplugs among them, all before the guest runs. */
      const flood = (count: number) => {
        for (let i = 0; i < count; i++) {
          const ids = [...present];
          dom0.write(`${home}/device/vtest/${ids[i % ids.length]}/junk${i}`, "x");
          if (i % 100 === 50) plug();
          if (i % 100 === 99) {
            const oldest = Math.min(...present);
            service.devices.unplug(device(front, oldest), { force: true });
            present.delete(oldest);
          }
        }
        hv.runUntilIdle();
        expect(front.ids().sort()).toEqual(byNumber(present).sort());
        front.log(); // the test drivers' log, kept in the guest until read
      };
      let heap = -1;
      for (let warmUps = 0; warmUps < FLOOD.warmUps && heapHighWater(front.guest.memory()) !== heap; warmUps++) {
        heap = heapHighWater(front.guest.memory());
        flood(FLOOD.events);
      }
      flood(FLOOD.events);
      expect(heapHighWater(front.guest.memory())).toBe(heap);
      // Past its bound the bus watch's events collapsed into a rescan, which lost nothing.
      const stats = xenstore(front.guest).watchStats("bus:device");
      expect(stats.collapsed).toBeGreaterThan(0);
      expect(stats.dropped).toBe(0);
      // Each device present works: its backend's InitWait reaches the driver.
      for (const devid of present) dom0.write(`/local/domain/0/backend/vtest/${front.domid}/${devid}/state`, "2");
      hv.runUntilIdle();
      for (const devid of present) expect(dom0.read(`${home}/device/vtest/${devid}/state`)).toBe("3");
      expect(front.guest.exit).toBeNull();
    });
  });

  describe("a bounded watch's dropped events", () => {
    test("a guest that takes events late gets the newest ones and learns how many were dropped, per watch and in all", () => {
      const { hv, dom0 } = setup();
      const guest = bootXenbus(hv, "late", engine);
      const xs = xenstore(guest);
      const home = `/local/domain/${guest.domid}`;
      xs.watch("data/w", "late");
      xs.watch("data/quiet", "quiet");
      for (let i = 0; i < 3000; i++) {
        dom0.write(`${home}/data/w/${i}`, "v");
        if (i % ROUND === ROUND - 1) hv.runUntilIdle();
      }
      hv.runUntilIdle();
      const events = xs.takeEvents().filter((event) => event.token === "late");
      expect(events).toHaveLength(WATCH_EVENTS_MAX);
      expect(events.at(-1)).toEqual({ path: "data/w/2999", token: "late" });
      // 3,000 writes and the registration's event.
      expect(xs.watchStats("late")).toEqual({ pending: 0, dropped: 3001 - WATCH_EVENTS_MAX, collapsed: 0 });
      expect(xs.watchStats("quiet")).toEqual({ pending: 0, dropped: 0, collapsed: 0 });
      expect(xs.droppedEvents()).toBe(3001 - WATCH_EVENTS_MAX);
      expect(() => xs.watchStats("none")).toThrow(expect.objectContaining({ code: "ENOENT" }));
    });
  });

  describe("a new watch's first event", () => {
    test("xenbus_watch_path's handler runs once with no further store change", () => {
      const { hv, dom0 } = setup();
      const front = new HelperGuest(bootHarness(hv, "front", engine));
      const other = "/local/domain/0/backend/vif/1/0";
      dom0.write(other, "");
      dom0.setPerms(other, perms("n0", `r${front.guest.domid}`));
      dom0.write(`${other}/state`, String(Initialising));
      front.device("device/vif/0", other, 0);
      expect(front.x.xenbus_watch_path(front.dev, ...front.text(other), ...front.text("otherend", 1))).toBe(0);
      hv.runUntilIdle();
      expect(front.x.xenbus_watch_events(front.dev)).toBe(1);
      const joined = front.x.xenbus_watch_path_joined(
        front.dev,
        ...front.text(other),
        ...front.text("state", 1),
        ...front.text("otherend-state", 2),
      );
      expect(joined).toBe(0);
      hv.runUntilIdle();
      expect(front.x.xenbus_watch_events(front.dev)).toBe(2);
      dom0.write(`${other}/state`, String(Connected));
      hv.runUntilIdle();
      expect(front.x.xenbus_watch_events(front.dev)).toBe(4);
    });
  });

  describe("the response ring the guest finds", () => {
    /** The guest's store page, wherever the guest has put it. */
    const storePage = (guest: Xenbus) => () => guest.domain.specialPages.get(STORE_GFN)!.view;

    /** Leaves `bytes` on the response ring as though xenstored had sent them to a previous user of the page. */
    const leaveOnRing = (page: () => DataView, bytes: Uint8Array) => {
      const prod = page().getUint32(RING.rsp_prod, true);
      bytes.forEach((byte, i) => page().setUint8(RING.rsp + ((prod + i) % XENSTORE.RING_SIZE), byte));
      page().setUint32(RING.rsp_prod, prod + bytes.length, true);
    };

    const staleRead = (value: string) =>
      encodeMessage({ type: XsType.READ, reqId: 1, txId: 0, payload: new TextEncoder().encode(value) });
    /** A header announcing more than XENSTORE_PAYLOAD_MAX: the message boundaries would be lost. */
    const garbage = () =>
      encodeMessage({ type: XsType.READ, reqId: 0, txId: 0, payload: new Uint8Array(0) }).map((byte, i) =>
        i === 13 ? 0x7f : byte,
      );

    const quiesced = (guest: Xenbus) =>
      guest.console().filter((line) => line.includes("response ring is not quiescent"));

    test("at connect a stale reply is dropped with a warning, not taken as the answer to the first request", () => {
      const { hv } = setup();
      const guest = bootXenbus(hv, "stale", engine);
      leaveOnRing(storePage(guest), staleRead("leftover"));
      const xs = xenstore(guest);
      expect(xs.read("name")).toBe("stale");
      expect(quiesced(guest)).toHaveLength(1);
    });

    test("at connect garbage is dropped and the connection works", () => {
      const { hv } = setup();
      const guest = bootXenbus(hv, "garbage", engine);
      leaveOnRing(storePage(guest), garbage());
      const xs = xenstore(guest);
      expect(xs.read("name")).toBe("garbage");
      expect(xs.ringError()).toBe(0);
    });

    test("after a resume garbage on the restored page is dropped, and watches and requests work", () => {
      const { hv, dom0 } = setup();
      const guest = bootXenbus(hv, "resumed", engine);
      const xs = xenstore(guest);
      xs.watch("data/w", "w");
      xs.takeEvents();
      const save = hv.suspendHandler!;
      hv.suspendHandler = (domain) => {
        const outcome = save(domain);
        leaveOnRing(storePage(guest), garbage());
        return outcome;
      };
      expect(guest.exports.xen_suspend()).toBe(0);
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "w" }]);
      dom0.write(`/local/domain/${guest.domid}/data/w`, "v");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "w" }]);
      expect(xs.read("name")).toBe("resumed");
      expect(quiesced(guest)).toHaveLength(1);
    });
  });
});
