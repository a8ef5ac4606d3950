// The unikernel's ping responder (assembly/apps/ping-responder.ts) through
// build/harness.wasm: ARP requests for its address and ICMP echo requests to
// it get the reply RFC 826 and RFC 792 describe (built here from the request,
// checksums and all); anything else, and any request with one field wrong,
// gets nothing; arbitrary bytes never make it read or write past the frame.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";

const { harness, scratch } = loadHarness();
const h = harness as unknown as {
  ping_answer(mac: number, ip: number, frame: number, length: number, reply: number): number;
  memory: WebAssembly.Memory;
};

const MAC = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x03];
const IP = [10, 0, 0, 3];
const ipNumber = (ip: number[]): number => ((ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]) >>> 0;
const MAC_AT = scratch;
const FRAME_AT = scratch + 64;
const REPLY_AT = scratch + 4096 + 64;
/** Room past the frame and the reply that must stay as it was. */
const GUARD = 64;

/** The Internet checksum (RFC 1071) of `data`. */
function checksum(data: number[]): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += (data[i] << 8) | (data[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
const be16 = (value: number): number[] => [(value >>> 8) & 0xff, value & 0xff];

/** Runs the responder over `frame`; its reply, with the guard bytes around frame and reply checked untouched. */
function answer(frame: number[]): number[] {
  const memory = new Uint8Array(h.memory.buffer);
  memory.set(MAC, MAC_AT);
  memory.fill(0xa5, FRAME_AT, FRAME_AT + frame.length + GUARD);
  memory.set(frame, FRAME_AT);
  memory.fill(0x5a, REPLY_AT, REPLY_AT + Math.max(frame.length, 42) + GUARD);
  const length = h.ping_answer(MAC_AT, ipNumber(IP), FRAME_AT, frame.length, REPLY_AT);
  const after = new Uint8Array(h.memory.buffer);
  expect([...after.subarray(FRAME_AT, FRAME_AT + frame.length)]).toEqual(frame);
  expect(after.subarray(FRAME_AT + frame.length, FRAME_AT + frame.length + GUARD).every((b) => b === 0xa5)).toBe(true);
  const room = Math.max(frame.length, 42);
  expect(length).toBeLessThanOrEqual(room);
  expect(after.subarray(REPLY_AT + room, REPLY_AT + room + GUARD).every((b) => b === 0x5a)).toBe(true);
  return [...after.subarray(REPLY_AT, REPLY_AT + length)];
}

const byte = fc.integer({ min: 0, max: 255 });
const mac = fc.array(byte, { minLength: 6, maxLength: 6 });
const ipv4 = fc.array(byte, { minLength: 4, maxLength: 4 });

function arpRequest(senderMac: number[], senderIp: number[], targetIp: number[]): number[] {
  const arp = [...be16(1), ...be16(0x0800), 6, 4, ...be16(1), ...senderMac, ...senderIp, 0, 0, 0, 0, 0, 0, ...targetIp];
  return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...senderMac, ...be16(0x0806), ...arp];
}

function arpReply(askerMac: number[], askerIp: number[]): number[] {
  const arp = [...be16(1), ...be16(0x0800), 6, 4, ...be16(2), ...MAC, ...IP, ...askerMac, ...askerIp];
  return [...askerMac, ...MAC, ...be16(0x0806), ...arp];
}

interface Echo {
  srcMac: number[];
  srcIp: number[];
  id: number;
  seq: number;
  payload: number[];
  /** IP options (a multiple of 4 bytes), which the reply does not carry. */
  options: number[];
  /** Ethernet padding after the datagram. */
  padding: number[];
  identification: number;
  ttl: number;
}

const echo: fc.Arbitrary<Echo> = fc.record({
  srcMac: mac,
  srcIp: ipv4,
  id: fc.integer({ min: 0, max: 0xffff }),
  seq: fc.integer({ min: 0, max: 0xffff }),
  payload: fc.array(byte, { maxLength: 1472 }),
  options: fc
    .integer({ min: 0, max: 10 })
    .chain((words) => fc.array(byte, { minLength: 4 * words, maxLength: 4 * words })),
  padding: fc.array(byte, { maxLength: 30 }),
  identification: fc.integer({ min: 0, max: 0xffff }),
  ttl: fc.integer({ min: 1, max: 255 }),
});

function icmp(type: number, id: number, seq: number, payload: number[]): number[] {
  const body = [type, 0, 0, 0, ...be16(id), ...be16(seq), ...payload];
  body.splice(2, 2, ...be16(checksum(body)));
  return body;
}

function ipDatagram(
  src: number[],
  dst: number[],
  body: number[],
  options: number[],
  identification: number,
  ttl: number,
) {
  const headerLength = 20 + options.length;
  const header = [
    0x40 | (headerLength / 4),
    0,
    ...be16(headerLength + body.length),
    ...be16(identification),
    0,
    0,
    ttl,
    1,
    0,
    0,
    ...src,
    ...dst,
    ...options,
  ];
  header.splice(10, 2, ...be16(checksum(header)));
  return [...header, ...body];
}

function echoRequest(e: Echo): number[] {
  const datagram = ipDatagram(e.srcIp, IP, icmp(8, e.id, e.seq, e.payload), e.options, e.identification, e.ttl);
  return [...MAC, ...e.srcMac, ...be16(0x0800), ...datagram, ...e.padding];
}

function echoReply(e: Echo): number[] {
  return [
    ...e.srcMac,
    ...MAC,
    ...be16(0x0800),
    ...ipDatagram(IP, e.srcIp, icmp(0, e.id, e.seq, e.payload), [], e.identification, 64),
  ];
}

describe("the unikernel's ping responder", () => {
  it("answers an ARP request for its address with its MAC, and no other", () => {
    fc.assert(
      fc.property(mac, ipv4, ipv4, (senderMac, senderIp, target) => {
        const expected = ipNumber(target) === ipNumber(IP) ? arpReply(senderMac, senderIp) : [];
        expect(answer(arpRequest(senderMac, senderIp, target))).toEqual(expected);
        expect(answer(arpRequest(senderMac, senderIp, IP))).toEqual(arpReply(senderMac, senderIp));
      }),
    );
  });

  it("answers an echo request to its address with the same identifier, sequence and data, options dropped, checksums right", () => {
    fc.assert(
      fc.property(echo, (e) => {
        const reply = answer(echoRequest(e));
        expect(reply).toEqual(echoReply(e));
        expect(checksum(reply.slice(14, 34))).toBe(0);
        expect(checksum(reply.slice(34))).toBe(0);
      }),
    );
  });

  it("answers nothing once any one field that matters is wrong", () => {
    // [offset into the frame, what to write there]: each makes the request one it must not answer.
    const breakers = (frame: number[], headerLength: number): [number, number[]][] => [
      [12, be16(0x86dd)], // not IPv4
      [14, [0x65]], // IP version 6
      [14, [0x44]], // a header shorter than 20 bytes
      [16, be16(frame.length)], // a total length past the frame
      [16, be16(headerLength + 7)], // too short for an ICMP header
      [20, be16(0x2000)], // more fragments follow
      [20, be16(0x0001)], // a later fragment
      [23, [17]], // UDP
      [33, [4]], // to another address
      [24, [frame[24] ^ 0x01]], // a bad header checksum
      [14 + headerLength, [13]], // a timestamp request
      [15 + headerLength, [1]], // code 1
      [16 + headerLength, [frame[16 + headerLength] ^ 0x80]], // a bad ICMP checksum
    ];
    fc.assert(
      fc.property(echo, fc.nat(), (e, pick) => {
        const frame = echoRequest(e);
        const headerLength = 20 + e.options.length;
        const cases = breakers(frame, headerLength);
        const [at, bytes] = cases[pick % cases.length];
        const broken = [...frame];
        broken.splice(at, bytes.length, ...bytes);
        // A change to the IP header other than its checksum comes with a checksum that fits it.
        if (at >= 14 && at < 14 + headerLength && at !== 24) {
          broken.splice(24, 2, 0, 0);
          broken.splice(24, 2, ...be16(checksum(broken.slice(14, 14 + headerLength))));
        }
        expect(answer(broken)).toEqual([]);
        // Cut short anywhere before the datagram's end, it is not answered either.
        expect(answer(frame.slice(0, 14 + headerLength + 8 + e.payload.length - 1 - (pick % 8)))).toEqual([]);
      }),
    );
  });

  it("never reads or writes outside the frame and its reply, whatever the bytes", () => {
    const ours = fc.constantFrom([...MAC], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const frame = fc.oneof(
      fc.array(byte, { maxLength: 1600 }),
      fc
        .tuple(ours, mac, fc.constantFrom(0x0800, 0x0806), fc.array(byte, { maxLength: 200 }))
        .map(([dst, src, type, rest]) => [...dst, ...src, ...be16(type), ...rest]),
    );
    fc.assert(
      fc.property(frame, (bytes) => {
        const reply = answer(bytes);
        if (reply.length > 0) expect(reply.slice(6, 12)).toEqual(MAC);
      }),
      { numRuns: 2000 },
    );
  });
});
