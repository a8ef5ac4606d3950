// The netif protocol rules (assembly/drivers/netif.ts) through build/harness.wasm,
// checked against a TypeScript model of io/netif.h: slots encoded at Xen's
// offsets, and the walk each end makes over a packet the other end wrote
// (the backend over a transmit packet, the frontend over a receive packet):
// packets are generated as structures (first slot, extra segments, further
// fragments, each field sometimes hostile), laid into a ring at any index,
// and what the walk must find is computed from the structure.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";

const { harness, scratch } = loadHarness();
const h = harness as unknown as {
  netif_encode_tx_request(req: number, gref: number, offset: number, flags: number, id: number, size: number): void;
  netif_encode_tx_response(rsp: number, id: number, status: number): void;
  netif_encode_rx_request(req: number, id: number, gref: number): void;
  netif_encode_rx_response(rsp: number, id: number, offset: number, flags: number, status: number): void;
  netif_encode_gso_extra(slot: number, flags: number, size: number, type: number): void;
  netif_field(field: number, slot: number): number;
  netif_check_tx_response(rsp: number): number;
  netif_slots_for(size: number): number;
  netif_walk(tx: number, slots: number, mask: number, cons: number, ready: number, maxSize: number): number;
  netif_packet(field: number): number;
  netif_parse_mac(at: number, length: number, out: number): number;
  memory: WebAssembly.Memory;
};

const PAGE = 4096;
const [EIO, E2BIG, EINVAL, ENODATA, EMSGSIZE] = [-5, -7, -22, -61, -90];
const [RSP_DROPPED, RSP_ERROR, RSP_OKAY, RSP_NULL] = [-2, -1, 0, 1];
// Transmit and receive flags: the chain bits are the same in both directions.
const [TX_CSUM_BLANK, TX_DATA_VALIDATED] = [1, 2];
const [RX_DATA_VALIDATED, RX_CSUM_BLANK, RX_GSO_PREFIX] = [1, 2, 16];
const [MORE_DATA, EXTRA_INFO] = [4, 8];
const [EXTRA_GSO, EXTRA_MCAST_ADD, EXTRA_MCAST_DEL, EXTRA_HASH, EXTRA_MAX] = [1, 2, 3, 4, 5];
const EXTRA_MORE = 1;
const [GSO_TCPV4, GSO_TCPV6] = [1, 2];
const ETH_HLEN = 14;
const MAX_DATA_SLOTS = { tx: 19, rx: 18 }; // Linux's netback: the first slot and 18 more; its netfront: 18
const MAX_EXTRAS = 4;
const MAX_TX_SIZE = 65535;

const RING = scratch; // entries of a 32-slot ring
const ENTRIES = 32;
const TEXT = scratch + 8192;
const view = (): DataView => new DataView(h.memory.buffer);
const bytes = (at: number, length: number): number[] => [...new Uint8Array(h.memory.buffer, at, length)];

interface Extra {
  type: number;
  /** Flag bits besides MORE (0 from a well-behaved peer). */
  junk: number;
  gsoSize: number;
  gsoType: number;
}

interface Fragment {
  /** tx: the page offset; rx: the response's offset. */
  offset: number;
  /** tx: the fragment's size (the first's is the packet's total); rx: the status. */
  size: number;
  /** Flag bits besides the chain bits the walk follows. */
  flags: number;
  /** rx: whether the response's id is not its slot's. */
  wrongId: boolean;
  gref: number;
  id: number;
}

interface Packet {
  fragments: Fragment[];
  extras: Extra[];
}

interface Walked {
  result: number;
  slots?: number;
  fragments?: number;
  size?: number;
  firstSize?: number;
  flags?: number;
  gsoSize?: number;
  gsoType?: number;
  error?: number;
}

const extra = fc.record({
  type: fc.oneof(
    { weight: 6, arbitrary: fc.constant(EXTRA_GSO) },
    { weight: 2, arbitrary: fc.constantFrom(EXTRA_MCAST_ADD, EXTRA_MCAST_DEL, EXTRA_HASH) },
    { weight: 1, arbitrary: fc.constantFrom(0, EXTRA_MAX, 255) },
  ),
  junk: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 127 }) }),
  gsoSize: fc.oneof(
    { weight: 9, arbitrary: fc.integer({ min: 1, max: 9000 }) },
    { weight: 1, arbitrary: fc.constant(0) },
  ),
  gsoType: fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom(GSO_TCPV4, GSO_TCPV6) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  ),
});

