// The guest's block drivers against a hostile other end. The real frontend
// (build/xenbus.wasm's blkfront) meets a dom0 backend that answers with
// unknown ids, bad statuses and operations, duplicates, response indices
// beyond what it pushed, states that jump around, silence, and generated
// garbage; the real backend meets a frontend domain that sends bogus
// requests, grant refs and ring setups. Either way the Wasm side must answer
// with errors (-errno, its device error node, Closing), never trap, never
// write memory it does not own, and stay usable: the device reconnects and
// moves data correctly afterwards.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { BLKIF_OP, BLKIF_RSP, XENBUS_STATE } from "../../host/xen/abi.js";
import { BlkError } from "../../runtime/blk.js";
import { errnoOf, pattern } from "../support/blk.js";
import { type BlkRequest, type BlkResponse, rw } from "../support/blkif-ring.js";
import { engines } from "../support/engines.js";
import { HostileBlkback, SECTOR_SIZE } from "../support/hostile-blkback.js";
import { type ConnectLies, HostileBlkfront } from "../support/hostile-blkfront.js";
import {
  blkbackGarbageProperty,
  blkfrontGarbageProperty,
  DEVID,
  HostileBackendRig,
  HostileFrontendRig,
} from "../support/properties/blk.js";

const PAGE = 4096;
const { Connected, Closing, Closed } = XENBUS_STATE;

const EIO = 5;
const EOPNOTSUPP = 95;
const ETIMEDOUT = 110;

/** A scenario: what the hostile backend does with each request instead of serving it. */
type Scenario = (request: BlkRequest, back: HostileBlkback) => void;

const answer = (request: BlkRequest, change: Partial<BlkResponse>): BlkResponse => ({
  id: request.id,
  operation: request.operation,
  status: BLKIF_RSP.OKAY,
  ...change,
});

