// The xenstore/console byte rings (assembly/ring/bytes.ts) through build/harness.wasm:
// chunk math, data integrity across u32 wraparound, hostile indices, and that
// nothing outside a ring's data and indices is ever written.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";
import { GuardedScratch } from "../support/scratch.js";

const { harness: h, scratch, scratchBytes } = loadHarness();
const EIO = 5;
const PAGE = 4096;

const bytes = (): Uint8Array => new Uint8Array(h.memory.buffer);
const view = (): DataView => new DataView(h.memory.buffer);
const u32 = (n: number): number => n >>> 0;

/** Ring kinds of byte_ring_select, with where Xen's headers put each one in its page. */
const KINDS = [
  { kind: 0, what: "xenstore req", data: 0, size: 1024, cons: 2048, prod: 2052 },
  { kind: 1, what: "xenstore rsp", data: 1024, size: 1024, cons: 2056, prod: 2060 },
  { kind: 2, what: "console in", data: 0, size: 1024, cons: 3072, prod: 3076 },
  { kind: 3, what: "console out", data: 1024, size: 2048, cons: 3080, prod: 3084 },
] as const;
type Kind = (typeof KINDS)[number];

// Scratch layout: the shared page at page 2 (pages 0-1 and 3 are guards),
// the caller's source buffer at page 4, its target buffer at page 6.
const RING_PAGE = scratch + 2 * PAGE;
const SOURCE = scratch + 4 * PAGE;
const TARGET = scratch + 6 * PAGE;
const guards = new GuardedScratch(bytes, scratch, scratchBytes);

function selectRing(k: Kind, consIndex: number, prodIndex: number): void {
  h.byte_ring_select(k.kind, RING_PAGE);
  view().setUint32(RING_PAGE + k.cons, consIndex, true);
  view().setUint32(RING_PAGE + k.prod, prodIndex, true);
}

