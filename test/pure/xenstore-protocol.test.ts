// The pure XenStore wire protocol (assembly/xenstore/wire.ts) through
// build/harness.wasm: headers, error names, payload parsers and builders.
// Parsers are checked against a model of the protocol written here, on
// payloads that end at the very end of linear memory (a read past the payload
// traps) and on payloads between random guard bytes (a read outside changes
// nothing).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";

const { harness: h, scratch } = loadHarness();
const PAGE = 4096;
const PAYLOAD_MAX = 4096;
const EINVAL = 22;
const E2BIG = 7;

const bytes = (): Uint8Array => new Uint8Array(h.memory.buffer);
const view = (): DataView => new DataView(h.memory.buffer);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Scratch layout: header at page 0, payloads at page 2 (guards on pages 1 and 3), output at page 6.
const HEADER = scratch;
const PAYLOAD = scratch + 2 * PAGE;
const OUTPUT = scratch + 6 * PAGE;

/** The end of two pages grown here, past everything the module's allocator knows about: the end of memory. */
const memoryEnd = (h.memory.grow(2) + 2) * 65536;

function put(at: number, data: Uint8Array): void {
  bytes().set(data, at);
}

function fillRandom(at: number, length: number, seed: number): void {
  const memory = bytes();
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    memory[at + i] = x & 0xff;
  }
}

/**
 * Runs `parse(address, length)` on `payload` three ways: ending at the last
 * byte of memory, and twice between different random guards. All three must
 * agree, and the result is returned.
 */
function parseEverywhere<T>(payload: Uint8Array, seed: number, parse: (at: number, length: number) => T): T {
  // Had the module grown memory itself, its heap would lie past our pages;
  // collecting first keeps the parsers' allocations inside the heap it has.
  h.__collect();
  if (h.memory.buffer.byteLength !== memoryEnd) throw new Error("the module grew its memory");
  const atEdge = memoryEnd - payload.length;
  put(atEdge, payload);
  const edge = parse(atEdge, payload.length);
  const results = [seed, seed ^ 0x5a5a5a5a].map((s) => {
    fillRandom(PAYLOAD - PAGE, 3 * PAGE, s);
    put(PAYLOAD, payload);
    return parse(PAYLOAD, payload.length);
  });
  expect(results[0]).toEqual(edge);
  expect(results[1]).toEqual(edge);
  return edge;
}

const XSD_ERRORS: Array<[string, number]> = [
  ["EINVAL", 22],
  ["EACCES", 13],
  ["EEXIST", 17],
  ["EISDIR", 21],
  ["ENOENT", 2],
  ["ENOMEM", 12],
  ["ENOSPC", 28],
  ["EIO", 5],
  ["ENOTEMPTY", 39],
  ["ENOSYS", 38],
  ["EROFS", 30],
  ["EBUSY", 16],
  ["EAGAIN", 11],
  ["EISCONN", 106],
  ["E2BIG", 7],
  ["EPERM", 1],
];

// The model: what each parser must answer, from the payload alone.

function modelCountStrings(p: Uint8Array): number {
  if (p.length !== 0 && p[p.length - 1] !== 0) return -EINVAL;
  return p.filter((b) => b === 0).length;
}

function modelErrno(p: Uint8Array): number {
  const end = p.indexOf(0);
  const name = decoder.decode(end < 0 ? p : p.subarray(0, end));
  return XSD_ERRORS.find(([n]) => n === name)?.[1] ?? EINVAL;
}

function modelWatchEvent(p: Uint8Array): number[] | null {
  if (modelCountStrings(p) !== 2) return null;
  const pathEnd = p.indexOf(0);
  if (pathEnd === 0) return null;
  return [0, pathEnd, pathEnd + 1, p.length - pathEnd - 2];
}

function modelDecimal(p: Uint8Array): bigint {
  const end = p.indexOf(0);
  if (end >= 0 && end !== p.length - 1) return -1n;
  const digits = end < 0 ? p : p.subarray(0, end);
  if (digits.length === 0 || !digits.every((b) => b >= 0x30 && b <= 0x39)) return -1n;
  const value = BigInt(decoder.decode(digits));
  return value > 0xffffffffn ? -1n : value;
}

function modelPerms(p: Uint8Array): number[] | null {
  if (modelCountStrings(p) <= 0) return null;
  const entries = [...p.subarray(0, p.length - 1)].reduce<number[][]>(
    (all, b) => {
      if (b === 0) all.push([]);
      else all[all.length - 1].push(b);
      return all;
    },
    [[]],
  );
  const perms: number[] = [];
  for (const entry of entries) {
    if (entry.length < 2 || !"nrwb".includes(String.fromCharCode(entry[0]))) return null;
    const domid = modelDecimal(Uint8Array.from(entry.slice(1)));
    if (domid < 0n || domid > 0xffffn) return null;
    perms.push((entry[0] << 16) | Number(domid));
  }
  return perms;
}