function fragment(tx: boolean): fc.Arbitrary<Fragment> {
  const csum = tx ? [0, TX_CSUM_BLANK, TX_DATA_VALIDATED, 3] : [0, RX_DATA_VALIDATED, RX_CSUM_BLANK, 3];
  return fc.record({
    offset: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: PAGE }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
    size: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: PAGE }) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 80 }) },
      { weight: 1, arbitrary: tx ? fc.integer({ min: 0, max: 0xffff }) : fc.integer({ min: -32768, max: 32767 }) },
      { weight: 1, arbitrary: tx ? fc.constant(PAGE + 1) : fc.constantFrom(RSP_ERROR, RSP_DROPPED) },
    ),
    flags: fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...csum) },
      { weight: 1, arbitrary: fc.constant(EXTRA_INFO) },
      { weight: 1, arbitrary: tx ? fc.integer({ min: 0, max: 0xffff }) : fc.constant(RX_GSO_PREFIX) },
    ),
    wrongId: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    gref: fc.integer({ min: 0, max: 0xffffffff }),
    id: fc.integer({ min: 0, max: 0xffff }),
  });
}

function packet(tx: boolean): fc.Arbitrary<Packet> {
  return fc.record({
    fragments: fc.oneof(
      { weight: 4, arbitrary: fc.array(fragment(tx), { minLength: 1, maxLength: 4 }) },
      { weight: 1, arbitrary: fc.array(fragment(tx), { minLength: 1, maxLength: 20 }) },
    ),
    extras: fc.oneof(
      { weight: 3, arbitrary: fc.constant<Extra[]>([]) },
      { weight: 2, arbitrary: fc.array(extra, { minLength: 1, maxLength: 2 }) },
      { weight: 1, arbitrary: fc.array(extra, { minLength: 1, maxLength: 6 }) },
    ),
  });
}

/** Slot index `i` of a packet whose first slot is at free-running index `cons`. */
const slotAt = (cons: number, i: number): number => RING + ((cons + i) % ENTRIES) * (12 as number);

/**
 * Lays the packet into the ring from `cons`: the first data slot, its extra
 * segments, its other fragments, the chain bits set as a well-behaved peer
 * sets them and the other fields as generated. A transmit packet's first
 * slot holds `total` instead of its own size.
 */
function layOut(tx: boolean, p: Packet, cons: number, total: number): void {
  const entry = tx ? 12 : 8;
  const at = (i: number): number => RING + ((cons + i) % ENTRIES) * entry;
  new Uint8Array(h.memory.buffer, RING, ENTRIES * entry).fill(0xa5);
  const data = p.fragments.map((f, n) => {
    const chain = (n + 1 < p.fragments.length ? MORE_DATA : 0) | (n === 0 && p.extras.length > 0 ? EXTRA_INFO : 0);
    return { ...f, flags: (f.flags & ~(MORE_DATA | (n === 0 ? EXTRA_INFO : 0))) | chain };
  });
  const position = (n: number): number => (n === 0 ? 0 : n + p.extras.length);
  data.forEach((f, n) => {
    const slot = at(position(n));
    if (tx) h.netif_encode_tx_request(slot, f.gref, f.offset, f.flags, f.id, n === 0 ? total : f.size);
    else {
      const id = ((cons + position(n)) % ENTRIES) ^ (f.wrongId ? 1 : 0);
      h.netif_encode_rx_response(slot, id, f.offset, f.flags, f.size);
    }
  });
  p.extras.forEach((x, n) => {
    const slot = at(1 + n);
    const flags = (n + 1 < p.extras.length ? EXTRA_MORE : 0) | (x.junk << 1);
    h.netif_encode_gso_extra(slot, flags, x.gsoSize, x.gsoType);
    view().setUint8(slot, x.type);
  });
}

