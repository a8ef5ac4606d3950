// Faults the stack survives, injected through the real parts: the simulated
// hypervisor loses or duplicates event-channel notifications and fails grant
// operations with GNTST errors (EventChannels.injectFault,
// GrantTables.failGrantOp), a block backend domain crashes in the middle of
// I/O, and xenstored refuses for quota. Every guest is build/xenbus.wasm.
import { describe, expect, test } from "vitest";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { encodeMessage, strings, XsType } from "../../host/dom0/xenstored/wire.js";
import { type BlkbackDomain, startBlkbackDomain } from "../../host/system/blkback-domain.js";
import { createGuestDomain } from "../../host/system/guest-domain.js";
import { GNTST, HVM_PARAM, XENSTORE, xenstore_domain_interface } from "../../host/xen/abi.js";
import type { Domain } from "../../host/xen/domain.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkFront, SECTOR_SIZE } from "../../runtime/blk.js";
import { guestConsole } from "../../runtime/console.js";
import type { Engine } from "../../runtime/engine.js";
import { xenstore } from "../../runtime/xenstore.js";
import { errnoOf, pattern } from "../support/blk.js";
import { engines } from "../support/engines.js";
import type { Xenbus } from "../support/xenbus.js";

const PAGE = 4096;
const DEVID = 51712;
const [EIO, EAGAIN, ENODEV, ENOSPC, ETIMEDOUT] = [5, 11, 19, 28, 110];
const XENSTORE_RING = xenstore_domain_interface.fields;
const CLOSED = 6; // XenbusStateClosed

/** dom0 with xenstored, a block backend domain with a disk, and a guest whose vbd on it is open. */
function connectedSystem(engine: Engine) {
  const hv = new Hypervisor();
  const service = startXenstore(hv);
  const backend = startBlkbackDomain(service, { engine });
  const guest = createGuestDomain(service, "guest", engine).guest;
  expect(guest.exports.xs_init()).toBe(0);
  const blk = new BlkFront(guest, 48).start();
  service.devices.add({
    type: "vbd",
    devid: DEVID,
    frontend: guest.domid,
    backend: backend.domid,
    backendParams: backend.disk.params,
  });
  blk.open(DEVID);
  return { hv, service, backend, guest, blk };
}

/** Sectors [first, first + count) of the backend's image. */
function sectorsAt(backend: BlkbackDomain, first: number, count: number): Uint8Array {
  return backend.disk.image().slice(first * SECTOR_SIZE, (first + count) * SECTOR_SIZE);
}

/** How many bytes differ between two equally long images (toEqual on a megabyte is slow). */
function bytesDiffering(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

/** Each end's port of the interdomain channels between `a` and `b`: [domain, port] pairs. */
function channelEnds(a: Domain, b: Domain): [Domain, number][] {
  const ends: [Domain, number][] = [];
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    for (const [port, channel] of from.ports.bound()) {
      if (channel.state === "interdomain" && channel.remoteDomid === to.domid) ends.push([from, port]);
    }
  }
  return ends;
}

