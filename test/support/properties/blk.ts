// The hostile block rigs (the real blkfront against a hostile dom0 backend,
// the real blkback against a hostile frontend domain) and their generated
// garbage properties, one source for test/system/blk-hostile.test.ts (CI's
// short runs) and `npm run fuzz` (long runs).
import fc from "fast-check";
import { expect } from "vitest";
import { startXenstore, type XenstoreService } from "../../../host/dom0/toolstack.js";
import { type BlkbackDomain, startBlkbackDomain } from "../../../host/system/blkback-domain.js";
import { createGuestDomain } from "../../../host/system/guest-domain.js";
import { BLKIF_OP, BLKIF_RSP, XENBUS_STATE } from "../../../host/xen/abi.js";
import { Hypervisor } from "../../../host/xen/hypervisor.js";
import { GrantError } from "../../../host/xen/native.js";
import { BlkFront } from "../../../runtime/blk.js";
import type { Engine } from "../../../runtime/engine.js";
import { XenStoreError } from "../../../runtime/xenstore-client.js";
import { errnoOf, pattern } from "../blk.js";
import { type BlkRequest, type BlkResponse, rw } from "../blkif-ring.js";
import { HostileBlkback, SECTOR_SIZE } from "../hostile-blkback.js";
import { HostileBlkfront } from "../hostile-blkfront.js";
import { SentinelPages } from "../scratch.js";
import { worldFactory } from "../world-snapshot.js";
import type { Xenbus } from "../xenbus.js";
import { expectIs } from "./target.js";

const PAGE = 4096;
export const DEVID = 51712;

/** `actual` holds `expected`'s bytes: Buffer.compare first, since toEqual walks typed arrays element by element (most of a case's time). */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (Buffer.compare(actual, expected) !== 0) expect(actual).toEqual(expected);
}
const { Connected, Closing, Closed } = XENBUS_STATE;

/** A frontend guest with a vbd served by the hostile dom0 backend, opened. */
export class HostileBackendRig {
  readonly hv = new Hypervisor();
  readonly service: XenstoreService = startXenstore(this.hv);
  readonly guest: Xenbus;
  readonly blk: BlkFront;
  readonly back: HostileBlkback;
  /** page_alloc pages next to the frontend's own that nothing may write. */
  private readonly sentinels: SentinelPages;
  readonly errorNode: string;

  constructor(engine: Engine, options: { maxRingPageOrder?: number } = {}) {
    this.guest = createGuestDomain(this.service, "front", engine).guest;
    expect(this.guest.exports.xs_init()).toBe(0);
    this.sentinels = new SentinelPages(this.guest);
    this.sentinels.add();
    this.blk = new BlkFront(this.guest, 4);
    this.sentinels.add();
    this.service.devices.add({ type: "vbd", devid: DEVID, frontend: this.guest.domid, backend: 0 });
    this.back = new HostileBlkback(this.hv, this.service, {
      frontend: this.guest.domid,
      sectors: 256,
      ...options,
    }).start();
    this.errorNode = `/local/domain/${this.guest.domid}/error/device/vbd/${DEVID}/error`;
    this.blk.start();
    this.blk.open(DEVID);
  }

  /**
   * No trap, no exit, no stray write, and no data page left granted to the
   * backend once its request is over (a ref may since name the ring again).
   */
  expectIntact(): void {
    expectIs(this.guest.exit, null);
    this.sentinels.expectUntouched();
    const ring = new Set(this.ringRefs());
    for (const gref of new Set(this.back.requests.flatMap((request) => request.segments.map((seg) => seg.gref)))) {
      if (ring.has(gref)) continue;
      let refused = false;
      try {
        this.hv.dom0.gnttab.mapGrantRef(this.guest.domid, gref, false);
      } catch (error) {
        if (!(error instanceof GrantError)) throw error;
        refused = true;
      }
      if (!refused) expect.fail(`data grant ${gref} can still be mapped`);
    }
  }

  /** The ring refs the frontend publishes now (none once the device is removed). */
  private ringRefs(): number[] {
    const { frontend } = this.back.paths;
    const tools = this.service.tools;
    let nodes: string[] = [];
    try {
      nodes = tools.directory(frontend);
    } catch (error) {
      if (!(error instanceof XenStoreError)) throw error;
    }
    return nodes.filter((node) => node.startsWith("ring-ref")).map((node) => Number(tools.read(`${frontend}/${node}`)));
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
    expectIs(this.back.state, Connected);
    this.roundTrip(3);
  }

