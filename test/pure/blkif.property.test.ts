// The blkif protocol rules (assembly/drivers/blkif.ts) through build/harness.wasm,
// checked against a plain TypeScript model of io/blkif.h: request and
// response encoding at Xen's offsets, the backend's check of every request
// field, the frontend's check of a response, and the strict parsing of the
// values each end publishes during feature negotiation.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";

const { harness, scratch } = loadHarness();
/** The harness's blkif exports, whose u64 arguments and i64 results are BigInts. */
const h = harness as unknown as {
  blkif_encode_request(req: number, op: number, nrSegments: number, handle: number, id: bigint, sector: bigint): void;
  blkif_encode_segment(req: number, index: number, gref: number, first: number, last: number): void;
  blkif_encode_response(rsp: number, id: bigint, op: number, status: number): void;
  blkif_check_request(req: number, sectors: bigint, sectorSize: number, readOnly: number, flush: number): number;
  blkif_check_response(rsp: number, op: number): number;
  blkif_parse(kind: number, at: number, length: number): bigint;
  memory: WebAssembly.Memory;
};

const [READ, WRITE, BARRIER, FLUSH, DISCARD, INDIRECT] = [0, 1, 2, 3, 5, 6];
const [OKAY, ERROR, EOPNOTSUPP] = [0, -1, -2];
const EIO = -5;
const EINVAL = -22n;
const MAX_SEGMENTS = 11;
const REQ = scratch;
const TEXT = scratch + 4096;
const encoder = new TextEncoder();
const view = (): DataView => new DataView(h.memory.buffer);

interface Segment {
  gref: number;
  first: number;
  last: number;
}

interface Request {
  op: number;
  nrSegments: number;
  handle: number;
  id: bigint;
  sector: bigint;
  segments: Segment[];
}

interface Disk {
  sectors: bigint;
  sectorSize: number;
  readOnly: boolean;
  flush: boolean;
}

/** io/blkif.h's blkif_request laid out by hand: operation, nr_segments, handle, id at 8, sector at 16, segments of 8 at 24. */
function writeRequest(request: Request): void {
  const v = view();
  new Uint8Array(h.memory.buffer, REQ, 112).fill(0xa5);
  v.setUint8(REQ, request.op);
  v.setUint8(REQ + 1, request.nrSegments);
  v.setUint16(REQ + 2, request.handle, true);
  v.setBigUint64(REQ + 8, request.id, true);
  v.setBigUint64(REQ + 16, request.sector, true);
  request.segments.forEach((segment, i) => {
    v.setUint32(REQ + 24 + 8 * i, segment.gref, true);
    v.setUint8(REQ + 28 + 8 * i, segment.first);
    v.setUint8(REQ + 29 + 8 * i, segment.last);
  });
}

/** What the backend must answer before moving any data. */
function modelCheck(request: Request, disk: Disk): number {
  const { op, nrSegments } = request;
  if (op !== READ && op !== WRITE && !(op === FLUSH && disk.flush)) return EOPNOTSUPP;
  if (nrSegments > MAX_SEGMENTS || (nrSegments === 0 && op !== FLUSH)) return ERROR;
  if (op !== READ && nrSegments > 0 && disk.readOnly) return ERROR;
  if (nrSegments === 0) return OKAY; // an empty flush: no range to check, whatever its sector
  const align = disk.sectorSize / 512;
  if (request.sector % BigInt(align) !== 0n) return ERROR;
  let total = 0n;
  for (const { first, last } of request.segments.slice(0, nrSegments)) {
    if (first > last || last > 7 || first % align !== 0 || (last + 1) % align !== 0) return ERROR;
    total += BigInt(last - first + 1);
  }
  return request.sector + total <= disk.sectors ? OKAY : ERROR;
}

const segment = fc.record({
  gref: fc.integer({ min: 0, max: 0xffffffff }),
  first: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 })),
  last: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 255 })),
});