describe.each(engines)("under $name", ({ engine }) => {
  describe("xenstored restarting the guest's connection under it", () => {
    /**
     * xenstored restarts the guest's connection (it forgets the guest's
     * watches, transactions and the request it is serving, then starts the
     * rings afresh: the reconnection protocol's `connection` field) while it
     * serves the guest's next change of `path`, before the reply goes out.
     * The trigger is a dom0 watch on `path`; returns whether it ran.
     */
    function restartWhileServing(service: XenstoreService, guest: Xenbus, path: string): () => boolean {
      let done = false;
      let armed = false;
      const conn = service.xenstored.connect(0, (bytes) => {
        if (!armed || new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) !== XsType.WATCH_EVENT) return;
        armed = false;
        done = true;
        const ring = service.ring(guest.domid)!;
        new DataView(ring.frame.bytes().buffer, ring.frame.bytes().byteOffset).setUint32(
          XENSTORE_RING.connection,
          XENSTORE.RECONNECT,
          true,
        );
        service.hv.evtchn.setPending(service.hv.dom0, ring.localPort);
      });
      service.xenstored.receive(
        conn,
        encodeMessage({ type: XsType.WATCH, reqId: 1, txId: 0, payload: strings(path, "restart") }),
      );
      armed = true; // past the event every new watch fires at once
      return () => done;
    }

    /** The test's own watch's events (the frontend bus has its watches on the same connection). */
    const ours = (events: { path: string; token: string }[]) => events.filter((event) => event.token === "tok");

    test("with a request in flight: it is -EAGAIN and answered when retried, a transaction is started over, the watches fire again, the vbd serves", () => {
      const { hv, service, guest, blk } = connectedSystem(engine);
      const xs = xenstore(guest);
      const home = `/local/domain/${guest.domid}`;
      const ring = service.ring(guest.domid)!;
      const page = () => new DataView(ring.frame.bytes().buffer, ring.frame.bytes().byteOffset);
      expect(page().getUint32(XENSTORE_RING.server_features, true) & XENSTORE.SERVER_FEATURE_RECONNECTION).not.toBe(0);
      xs.watch("data/w", "tok");
      expect(ours(xs.takeEvents())).toEqual([{ path: "data/w", token: "tok" }]);

      const restarted = restartWhileServing(service, guest, `${home}/data/x`);
      expect(() => xs.write("data/x", "1")).toThrow(expect.objectContaining({ errno: EAGAIN }));
      expect(restarted()).toBe(true);
      expect(page().getUint32(XENSTORE_RING.connection, true)).toBe(XENSTORE.CONNECTED);
      // The client registered its watch again (it fires once, as on registration).
      expect(ours(xs.takeEvents())).toEqual([{ path: "data/w", token: "tok" }]);
      xs.write("data/x", "1"); // the caller's retry, answered
      expect(xs.read("data/x")).toBe("1");

      // A transaction under which the connection restarts is started over, and commits once.
      const again = restartWhileServing(service, guest, `${home}/data/y`);
      let runs = 0;
      xs.transaction((tx) => {
        runs++;
        xs.write("data/y", String(runs), tx);
      });
      expect(again()).toBe(true);
      expect(runs).toBe(2);
      expect(xs.read("data/y")).toBe("2");
      xs.takeEvents();

      service.tools.write(`${home}/data/w`, "changed after the restart");
      hv.runUntilIdle();
      expect(ours(xs.takeEvents())).toEqual([{ path: "data/w", token: "tok" }]);
      // The block frontend's bus watches came back too: it closes and opens through XenStore.
      blk.close(DEVID);
      blk.open(DEVID);
      const data = pattern(2 * PAGE, 12);
      blk.write(DEVID, 0, data);
      expect(blk.read(DEVID, 0, 16)).toEqual(data);
      expect(xs.ringError()).toBe(0);
      expect(guest.exit).toBeNull();
    });
  });

  describe("event-channel notifications lost, duplicated or spurious", () => {
    test("XenStore: a lost reply notification leaves the request waiting (no poll fallback, as Linux's xenbus); the next notification recovers it", () => {
      const { hv, guest } = connectedSystem(engine);
      const xs = xenstore(guest);
      const port = Number(guest.domain.params.get(HVM_PARAM.STORE_EVTCHN));
      hv.evtchn.injectFault(guest.domain, port, "drop");
      // Once the guest waits and nothing else can run: the loss ends and one later notification comes.
      let recovered = false;
      hv.whenIdle(() => {
        recovered = true;
        hv.evtchn.injectFault(guest.domain, port, null);
        hv.evtchn.setPending(guest.domain, port);
      });
      xs.write("data/x", "1");
      expect(recovered).toBe(true);
      expect(xs.read("data/x")).toBe("1");
      expect(guest.exit).toBeNull();
    });

    test("XenStore: with every notification lost and none to come, the waiting guest can never wake, and the simulation says so", () => {
      const { hv, guest } = connectedSystem(engine);
      const xs = xenstore(guest);
      hv.evtchn.injectFault(guest.domain, Number(guest.domain.params.get(HVM_PARAM.STORE_EVTCHN)), "drop");
      expect(() => xs.write("data/x", "1")).toThrow();
      expect(guest.exit?.message).toMatch(/can never wake/);
    });

    test("XenStore: duplicated and spurious notifications change nothing: each request answered once, each watch event once", () => {
      const { hv, service, guest } = connectedSystem(engine);
      const xs = xenstore(guest);
      const port = Number(guest.domain.params.get(HVM_PARAM.STORE_EVTCHN));
      for (const [domain, end] of channelEnds(guest.domain, hv.dom0)) hv.evtchn.injectFault(domain, end, "duplicate");
      xs.watch("data/w", "tok");
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      for (let i = 0; i < 5; i++) {
        hv.evtchn.setPending(guest.domain, port); // spurious: nothing on the ring
        hv.runUntilIdle();
        xs.write("data/x", String(i));
        expect(xs.read("data/x")).toBe(String(i));
        service.tools.write(`/local/domain/${guest.domid}/data/w`, String(i));
        hv.runUntilIdle();
        expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      }
      expect(xs.ringError()).toBe(0);
      expect(guest.exit).toBeNull();
    });

    test("block: a lost response notification leaves the request waiting until the next notification (within the 30 s I/O timeout), which completes it", () => {
      const { hv, backend, guest, blk } = connectedSystem(engine);
      const data = pattern(4 * PAGE, 1);
      const ends = channelEnds(guest.domain, backend.guest.domain).filter(([domain]) => domain === guest.domain);
      for (const [domain, port] of ends) hv.evtchn.injectFault(domain, port, "drop");
      let recovered = false;
      hv.whenIdle(() => {
        recovered = true;
        for (const [domain, port] of ends) {
          hv.evtchn.injectFault(domain, port, null);
          hv.evtchn.setPending(domain, port);
        }
      });
      blk.write(DEVID, 8, data);
      expect(recovered).toBe(true);
      expect(sectorsAt(backend, 8, 32)).toEqual(data);
      expect(blk.read(DEVID, 8, 32)).toEqual(data);
    });

    test("block: with every response notification lost and none to come, the request fails after the I/O timeout (30 s of Xen time) and the device is given up", () => {
      const { hv, backend, guest, blk } = connectedSystem(engine);
      for (const [domain, port] of channelEnds(guest.domain, backend.guest.domain)) {
        if (domain === guest.domain) hv.evtchn.injectFault(domain, port, "drop");
      }
      const start = hv.scheduler.now;
      expect(errnoOf(() => blk.write(DEVID, 8, pattern(PAGE, 13)))).toBe(ETIMEDOUT);
      expect(hv.scheduler.now - start).toBeGreaterThanOrEqual(30_000_000_000);
      // The request stays on the ring unanswered: the ring is not used again.
      expect(errnoOf(() => blk.read(DEVID, 8, 8))).toBe(EIO);
      expect(guest.exit).toBeNull();
      expect(backend.guest.exit).toBeNull();
    });

    test("block: a lost request notification leaves the backend idle until the next notification, which serves it", () => {
      const { hv, backend, guest, blk } = connectedSystem(engine);
      const data = pattern(4 * PAGE, 2);
      const ends = channelEnds(guest.domain, backend.guest.domain).filter(([domain]) => domain !== guest.domain);
      for (const [domain, port] of ends) hv.evtchn.injectFault(domain, port, "drop");
      let recovered = false;
      hv.whenIdle(() => {
        recovered = true;
        for (const [domain, port] of ends) {
          hv.evtchn.injectFault(domain, port, null);
          hv.evtchn.setPending(domain, port);
        }
      });
      blk.write(DEVID, 8, data);
      expect(recovered).toBe(true);
      expect(sectorsAt(backend, 8, 32)).toEqual(data);
    });

    test("block: duplicated and spurious notifications both ways: every request served once, data right, no error", () => {
      const { hv, backend, guest, blk } = connectedSystem(engine);
      const ends = channelEnds(guest.domain, backend.guest.domain);
      expect(ends.length).toBeGreaterThanOrEqual(2);
      for (const [domain, port] of ends) hv.evtchn.injectFault(domain, port, "duplicate");
      const before = backend.back.info(guest.domid, DEVID).bytes;
      const data = pattern(15 * PAGE, 3); // two requests
      for (let round = 0; round < 3; round++) {
        for (const [domain, port] of ends) hv.evtchn.setPending(domain, port); // spurious
        hv.runUntilIdle();
        blk.write(DEVID, 64 + round * 120, data);
        expect(blk.read(DEVID, 64 + round * 120, data.length / SECTOR_SIZE)).toEqual(data);
      }
      for (const [domain, port] of ends) hv.evtchn.injectFault(domain, port, null);
      // Served exactly once: the backend counted each byte once.
      expect(backend.back.info(guest.domid, DEVID).bytes - before).toBe(BigInt(3 * 2 * data.length));
      expect(blk.info(DEVID).state).toBe(4);
      expect(guest.exit).toBeNull();
      expect(backend.guest.exit).toBeNull();
    });

    test("console: output whose notification is lost waits in the ring until the next one; duplicated and spurious ones repeat nothing", () => {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      const { guest, console: backend } = createGuestDomain(service, "guest", engine);
      const cons = guestConsole(guest);
      hv.runUntilIdle(); // the connection's own notifications delivered
      hv.evtchn.injectFault(hv.dom0, backend.localPort, "drop");
      cons.write("lost\n");
      hv.runUntilIdle();
      expect(backend.log.lines()).toEqual([]);
      hv.evtchn.injectFault(hv.dom0, backend.localPort, null);
      cons.write("next\n");
      hv.runUntilIdle();
      expect(backend.log.lines()).toEqual(["lost", "next"]);

      const guestPort = Number(guest.domain.params.get(HVM_PARAM.CONSOLE_EVTCHN));
      hv.evtchn.injectFault(hv.dom0, backend.localPort, "duplicate");
      hv.evtchn.injectFault(guest.domain, guestPort, "duplicate");
      let input = "";
      for (let i = 0; i < 5; i++) {
        hv.evtchn.setPending(hv.dom0, backend.localPort); // spurious, both ways
        hv.evtchn.setPending(guest.domain, guestPort);
        hv.runUntilIdle();
        cons.write(`out ${i}\n`);
        backend.send(`in ${i}\n`);
        hv.runUntilIdle();
        input += cons.read();
      }
      expect(backend.log.lines()).toEqual(["lost", "next", ...[0, 1, 2, 3, 4].map((i) => `out ${i}`)]);
      expect(input).toBe([0, 1, 2, 3, 4].map((i) => `in ${i}\n`).join(""));
      expect(backend.badIndices).toBe(0);
      expect(guest.exit).toBeNull();
    });
  });

  describe("grant operations failing with GNTST errors", () => {
    test.each([
      ["GNTST_general_error", GNTST.general_error],
      ["GNTST_bad_gntref", GNTST.bad_gntref],
    ])(
      "a grant copy failing with %s in the middle of a request: -EIO, nothing outside it changed, the next request served",
      (_name, status) => {
        const { hv, backend, guest, blk } = connectedSystem(engine);
        const before = pattern(11 * PAGE, 4);
        blk.write(DEVID, 0, before);
        const image = backend.disk.image().slice();
        // An 11-segment write: the fourth segment's copy fails.
        hv.gnttab.failGrantOp(backend.domid, status, 3);
        expect(errnoOf(() => blk.write(DEVID, 0, pattern(11 * PAGE, 5)))).toBe(EIO);
        const after = backend.disk.image();
        expect(bytesDiffering(after.subarray(11 * PAGE), image.subarray(11 * PAGE))).toBe(0);
        // The same for a read: it fails, and the disk is untouched.
        hv.gnttab.failGrantOp(backend.domid, status, 5);
        const written = backend.disk.image().slice();
        expect(errnoOf(() => blk.read(DEVID, 0, 88))).toBe(EIO);
        expect(bytesDiffering(backend.disk.image(), written)).toBe(0);
        // The device serves the next requests.
        expect(blk.info(DEVID).state).toBe(4);
        const data = pattern(11 * PAGE, 6);
        blk.write(DEVID, 0, data);
        expect(blk.read(DEVID, 0, 88)).toEqual(data);
        expect(guest.exit).toBeNull();
        expect(backend.guest.exit).toBeNull();
      },
    );
    test("the backend's map of the ring failing with GNTST_bad_gntref: dev_error in XenStore, the device closes, no trap; plugged again, it connects", () => {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      const backend = startBlkbackDomain(service, { engine });
      const guest = createGuestDomain(service, "guest", engine).guest;
      expect(guest.exports.xs_init()).toBe(0);
      const blk = new BlkFront(guest, 16).start();
      const device = { type: "vbd", devid: DEVID, frontend: guest.domid, backend: backend.domid };
      hv.gnttab.failGrantOp(backend.domid, GNTST.bad_gntref);
      service.devices.add({ ...device, backendParams: backend.disk.params });
      const errno = errnoOf(() => blk.open(DEVID));
      hv.runUntilIdle();
      const backendError = `/local/domain/${backend.domid}/error/backend/vbd/${guest.domid}/${DEVID}/error`;
      expect(errno).toBe(EIO);
      // As Linux's xenbus_map_ring: the GNTST status is the reported error.
      expect(service.tools.read(backendError)).toBe(
        `${-GNTST.bad_gntref} mapping in shared page 8 from domain ${guest.domid}`,
      );
      expect(guest.exit).toBeNull();
      expect(backend.guest.exit).toBeNull();

      service.devices.unplug(device, { force: true });
      hv.runUntilIdle();
      service.devices.add({ ...device, backendParams: backend.disk.params });
      blk.open(DEVID);
      const data = pattern(2 * PAGE, 11);
      blk.write(DEVID, 0, data);
      expect(blk.read(DEVID, 0, 16)).toEqual(data);
    });
  });

  describe("the block backend domain crashing in the middle of I/O", () => {
    test("the frontend's transfer fails, no acknowledged write is lost, and it reconnects to a new backend on the same image", () => {
      const { hv, service, backend, guest, blk } = connectedSystem(engine);
      const acknowledged = pattern(22 * PAGE, 7);
      blk.write(DEVID, 0, acknowledged);
      const imageAt = backend.guest.exports.blk_disk_image(backend.disk.number);
      const imageBytes = backend.disk.sectors * SECTOR_SIZE;
      // The backend crashes right after it notifies the guest of the first response of the next transfer;
      // then the toolstack destroys it (xl's on_crash=destroy), removing its devices.
      const send = hv.evtchn.send.bind(hv.evtchn);
      let crashed = false;
      hv.evtchn.send = (caller: Domain, port: number) => {
        const rc = send(caller, port);
        const channel = caller.ports.get(port);
        if (!crashed && caller === backend.guest.domain && channel?.state === "interdomain") {
          if (channel.remoteDomid === guest.domid) {
            crashed = true;
            hv.whenIdle(() => service.destroyDomain(backend.domid));
            hv.scheduler.exitRunning(caller, { reason: "crash", code: -1, message: "blkback crashed mid-I/O" });
          }
        }
        return rc;
      };
      const inFlight = pattern(44 * PAGE, 8); // four requests
      const inFlightAt = 800;
      expect([EIO, ENODEV]).toContain(errnoOf(() => blk.write(DEVID, inFlightAt, inFlight)));
      expect(crashed).toBe(true);
      hv.evtchn.send = send;
      hv.runUntilIdle();
      expect(backend.guest.exit?.reason).toBe("crash");
      expect(guest.exit).toBeNull();
      expect(errnoOf(() => blk.info(DEVID))).toBe(ENODEV);
      // The image as the crash left it (the backend's memory, as a disk file would be).
      const image = backend.guest.memory().slice(imageAt, imageAt + imageBytes);
      expect(image.subarray(0, acknowledged.length)).toEqual(acknowledged);
      // The failed transfer's sectors are each old or new (undefined, as Linux's block layer says); none else changed.
      const zero = new Uint8Array(SECTOR_SIZE);
      for (let sector = 0; sector < inFlight.length / SECTOR_SIZE; sector++) {
        const got = image.subarray((inFlightAt + sector) * SECTOR_SIZE, (inFlightAt + sector + 1) * SECTOR_SIZE);
        expect([zero, inFlight.subarray(sector * SECTOR_SIZE, (sector + 1) * SECTOR_SIZE)]).toContainEqual(got);
      }
      const after = inFlightAt * SECTOR_SIZE + inFlight.length;
      expect(image.subarray(acknowledged.length, inFlightAt * SECTOR_SIZE).every((byte) => byte === 0)).toBe(true);
      expect(image.subarray(after).every((byte) => byte === 0)).toBe(true);

      const next = startBlkbackDomain(service, { name: "blkback2", engine });
      next.disk.image().set(image);
      service.devices.add({
        type: "vbd",
        devid: DEVID,
        frontend: guest.domid,
        backend: next.domid,
        backendParams: next.disk.params,
      });
      blk.open(DEVID);
      expect(blk.info(DEVID).backendId).toBe(next.domid);
      expect(blk.read(DEVID, 0, 22 * 8)).toEqual(acknowledged);
      const data = pattern(44 * PAGE, 9);
      blk.write(DEVID, 0, data);
      expect(blk.read(DEVID, 0, 44 * 8)).toEqual(data);
      expect(guest.exit).toBeNull();
    });
  });

  describe("xenstored refusing for quota", () => {
    /** The guest writes new nodes under data/fill until xenstored refuses: the errno it got, and the nodes made. */
    function fillToQuota(xs: ReturnType<typeof xenstore>): { errno: number; made: number } {
      for (let made = 0; made < 200; made++) {
        try {
          xs.write(`data/fill/${made}`, "x");
        } catch (error) {
          return { errno: (error as { errno: number }).errno, made };
        }
      }
      return { errno: 0, made: 200 };
    }

    test("the guest's write gets ENOSPC, as C xenstored answers; the guest's other operations go on, and freed nodes are usable again", () => {
      const { service, guest } = connectedSystem(engine);
      const xs = xenstore(guest);
      xs.write("data/kept", "before");
      service.xenstored.quotas.set("nodes", 40, guest.domid);
      const { errno, made } = fillToQuota(xs);
      expect(errno).toBe(ENOSPC);
      expect(made).toBeGreaterThan(0);
      expect(made).toBeLessThan(40);
      // Changing a node it has is no new node; reading and watching go on.
      xs.write("data/kept", "after");
      expect(xs.read("data/kept")).toBe("after");
      expect(xs.directory("data/fill")).toHaveLength(made);
      xs.rm("data/fill/0");
      xs.write("data/fill/again", "x");
      expect(() => xs.write("data/fill/more", "x")).toThrow(expect.objectContaining({ errno: ENOSPC }));
      expect(xs.ringError()).toBe(0);
      expect(guest.exit).toBeNull();
    });

    test("a vbd negotiation that hits the quota fails cleanly: dev_error with ENOSPC in XenStore, both ends Closed, no trap; freed, the disk connects", () => {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      const backend = startBlkbackDomain(service, { engine });
      const guest = createGuestDomain(service, "guest", engine).guest;
      const xs = xenstore(guest);
      const blk = new BlkFront(guest, 16).start();
      // The error node exists already (as after an earlier error), so writing it needs no new node.
      const errorNode = `error/device/vbd/${DEVID}/error`;
      xs.write(errorNode, "");
      service.xenstored.quotas.set("nodes", 40, guest.domid);
      expect(fillToQuota(xs).errno).toBe(ENOSPC);
      const device = { type: "vbd", devid: DEVID, frontend: guest.domid, backend: backend.domid };
      service.devices.add({ ...device, backendParams: backend.disk.params });
      expect(errnoOf(() => blk.open(DEVID))).toBe(EIO);
      hv.runUntilIdle();
      expect(xs.read(errorNode)).toMatch(/^28 /);
      const home = `/local/domain/${guest.domid}`;
      expect(service.tools.read(`${home}/device/vbd/${DEVID}/state`)).toBe(String(CLOSED));
      expect(service.tools.read(`/local/domain/${backend.domid}/backend/vbd/${guest.domid}/${DEVID}/state`)).toBe(
        String(CLOSED),
      );
      expect(guest.exit).toBeNull();
      expect(backend.guest.exit).toBeNull();

      // Room again: the toolstack plugs the disk afresh and it connects.
      xs.rm("data/fill");
      service.devices.unplug(device, { force: true });
      hv.runUntilIdle();
      service.devices.add({ ...device, backendParams: backend.disk.params });
      blk.open(DEVID);
      const data = pattern(2 * PAGE, 10);
      blk.write(DEVID, 0, data);
      expect(blk.read(DEVID, 0, 16)).toEqual(data);
    });
  });
});
