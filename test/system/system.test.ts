// The whole system: dom0 (xenstored, toolstack, console backends), a Wasm
// block-backend driver domain with a disk image, and Wasm guests whose
// blkfront uses it, all build/xenbus.wasm on the simulated Xen. Boot to
// Connected, data through both drivers, a frontend that closes and comes
// back, a backend domain that goes away and a new one that comes, and
// hot-unplug while a request is on the ring.
import { beforeEach, describe, expect, test } from "vitest";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { type BlkbackDomain, startBlkbackDomain } from "../../host/system/blkback-domain.js";
import { createGuestDomain } from "../../host/system/guest-domain.js";
import { XENBUS_STATE } from "../../host/xen/abi.js";
import type { Domain } from "../../host/xen/domain.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkFront, SECTOR_SIZE } from "../../runtime/blk.js";
import type { Engine } from "../../runtime/engine.js";
import { errnoOf, pattern } from "../support/blk.js";
import { engines } from "../support/engines.js";
import type { Xenbus } from "../support/xenbus.js";

const PAGE = 4096;
const DEVID = 51712;
const ENODEV = 19;
const EIO = 5;
const { Connected, Closed } = XENBUS_STATE;

/** Sectors [first, first + count) of the backend's disk image, as it holds them. */
function sectorsAt(backend: BlkbackDomain, first: number, count: number): Uint8Array {
  return backend.disk.image().slice(first * SECTOR_SIZE, (first + count) * SECTOR_SIZE);
}

interface Frontend {
  guest: Xenbus;
  blk: BlkFront;
}

class System {
  readonly hv = new Hypervisor();
  readonly service: XenstoreService = startXenstore(this.hv);
  backend: BlkbackDomain;

  /** Every Wasm domain of the system runs in `engine`. */
  constructor(
    readonly engine: Engine,
    options: { sectors?: number; maxRingPageOrder?: number } = {},
  ) {
    this.backend = startBlkbackDomain(this.service, { ...options, engine });
  }

  /** A Wasm guest with its frontend bus attached (no device yet). */
  guest(name: string): Frontend {
    const guest = createGuestDomain(this.service, name, this.engine).guest;
    expect(guest.exports.xs_init()).toBe(0);
    return { guest, blk: new BlkFront(guest, 16).start() };
  }

  /** A guest with the backend's disk plugged in and open (Connected). */
  connectedGuest(name = "guest"): Frontend {
    const front = this.guest(name);
    this.plug(front);
    front.blk.open(DEVID);
    return front;
  }

  /** The toolstack plugs the backend's disk into `front` as vbd DEVID. */
  plug(front: Frontend, backend = this.backend): void {
    this.service.devices.add({
      type: "vbd",
      devid: DEVID,
      frontend: front.guest.domid,
      backend: backend.domid,
      backendParams: backend.disk.params,
    });
  }

  device(front: Frontend, backend = this.backend) {
    return { type: "vbd", devid: DEVID, frontend: front.guest.domid, backend: backend.domid };
  }

  /** Both ends' state nodes as dom0 reads them. */
  states(front: Frontend, backend = this.backend): [number, number] {
    const base = `/local/domain`;
    return [
      Number(this.service.tools.read(`${base}/${front.guest.domid}/device/vbd/${DEVID}/state`)),
      Number(this.service.tools.read(`${base}/${backend.domid}/backend/vbd/${front.guest.domid}/${DEVID}/state`)),
    ];
  }

  /** No domain trapped or exited. */
  expectAlive(...domains: { guest: Xenbus }[]): void {
    for (const { guest } of [this.backend, ...domains]) expect(guest.exit, guest.name).toBeNull();
  }
}