/** Payload bytes that often look like the protocol: NULs, digits, perm letters, error names. */
const payloadBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .array(
      fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0x30, max: 0x39 }),
        fc.constantFrom(...[..."nrwbE/"].map((c) => c.charCodeAt(0))),
        fc.integer({ min: 0, max: 255 }),
      ),
      { maxLength: 64 },
    )
    .map((a) => Uint8Array.from(a)),
  fc
    .array(fc.oneof(fc.constantFrom(...XSD_ERRORS.map(([n]) => n)), fc.stringMatching(/^[a-z0-9/]{0,12}$/)), {
      maxLength: 4,
    })
    .chain((parts) => fc.boolean().map((terminated) => encoder.encode(parts.join("\0") + (terminated ? "\0" : "")))),
);

describe("xsd_sockmsg header", () => {
  it("round-trips every field, little-endian at the offsets of Xen's struct", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }), ([t, r, x, l]) => {
        h.xs_header_encode(HEADER, t, r, x, l);
        const v = view();
        expect([0, 4, 8, 12].map((o) => v.getUint32(HEADER + o, true))).toEqual([t, r, x, l]);
        expect(
          [
            h.xs_header_type(HEADER),
            h.xs_header_req_id(HEADER),
            h.xs_header_tx_id(HEADER),
            h.xs_header_length(HEADER),
          ].map((n) => n >>> 0),
        ).toEqual([t, r, x, l]);
        expect(h.xs_header_check(HEADER)).toBe(l > PAYLOAD_MAX ? -E2BIG : 0);
      }),
    );
  });

  it("accepts exactly XENSTORE_PAYLOAD_MAX bytes and refuses one more", () => {
    h.xs_header_encode(HEADER, 2, 1, 0, PAYLOAD_MAX);
    expect(h.xs_header_check(HEADER)).toBe(0);
    h.xs_header_encode(HEADER, 2, 1, 0, PAYLOAD_MAX + 1);
    expect(h.xs_header_check(HEADER)).toBe(-E2BIG);
  });
});

describe("error strings", () => {
  it.each(XSD_ERRORS)("%s ↔ %i", (name, errno) => {
    expect(h.xs_error_name(errno, OUTPUT, 64)).toBe(name.length);
    expect(decoder.decode(bytes().subarray(OUTPUT, OUTPUT + name.length))).toBe(name);
    const payload = encoder.encode(`${name}\0`);
    expect(parseEverywhere(payload, errno, (at, n) => h.xs_errno_of_error(at, n))).toBe(errno);
    // Some servers omit the terminator; the name still counts.
    expect(parseEverywhere(payload.subarray(0, name.length), errno, (at, n) => h.xs_errno_of_error(at, n))).toBe(errno);
  });

  it("unknown names, prefixes and extensions of known ones are EINVAL", () => {
    for (const name of ["", "ENOENTX", "ENOEN", "enoent", "ETIMEDOUT", "EIO ", " EIO"]) {
      expect(parseEverywhere(encoder.encode(`${name}\0`), 7, (at, n) => h.xs_errno_of_error(at, n))).toBe(EINVAL);
    }
    expect(h.xs_error_name(110, OUTPUT, 64)).toBe(-1);
  });

  it("never reads outside the payload and matches the model on arbitrary bytes", () => {
    fc.assert(
      fc.property(payloadBytes, fc.integer(), (p, seed) => {
        expect(parseEverywhere(p, seed, (at, n) => h.xs_errno_of_error(at, n))).toBe(modelErrno(p));
      }),
      { numRuns: 500 },
    );
  });
});

describe("watch events", () => {
  const parse = (at: number, n: number): number[] | null =>
    h.xs_parse_watch_event(at, n) === 0 ? [0, 1, 2, 3].map((i) => h.xs_watch_event_field(i)) : null;

  it("splits exactly a path and a token", () => {
    const p = encoder.encode("/local/domain/1/device\0tok-7\0");
    expect(parseEverywhere(p, 1, parse)).toEqual([0, 22, 23, 5]);
    expect(parseEverywhere(encoder.encode("a\0\0"), 1, parse)).toEqual([0, 1, 2, 0]);
  });

  it.each([
    ["nothing", ""],
    ["a path only", "/a\0"],
    ["an unterminated token", "/a\0tok"],
    ["a third string", "/a\0tok\0x\0"],
    ["an empty path", "\0tok\0"],
    ["no terminator at all", "/a"],
  ])("refuses %s", (_what, text) => {
    expect(parseEverywhere(encoder.encode(text), 3, (at, n) => h.xs_parse_watch_event(at, n))).toBe(-EINVAL);
  });

  it("never reads outside the payload and matches the model on arbitrary bytes", () => {
    fc.assert(
      fc.property(payloadBytes, fc.integer(), (p, seed) => {
        expect(parseEverywhere(p, seed, parse)).toEqual(modelWatchEvent(p));
      }),
      { numRuns: 500 },
    );
  });
});

