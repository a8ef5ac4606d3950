// io/ring.h front/back rings (assembly/ring/shared.ts) through build/harness.wasm,
// checked against a plain TypeScript model of the ring.h macros: geometry,
// slot addresses, notification hold-off, final checks, indices across u32
// wraparound, and rejection of producer indices the peer could not have written.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";
import { GuardedScratch } from "../support/scratch.js";

const { harness: h, scratch, scratchBytes } = loadHarness();
const EIO = 5;
const PAGE = 4096;
const HEADER = 64; // blkif_sring.ring: the entries start after the four indices and padding
const REQ_PROD = 0;
const REQ_EVENT = 4;
const RSP_PROD = 8;
const RSP_EVENT = 12;

const bytes = (): Uint8Array => new Uint8Array(h.memory.buffer);
const view = (): DataView => new DataView(h.memory.buffer);
const u32 = (n: number): number => n >>> 0;
const read32 = (address: number): number => view().getUint32(address, true);
const write32 = (address: number, value: number): void => view().setUint32(address, value, true);

/** The shared ring starts at scratch page 1; page 0 and the pages after the ring are guards. */
const SRING = scratch + PAGE;
const guards = new GuardedScratch(
  bytes,
  scratch,
  scratchBytes,
  (address) => `sring${address >= SRING ? "+" : ""}${address - SRING}`,
);

/** ring.h's __RD32 over (size - header) / entry size. */
function modelEntries(pages: number, entrySize: number): number {
  const fit = Math.floor((pages * PAGE - HEADER) / entrySize);
  return fit === 0 ? 0 : 2 ** Math.floor(Math.log2(fit));
}