/** What the walk must find in the packet, computed from its structure. */
function model(tx: boolean, p: Packet, total: number, ready: number, maxSize: number): Walked {
  const slots = p.extras.length + p.fragments.length;
  if (ready < slots) return { result: EIO };
  let error = 0;
  const fail = (e: number): void => {
    if (error === 0) error = e;
  };
  const known = 0xf; // the checksum and chain bits; gso_prefix and anything above are unknown
  const first = p.fragments[0]!;
  const firstFlags = (first.flags & ~MORE_DATA & ~EXTRA_INFO) | (p.fragments.length > 1 ? MORE_DATA : 0);
  const flags = firstFlags | (p.extras.length > 0 ? EXTRA_INFO : 0);
  let size = 0;
  let rest = total;
  const data = (f: Fragment, n: number): void => {
    const fl = n === 0 ? flags : f.flags;
    if ((fl & ~known) !== 0 || (n > 0 && (fl & EXTRA_INFO) !== 0) || (!tx && f.wrongId)) fail(EINVAL);
    if (tx) {
      if (n > 0) {
        if (f.size > rest || f.offset + f.size > PAGE) fail(EINVAL);
        rest -= Math.min(f.size, rest);
      }
    } else if (f.size < 0) fail(ENODATA);
    else {
      if (f.offset + f.size > PAGE) fail(EINVAL);
      size += f.size;
    }
  };
  if (!tx) data(first, 0);
  else if ((flags & ~known) !== 0) fail(EINVAL);
  let gsoSize = 0;
  let gsoType = 0;
  for (const x of p.extras) {
    if (x.junk !== 0 || x.type === 0 || x.type >= EXTRA_MAX) fail(EINVAL);
    else if (x.type === EXTRA_GSO) {
      if (x.gsoSize === 0 || (x.gsoType !== GSO_TCPV4 && x.gsoType !== GSO_TCPV6)) fail(EINVAL);
      gsoSize = x.gsoSize;
      gsoType = x.gsoType;
    } else if (!tx && (x.type === EXTRA_MCAST_ADD || x.type === EXTRA_MCAST_DEL)) fail(EINVAL);
  }
  if (p.extras.length > MAX_EXTRAS) fail(E2BIG);
  p.fragments.slice(1).forEach((f, n) => {
    data(f, n + 1);
  });
  if (tx) {
    size = total;
    if (first.offset + rest > PAGE) fail(EINVAL);
  }
  const limit = gsoType !== 0 ? MAX_TX_SIZE : maxSize;
  if (size < ETH_HLEN || size > limit) fail(EMSGSIZE);
  if (p.fragments.length > MAX_DATA_SLOTS[tx ? "tx" : "rx"]) fail(E2BIG);
  return {
    result: slots,
    slots,
    fragments: p.fragments.length,
    size,
    firstSize: tx ? rest : Math.max(first.size, 0),
    flags,
    gsoSize,
    gsoType,
    error,
  };
}

function walk(tx: boolean, cons: number, ready: number, maxSize: number): Walked {
  const result = h.netif_walk(Number(tx), RING, ENTRIES - 1, cons, ready, maxSize);
  if (result < 0) return { result };
  const [slots, fragments, size, firstSize, flags, gsoSize, gsoType, error] = [0, 1, 2, 3, 4, 5, 6, 7].map((f) =>
    h.netif_packet(f),
  );
  return { result, slots, fragments, size, firstSize, flags, gsoSize, gsoType, error };
}

/** A transmit packet's total: mostly the sum of its fragments, sometimes anything. */
const total = (p: Packet): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(p.fragments.reduce((sum, f) => sum + f.size, 0) & 0xffff) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
  );

const ringIndex = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 0xffffffff }));
const maxSize = fc.constantFrom(1514, 1518, 9018, MAX_TX_SIZE);

describe("slots", () => {
  it("encode and decode at io/netif.h's offsets", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: -32768, max: 32767 }),
        (gref, a, b, c, status) => {
          const v = view();
          const at = scratch + 4096;
          new Uint8Array(h.memory.buffer, at, 12).fill(0xa5);
          h.netif_encode_tx_request(at, gref, a, b, c, a ^ c);
          expect([v.getUint32(at, true), v.getUint16(at + 4, true), v.getUint16(at + 6, true)]).toEqual([gref, a, b]);
          expect([v.getUint16(at + 8, true), v.getUint16(at + 10, true)]).toEqual([c, a ^ c]);
          expect([0, 1, 2, 3, 4].map((f) => h.netif_field(f, at) >>> 0)).toEqual([gref, a, b, c, a ^ c]);

          new Uint8Array(h.memory.buffer, at, 12).fill(0xa5);
          h.netif_encode_tx_response(at, c, status);
          expect([v.getUint16(at, true), v.getInt16(at + 2, true), h.netif_field(5, at)]).toEqual([c, status, c]);

          new Uint8Array(h.memory.buffer, at, 8).fill(0xa5);
          h.netif_encode_rx_request(at, a, gref);
          expect([v.getUint16(at, true), v.getUint16(at + 2, true), v.getUint32(at + 4, true)]).toEqual([a, 0, gref]);
          expect([h.netif_field(6, at), h.netif_field(7, at) >>> 0]).toEqual([a, gref]);

          h.netif_encode_rx_response(at, a, b, c, status);
          const fields = [v.getUint16(at, true), v.getUint16(at + 2, true), v.getUint16(at + 4, true)];
          expect([...fields, v.getInt16(at + 6, true)]).toEqual([a, b, c, status]);
          expect([8, 9, 10, 11].map((f) => h.netif_field(f, at))).toEqual([a, b, c, status]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a GSO segment: type, flags, size, GSO type, pad and features at netif_extra_info's offsets", () => {
    const at = scratch + 4096;
    new Uint8Array(h.memory.buffer, at, 8).fill(0xa5);
    h.netif_encode_gso_extra(at, EXTRA_MORE, 1448, GSO_TCPV4);
    expect(bytes(at, 8)).toEqual([EXTRA_GSO, EXTRA_MORE, 1448 & 0xff, 1448 >> 8, GSO_TCPV4, 0, 0, 0]);
  });

  it("transmit response statuses: OKAY, ERROR, DROPPED and NULL; anything else is -EIO", () => {
    const at = scratch + 4096;
    for (let status = -32768; status <= 32767; status += 1 + (Math.abs(status) > 4 ? 97 : 0)) {
      h.netif_encode_tx_response(at, 0, status);
      const defined = [RSP_DROPPED, RSP_ERROR, RSP_OKAY, RSP_NULL].includes(status);
      expect(h.netif_check_tx_response(at)).toBe(defined ? status : EIO);
    }
  });

  it("a frame copied into pages from offset 0 takes one slot per page, one at least", () => {
    expect([0, 1, 4096, 4097, 8192, 65535].map((n) => h.netif_slots_for(n))).toEqual([1, 1, 1, 2, 2, 16]);
  });
});