describe.each(engines)("under $name", ({ engine }) => {
  describe("boot to Connected", () => {
    test("a guest's vbd connects through the backend domain: both ends Connected, the disk as the backend published it", () => {
      const system = new System(engine, { sectors: 4096, maxRingPageOrder: 1 });
      const front = system.guest("guest");
      system.plug(front);
      expect(front.guest.exports.xenbus_bus_boot_wait(0, 10_000)).toBe(0);
      expect(system.states(front)).toEqual([Connected, Connected]);
      expect(front.blk.info(DEVID)).toMatchObject({
        sectors: 4096n,
        sectorSize: SECTOR_SIZE,
        flush: true,
        state: Connected,
        backendState: Connected,
        ringPages: 2,
        backendId: system.backend.domid,
      });
      expect(system.backend.back.info(front.guest.domid, DEVID)).toMatchObject({
        state: Connected,
        frontendState: Connected,
        ringPages: 2,
      });
      system.expectAlive(front);
    });

    test("eight guests on one backend domain all reach Connected", () => {
      const system = new System(engine);
      const fronts = Array.from({ length: 8 }, (_, i) => system.guest(`guest${i}`));
      for (const front of fronts) system.plug(front);
      for (const front of fronts) front.blk.open(DEVID);
      for (const front of fronts) expect(system.states(front)).toEqual([Connected, Connected]);
      system.expectAlive(...fronts);
    });
  });

  describe("block I/O", () => {
    let system: System;
    let front: Frontend;

    beforeEach(() => {
      system = new System(engine, { maxRingPageOrder: 2 });
      front = system.connectedGuest();
    });

    test("data written reads back the same and lies on the backend's disk where it was written", () => {
      const data = pattern(15 * PAGE, 1); // more than one request's 11 segments
      front.blk.write(DEVID, 64, data);
      expect(sectorsAt(system.backend, 64, data.length / SECTOR_SIZE)).toEqual(data);
      expect(sectorsAt(system.backend, 0, 64).every((byte) => byte === 0)).toBe(true);
      expect(front.blk.read(DEVID, 64, data.length / SECTOR_SIZE)).toEqual(data);
      // Unaligned to pages: a single sector in the middle, read back through its own request.
      const sector = pattern(SECTOR_SIZE, 2);
      front.blk.write(DEVID, 67, sector);
      expect(front.blk.read(DEVID, 66, 3)).toEqual(
        new Uint8Array([...data.subarray(2 * 512, 3 * 512), ...sector, ...data.subarray(4 * 512, 5 * 512)]),
      );
      const flushes = system.backend.disk.flushes();
      front.blk.flush(DEVID);
      expect(system.backend.disk.flushes()).toBe(flushes + 1);
      const info = system.backend.back.info(front.guest.domid, DEVID);
      expect(info.bytes).toBe(BigInt(2 * data.length + 4 * SECTOR_SIZE));
      system.expectAlive(front);
    });

    test("a read beyond the disk fails with -EIO and the device carries on", () => {
      const last = system.backend.disk.sectors - 8;
      expect(errnoOf(() => front.blk.read(DEVID, last + 1, 8))).toBe(EIO);
      expect(front.blk.info(DEVID).state).toBe(Connected);
      const data = pattern(PAGE, 3);
      front.blk.write(DEVID, last, data);
      expect(front.blk.read(DEVID, last, 8)).toEqual(data);
    });

    test("two guests plugged to the same disk: what one writes, the other reads", () => {
      const other = system.guest("other");
      system.plug(other);
      other.blk.open(DEVID);
      const data = pattern(2 * PAGE, 4);
      front.blk.write(DEVID, 100, data);
      expect(other.blk.read(DEVID, 100, 16)).toEqual(data);
      system.expectAlive(front, other);
    });
  });

  describe("frontend close and reconnect", () => {
    test("closing takes both ends to Closed; opening again reconnects, with the data still there, many times over", () => {
      const system = new System(engine);
      const front = system.connectedGuest();
      const data = pattern(5 * PAGE, 5);
      front.blk.write(DEVID, 8, data);
      for (let round = 0; round < 5; round++) {
        front.blk.close(DEVID);
        expect(system.states(front)).toEqual([Closed, Closed]);
        expect(errnoOf(() => front.blk.read(DEVID, 8, 8))).toBe(ENODEV);
        front.blk.open(DEVID);
        expect(system.states(front)).toEqual([Connected, Connected]);
        expect(front.blk.read(DEVID, 8, 40)).toEqual(data);
        front.blk.write(DEVID, 8 + round * 8, pattern(PAGE, round));
        data.set(pattern(PAGE, round), round * PAGE);
      }
      expect(front.blk.read(DEVID, 8, 40)).toEqual(data);
      system.expectAlive(front);
    });
  });

  describe("backend going away and coming back", () => {
    test("the backend domain is destroyed: the guest's I/O fails cleanly; a new backend domain is plugged and serves it", () => {
      const system = new System(engine);
      const front = system.connectedGuest();
      front.blk.write(DEVID, 0, pattern(PAGE, 6));
      const old = system.backend;
      system.service.destroyDomain(old.domid);
      system.hv.runUntilIdle();
      expect(errnoOf(() => front.blk.read(DEVID, 0, 8))).toBe(ENODEV);
      expect(front.guest.exit).toBeNull();

      system.backend = startBlkbackDomain(system.service, { name: "blkback2", engine });
      system.plug(front);
      front.blk.open(DEVID);
      expect(front.blk.info(DEVID).backendId).toBe(system.backend.domid);
      const data = pattern(2 * PAGE, 7);
      front.blk.write(DEVID, 0, data);
      expect(sectorsAt(system.backend, 0, 16)).toEqual(data);
      expect(front.blk.read(DEVID, 0, 16)).toEqual(data);
      system.expectAlive(front);
    });

    test("the toolstack unplugs the disk (backend Closing, then removed) and plugs it again: the guest reconnects to the same data", () => {
      const system = new System(engine);
      const front = system.connectedGuest();
      const data = pattern(2 * PAGE, 8);
      front.blk.write(DEVID, 40, data);
      expect(system.service.devices.unplug(system.device(front))).toBe("closed");
      system.hv.runUntilIdle();
      expect(errnoOf(() => front.blk.info(DEVID))).toBe(ENODEV);
      system.plug(front);
      front.blk.open(DEVID);
      expect(front.blk.read(DEVID, 40, 16)).toEqual(data);
      system.expectAlive(front);
    });
  });

  describe("hot-unplug during I/O", () => {
    /**
     * Runs `unplug` (dom0's toolstack) right when `front` notifies the backend
     * of its next request, before the backend domain runs: the request is on
     * the ring when the device goes. Returns whether it ran.
     */
    function unplugOnNextRequest(system: System, front: Frontend, unplug: () => void): () => boolean {
      const evtchn = system.hv.evtchn;
      const send = evtchn.send.bind(evtchn);
      let done = false;
      evtchn.send = (caller: Domain, port: number) => {
        const rc = send(caller, port);
        const channel = caller.ports.get(port);
        if (
          !done &&
          caller.domid === front.guest.domid &&
          channel?.state === "interdomain" &&
          channel.remoteDomid === system.backend.domid
        ) {
          done = true;
          unplug();
        }
        return rc;
      };
      return () => done;
    }

    test.each([
      ["forced (both dirs removed at once)", true],
      ["graceful (backend told to close)", false],
    ])("%s: the request completes or fails cleanly, nothing hangs, and a re-plugged disk works", (_name, force) => {
      const system = new System(engine);
      const front = system.connectedGuest();
      const data = pattern(11 * PAGE, 9);
      front.blk.write(DEVID, 0, data);
      const device = system.device(front);
      const unplugged = unplugOnNextRequest(system, front, () => {
        const backend = `/local/domain/${system.backend.domid}/backend/vbd/${front.guest.domid}/${DEVID}`;
        if (force) system.service.devices.unplug(device, { force: true });
        else {
          // libxl's first step; the rest (waiting for Closed, removing) follows once the request is over.
          system.service.tools.write(`${backend}/online`, "0");
          system.service.tools.write(`${backend}/state`, "5");
        }
      });
      let read: Uint8Array | null = null;
      const errno = errnoOf(() => (read = front.blk.read(DEVID, 0, 88)));
      expect(unplugged()).toBe(true);
      if (errno === 0) expect(read).toEqual(data);
      else expect([EIO, ENODEV]).toContain(errno);
      if (!force) system.service.devices.unplug(device);
      system.hv.runUntilIdle();
      expect(errnoOf(() => front.blk.info(DEVID))).toBe(ENODEV);
      system.expectAlive(front);

      system.plug(front);
      front.blk.open(DEVID);
      expect(front.blk.read(DEVID, 0, 88)).toEqual(data);
      system.expectAlive(front);
    });
  });
});