describe.each(engines)("blkfront against a hostile backend under $name", ({ engine }) => {
  test("an honest backend first: data written reads back, and the backend's disk holds it", () => {
    const rig = new HostileBackendRig(engine);
    rig.roundTrip(1);
    expect(rig.blk.info(DEVID)).toMatchObject({
      state: Connected,
      backendState: Connected,
      sectors: 256n,
      sectorSize: 512,
    });
    rig.expectIntact();
  });

  const breaking: [string, Scenario][] = [
    ["a response for an unknown id", (r, b) => b.respond(answer(r, { id: r.id + 1000n }))],
    ["a response with another operation", (r, b) => b.respond(answer(r, { operation: r.operation ^ 1 }))],
    ["a response with an undefined status", (r, b) => b.respond(answer(r, { status: 1234 }))],
    ["a response with status -3", (r, b) => b.respond(answer(r, { status: -3 }))],
    [
      "a response answered twice",
      (r, b) => {
        b.respond(b.serve(r));
        b.respond(b.serve(r));
      },
    ],
    [
      "a response index one beyond the requests pushed",
      (r, b) => {
        b.respond(b.serve(r));
        b.ring!.rspProdPvt += 1;
      },
    ],
    [
      "a response index a ring and more beyond",
      (_r, b) => {
        b.ring!.rspProdPvt += 1000;
      },
    ],
    [
      "a response index that runs backwards",
      (r, b) => {
        b.respond(b.serve(r));
        b.ring!.rspProdPvt -= 5;
      },
    ],
  ];

  test.each(breaking)("%s breaks the device: -EIO, a device error, Closing; then it reconnects", (_name, scenario) => {
    const rig = new HostileBackendRig(engine);
    rig.back.onRequest = scenario;
    expect(errnoOf(() => rig.blk.read(DEVID, 0, 8))).toBe(EIO);
    rig.hv.runUntilIdle();
    rig.expectDeviceError();
    expect(errnoOf(() => rig.blk.read(DEVID, 0, 8))).not.toBe(0);
    rig.expectIntact();
    rig.expectRecovers();
    rig.expectIntact();
  });

  test("BLKIF_RSP_ERROR and EOPNOTSUPP fail the request only; the device carries on", () => {
    const rig = new HostileBackendRig(engine);
    rig.back.onRequest = (r, b) => b.respond(answer(r, { status: BLKIF_RSP.ERROR }));
    expect(errnoOf(() => rig.blk.read(DEVID, 0, 8))).toBe(EIO);
    rig.back.onRequest = (r, b) => b.respond(answer(r, { status: BLKIF_RSP.EOPNOTSUPP }));
    expect(errnoOf(() => rig.blk.flush(DEVID))).toBe(EOPNOTSUPP);
    rig.expectRecovers();
    expect(rig.blk.info(DEVID).state).toBe(Connected);
    rig.expectIntact();
  });

  test("a backend that never answers: the request times out (Xen's time), nothing hangs, and the device recovers", () => {
    const rig = new HostileBackendRig(engine);
    rig.back.onRequest = () => {};
    expect(errnoOf(() => rig.blk.read(DEVID, 0, 8))).toBe(ETIMEDOUT);
    rig.hv.runUntilIdle();
    rig.expectDeviceError();
    rig.expectIntact();
    rig.expectRecovers();
  });

  test.each([
    ["Closed", String(Closed)],
    ["Closing", String(Closing)],
  ])(
    "the backend going %s while a request is on the ring: it fails cleanly, and the device reconnects",
    (_name, state) => {
      const rig = new HostileBackendRig(engine);
      rig.back.followFrontend = false;
      rig.back.onRequest = (_r, b) => b.writeState(state);
      expect(errnoOf(() => rig.blk.read(DEVID, 0, 8))).toBe(EIO);
      rig.hv.runUntilIdle();
      expect(rig.blk.info(DEVID).state).toBe(Closed);
      rig.expectIntact();
      rig.expectRecovers();
    },
  );

  test("states that mean nothing (Unknown, 99, garbage, Initialising) while connected are survived", () => {
    const rig = new HostileBackendRig(engine);
    for (const state of ["0", "99", "garbage", "", "4294967300", "1"]) {
      rig.back.writeState(state);
      rig.hv.runUntilIdle();
      expect(rig.guest.exit).toBeNull();
    }
    rig.back.writeState(Connected);
    rig.hv.runUntilIdle();
    rig.expectIntact();
    rig.expectRecovers();
  });

  test("the device removed (forced hot-unplug) with a request on the ring: it ends with an error, no hang", () => {
    const rig = new HostileBackendRig(engine);
    const device = { type: "vbd", devid: DEVID, frontend: rig.guest.domid, backend: 0 };
    rig.back.onRequest = () => rig.service.devices.unplug(device, { force: true });
    const errno = errnoOf(() => rig.blk.read(DEVID, 0, 8));
    expect([EIO, 19 /* ENODEV */]).toContain(errno);
    rig.hv.runUntilIdle();
    expect(errnoOf(() => rig.blk.info(DEVID))).toBe(19);
    rig.expectIntact();
    // A new device at the same devid is taken on and works.
    rig.back.stop();
    rig.service.devices.add(device);
    const back = new HostileBlkback(rig.hv, rig.service, { frontend: rig.guest.domid, sectors: 256 }).start();
    rig.blk.open(DEVID);
    const data = pattern(PAGE, 9);
    rig.blk.write(DEVID, 0, data);
    expect(back.disk.subarray(0, PAGE)).toEqual(data);
    expect(rig.blk.read(DEVID, 0, 8)).toEqual(data);
  });

  test("generated garbage: responses, indices and states in any order never trap, write astray or wedge the device", () => {
    fc.assert(blkfrontGarbageProperty(engine), { numRuns: 40 });
  });
});

