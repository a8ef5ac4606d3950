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
import { createGuestDomain } from "../host/guest-domain.js";
import { Hypervisor } from "../host/hypervisor.js";
import { startXenstore, type XenstoreService } from "../host/toolstack.js";
import { BLKIF_RSP, XENBUS_STATE } from "../host/xen/abi.js";
import { BlkError, BlkFront } from "../runtime/blk.js";
import type { BlkRequest, BlkResponse } from "./support/blkif-ring.js";
import { HostileBlkback, SECTOR_SIZE } from "./support/hostile-blkback.js";
import { GuardedScratch } from "./support/scratch.js";
import type { Xenbus } from "./support/xenbus.js";

const PAGE = 4096;
const DEVID = 51712;
const { Connected, Closing, Closed } = XENBUS_STATE;

/** `length` bytes of a pattern unique to `seed`. */
function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

/** The errno a blk call failed with, or 0 when it succeeded. */
function errnoOf(call: () => unknown): number {
  try {
    call();
    return 0;
  } catch (error) {
    if (error instanceof BlkError) return error.errno;
    throw error;
  }
}

const EIO = 5;
const EOPNOTSUPP = 95;
const ETIMEDOUT = 110;

/** A frontend guest with a vbd served by the hostile dom0 backend, opened. */
class HostileBackendRig {
  readonly hv = new Hypervisor();
  readonly service: XenstoreService = startXenstore(this.hv);
  readonly guest: Xenbus;
  readonly blk: BlkFront;
  readonly back: HostileBlkback;
  /** page_alloc pages next to the frontend's own that nothing may write, and their guard bytes. */
  private readonly sentinels: { scratch: GuardedScratch; guard: Uint8Array }[] = [];
  readonly errorNode: string;

  constructor(options: { maxRingPageOrder?: number } = {}) {
    this.guest = createGuestDomain(this.service, "front").guest;
    expect(this.guest.exports.xs_init()).toBe(0);
    const sentinel = () => {
      const scratch = new GuardedScratch(() => this.guest.memory(), this.guest.exports.page_alloc(), PAGE);
      scratch.fill(this.sentinels.length + 1);
      this.sentinels.push({ scratch, guard: scratch.snapshot() });
    };
    sentinel();
    this.blk = new BlkFront(this.guest, 4);
    sentinel();
    this.service.devices.add({ type: "vbd", devid: DEVID, frontend: this.guest.domid, backend: 0 });
    this.back = new HostileBlkback(this.hv, this.service, { frontend: this.guest.domid, sectors: 256, ...options }).start();
    this.errorNode = `/local/domain/${this.guest.domid}/error/device/vbd/${DEVID}/error`;
    this.blk.start();
    this.blk.open(DEVID);
  }

  /** No trap, no exit, no stray write. */
  expectIntact(): void {
    expect(this.guest.exit).toBeNull();
    for (const { scratch, guard } of this.sentinels) scratch.expectOnlyChanged(guard, []);
  }

  /** The device was given up: a device error node, and the frontend no longer Connected. */
  expectDeviceError(): void {
    expect(this.service.tools.read(this.errorNode)).toMatch(/^5 /);
    expect(this.blk.info(DEVID).state).not.toBe(Connected);
  }

  /** Back to an honest backend; the frontend reconnects and moves data correctly. */
  expectRecovers(): void {
    this.back.onRequest = (request, back) => back.respond(back.serve(request));
    this.back.followFrontend = true;
    if (this.blk.info(DEVID).state === Connected && this.back.state === Connected) {
      this.roundTrip(3);
      return;
    }
    // Whatever state each end is in, the frontend closes, the backend follows, and the frontend opens again.
    if (this.blk.info(DEVID).state !== Closed) this.blk.close(DEVID);
    if (this.back.state !== Closed && this.back.state !== XENBUS_STATE.InitWait) this.back.writeState(Closed);
    this.hv.runUntilIdle();
    this.blk.open(DEVID);
    expect(this.back.state).toBe(Connected);
    this.roundTrip(3);
  }

  /** Writes a pattern and reads it back, checking the disk in between. */
  roundTrip(seed: number): void {
    const data = pattern(2 * PAGE, seed);
    this.blk.write(DEVID, 16, data);
    expect(this.back.disk.subarray(16 * SECTOR_SIZE, 16 * SECTOR_SIZE + data.length)).toEqual(data);
    expect(this.blk.read(DEVID, 16, data.length / SECTOR_SIZE)).toEqual(data);
  }
}

/** A scenario: what the hostile backend does with each request instead of serving it. */
type Scenario = (request: BlkRequest, back: HostileBlkback) => void;

const answer = (request: BlkRequest, change: Partial<BlkResponse>): BlkResponse => ({
  id: request.id, operation: request.operation, status: BLKIF_RSP.OKAY, ...change,
});