  /** Writes a pattern and reads it back, checking the disk in between. */
  roundTrip(seed: number): void {
    const data = pattern(2 * PAGE, seed);
    this.blk.write(DEVID, 16, data);
    expectBytes(this.back.disk.subarray(16 * SECTOR_SIZE, 16 * SECTOR_SIZE + data.length), data);
    expectBytes(this.blk.read(DEVID, 16, data.length / SECTOR_SIZE), data);
  }
}

/** The Wasm block backend's driver domain serving a vbd to the hostile frontend domain, connected honestly. */
export class HostileFrontendRig {
  readonly hv = new Hypervisor();
  readonly service: XenstoreService = startXenstore(this.hv);
  readonly backend: BlkbackDomain;
  readonly front: HostileBlkfront;
  readonly errorNode: string;
  private readonly sentinels: SentinelPages;

  constructor(engine: Engine) {
    this.backend = startBlkbackDomain(this.service, { sectors: 256, maxRingPageOrder: 1, engine });
    this.sentinels = new SentinelPages(this.backend.guest);
    this.sentinels.add();
    this.sentinels.add();
    this.front = new HostileBlkfront(this.hv, this.service, {
      backend: this.backend.domid,
      backendParams: this.backend.disk.params,
    });
    this.hv.runUntilIdle();
    expectIs(this.front.backendState, XENBUS_STATE.InitWait);
    this.errorNode = `/local/domain/${this.backend.domid}/error/backend/vbd/${this.front.domid}/${DEVID}/error`;
  }

  /** A page of the frontend's granted to the backend (read-only if asked): its gfn and ref. */
  dataPage(readonly = false): { gfn: number; gref: number } {
    const gfn = this.front.allocPage();
    return { gfn, gref: this.front.grant(gfn, this.backend.domid, readonly) };
  }

  /** The backend's disk image, as it holds it (a copy). */
  image(): Uint8Array {
    return this.backend.disk.image().slice();
  }

  /** Submits one request and returns its response (the one response that came). */
  ask(request: BlkRequest): BlkResponse {
    const before = this.front.responses.length;
    this.front.submit(request);
    const responses = this.front.responses.slice(before);
    expectIs(responses.length, 1, "responses");
    return responses[0]!;
  }

  expectIntact(): void {
    expectIs(this.backend.guest.exit, null);
    this.sentinels.expectUntouched();
  }

  /** The backend refused the device: its error node, and Closing. */
  expectDeviceError(): void {
    expect(this.service.tools.read(this.errorNode)).toMatch(/^\d+ /);
    expect(this.front.backendState).toBe(Closing);
  }

  /** The frontend closes and starts over honestly; the backend serves it again. */
  expectRecovers(): void {
    this.front.close();
    expectIs(this.front.backendState, Closed);
    this.front.switchState(XENBUS_STATE.Initialising);
    this.front.run();
    expectIs(this.front.backendState, XENBUS_STATE.InitWait);
    this.front.connect();
    expectIs(this.front.backendState, Connected);
    this.expectServes();
  }

  /** A write then a read through fresh pages: the data lands on the disk and comes back. */
  expectServes(): void {
    const source = this.dataPage(true);
    const data = pattern(PAGE, this.front.responses.length);
    this.front.page(source.gfn).set(data);
    expectIs(this.ask(rw(BLKIF_OP.WRITE, 77n, 24n, [source.gref])).status, BLKIF_RSP.OKAY);
    expectBytes(this.image().subarray(24 * SECTOR_SIZE, 32 * SECTOR_SIZE), data);
    const target = this.dataPage();
    const read = this.ask(rw(BLKIF_OP.READ, 78n, 24n, [target.gref]));
    if (read.id !== 78n || read.operation !== BLKIF_OP.READ || read.status !== BLKIF_RSP.OKAY) {
      expect(read).toEqual({ id: 78n, operation: BLKIF_OP.READ, status: BLKIF_RSP.OKAY });
    }
    expectBytes(this.front.page(target.gfn), data);
    this.expectIntact();
  }
}