describe.each(engines)("blkback against a hostile frontend under $name", ({ engine }) => {
  test("an honest frontend first: a native domain's ring, requests and pages are served", () => {
    const rig = new HostileFrontendRig(engine);
    rig.front.connect({ ringPages: 2 });
    expect(rig.front.backendState).toBe(Connected);
    expect(rig.backend.back.info(rig.front.domid, DEVID)).toMatchObject({ state: Connected, ringPages: 2 });
    rig.expectServes();
  });

  test("bogus requests get an error response each, with their own id and operation; the disk is untouched and service goes on", () => {
    const rig = new HostileFrontendRig(engine);
    rig.front.connect();
    const page = rig.dataPage();
    const readOnly = rig.dataPage(true);
    const foreign = rig.front.grant(rig.front.allocPage(), 0); // granted to dom0, not to the backend
    const ungranted = 300; // inside the grant table, never granted
    const segment = (gref: number, firstSect = 0, lastSect = 7) => ({ gref, firstSect, lastSect });
    const bogus: [string, Omit<BlkRequest, "id">][] = [
      ["write barrier", { ...rw(BLKIF_OP.WRITE_BARRIER, 0n, 0n, [page.gref]) }],
      ["reserved op 4", { ...rw(4, 0n, 0n, [page.gref]) }],
      ["discard", { ...rw(BLKIF_OP.DISCARD, 0n, 0n, [page.gref]) }],
      ["indirect", { ...rw(BLKIF_OP.INDIRECT, 0n, 0n, [page.gref]) }],
      ["op 200", { ...rw(200, 0n, 0n, [page.gref]) }],
      ["no segments", { ...rw(BLKIF_OP.WRITE, 0n, 0n, []) }],
      ["12 segments", { ...rw(BLKIF_OP.WRITE, 0n, 0n, Array(11).fill(page.gref)), nrSegments: 12 }],
      ["255 segments", { ...rw(BLKIF_OP.WRITE, 0n, 0n, Array(11).fill(page.gref)), nrSegments: 255 }],
      ["past the end", { ...rw(BLKIF_OP.WRITE, 0n, 256n - 7n, [page.gref]) }],
      ["sector 2^64-1", { ...rw(BLKIF_OP.WRITE, 0n, (1n << 64n) - 1n, [page.gref]) }],
      ["sector 2^63", { ...rw(BLKIF_OP.WRITE, 0n, 1n << 63n, [page.gref]) }],
      ["first after last", { ...rw(BLKIF_OP.WRITE, 0n, 0n, []), nrSegments: 1, segments: [segment(page.gref, 5, 2)] }],
      ["last sect 8", { ...rw(BLKIF_OP.WRITE, 0n, 0n, []), nrSegments: 1, segments: [segment(page.gref, 0, 8)] }],
      [
        "sects 200..255",
        { ...rw(BLKIF_OP.WRITE, 0n, 0n, []), nrSegments: 1, segments: [segment(page.gref, 200, 255)] },
      ],
      ["a ref beyond the table", { ...rw(BLKIF_OP.WRITE, 0n, 0n, [99_999]) }],
      ["a ref never granted", { ...rw(BLKIF_OP.WRITE, 0n, 0n, [ungranted]) }],
      ["a ref granted to another domain", { ...rw(BLKIF_OP.WRITE, 0n, 0n, [foreign]) }],
      ["a read into a read-only grant", { ...rw(BLKIF_OP.READ, 0n, 0n, [readOnly.gref]) }],
      ["a good segment then a bad ref", { ...rw(BLKIF_OP.WRITE, 0n, 0n, [page.gref, 99_999]) }],
    ];
    rig.front.page(page.gfn).fill(0xee);
    const image = rig.image();
    bogus.forEach(([name, request], i) => {
      const id = 1000n + BigInt(i);
      const response = rig.ask({ ...request, id });
      expect(response.id, name).toBe(id);
      expect(response.operation, name).toBe(request.operation);
      expect([BLKIF_RSP.ERROR, BLKIF_RSP.EOPNOTSUPP], name).toContain(response.status);
    });
    expect(rig.front.page(readOnly.gfn).every((byte) => byte === 0)).toBe(true);
    // Only the partly good write may have reached the disk; nothing else did.
    const after = rig.image();
    after.fill(0, 0, 8 * SECTOR_SIZE);
    image.fill(0, 0, 8 * SECTOR_SIZE);
    expect(after).toEqual(image);
    expect(rig.front.backendState).toBe(Connected);
    rig.expectServes();
  });

  test.each<[string, ConnectLies]>([
    ["a ring-page-order beyond the one offered", { ringPages: 4 }],
    ["a ring-page-order that is no number", { ringPageOrder: "x1" }],
    ["a ring-ref that is not granted", { ringRefs: [300] }],
    ["a ring-ref beyond the grant table", { ringRefs: [99_999] }],
    ["ring refs fewer than the order says", { ringPages: 2, ringPageOrder: "1", ringRefs: [8] }],
    ["an event-channel that is not offered to the backend", { eventChannel: "999" }],
    ["an event-channel that is no number", { eventChannel: "-1" }],
    ["another protocol", { protocol: "x86_32-abi" }],
  ])(
    "%s: the backend reports it and closes, survives, and serves the frontend once it starts over honestly",
    (_name, lies) => {
      const rig = new HostileFrontendRig(engine);
      rig.front.connect(lies);
      rig.expectDeviceError();
      rig.expectIntact();
      rig.expectRecovers();
    },
  );

  test("a ring-ref granted to another domain, or a port bound elsewhere, is refused the same way", () => {
    const rig = new HostileFrontendRig(engine);
    const foreign = rig.front.grant(rig.front.allocPage(), 0);
    rig.front.connect({ ringRefs: [foreign] });
    rig.expectDeviceError();
    rig.expectRecovers();
    // A port offered to dom0, not to the backend.
    const elsewhere = rig.front.domain.evtchn.bindUnboundPort(0);
    rig.front.close();
    rig.front.switchState(XENBUS_STATE.Initialising);
    rig.front.run();
    rig.front.connect({ eventChannel: String(elsewhere) });
    rig.expectDeviceError();
    rig.expectRecovers();
  });

  test.each([
    ["forced", true],
    ["graceful", false],
  ])(
    "hot-unplug (%s) with requests on the ring not yet served: the backend lets go without trapping, and serves another frontend",
    (_name, force) => {
      const rig = new HostileFrontendRig(engine);
      rig.front.connect();
      const page = rig.dataPage(true);
      rig.front.page(page.gfn).set(pattern(PAGE, 11));
      const ring = rig.front.ring!;
      for (let i = 0; i < 8; i++) ring.submit(rw(BLKIF_OP.WRITE, BigInt(i), BigInt(8 * i), [page.gref]));
      ring.push(); // published, the backend not told yet
      const image = rig.image();
      rig.service.devices.unplug(
        { type: "vbd", devid: DEVID, frontend: rig.front.domid, backend: rig.backend.domid },
        { force },
      );
      rig.front.kick(); // the event arrives after the device went (or is a dead port by now)
      rig.hv.runUntilIdle();
      expect(rig.backend.back.info.bind(rig.backend.back, rig.front.domid, DEVID)).toThrow(BlkError);
      // Served before it went, or not at all: never half a request, never anywhere else.
      const served = rig.front.responses.filter((r) => r.status === BLKIF_RSP.OKAY).length;
      const after = rig.image();
      expect(after.subarray(8 * 8 * SECTOR_SIZE)).toEqual(image.subarray(8 * 8 * SECTOR_SIZE));
      for (let i = 0; i < 8; i++) {
        const sectors = after.subarray(i * PAGE, (i + 1) * PAGE);
        expect(sectors, `request ${i}`).toEqual(
          i < served ? pattern(PAGE, 11) : image.subarray(i * PAGE, (i + 1) * PAGE),
        );
      }
      rig.expectIntact();
      // Grants the backend held are released: the frontend can revoke its ring and data pages.
      for (const ref of [...rig.front.ringRefs, page.gref]) expect(rig.front.endGrant(ref), `ref ${ref}`).toBe(true);

      const other = new HostileBlkfront(rig.hv, rig.service, {
        backend: rig.backend.domid,
        devid: DEVID + 16,
        backendParams: rig.backend.disk.params,
      });
      other.run();
      other.connect();
      expect(other.backendState).toBe(Connected);
      const target = other.allocPage();
      other.submit(rw(BLKIF_OP.READ, 1n, 0n, [other.grant(target)]));
      expect(other.responses).toEqual([{ id: 1n, operation: BLKIF_OP.READ, status: BLKIF_RSP.OKAY }]);
      expect(other.page(target)).toEqual(after.subarray(0, PAGE));
      rig.expectIntact();
    },
  );

  test("impossible ring indices: the backend stops serving that ring with a device error, and serves a new one", () => {
    const rig = new HostileFrontendRig(engine);
    rig.front.connect();
    const ring = rig.front.ring!;
    ring.shared.reqProd = ring.reqProdPvt + 1000;
    rig.front.kick();
    rig.expectDeviceError();
    rig.expectIntact();
    rig.expectRecovers();
  });

  test("generated garbage on the ring: every request answered once or the ring given up, no trap, no stray write, service after", () => {
    fc.assert(blkbackGarbageProperty(engine), { numRuns: 40 });
  });
});