describe("blkfront against a hostile backend", () => {
  test("an honest backend first: data written reads back, and the backend's disk holds it", () => {
    const rig = new HostileBackendRig();
    rig.roundTrip(1);
    expect(rig.blk.info(DEVID)).toMatchObject({ state: Connected, backendState: Connected, sectors: 256n, sectorSize: 512 });
    rig.expectIntact();
  });

  const breaking: [string, Scenario][] = [
    ["a response for an unknown id", (r, b) => b.respond(answer(r, { id: r.id + 1000n }))],
    ["a response with another operation", (r, b) => b.respond(answer(r, { operation: r.operation ^ 1 }))],
    ["a response with an undefined status", (r, b) => b.respond(answer(r, { status: 1234 }))],
    ["a response with status -3", (r, b) => b.respond(answer(r, { status: -3 }))],
    ["a response answered twice", (r, b) => {
      b.respond(b.serve(r));
      b.respond(b.serve(r));
    }],
    ["a response index one beyond the requests pushed", (r, b) => {
      b.respond(b.serve(r));
      b.ring!.rspProdPvt += 1;
    }],
    ["a response index a ring and more beyond", (_r, b) => {
      b.ring!.rspProdPvt += 1000;
    }],
    ["a response index that runs backwards", (r, b) => {
      b.respond(b.serve(r));
      b.ring!.rspProdPvt -= 5;
    }],
  ];

  test.each(breaking)("%s breaks the device: -EIO, a device error, Closing; then it reconnects", (_name, scenario) => {
    const rig = new HostileBackendRig();
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
    const rig = new HostileBackendRig();
    rig.back.onRequest = (r, b) => b.respond(answer(r, { status: BLKIF_RSP.ERROR }));
    expect(errnoOf(() => rig.blk.read(DEVID, 0, 8))).toBe(EIO);
    rig.back.onRequest = (r, b) => b.respond(answer(r, { status: BLKIF_RSP.EOPNOTSUPP }));
    expect(errnoOf(() => rig.blk.flush(DEVID))).toBe(EOPNOTSUPP);
    rig.expectRecovers();
    expect(rig.blk.info(DEVID).state).toBe(Connected);
    rig.expectIntact();
  });

  test("a backend that never answers: the request times out (Xen's time), nothing hangs, and the device recovers", () => {
    const rig = new HostileBackendRig();
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
  ])("the backend going %s while a request is on the ring: it fails cleanly, and the device reconnects", (_name, state) => {
    const rig = new HostileBackendRig();
    rig.back.followFrontend = false;
    rig.back.onRequest = (_r, b) => b.writeState(state);
    expect(errnoOf(() => rig.blk.read(DEVID, 0, 8))).toBe(EIO);
    rig.hv.runUntilIdle();
    expect(rig.blk.info(DEVID).state).toBe(Closed);
    rig.expectIntact();
    rig.expectRecovers();
  });

  test("states that mean nothing (Unknown, 99, garbage, Initialising) while connected are survived", () => {
    const rig = new HostileBackendRig();
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
    const rig = new HostileBackendRig();
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
    const response = fc.record({
      id: fc.oneof(fc.constant("same" as const), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      operation: fc.oneof(fc.constant("same" as const), fc.integer({ min: 0, max: 255 })),
      status: fc.oneof(fc.constantFrom(0, -1, -2), fc.integer({ min: -32768, max: 32767 })),
    });
    const step = fc.oneof(
      fc.record({ kind: fc.constant("responses" as const), responses: fc.array(response, { maxLength: 4 }), skew: fc.integer({ min: -40, max: 40 }) }),
      fc.record({ kind: fc.constant("state" as const), state: fc.oneof(fc.integer({ min: 0, max: 9 }).map(String), fc.string({ maxLength: 6 })) }),
      fc.record({ kind: fc.constant("serve" as const) }),
    );
    const operation = fc.constantFrom("read", "write", "flush");
    fc.assert(
      fc.property(fc.array(fc.tuple(operation, step), { minLength: 1, maxLength: 6 }), (plan) => {
        const rig = new HostileBackendRig({ maxRingPageOrder: 1 });
        rig.back.followFrontend = true;
        for (const [op, action] of plan) {
          rig.back.onRequest = (r, b) => {
            if (action.kind === "serve") b.respond(b.serve(r));
            else if (action.kind === "state") b.writeState(action.state);
            else {
              for (const rsp of action.responses) {
                b.respond({
                  id: rsp.id === "same" ? r.id : rsp.id,
                  operation: rsp.operation === "same" ? r.operation : rsp.operation,
                  status: rsp.status,
                });
              }
              b.ring!.rspProdPvt = (b.ring!.rspProdPvt + action.skew) >>> 0;
            }
          };
          const errno = errnoOf(() => {
            if (op === "read") rig.blk.read(DEVID, 8, 16);
            else if (op === "write") rig.blk.write(DEVID, 8, pattern(2 * PAGE, 5));
            else rig.blk.flush(DEVID);
          });
          expect(errno).toBeGreaterThanOrEqual(0);
          expect(rig.guest.exit).toBeNull();
          rig.hv.runUntilIdle();
        }
        rig.expectIntact();
        rig.expectRecovers();
        rig.expectIntact();
      }),
      { numRuns: 40 },
    );
  });
});