const index = fc.oneof(
  fc.integer({ min: 0xffffffff - 3 * 2048, max: 0xffffffff }),
  fc.integer({ min: 0, max: 3 * 2048 }),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const kind = fc.constantFrom(...KINDS);

describe("byte ring layout", () => {
  it.each(KINDS)("$what uses the data and index fields of Xen's struct", (k) => {
    h.byte_ring_select(k.kind, RING_PAGE);
    expect(u32(h.byte_ring_data())).toBe(RING_PAGE + k.data);
    expect(u32(h.byte_ring_size())).toBe(k.size);
    expect(u32(h.byte_ring_cons_at())).toBe(RING_PAGE + k.cons);
    expect(u32(h.byte_ring_prod_at())).toBe(RING_PAGE + k.prod);
  });
});

describe("chunk math", () => {
  const size = fc.constantFrom(1, 2, 16, 1024, 2048, 4096);

  it("an output chunk is all the contiguous free space and never crosses the ring end", () => {
    fc.assert(
      fc.property(size, index, fc.integer({ min: 0, max: 4096 }), (n, cons, fillSeed) => {
        const fill = fillSeed % (n + 1);
        const prod = u32(cons + fill);
        const chunk = u32(h.byte_output_chunk(cons, prod, n));
        const offset = prod & (n - 1);
        expect(chunk).toBeLessThanOrEqual(n - fill);
        expect(offset + chunk).toBeLessThanOrEqual(n);
        expect(chunk).toBe(Math.min(n - fill, n - offset));
        if (fill < n) expect(chunk).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  it("an input chunk is all the contiguous unread data and never crosses the ring end", () => {
    fc.assert(
      fc.property(size, index, fc.integer({ min: 0, max: 4096 }), (n, cons, fillSeed) => {
        const fill = fillSeed % (n + 1);
        const prod = u32(cons + fill);
        const chunk = u32(h.byte_input_chunk(cons, prod, n));
        const offset = cons & (n - 1);
        expect(chunk).toBeLessThanOrEqual(fill);
        expect(offset + chunk).toBeLessThanOrEqual(n);
        expect(chunk).toBe(Math.min(fill, n - offset));
        if (fill > 0) expect(chunk).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("byte ring transfers", () => {
  const step = fc.oneof(
    fc.record({ op: fc.constant("write" as const), data: fc.uint8Array({ minLength: 0, maxLength: 2600 }) }),
    fc.record({ op: fc.constant("read" as const), length: fc.integer({ min: 0, max: 2600 }) }),
  );

  it("data read equals data written, counts are what fits, and only the ring and its indices change", () => {
    fc.assert(
      fc.property(kind, index, fc.array(step, { maxLength: 12 }), fc.integer(), (k, start, steps, seed) => {
        guards.fill(seed);
        selectRing(k, start, start);
        const queue: number[] = [];
        let written = 0;
        let read = 0;
        for (const s of steps) {
          const before = guards.snapshot();
          const free = k.size - queue.length;
          expect(h.byte_ring_writable()).toBe(free);
          expect(h.byte_ring_readable()).toBe(queue.length);
          if (s.op === "write") {
            bytes().set(s.data, SOURCE);
            const snap = guards.snapshot();
            const n = h.byte_ring_write(SOURCE, s.data.length);
            expect(n).toBe(Math.min(s.data.length, free));
            queue.push(...s.data.subarray(0, n));
            written += n;
            // The source buffer is only read.
            guards.expectOnlyChanged(snap, [
              [RING_PAGE + k.data, RING_PAGE + k.data + k.size],
              [RING_PAGE + k.prod, RING_PAGE + k.prod + 4],
            ]);
          } else {
            const n = h.byte_ring_read(TARGET, s.length);
            expect(n).toBe(Math.min(s.length, queue.length));
            expect([...bytes().subarray(TARGET, TARGET + n)]).toEqual(queue.splice(0, n));
            read += n;
            // Reading changes only the target bytes it reports and the consumer index.
            guards.expectOnlyChanged(before, [
              [TARGET, TARGET + n],
              [RING_PAGE + k.cons, RING_PAGE + k.cons + 4],
            ]);
          }
          expect(view().getUint32(RING_PAGE + k.prod, true)).toBe(u32(start + written));
          expect(view().getUint32(RING_PAGE + k.cons, true)).toBe(u32(start + read));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("any legal pair of indices, left by the peer, is served without touching anything outside the ring", () => {
    fc.assert(
      fc.property(
        kind,
        index,
        fc.integer({ min: 0, max: 2048 }),
        fc.integer({ min: 0, max: 2600 }),
        fc.boolean(),
        (k, cons, fillSeed, length, writing) => {
          guards.fill(cons ^ length);
          const fill = fillSeed % (k.size + 1);
          selectRing(k, cons, u32(cons + fill));
          const before = guards.snapshot();
          if (writing) {
            expect(h.byte_ring_write(SOURCE, length)).toBe(Math.min(length, k.size - fill));
            guards.expectOnlyChanged(before, [
              [RING_PAGE + k.data, RING_PAGE + k.data + k.size],
              [RING_PAGE + k.prod, RING_PAGE + k.prod + 4],
            ]);
          } else {
            const n = h.byte_ring_read(TARGET, length);
            expect(n).toBe(Math.min(length, fill));
            // What came out is the ring's bytes from cons on, wrapping at its end.
            const memory = bytes();
            for (let i = 0; i < n; i++)
              expect(memory[TARGET + i]).toBe(before[RING_PAGE - scratch + k.data + ((cons + i) & (k.size - 1))]);
            guards.expectOnlyChanged(before, [
              [TARGET, TARGET + n],
              [RING_PAGE + k.cons, RING_PAGE + k.cons + 4],
            ]);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("a message that wraps the ring end comes out whole", () => {
    const k = KINDS[0];
    selectRing(k, 0xfffffff0, 0xfffffff0); // 1008 bytes into the ring, 16 before the index wraps
    const message = Uint8Array.from({ length: 56 }, (_, i) => i + 1);
    bytes().set(message, SOURCE);
    expect(h.byte_ring_write(SOURCE, 56)).toBe(56);
    expect(view().getUint32(RING_PAGE + k.prod, true)).toBe(40);
    expect([...bytes().subarray(RING_PAGE + 1008, RING_PAGE + 1024)]).toEqual([...message.subarray(0, 16)]);
    expect([...bytes().subarray(RING_PAGE, RING_PAGE + 40)]).toEqual([...message.subarray(16)]);
    expect(h.byte_ring_read(TARGET, 100)).toBe(56);
    expect([...bytes().subarray(TARGET, TARGET + 56)]).toEqual([...message]);
  });
});

describe("hostile indices", () => {
  it("prod - cons > size is rejected with -EIO and nothing is read or written", () => {
    fc.assert(
      fc.property(
        kind,
        index,
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.integer({ min: 0, max: 2600 }),
        (k, cons, excess, length) => {
          const bad = k.size + 1 + (excess % (0xffffffff - k.size)); // size + 1 .. 2^32 - 1
          guards.fill(cons ^ excess);
          selectRing(k, cons, u32(cons + bad));
          const before = guards.snapshot();
          expect(h.byte_ring_readable()).toBe(-EIO);
          expect(h.byte_ring_writable()).toBe(-EIO);
          expect(h.byte_ring_write(SOURCE, length)).toBe(-EIO);
          expect(h.byte_ring_read(TARGET, length)).toBe(-EIO);
          guards.expectOnlyChanged(before, []);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("a full ring (prod - cons == size) is legal: nothing fits, everything reads", () => {
    const k = KINDS[3];
    selectRing(k, 0xffffff00, u32(0xffffff00 + k.size));
    expect(h.byte_ring_writable()).toBe(0);
    expect(h.byte_ring_write(SOURCE, 10)).toBe(0);
    expect(h.byte_ring_readable()).toBe(k.size);
    view().setUint32(RING_PAGE + k.prod, u32(0xffffff00 + k.size + 1), true);
    expect(h.byte_ring_readable()).toBe(-EIO);
  });
});

describe("benchmark workload", () => {
  it("bench_xenstore_msg gets every message back intact across many wraps (its self-check passes)", () => {
    expect(u32(h.bench_xenstore_msg(1000))).toBe(1000);
  });
});