describe("reply parsers", () => {
  const split = (at: number, n: number): string[] | null => {
    const count = h.xs_split_strings(at, n);
    if (count < 0) return null;
    return Array.from({ length: count }, (_, i) => {
      const length = h.xs_split_string_at(i, OUTPUT, PAGE);
      return decoder.decode(bytes().subarray(OUTPUT, OUTPUT + length));
    });
  };
  const perms = (at: number, n: number): number[] | null => {
    const count = h.xs_parse_perms(at, n);
    return count < 0 ? null : Array.from({ length: count }, (_, i) => h.xs_perm_at(i));
  };

  it("directory listings: NUL-terminated names, the empty listing, and unterminated ones refused", () => {
    expect(parseEverywhere(encoder.encode("backend\0device\0name\0"), 1, split)).toEqual(["backend", "device", "name"]);
    expect(parseEverywhere(new Uint8Array(0), 1, split)).toEqual([]);
    expect(parseEverywhere(encoder.encode("a\0b"), 1, split)).toBeNull();
  });

  it("permissions: owner first, access letters n r w b, domids up to 65535", () => {
    const p = (text: string) => parseEverywhere(encoder.encode(text), 2, perms);
    const entry = (c: string, domid: number) => (c.charCodeAt(0) << 16) | domid;
    expect(p("b0\0")).toEqual([entry("b", 0)]);
    expect(p("n5\0r1\0w65535\0b7\0")).toEqual([entry("n", 5), entry("r", 1), entry("w", 65535), entry("b", 7)]);
    for (const bad of ["", "b0", "x0\0", "b\0", "b65536\0", "b-1\0", "b1 \0", "r1\0\0"]) expect(p(bad)).toBeNull();
  });

  it("decimals: digits only, optionally NUL-terminated, within u32", () => {
    const d = (text: string) => parseEverywhere(encoder.encode(text), 3, (at, n) => h.xs_parse_decimal(at, n));
    expect(d("42\0")).toBe(42n);
    expect(d("4294967295")).toBe(4294967295n);
    for (const bad of ["", "\0", "4294967296\0", "-1\0", "1x\0", "1\0\0", " 1\0"]) expect(d(bad)).toBe(-1n);
  });

  it("never read outside the payload and match the model on arbitrary bytes", () => {
    fc.assert(
      fc.property(payloadBytes, fc.integer(), (p, seed) => {
        expect(parseEverywhere(p, seed, (at, n) => h.xs_count_strings(at, n))).toBe(modelCountStrings(p));
        expect(parseEverywhere(p, seed, perms)).toEqual(modelPerms(p));
        expect(parseEverywhere(p, seed, (at, n) => h.xs_parse_decimal(at, n))).toBe(modelDecimal(p));
        const strings = parseEverywhere(p, seed, (at, n) => h.xs_split_strings(at, n));
        expect(strings).toBe(modelCountStrings(p) < 0 ? -1 : modelCountStrings(p));
      }),
      { numRuns: 500 },
    );
  });
});

describe("payload builder", () => {
  const SOURCE = scratch + 4 * PAGE;
  const VALUE = scratch + 5 * PAGE;
  const build = (strings: string[], value: Uint8Array): number => {
    const s = encoder.encode(strings.map((x) => `${x}\0`).join(""));
    put(SOURCE, s);
    put(VALUE, value);
    return h.xs_build_payload(OUTPUT, SOURCE, s.length, VALUE, value.length);
  };

  it("terminates each string and leaves a WRITE's value unterminated", () => {
    const n = build(["/local/domain/3/name", "tok"], encoder.encode("guest"));
    expect(decoder.decode(bytes().subarray(OUTPUT, OUTPUT + n))).toBe("/local/domain/3/name\0tok\0guest");
  });

  it("a watch payload it builds parses back as that path and token", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\/[a-z0-9/_-]{0,40}$/), fc.stringMatching(/^[ -~]{0,20}$/), (path, token) => {
        const n = build([path, token], new Uint8Array(0));
        expect(h.xs_parse_watch_event(OUTPUT, n)).toBe(0);
        expect(decoder.decode(bytes().subarray(OUTPUT, OUTPUT + h.xs_watch_event_field(1)))).toBe(path);
        const tokenStart = OUTPUT + h.xs_watch_event_field(2);
        expect(decoder.decode(bytes().subarray(tokenStart, tokenStart + h.xs_watch_event_field(3)))).toBe(token);
      }),
    );
  });

  it("fills exactly XENSTORE_PAYLOAD_MAX bytes and refuses one more, writing nothing past it", () => {
    const path = `/${"p".repeat(99)}`;
    fillRandom(OUTPUT + PAYLOAD_MAX, 64, 9);
    const after = bytes().slice(OUTPUT + PAYLOAD_MAX, OUTPUT + PAYLOAD_MAX + 64);
    expect(build([path], new Uint8Array(PAYLOAD_MAX - 101))).toBe(PAYLOAD_MAX);
    expect(build([path], new Uint8Array(PAYLOAD_MAX - 100))).toBe(-E2BIG);
    expect(build(["p".repeat(PAYLOAD_MAX)], new Uint8Array(0))).toBe(-E2BIG);
    expect(bytes().slice(OUTPUT + PAYLOAD_MAX, OUTPUT + PAYLOAD_MAX + 64)).toEqual(after);
  });
});