/** Mostly plausible requests near the disk's end, with every field sometimes hostile. */
const request = fc
  .record({
    op: fc.oneof(
      fc.constantFrom(READ, WRITE, FLUSH),
      fc.constantFrom(BARRIER, DISCARD, INDIRECT),
      fc.integer({ min: 0, max: 255 }),
    ),
    nrSegments: fc.oneof(fc.integer({ min: 0, max: MAX_SEGMENTS }), fc.integer({ min: 0, max: 255 })),
    handle: fc.integer({ min: 0, max: 0xffff }),
    id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    sector: fc.oneof(fc.bigInt({ min: 0n, max: 200n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    segments: fc.array(segment, { minLength: MAX_SEGMENTS, maxLength: MAX_SEGMENTS }),
  })
  .map((r): Request => r);

const disk = fc.record({
  sectors: fc.oneof(fc.bigInt({ min: 0n, max: 200n }), fc.bigInt({ min: 0n, max: 2n ** 54n })),
  sectorSize: fc.constantFrom(512, 1024, 2048, 4096),
  readOnly: fc.boolean(),
  flush: fc.boolean(),
});

function check(request: Request, d: Disk): number {
  writeRequest(request);
  return h.blkif_check_request(REQ, d.sectors, d.sectorSize, Number(d.readOnly), Number(d.flush));
}

describe("requests", () => {
  it("encode at io/blkif.h's offsets, padding zeroed", () => {
    fc.assert(
      fc.property(request, (r) => {
        new Uint8Array(h.memory.buffer, REQ, 112).fill(0xa5);
        h.blkif_encode_request(REQ, r.op, r.nrSegments, r.handle, r.id, r.sector);
        r.segments.forEach((s, i) => h.blkif_encode_segment(REQ, i, s.gref, s.first, s.last));
        const v = view();
        expect([v.getUint8(REQ), v.getUint8(REQ + 1), v.getUint16(REQ + 2, true), v.getUint32(REQ + 4, true)]).toEqual([
          r.op,
          r.nrSegments,
          r.handle,
          0,
        ]);
        expect([v.getBigUint64(REQ + 8, true), v.getBigUint64(REQ + 16, true)]).toEqual([r.id, r.sector]);
        r.segments.forEach((s, i) => {
          const at = REQ + 24 + 8 * i;
          expect([v.getUint32(at, true), v.getUint8(at + 4), v.getUint8(at + 5), v.getUint16(at + 6, true)]).toEqual([
            s.gref,
            s.first,
            s.last,
            0,
          ]);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("an empty flush at sector 2^64-1, as Linux's blkfront sends the block layer's flushes, is served", () => {
    const empty: Request = { op: FLUSH, nrSegments: 0, handle: 0, id: 7n, sector: 2n ** 64n - 1n, segments: [] };
    expect(check(empty, { sectors: 16384n, sectorSize: 512, readOnly: false, flush: true })).toBe(OKAY);
    expect(check(empty, { sectors: 16384n, sectorSize: 512, readOnly: false, flush: false })).toBe(EOPNOTSUPP);
  });

  it("the backend's check agrees with the model for any request and disk", () => {
    fc.assert(
      fc.property(request, disk, (r, d) => {
        expect(check(r, d)).toBe(modelCheck(r, d));
      }),
      { numRuns: 5000 },
    );
  });

  it("a request ending exactly at the disk's end is served; one sector more is an error, even where the sum would overflow u64", () => {
    const segments = [
      { gref: 8, first: 0, last: 7 },
      { gref: 9, first: 0, last: 3 },
    ];
    const d: Disk = { sectors: 100n, sectorSize: 512, readOnly: false, flush: false };
    const r: Request = { op: READ, nrSegments: 2, handle: 0, id: 1n, sector: 88n, segments };
    expect(check(r, d)).toBe(OKAY);
    expect(check({ ...r, sector: 89n }, d)).toBe(ERROR);
    expect(check({ ...r, sector: 2n ** 64n - 4n }, d)).toBe(ERROR);
    expect(check({ ...r, sector: 0n }, { ...d, sectors: 11n })).toBe(ERROR);
  });

  it("operations: READ/WRITE need data; FLUSH only when offered (with or without data); others are EOPNOTSUPP", () => {
    const d: Disk = { sectors: 64n, sectorSize: 512, readOnly: false, flush: true };
    const one = [{ gref: 8, first: 0, last: 7 }];
    const r = (op: number, nrSegments: number): Request => ({
      op,
      nrSegments,
      handle: 0,
      id: 7n,
      sector: 0n,
      segments: one,
    });
    expect([check(r(READ, 0), d), check(r(WRITE, 0), d), check(r(FLUSH, 0), d), check(r(FLUSH, 1), d)]).toEqual([
      ERROR,
      ERROR,
      OKAY,
      OKAY,
    ]);
    expect(check(r(FLUSH, 0), { ...d, flush: false })).toBe(EOPNOTSUPP);
    for (const op of [BARRIER, DISCARD, INDIRECT, 4, 255]) expect(check(r(op, 1), d)).toBe(EOPNOTSUPP);
    expect(check(r(WRITE, 1), { ...d, readOnly: true })).toBe(ERROR);
    expect(check(r(READ, 1), { ...d, readOnly: true })).toBe(OKAY);
  });

  it("4 KiB logical sectors take only whole-page, aligned transfers", () => {
    const d: Disk = { sectors: 64n, sectorSize: 4096, readOnly: false, flush: false };
    const r = (sector: bigint, first: number, last: number): Request => ({
      op: WRITE,
      nrSegments: 1,
      handle: 0,
      id: 1n,
      sector,
      segments: [{ gref: 8, first, last }],
    });
    expect([check(r(8n, 0, 7), d), check(r(4n, 0, 7), d), check(r(8n, 0, 3), d), check(r(8n, 1, 7), d)]).toEqual([
      OKAY,
      ERROR,
      ERROR,
      ERROR,
    ]);
  });
});

describe("responses", () => {
  const RSP = scratch + 256;

  it("encode at io/blkif.h's offsets: id at 0, operation at 8, status at 10", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: -32768, max: 32767 }),
        (id, op, status) => {
          new Uint8Array(h.memory.buffer, RSP, 16).fill(0xa5);
          h.blkif_encode_response(RSP, id, op, status);
          const v = view();
          expect([
            v.getBigUint64(RSP, true),
            v.getUint8(RSP + 8),
            v.getUint8(RSP + 9),
            v.getInt16(RSP + 10, true),
          ]).toEqual([id, op, 0, status]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the frontend takes a defined status for its own operation and nothing else", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.oneof(fc.integer({ min: -3, max: 1 }), fc.integer({ min: -32768, max: 32767 })),
        (sent, answered, status) => {
          const v = view();
          v.setUint8(RSP + 8, answered);
          v.setInt16(RSP + 10, status, true);
          const expected = answered !== sent || ![OKAY, ERROR, EOPNOTSUPP].includes(status) ? EIO : status;
          expect(h.blkif_check_response(RSP, sent)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("negotiation values", () => {
  const [FLAG, SECTOR_SIZE, SECTORS, INFO, RING_ORDER] = [0, 1, 2, 3, 4];

  function parse(kind: number, text: string | Uint8Array): bigint {
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    new Uint8Array(h.memory.buffer).set(bytes, TEXT);
    return h.blkif_parse(kind, TEXT, bytes.length);
  }

  /** The strict model: decimal digits only, at most `max`, then the kind's own rule. */
  function model(kind: number, bytes: Uint8Array): bigint {
    const text = new TextDecoder("latin1").decode(bytes);
    if (!/^[0-9]{1,20}$/.test(text)) return EINVAL;
    const value = BigInt(text);
    const max = [1n, 4096n, 2n ** 54n, 7n, 31n][kind]!;
    if (value > max) return EINVAL;
    if (kind === SECTOR_SIZE && (value < 512n || (value & (value - 1n)) !== 0n)) return EINVAL;
    return value;
  }

  const text = fc.oneof(
    fc.bigInt({ min: 0n, max: 2n ** 70n }).map((n) => String(n)),
    fc.constantFrom(
      "512",
      "4096",
      "0",
      "1",
      "7",
      "8",
      "31",
      "32",
      String(2n ** 54n),
      String(2n ** 54n + 1n),
      String(2n ** 64n),
      "00001",
    ),
    fc.string({ maxLength: 24 }),
    fc.constantFrom("", " 1", "1 ", "+1", "-1", "1\0", "0x10", "１"),
  );

  it("agree with the strict model for any bytes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.oneof(
          text.map((t) => encoder.encode(t)),
          fc.uint8Array({ maxLength: 24 }),
        ),
        (kind, bytes) => {
          expect(parse(kind, bytes)).toBe(model(kind, bytes));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it("examples: flags, sector sizes, the largest disk, info bits, ring orders", () => {
    expect([parse(FLAG, "1"), parse(FLAG, "0"), parse(FLAG, "2"), parse(FLAG, "")]).toEqual([1n, 0n, EINVAL, EINVAL]);
    expect([
      parse(SECTOR_SIZE, "512"),
      parse(SECTOR_SIZE, "4096"),
      parse(SECTOR_SIZE, "8192"),
      parse(SECTOR_SIZE, "768"),
      parse(SECTOR_SIZE, "256"),
    ]).toEqual([512n, 4096n, EINVAL, EINVAL, EINVAL]);
    expect([
      parse(SECTORS, "18446744073709551615"),
      parse(SECTORS, "18014398509481984"),
      parse(SECTORS, "99999999999999999999"),
    ]).toEqual([EINVAL, 2n ** 54n, EINVAL]);
    expect([parse(INFO, "4"), parse(INFO, "8")]).toEqual([4n, EINVAL]);
    expect([
      parse(RING_ORDER, "4"),
      parse(RING_ORDER, "31"),
      parse(RING_ORDER, "32"),
      parse(RING_ORDER, "4\n"),
    ]).toEqual([4n, 31n, EINVAL, EINVAL]);
    expect(h.blkif_parse(9, TEXT, 1)).toBe(EINVAL);
  });
});
