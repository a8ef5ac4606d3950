// The hostile block peers of test/support (a dom0 backend and a native
// frontend domain) checked against the other end built from the real
// module's xenbus_* helpers (build/harness.wasm), with the test writing that end's ring by hand:
// the peers must speak Xen's blkif protocol before the tests that use them
// against the guest's block drivers mean anything.
import { beforeEach, describe, expect, test } from "vitest";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { BLKIF_OP, BLKIF_RSP, GNTST, XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkifSharedRing, type BlkRequest, FrontRing, rw } from "../support/blkif-ring.js";
import { engines } from "../support/engines.js";
import { HelperGuest } from "../support/helper-guest.js";
import { HostileBlkback, SECTOR_SIZE } from "../support/hostile-blkback.js";
import { HostileBlkfront } from "../support/hostile-blkfront.js";
import { bootHarness } from "../support/xenbus.js";

const PAGE = 4096;
const EINVAL = -22;
const { InitWait, Initialised, Connected, Closing, Closed } = XENBUS_STATE;

/** A guest's end of a device, made of the xenbus_* exports; the test is its driver. */
class HelperEnd extends HelperGuest {
  /** The blkif ring on `pages` pages of this guest's memory from `address`. */
  ring(address: number, pages: number): BlkifSharedRing {
    return new BlkifSharedRing(() =>
      Array.from({ length: pages }, (_, i) =>
        this.guest.memory().subarray(address + i * PAGE, address + (i + 1) * PAGE),
      ),
    );
  }
}

function read(sector: bigint, grefs: number[], id = 1n): BlkRequest {
  return rw(BLKIF_OP.READ, id, sector, grefs);
}