describe("ring geometry", () => {
  it("one page holds 32 blkif entries and 256 netif tx/rx entries, as ring.h computes", () => {
    expect(h.ring_entries(1, 112)).toBe(32); // blkif: union of request (112) and response (16)
    expect(h.ring_entries(1, 12)).toBe(256); // netif tx: request 12, response 4
    expect(h.ring_entries(1, 8)).toBe(256); // netif rx: request 8, response 8
    expect(h.ring_entries(2, 112)).toBe(64); // ring-page-order 1
    expect(h.ring_entries(16, 112)).toBe(512); // ring-page-order 4
    expect(h.ring_entries(1, 4033)).toBe(0);
    expect(h.ring_entries(0, 8)).toBe(0);
    expect(h.ring_entries(1, 0)).toBe(0);
    expect(h.ring_entries(0x100000, 8)).toBe(0); // 4 GiB: beyond u32 byte arithmetic
  });

  it("entries are the largest power of two that fits after the header, for any page count and entry size", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 4032 }), (pages, entrySize) => {
        expect(u32(h.ring_entries(pages, entrySize))).toBe(modelEntries(pages, entrySize));
      }),
      { numRuns: 2000 },
    );
  });

  it("every index, however large, maps to a slot inside the ring", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(8, 12, 16, 24, 112),
        fc.integer({ min: 0, max: 0xffffffff }),
        (pages, entrySize, index) => {
          const entries = modelEntries(pages, entrySize);
          expect(h.front_attach(SRING, pages, entrySize, 0)).toBe(entries);
          expect(h.back_attach(SRING, pages, entrySize, 0)).toBe(entries);
          const expected = SRING + HEADER + (index & (entries - 1)) * entrySize;
          expect(u32(h.front_slot(index))).toBe(expected);
          expect(u32(h.back_slot(index))).toBe(expected);
          expect(expected + entrySize).toBeLessThanOrEqual(SRING + pages * PAGE);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("shared ring initialisation", () => {
  it("init() is SHARED_RING_INIT: indices 0, events 1, padding zeroed, entries and the rest untouched", () => {
    guards.fill(7);
    h.front_attach(SRING, 1, 112, 1234);
    h.front_set_req_prod_pvt(1300);
    const before = guards.snapshot();
    h.front_init();
    expect([
      read32(SRING + REQ_PROD),
      read32(SRING + REQ_EVENT),
      read32(SRING + RSP_PROD),
      read32(SRING + RSP_EVENT),
    ]).toEqual([0, 1, 0, 1]);
    expect([...bytes().subarray(SRING + 16, SRING + HEADER)].every((b) => b === 0)).toBe(true);
    guards.expectOnlyChanged(before, [[SRING, SRING + HEADER]]);
    expect(h.front_req_prod_pvt()).toBe(0);
    expect(h.front_rsp_cons()).toBe(0);
    expect(h.front_free_requests()).toBe(32);
  });
});

describe("notification hold-off", () => {
  it("follows req_event/rsp_event: the first push notifies, later ones only after the peer re-arms", () => {
    h.front_attach(SRING, 1, 112, 0);
    h.front_init();
    h.back_attach(SRING, 1, 112, 0);
    h.front_set_req_prod_pvt(1);
    expect(h.front_push_requests()).toBe(1); // req_event = 1 after init
    h.front_set_req_prod_pvt(2);
    expect(h.front_push_requests()).toBe(0); // the backend has not asked again
    expect(h.back_unconsumed_requests()).toBe(2);
    h.back_set_req_cons(2);
    expect(h.back_final_check()).toBe(0);
    expect(read32(SRING + REQ_EVENT)).toBe(3); // req_cons + 1
    h.front_set_req_prod_pvt(4);
    expect(h.front_push_requests()).toBe(1);
    expect(h.back_final_check()).toBe(2); // work pending: req_event stays
    expect(read32(SRING + REQ_EVENT)).toBe(3);

    h.back_set_rsp_prod_pvt(2);
    expect(h.back_push_responses()).toBe(1); // rsp_event = 1 after init
    expect(h.front_unconsumed_responses()).toBe(2);
    h.front_set_rsp_cons(2);
    expect(h.front_final_check()).toBe(0);
    expect(read32(SRING + RSP_EVENT)).toBe(3);
    h.back_set_rsp_prod_pvt(3);
    expect(h.back_push_responses()).toBe(1);
    expect(h.front_final_check()).toBe(1);
  });
});

/** The ring.h macros over free-running u32 indices, for one front and one back. */
class Model {
  reqProdPvt: number;
  reqProd: number;
  reqEvent: number;
  reqCons: number;
  rspProdPvt: number;
  rspProd: number;
  rspEvent: number;
  rspCons: number;
  /** Tags of requests in slots, by index; responses answer tag ^ 0xffffffff. */
  readonly tags = new Map<number, number>();

  constructor(
    readonly entries: number,
    start: number,
  ) {
    this.reqProdPvt = this.reqProd = this.reqCons = this.rspProdPvt = this.rspProd = this.rspCons = start;
    this.reqEvent = this.rspEvent = u32(start + 1);
  }

  freeRequests(): number {
    return this.entries - u32(this.reqProdPvt - this.rspCons);
  }

  /** RING_PUSH_*_AND_CHECK_NOTIFY's test. */
  static notify(now: number, old: number, event: number): boolean {
    return u32(now - event) < u32(now - old);
  }
}

const step = fc.oneof(
  fc.record({ op: fc.constant("produce" as const), count: fc.integer({ min: 0, max: 600 }) }),
  fc.record({ op: fc.constant("pushRequests" as const) }),
  fc.record({ op: fc.constant("consumeRequests" as const), count: fc.integer({ min: 0, max: 600 }) }),
  fc.record({ op: fc.constant("respond" as const), count: fc.integer({ min: 0, max: 600 }) }),
  fc.record({ op: fc.constant("pushResponses" as const) }),
  fc.record({ op: fc.constant("consumeResponses" as const), count: fc.integer({ min: 0, max: 600 }) }),
  fc.record({ op: fc.constant("finalCheckRequests" as const) }),
  fc.record({ op: fc.constant("finalCheckResponses" as const) }),
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

const start = fc.oneof(
  fc.integer({ min: 0xffffffff - 1200, max: 0xffffffff }),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const geometry = fc.record({ pages: fc.integer({ min: 1, max: 3 }), entrySize: fc.constantFrom(8, 12, 16, 112) });

/** Sets up a front and a back on one shared ring whose indices all start at `first`. */
function attach(pages: number, entrySize: number, first: number): Model {
  const entries = h.front_attach(SRING, pages, entrySize, first);
  h.back_attach(SRING, pages, entrySize, first);
  write32(SRING + REQ_PROD, first);
  write32(SRING + RSP_PROD, first);
  write32(SRING + REQ_EVENT, u32(first + 1));
  write32(SRING + RSP_EVENT, u32(first + 1));
  return new Model(entries, first);
}

/** Runs one step on the Wasm ring and the model, checking each result. */
function run(m: Model, s: Step): void {
  switch (s.op) {
    case "produce": {
      expect(u32(h.front_free_requests())).toBe(m.freeRequests());
      const count = Math.min(s.count, m.freeRequests());
      for (let i = 0; i < count; i++) {
        const index = u32(m.reqProdPvt + i);
        const tag = u32(Math.imul(index, 2654435761) ^ 0x5a5a5a5a);
        write32(u32(h.front_slot(index)), tag);
        m.tags.set(index, tag);
      }
      m.reqProdPvt = u32(m.reqProdPvt + count);
      h.front_set_req_prod_pvt(m.reqProdPvt);
      break;
    }
    case "pushRequests": {
      const notify = Model.notify(m.reqProdPvt, m.reqProd, m.reqEvent);
      expect(h.front_push_requests()).toBe(notify ? 1 : 0);
      m.reqProd = m.reqProdPvt;
      expect(read32(SRING + REQ_PROD)).toBe(m.reqProd);
      break;
    }
    case "consumeRequests": {
      const ready = u32(m.reqProd - m.reqCons);
      expect(h.back_unconsumed_requests()).toBe(ready);
      const count = Math.min(s.count, ready);
      for (let i = 0; i < count; i++) {
        const index = u32(m.reqCons + i);
        expect(read32(u32(h.back_slot(index)))).toBe(m.tags.get(index));
      }
      m.reqCons = u32(m.reqCons + count);
      h.back_set_req_cons(m.reqCons);
      break;
    }
    case "respond": {
      const count = Math.min(s.count, u32(m.reqCons - m.rspProdPvt));
      for (let i = 0; i < count; i++) {
        const index = u32(m.rspProdPvt + i);
        write32(u32(h.back_slot(index)), u32(m.tags.get(index)! ^ 0xffffffff));
      }
      m.rspProdPvt = u32(m.rspProdPvt + count);
      h.back_set_rsp_prod_pvt(m.rspProdPvt);
      break;
    }
    case "pushResponses": {
      const notify = Model.notify(m.rspProdPvt, m.rspProd, m.rspEvent);
      expect(h.back_push_responses()).toBe(notify ? 1 : 0);
      m.rspProd = m.rspProdPvt;
      expect(read32(SRING + RSP_PROD)).toBe(m.rspProd);
      break;
    }
    case "consumeResponses": {
      const ready = u32(m.rspProd - m.rspCons);
      expect(h.front_unconsumed_responses()).toBe(ready);
      const count = Math.min(s.count, ready);
      for (let i = 0; i < count; i++) {
        const index = u32(m.rspCons + i);
        expect(read32(u32(h.front_slot(index)))).toBe(u32(m.tags.get(index)! ^ 0xffffffff));
        m.tags.delete(index);
      }
      m.rspCons = u32(m.rspCons + count);
      h.front_set_rsp_cons(m.rspCons);
      break;
    }
    case "finalCheckRequests": {
      const ready = u32(m.reqProd - m.reqCons);
      if (ready === 0) m.reqEvent = u32(m.reqCons + 1);
      expect(h.back_final_check()).toBe(ready);
      expect(read32(SRING + REQ_EVENT)).toBe(m.reqEvent);
      break;
    }
    case "finalCheckResponses": {
      const ready = u32(m.rspProd - m.rspCons);
      if (ready === 0) m.rspEvent = u32(m.rspCons + 1);
      expect(h.front_final_check()).toBe(ready);
      expect(read32(SRING + RSP_EVENT)).toBe(m.rspEvent);
      break;
    }
  }
  expect(h.front_error()).toBe(0);
  expect(h.back_error()).toBe(0);
}

describe("front and back against the ring.h model", () => {
  it("requests and responses pass intact, counts and notifications match, nothing outside the ring changes", () => {
    fc.assert(
      fc.property(
        geometry,
        start,
        fc.array(step, { maxLength: 40 }),
        fc.integer(),
        ({ pages, entrySize }, first, steps, seed) => {
          guards.fill(seed);
          const m = attach(pages, entrySize, first);
          const before = guards.snapshot();
          for (const s of steps) run(m, s);
          // Entries, the four indices, and nothing else: padding and the guard pages stay.
          guards.expectOnlyChanged(before, [
            [SRING, SRING + 16],
            [SRING + HEADER, SRING + HEADER + m.entries * entrySize],
          ]);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("hostile producer indices", () => {
  /** Legal for the front: the backend can only have answered requests we pushed. */
  const legalRspProd = (m: Model, v: number): boolean => u32(v - m.rspCons) <= u32(m.reqProd - m.rspCons);
  /** Legal for the back: the frontend can only reuse slots whose responses we pushed, and cannot go back. */
  const legalReqProd = (m: Model, v: number): boolean => {
    const inFlight = u32(v - m.rspProd);
    return inFlight <= m.entries && u32(v - m.reqCons) <= inFlight;
  };

  /** Each end checks the index its peer produces: the front rsp_prod, the back req_prod. */
  const ENDS = [
    {
      title: "a front rejects rsp_prod beyond what it requested (or behind rsp_cons) with a latched -EIO",
      field: RSP_PROD,
      consumed: (m: Model): number => m.rspCons,
      published: (m: Model): number => m.rspProd,
      legal: legalRspProd,
      unconsumed: (): number => h.front_unconsumed_responses(),
      error: (): number => h.front_error(),
      finalCheck: (): number => h.front_final_check(),
    },
    {
      title: "a back rejects req_prod with more requests than free slots (or behind req_cons) with a latched -EIO",
      field: REQ_PROD,
      consumed: (m: Model): number => m.reqCons,
      published: (m: Model): number => m.reqProd,
      legal: legalReqProd,
      unconsumed: (): number => h.back_unconsumed_requests(),
      error: (): number => h.back_error(),
      finalCheck: (): number => h.back_final_check(),
    },
  ];

  it.each(ENDS)("$title", (end) => {
    fc.assert(
      fc.property(
        geometry,
        start,
        fc.array(step, { maxLength: 25 }),
        fc.integer({ min: -1024, max: 1024 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.boolean(),
        ({ pages, entrySize }, first, steps, delta, wild, useWild) => {
          const m = attach(pages, entrySize, first);
          for (const s of steps) run(m, s);
          const value = useWild ? wild : u32(end.consumed(m) + delta);
          write32(SRING + end.field, value);
          const before = guards.snapshot();
          const result = end.unconsumed();
          if (end.legal(m, value)) {
            expect(result).toBe(u32(value - end.consumed(m)));
            return;
          }
          expect(result).toBe(-EIO);
          expect(end.error()).toBe(-EIO);
          guards.expectOnlyChanged(before, []);
          // Latched: the right value afterwards does not clear it, and the final check does not arm an event.
          write32(SRING + end.field, end.published(m));
          expect(end.unconsumed()).toBe(-EIO);
          expect(end.finalCheck()).toBe(-EIO);
          guards.expectOnlyChanged(before, [[SRING + end.field, SRING + end.field + 4]]);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it("the exact limits: a full ring of requests is legal, one more is not; all pushed answers are legal, one more is not", () => {
    const m = attach(1, 112, 0xfffffff0);
    expect(m.entries).toBe(32);
    write32(SRING + REQ_PROD, u32(m.rspProd + 32));
    expect(h.back_unconsumed_requests()).toBe(32);
    h.back_attach(SRING, 1, 112, 0xfffffff0);
    write32(SRING + REQ_PROD, u32(m.rspProd + 33));
    expect(h.back_unconsumed_requests()).toBe(-EIO);

    h.front_set_req_prod_pvt(u32(0xfffffff0 + 5));
    h.front_push_requests();
    write32(SRING + RSP_PROD, u32(0xfffffff0 + 5));
    expect(h.front_unconsumed_responses()).toBe(5);
    write32(SRING + RSP_PROD, u32(0xfffffff0 + 6));
    expect(h.front_unconsumed_responses()).toBe(-EIO);
  });
});

describe("benchmark workload", () => {
  it("bench_blkif_roundtrip answers every request it sends, in order (its self-check passes)", () => {
    expect(u32(h.bench_blkif_roundtrip(1000))).toBe(1024); // whole ringfuls of 32
  });
});