/** Generated garbage from the backend (responses, indices and states in any order) never traps blkfront, writes astray or wedges the device. */
export function blkfrontGarbageProperty(engine: Engine) {
  const response = fc.record({
    id: fc.oneof(fc.constant("same" as const), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
    operation: fc.oneof(fc.constant("same" as const), fc.integer({ min: 0, max: 255 })),
    status: fc.oneof(fc.constantFrom(0, -1, -2), fc.integer({ min: -32768, max: 32767 })),
  });
  const step = fc.oneof(
    fc.record({
      kind: fc.constant("responses" as const),
      responses: fc.array(response, { maxLength: 4 }),
      skew: fc.integer({ min: -40, max: 40 }),
    }),
    fc.record({
      kind: fc.constant("state" as const),
      state: fc.oneof(fc.integer({ min: 0, max: 9 }).map(String), fc.string({ maxLength: 6 })),
    }),
    fc.record({ kind: fc.constant("serve" as const) }),
  );
  const operation = fc.constantFrom("read", "write", "flush");
  const world = worldFactory(engine, (engine) => new HostileBackendRig(engine, { maxRingPageOrder: 1 }));
  return fc.property(fc.array(fc.tuple(operation, step), { minLength: 1, maxLength: 6 }), (plan) => {
    const rig = world();
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
      if (errno < 0) expect(errno).toBeGreaterThanOrEqual(0);
      expectIs(rig.guest.exit, null);
      rig.hv.runUntilIdle();
    }
    rig.expectIntact();
    rig.expectRecovers();
    rig.expectIntact();
  });
}

/** Generated garbage on the ring from the frontend: every request answered once or the ring given up, no trap, no stray write, service after. */
export function blkbackGarbageProperty(engine: Engine) {
  const request = fc.record({
    operation: fc.oneof(
      fc.constantFrom(BLKIF_OP.READ, BLKIF_OP.WRITE, BLKIF_OP.FLUSH_DISKCACHE),
      fc.integer({ min: 0, max: 255 }),
    ),
    nrSegments: fc.oneof(fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 255 })),
    sector: fc.oneof(fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
    segments: fc.array(
      fc.record({
        gref: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 4000 })),
        firstSect: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 })),
        lastSect: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 })),
      }),
      { maxLength: 11 },
    ),
  });
  const batch = fc.record({
    requests: fc.array(request, { minLength: 1, maxLength: 40 }),
    skew: fc.oneof(fc.constant(0), fc.integer({ min: -50, max: 2000 })),
  });
  const world = worldFactory(engine, (engine) => new HostileFrontendRig(engine));
  return fc.property(fc.array(batch, { minLength: 1, maxLength: 3 }), fc.boolean(), (batches, twoPages) => {
    const rig = world();
    rig.front.connect({ ringPages: twoPages ? 2 : 1 });
    const granted = [rig.dataPage(), rig.dataPage(true)].map((page) => page.gref);
    let id = 0n;
    for (const { requests, skew } of batches) {
      const ring = rig.front.ring!;
      const room = ring.shared.size - (ring.reqProdPvt - ring.rspCons);
      const sent = requests.slice(0, room).map((r) => ({
        ...r,
        handle: 0,
        id: id++,
        segments: r.segments.map((seg, i) => ({ ...seg, gref: seg.gref < 0 ? granted[i % 2]! : seg.gref })),
      }));
      const before = rig.front.responses.length;
      for (const r of sent) ring.submit(r);
      ring.push();
      if (skew !== 0) {
        // Stale or missing slots published as requests; from here on the frontend counts from what it published.
        ring.shared.reqProd = (ring.shared.reqProd + skew) >>> 0;
        ring.reqProdPvt = ring.shared.reqProd;
      }
      rig.front.kick();
      expectIs(rig.backend.guest.exit, null);
      const answers = rig.front.responses.slice(before);
      if (rig.front.backendState !== Connected) break; // the ring was given up, as it may be for a skew
      if (skew === 0) {
        const answered = (list: { id: bigint; operation: number }[]) =>
          list.map((r) => `${r.id}:${r.operation}`).join();
        if (answered(answers) !== answered(sent)) expect(answered(answers)).toBe(answered(sent));
      }
    }
    rig.expectIntact();
    rig.expectRecovers();
  });
}