describe.each(engines)("under $name", ({ engine }) => {
  describe("the hostile backend, against a frontend made of the xenbus_* helpers", () => {
    let hv: Hypervisor;
    let service: XenstoreService;
    let front: HelperEnd;
    let back: HostileBlkback;
    let ring: FrontRing;
    let port: number;

    beforeEach(() => {
      hv = new Hypervisor();
      service = startXenstore(hv);
      front = new HelperEnd(bootHarness(hv, "front", engine));
      const f = front.guest.domid;
      service.devices.add({ type: "vbd", devid: 51712, frontend: f, backend: 0 });
      back = new HostileBlkback(hv, service, { frontend: f, maxRingPageOrder: 2, sectors: 64 }).start();
      hv.runUntilIdle();
      // The frontend's part, by the book: grant the ring, offer a channel, publish both, Initialised.
      front.device("device/vbd/51712", back.paths.backend, 0);
      const page = front.x.page_alloc();
      ring = new FrontRing(front.ring(page, 1));
      ring.shared.init();
      expect(front.x.xenbus_grant_ring(front.dev, page, 1, front.out)).toBe(1);
      expect(front.x.xenbus_write_ring_refs(0, front.dev, ...front.u32s(front.results(1)))).toBe(0);
      port = front.x.xenbus_alloc_evtchn(front.dev);
      expect(port).toBeGreaterThan(0);
      front.xs.write("device/vbd/51712/event-channel", String(port));
      expect(front.x.xenbus_switch_state(front.dev, Initialised)).toBe(0);
      hv.runUntilIdle();
    });

    /** Publishes the requests, notifies, runs; the responses the guest's ring then holds. */
    function roundTrip(...requests: BlkRequest[]) {
      for (const request of requests) ring.submit(request);
      ring.push();
      expect(front.x.evtchn_send(port)).toBe(0);
      hv.runUntilIdle();
      return ring.takeResponses();
    }

    test("publishes its features, maps the ring, binds the channel and goes Connected", () => {
      const node = (name: string) => service.tools.read(`${back.paths.backend}/${name}`);
      expect([node("feature-flush-cache"), node("max-ring-page-order"), node("sectors"), node("sector-size")]).toEqual([
        "1",
        "2",
        "64",
        "512",
      ]);
      expect(back.state).toBe(Connected);
      expect(back.faults).toEqual([]);
      expect(back.port).not.toBeNull();
    });

    test("serves reads and writes through the granted pages, and notifies the frontend", () => {
      const data = front.x.page_alloc();
      const gref = front.x.gnttab_grant_access(0, data / PAGE, false);
      back.disk.fill(0xa5, 8 * SECTOR_SIZE, 16 * SECTOR_SIZE);
      const events = front.x.evtchn_event_count(port);
      expect(roundTrip(read(8n, [gref], 77n))).toEqual([{ id: 77n, operation: BLKIF_OP.READ, status: BLKIF_RSP.OKAY }]);
      expect(front.x.evtchn_event_count(port)).toBeGreaterThan(events);
      expect(
        front.guest
          .memory()
          .subarray(data, data + PAGE)
          .every((byte) => byte === 0xa5),
      ).toBe(true);

      front.guest.memory().fill(0x3c, data, data + PAGE);
      const write = { ...read(16n, [gref], 78n), operation: BLKIF_OP.WRITE };
      expect(roundTrip(write)[0]!.status).toBe(BLKIF_RSP.OKAY);
      expect(back.disk.subarray(16 * SECTOR_SIZE, 24 * SECTOR_SIZE).every((byte) => byte === 0x3c)).toBe(true);
      // Beyond the disk, an unknown operation, a ref that was never granted.
      expect(
        roundTrip(read(60n, [gref], 1n), { ...read(0n, [gref], 2n), operation: 200 }, read(0n, [4000], 3n)).map(
          (r) => r.status,
        ),
      ).toEqual([BLKIF_RSP.ERROR, BLKIF_RSP.EOPNOTSUPP, BLKIF_RSP.ERROR]);
    });

    test("answers as a scenario says: wrong ids, duplicates, statuses and operations, indices beyond what it wrote", () => {
      back.onRequest = (request, b) => {
        b.respond({ id: request.id + 1000n, operation: request.operation, status: BLKIF_RSP.OKAY });
        b.respond({ id: request.id, operation: 99, status: 1234 });
        b.respond({ id: request.id, operation: request.operation, status: BLKIF_RSP.OKAY });
      };
      expect(roundTrip(read(0n, [9], 5n))).toEqual([
        { id: 1005n, operation: BLKIF_OP.READ, status: 0 },
        { id: 5n, operation: 99, status: 1234 },
        { id: 5n, operation: BLKIF_OP.READ, status: 0 },
      ]);
      back.onRequest = (_request, b) => {
        b.ring!.rspProdPvt += 1000;
      };
      ring.submit(read(0n, [9], 6n));
      ring.push();
      front.x.evtchn_send(port);
      hv.runUntilIdle();
      expect(ring.shared.rspProd).toBe(3 + 1000);
    });

    test("writes any state it is told to, and follows the frontend through Closing, Closed and a fresh start", () => {
      for (const state of ["99", "0", String(Closed), "garbage"]) {
        back.writeState(state);
        expect(service.tools.read(`${back.paths.backend}/state`)).toBe(state);
      }
      back.writeState(Connected);
      expect(front.x.xenbus_switch_state(front.dev, Closing)).toBe(0);
      hv.runUntilIdle();
      expect(back.state).toBe(Closing);
      expect(back.port).toBeNull();
      expect(front.x.xenbus_switch_state(front.dev, Closed)).toBe(0);
      hv.runUntilIdle();
      expect(back.state).toBe(Closed);
      expect(front.x.xenbus_switch_state(front.dev, XENBUS_STATE.Initialising)).toBe(0);
      hv.runUntilIdle();
      expect(back.state).toBe(InitWait);
    });
  });

  describe("the hostile frontend, against a backend made of the xenbus_* helpers", () => {
    let hv: Hypervisor;
    let service: XenstoreService;
    let back: HelperEnd;
    let front: HostileBlkfront;

    beforeEach(() => {
      hv = new Hypervisor();
      service = startXenstore(hv);
      back = new HelperEnd(bootHarness(hv, "back", engine));
      front = new HostileBlkfront(hv, service, { backend: back.guest.domid });
      back.device(`backend/vbd/${front.domid}/51712`, front.paths.frontend, front.domid);
      back.xs.write(`backend/vbd/${front.domid}/51712/max-ring-page-order`, "1");
      expect(back.x.xenbus_switch_state(back.dev, InitWait)).toBe(0);
      hv.runUntilIdle();
    });

    test("publishes a two-page ring and a channel the backend maps and binds; requests and responses cross", () => {
      expect(front.backendState).toBe(InitWait);
      front.connect({ ringPages: 2 });
      expect(front.readText(`${front.paths.frontend}/state`)).toBe(String(Initialised));
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 1, back.out)).toBe(2);
      const refs = back.results(2);
      expect(refs).toEqual(front.ringRefs);
      const address = back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s(refs));
      expect(address).toBeGreaterThan(0);
      const local = back.x.xenbus_bind_evtchn(back.dev, Number(back.xs.read(`${front.paths.frontend}/event-channel`)));
      expect(local).toBeGreaterThan(0);
      expect(back.x.xenbus_switch_state(back.dev, Connected)).toBe(0);
      front.run();
      expect(front.backendState).toBe(Connected);

      // 40 requests: the ring's second page carries some of them.
      const requests = Array.from({ length: 40 }, (_, i) => read(BigInt(i), [100 + i], BigInt(i)));
      const events = back.x.evtchn_event_count(local);
      front.submit(...requests);
      expect(back.x.evtchn_event_count(local)).toBeGreaterThan(events);
      const backRing = back.ring(address, 2);
      expect(backRing.size).toBe(64);
      expect(backRing.reqProd).toBe(40);
      expect(Array.from({ length: 40 }, (_, i) => backRing.request(i))).toEqual(requests);

      backRing.setResponse(0, { id: 39n, operation: BLKIF_OP.READ, status: BLKIF_RSP.ERROR });
      backRing.rspProd = 1;
      expect(back.x.evtchn_send(local)).toBe(0);
      front.run();
      expect(front.responses).toEqual([{ id: 39n, operation: BLKIF_OP.READ, status: BLKIF_RSP.ERROR }]);
    });

    test("lies as told: an order beyond the offer, refs that are not granted, a channel that is not bound", () => {
      front.connect({ ringPageOrder: "3", ringRefs: [front.grant(front.allocPage(), 0), 7777], eventChannel: "999" });
      const node = (name: string) => front.readText(`${front.paths.frontend}/${name}`);
      expect([node("ring-page-order"), node("ring-ref0"), node("ring-ref1"), node("event-channel")]).toEqual([
        "3",
        "8",
        "7777",
        "999",
      ]);
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 1, back.out)).toBe(EINVAL);
      // The first ref is granted to dom0, not to the backend.
      expect(back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s([8]))).toBe(GNTST.general_error);
      expect(back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s([7777]))).toBe(GNTST.bad_gntref);
    });
  });
});