describe.each([
  ["transmit packets (the backend's walk)", true],
  ["receive packets (the frontend's walk)", false],
])("%s", (_, tx) => {
  it("the walk finds what the packet's structure says, wherever it lies in the ring", () => {
    fc.assert(
      fc.property(
        packet(tx).chain((p) => fc.tuple(fc.constant(p), total(p))),
        ringIndex,
        fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) }),
        maxSize,
        ([p, sum], cons, spare, max) => {
          const slots = p.extras.length + p.fragments.length;
          const ready = Math.max(0, Math.min(ENTRIES, slots + spare));
          layOut(tx, p, cons, sum);
          expect(walk(tx, cons, ready, max)).toEqual(model(tx, p, sum, ready, max));
        },
      ),
      { numRuns: 4000 },
    );
  });

  it("over any bytes the walk stays within the published slots", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: ENTRIES * 12, maxLength: ENTRIES * 12 }),
        ringIndex,
        fc.integer({ min: 0, max: ENTRIES }),
        maxSize,
        (ring, cons, ready, max) => {
          new Uint8Array(h.memory.buffer).set(ring, RING);
          const w = walk(tx, cons, ready, max);
          if (w.result < 0) expect(w.result).toBe(EIO);
          else {
            expect(w.result).toBeGreaterThan(0);
            expect(w.result).toBeLessThanOrEqual(ready);
            expect(w.fragments).toBeLessThanOrEqual(w.result);
            expect([0, EINVAL, E2BIG, EMSGSIZE, ENODATA]).toContain(w.error);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("examples", () => {
  it("a 3-slot transmit packet with a GSO segment: the first fragment's size is the total less the others", () => {
    const cons = 30; // wraps around the 32-slot ring
    const at = (i: number): number => slotAt(cons, i);
    h.netif_encode_tx_request(at(0), 8, 100, TX_CSUM_BLANK | TX_DATA_VALIDATED | EXTRA_INFO | MORE_DATA, 1, 6000);
    h.netif_encode_gso_extra(at(1), 0, 1448, GSO_TCPV4);
    h.netif_encode_tx_request(at(2), 9, 0, 0, 2, 4000);
    expect(walk(true, cons, 3, 1514)).toEqual({
      result: 3,
      slots: 3,
      fragments: 2,
      size: 6000,
      firstSize: 2000,
      flags: TX_CSUM_BLANK | TX_DATA_VALIDATED | EXTRA_INFO | MORE_DATA,
      gsoSize: 1448,
      gsoType: GSO_TCPV4,
      error: 0,
    });
    // One byte more in the first fragment would cross its page.
    h.netif_encode_tx_request(at(0), 8, 2097, TX_CSUM_BLANK | EXTRA_INFO | MORE_DATA, 1, 6000);
    expect(walk(true, cons, 3, 1514).error).toBe(EINVAL);
    // Pushed without its last slot, the packet breaks the ring.
    expect(walk(true, cons, 2, 1514).result).toBe(EIO);
    // Without its GSO segment, 6000 bytes exceed a 1500-byte MTU.
    h.netif_encode_tx_request(at(0), 8, 0, MORE_DATA, 1, 6000);
    h.netif_encode_tx_request(at(1), 9, 0, 0, 2, 4000);
    expect(walk(true, cons, 2, 1514).error).toBe(EMSGSIZE);
  });

  it("a receive packet of two pages: the sizes add up, and a response that does not echo its slot's id is dropped", () => {
    const at = (i: number): number => RING + i * 8;
    h.netif_encode_rx_response(at(5), 5, 0, RX_DATA_VALIDATED | MORE_DATA, 4096);
    h.netif_encode_rx_response(at(6), 6, 0, 0, 904);
    const w = walk(false, 5, 2, 9018);
    expect([w.result, w.fragments, w.size, w.firstSize, w.error]).toEqual([2, 2, 5000, 4096, 0]);
    expect(walk(false, 5, 2, 1514).error).toBe(EMSGSIZE);
    h.netif_encode_rx_response(at(6), 7, 0, 0, 904);
    expect(walk(false, 5, 2, 9018).error).toBe(EINVAL);
    h.netif_encode_rx_response(at(6), 6, 3500, 0, 904);
    expect(walk(false, 5, 2, 9018).error).toBe(EINVAL);
    h.netif_encode_rx_response(at(6), 6, 0, 0, RSP_ERROR);
    expect(walk(false, 5, 2, 9018)).toMatchObject({ result: 2, error: ENODATA });
  });

  it("a transmit packet takes its first slot and 18 more, a receive packet 18 in all; five extra segments are one too many", () => {
    const entries = 32;
    const chain = (slots: number, entry: number): void => {
      for (let i = 0; i < slots; i++) {
        if (entry === 12)
          h.netif_encode_tx_request(RING + i * 12, i, 0, i < slots - 1 ? MORE_DATA : 0, i, i === 0 ? slots * 60 : 60);
        else h.netif_encode_rx_response(RING + i * 8, i, 0, i < slots - 1 ? MORE_DATA : 0, 60);
      }
    };
    chain(19, 12);
    expect(walk(true, 0, entries, 9018)).toMatchObject({ result: 19, fragments: 19, error: 0 });
    chain(20, 12);
    expect(walk(true, 0, entries, 9018)).toMatchObject({ result: 20, fragments: 20, error: E2BIG });
    chain(18, 8);
    expect(walk(false, 0, entries, 9018)).toMatchObject({ result: 18, fragments: 18, error: 0 });
    chain(19, 8);
    expect(walk(false, 0, entries, 9018)).toMatchObject({ result: 19, fragments: 19, error: E2BIG });
    const at = (i: number): number => RING + i * 12;
    h.netif_encode_tx_request(at(0), 0, 0, EXTRA_INFO, 0, 60);
    for (let i = 1; i <= 4; i++) h.netif_encode_gso_extra(at(i), i < 4 ? EXTRA_MORE : 0, 1448, GSO_TCPV4);
    expect(walk(true, 0, entries, 1514)).toMatchObject({ result: 5, fragments: 1, error: 0 });
    for (let i = 1; i <= 5; i++) h.netif_encode_gso_extra(at(i), i < 5 ? EXTRA_MORE : 0, 1448, GSO_TCPV4);
    expect(walk(true, 0, entries, 1514)).toMatchObject({ result: 6, fragments: 1, error: E2BIG });
  });
});

describe("mac", () => {
  function parse(text: string): number[] | number {
    const encoded = new TextEncoder().encode(text);
    new Uint8Array(h.memory.buffer).set(encoded, TEXT);
    const status = h.netif_parse_mac(TEXT, encoded.length, TEXT + 64);
    return status === 0 ? bytes(TEXT + 64, 6) : status;
  }

  it("six two-digit hex bytes separated by colons, either case; nothing else", () => {
    expect(parse("00:16:3e:0A:bC:ff")).toEqual([0x00, 0x16, 0x3e, 0x0a, 0xbc, 0xff]);
    for (const bad of [
      "",
      "00:16:3e:0a:bc",
      "00:16:3e:0a:bc:ff:",
      "00-16-3e-0a-bc-ff",
      "0:16:3e:0a:bc:fff",
      "00:16:3g:0a:bc:ff",
    ])
      expect(parse(bad)).toBe(EINVAL);
  });

  it("agrees with a regular expression for any text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc
            .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
            .map((b) => b.map((x) => x.toString(16).padStart(2, "0")).join(":")),
          fc.string({ minLength: 15, maxLength: 19 }),
          fc.stringMatching(/^[0-9a-fA-FgG:]{17}$/),
        ),
        (text) => {
          const valid = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text);
          const parsed = parse(text);
          if (!valid) expect(parsed).toBe(EINVAL);
          else expect(parsed).toEqual(text.split(":").map((x) => Number.parseInt(x, 16)));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
