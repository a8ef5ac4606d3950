// The XenStore client (assembly/xenstore/client.ts) over the rings of a page
// in plain memory, through build/harness.wasm. The peer is a scripted
// xenstored written here: the harness's transport blocks with
// sched_op(SCHEDOP_block), which this file answers by letting the peer take
// requests and put replies on the rings; a peer with nothing left to do
// answers -EDEADLK, as a hypervisor refuses to block a guest nothing can wake.
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { loadHarness } from "../bench/harness.js";

const PAGE = 4096;
const RING = 1024;
const SCHEDOP_block = 1;
const EVTCHNOP_send = 4;
const ENOSYS = 38;
const EDEADLK = 35;
const [ENOENT, EIO, E2BIG, EAGAIN, EINVAL, EBADMSG] = [2, 5, 7, 11, 22, 74];

// xsd_sockmsg_type values used here.
const XS = {
  DIRECTORY: 1, READ: 2, GET_PERMS: 3, WATCH: 4, UNWATCH: 5, TRANSACTION_START: 6, TRANSACTION_END: 7,
  GET_DOMAIN_PATH: 10, WRITE: 11, MKDIR: 12, RM: 13, SET_PERMS: 14, WATCH_EVENT: 15, ERROR: 16,
} as const;

type Message = { type: number; reqId: number; txId: number; payload: Uint8Array };

/** What the peer does on the guest's next block: reply to requests, or act on the ring directly. */
interface Peer {
  /** Replies (whole encoded messages or raw bytes) to a request. */
  onRequest(request: Message): Uint8Array[];
  /** Called once per block after requests are handled; may poke the page. Returns false when it has nothing more to do. */
  onBlock?(page: DataView): boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(type: number, reqId: number, txId: number, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === "string" ? encoder.encode(payload) : payload;
  const message = new Uint8Array(16 + body.length);
  const v = new DataView(message.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, reqId, true);
  v.setUint32(8, txId, true);
  v.setUint32(12, body.length, true);
  message.set(body, 16);
  return message;
}

const reply = (request: Message, payload: Uint8Array | string, type = request.type): Uint8Array =>
  encode(type, request.reqId, request.txId, payload);
const watchEvent = (path: string, token: string): Uint8Array => encode(XS.WATCH_EVENT, 0, 0, `${path}\0${token}\0`);

// One instance for the file; `peer` is the scripted xenstored of the running test.
let peer: Peer | null = null;
let notifications = 0;
let blocks = 0;
const { harness: h, scratch } = loadHarness({
  event_channel_op: (cmd) => (cmd === EVTCHNOP_send ? (notifications++, 0) : -ENOSYS),
  sched_op: (cmd) => (cmd === SCHEDOP_block ? runPeer() : -ENOSYS),
});

// Scratch layout: the store page at page 2 (pages 1 and 3 are guards), arguments at pages 4-5, output at page 6.
const STORE = scratch + 2 * PAGE;
const ARG0 = scratch + 4 * PAGE;
const ARG1 = scratch + 5 * PAGE;
const OUTPUT = scratch + 6 * PAGE;

const mem = (): Uint8Array => new Uint8Array(h.memory.buffer);
const page = (): DataView => new DataView(h.memory.buffer, STORE, PAGE);
const [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD] = [2048, 2052, 2056, 2060];

/** Bytes the peer has taken off the request ring but not yet parsed, and bytes waiting to go on the response ring. */
let fromGuest: Uint8Array = new Uint8Array(0);
let toGuest: number[] = [];
const requests: Message[] = [];

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One block of the guest: the peer drains requests, answers, fills the response ring. */
function runPeer(): number {
  blocks++;
  if (blocks > 10_000) throw new Error("the client spins");
  const p = page();
  let progress = false;
  let cons = p.getUint32(REQ_CONS, true);
  const prod = p.getUint32(REQ_PROD, true);
  if (((prod - cons) >>> 0) <= RING && prod !== cons) {
    const taken: number[] = [];
    for (; cons !== prod; cons = (cons + 1) >>> 0) taken.push(mem()[STORE + (cons & (RING - 1))]);
    p.setUint32(REQ_CONS, cons, true);
    fromGuest = concat(fromGuest, Uint8Array.from(taken));
    progress = true;
  }
  while (fromGuest.length >= 16) {
    const v = new DataView(fromGuest.buffer, fromGuest.byteOffset);
    const length = v.getUint32(12, true);
    if (fromGuest.length < 16 + length) break;
    const request = { type: v.getUint32(0, true), reqId: v.getUint32(4, true), txId: v.getUint32(8, true), payload: fromGuest.slice(16, 16 + length) };
    fromGuest = fromGuest.slice(16 + length);
    requests.push(request);
    for (const bytes of peer!.onRequest(request)) toGuest.push(...bytes);
  }
  if (peer!.onBlock?.(p)) progress = true;
  const rspCons = p.getUint32(RSP_CONS, true);
  let rspProd = p.getUint32(RSP_PROD, true);
  while (toGuest.length !== 0 && ((rspProd - rspCons) >>> 0) < RING) {
    mem()[STORE + RING + (rspProd & (RING - 1))] = toGuest.shift()!;
    rspProd = (rspProd + 1) >>> 0;
    progress = true;
  }
  p.setUint32(RSP_PROD, rspProd, true);
  return progress ? 0 : -EDEADLK;
}

/** A well-behaved xenstored over a map of paths to values (no permissions, one level of transactions ignored). */
class StorePeer implements Peer {
  nodes = new Map<string, Uint8Array>([["/local/domain/3", new Uint8Array(0)]]);
  perms = new Map<string, string>();
  watches: Array<[string, string]> = [];
  nextTx = 7;

  onRequest(r: Message): Uint8Array[] {
    const strings = decoder.decode(r.payload).split("\0");
    const path = strings[0];
    const error = (name: string) => [reply(r, `${name}\0`, XS.ERROR)];
    switch (r.type) {
      case XS.READ:
        return this.nodes.has(path) ? [reply(r, this.nodes.get(path)!)] : error("ENOENT");
      case XS.WRITE: {
        const value = r.payload.slice(r.payload.indexOf(0) + 1);
        this.nodes.set(path, value);
        return [reply(r, "OK\0"), ...this.fire(path)];
      }
      case XS.MKDIR:
        if (!this.nodes.has(path)) this.nodes.set(path, new Uint8Array(0));
        return [reply(r, "OK\0"), ...this.fire(path)];
      case XS.RM:
        if (!this.nodes.has(path)) return error("ENOENT");
        for (const key of [...this.nodes.keys()]) if (key === path || key.startsWith(path + "/")) this.nodes.delete(key);
        return [reply(r, "OK\0"), ...this.fire(path)];
      case XS.DIRECTORY: {
        if (!this.nodes.has(path)) return error("ENOENT");
        const children = [...this.nodes.keys()].filter((k) => k.startsWith(path + "/") && !k.slice(path.length + 1).includes("/"));
        return [reply(r, children.map((k) => k.slice(path.length + 1) + "\0").join(""))];
      }
      case XS.GET_PERMS:
        return this.nodes.has(path) ? [reply(r, this.perms.get(path) ?? "n0\0")] : error("ENOENT");
      case XS.SET_PERMS:
        this.perms.set(path, strings.slice(1, -1).map((s) => s + "\0").join(""));
        return [reply(r, "OK\0")];
      case XS.WATCH:
        this.watches.push([path, strings[1]]);
        return [reply(r, "OK\0"), watchEvent(path, strings[1])];
      case XS.UNWATCH:
        this.watches = this.watches.filter(([p, t]) => p !== path || t !== strings[1]);
        return [reply(r, "OK\0")];
      case XS.TRANSACTION_START:
        return [reply(r, `${this.nextTx++}\0`)];
      case XS.TRANSACTION_END:
        return path === "T" && r.txId === 8 ? error("EAGAIN") : [reply(r, "OK\0")];
      case XS.GET_DOMAIN_PATH:
        return [reply(r, `/local/domain/${path}\0`)];
      default:
        return error("EINVAL");
    }
  }

  private fire(path: string): Uint8Array[] {
    return this.watches.filter(([w]) => path === w || path.startsWith(w + "/")).map(([, t]) => watchEvent(path, t));
  }
}

/** Puts UTF-8 text at `at`; its (address, length). */
function arg(at: number, text: string): [number, number] {
  const b = encoder.encode(text);
  mem().set(b, at);
  return [at, b.length];
}

function output(length: number): string {
  return decoder.decode(mem().subarray(OUTPUT, OUTPUT + length));
}

const read = (path: string, tx = 0) => h.xs_client_read(tx, ...arg(ARG0, path));
const write = (path: string, value: string, tx = 0) => h.xs_client_write(tx, ...arg(ARG0, path), ...arg(ARG1, value));
const value = () => output(h.xs_client_value(OUTPUT, PAGE));
const directory = (path: string) => h.xs_client_directory(0, ...arg(ARG0, path));
const entries = (count: number) => Array.from({ length: count }, (_, i) => output(h.xs_client_entry(i, OUTPUT, PAGE)));
const watch = (path: string, token: string) => h.xs_client_watch(...arg(ARG0, path), ...arg(ARG1, token));
const unwatch = (path: string, token: string) => h.xs_client_unwatch(...arg(ARG0, path), ...arg(ARG1, token));
function nextEvent(): [string, string] | null {
  const n = h.xs_client_next_event(OUTPUT, PAGE);
  return n < 0 ? null : (output(n).split("\0").slice(0, 2) as [string, string]);
}

function open(p: Peer): void {
  peer = p;
  fromGuest = new Uint8Array(0);
  toGuest = [];
  requests.length = 0;
  blocks = 0;
  mem().fill(0, STORE, STORE + PAGE);
  h.xs_client_open(STORE);
}

describe("client against a well-behaved xenstored", () => {
  let store: StorePeer;
  beforeEach(() => {
    store = new StorePeer();
    open(store);
  });

  it("write then read, with req_ids counting up and the tx id in the header", () => {
    expect(write("/local/domain/3/name", "guest-3")).toBe(0);
    expect(read("/local/domain/3/name")).toBe(0);
    expect(value()).toBe("guest-3");
    expect(requests.map((r) => [r.type, r.reqId, r.txId])).toEqual([[XS.WRITE, 1, 0], [XS.READ, 2, 0]]);
    // A WRITE's value goes without terminator, the path with one.
    expect(decoder.decode(requests[0].payload)).toBe("/local/domain/3/name\0guest-3");
    expect(decoder.decode(requests[1].payload)).toBe("/local/domain/3/name\0");
    expect(notifications).toBeGreaterThan(0);
  });

  it("xenstored's errors come back as -errno", () => {
    expect(read("/nowhere")).toBe(-ENOENT);
    expect(h.xs_client_rm(0, ...arg(ARG0, "/nowhere"))).toBe(-ENOENT);
    expect(h.xs_client_failure()).toBe(0);
  });

  it("mkdir, directory, exists and rm", () => {
    expect(h.xs_client_mkdir(0, ...arg(ARG0, "/local/domain/3/device"))).toBe(0);
    expect(write("/local/domain/3/name", "x")).toBe(0);
    const n = directory("/local/domain/3");
    expect(entries(n).sort()).toEqual(["device", "name"]);
    expect(directory("/local/domain/3/device")).toBe(0);
    expect(h.xs_client_exists(0, ...arg(ARG0, "/local/domain/3/device"))).toBe(1);
    expect(h.xs_client_rm(0, ...arg(ARG0, "/local/domain/3/device"))).toBe(0);
    expect(h.xs_client_exists(0, ...arg(ARG0, "/local/domain/3/device"))).toBe(0);
  });

  it("get and set permissions", () => {
    const path = arg(ARG0, "/local/domain/3");
    expect(h.xs_client_set_perms(0, ...path, ...arg(ARG1, "b3\0r0\0"))).toBe(0);
    expect(decoder.decode(requests[0].payload)).toBe("/local/domain/3\0b3\0r0\0");
    expect(h.xs_client_get_perms(0, ...path)).toBe(2);
    expect([h.xs_perm_at(0), h.xs_perm_at(1)]).toEqual([(0x62 << 16) | 3, (0x72 << 16) | 0]);
    expect(h.xs_client_set_perms(0, ...path, ...arg(ARG1, "x3\0"))).toBe(-EINVAL);
  });

  it("transactions: the id from start travels in tx_id; end sends T or F; EAGAIN comes back", () => {
    expect(h.xs_client_transaction_start()).toBe(0);
    const tx = h.xs_client_transaction();
    expect(tx).toBe(7);
    expect(write("/local/domain/3/a", "1", tx)).toBe(0);
    expect(h.xs_client_transaction_end(tx, 1)).toBe(0);
    expect(requests.slice(1).map((r) => r.txId)).toEqual([7, 7]);
    expect(decoder.decode(requests[2].payload)).toBe("T\0");
    expect(h.xs_client_transaction_start()).toBe(0);
    expect(h.xs_client_transaction_end(h.xs_client_transaction(), 1)).toBe(-EAGAIN);
    expect(h.xs_client_transaction_end(8, 0)).toBe(0);
    expect(decoder.decode(requests.at(-1)!.payload)).toBe("F\0");
  });

  it("get_domain_path", () => {
    expect(h.xs_client_get_domain_path(12)).toBe(0);
    expect(value()).toBe("/local/domain/12");
  });

  it("watches: the event fired on registration and later ones are queued; unwatch cancels queued events", () => {
    expect(watch("/local/domain/3", "w1")).toBe(0);
    // The registration event follows the reply: it is still on the ring.
    expect(h.xs_client_pending_events()).toBe(0);
    expect(h.xs_client_poll_events()).toBe(1);
    expect(nextEvent()).toEqual(["/local/domain/3", "w1"]);
    // Events that arrive while a request waits are queued, not lost.
    expect(write("/local/domain/3/a", "1")).toBe(0);
    expect(read("/local/domain/3/a")).toBe(0);
    expect(h.xs_client_pending_events()).toBe(1);
    expect(nextEvent()).toEqual(["/local/domain/3/a", "w1"]);
    expect(nextEvent()).toBeNull();
    expect(write("/local/domain/3/b", "2")).toBe(0);
    expect(read("/local/domain/3/b")).toBe(0);
    expect(h.xs_client_pending_events()).toBe(1);
    expect(unwatch("/local/domain/3", "w1")).toBe(0);
    expect(h.xs_client_pending_events()).toBe(0);
  });

  it("events for tokens that are not ours, or malformed, are dropped", () => {
    open({
      onRequest: (r) => [watchEvent("/a", "stranger"), encode(XS.WATCH_EVENT, 0, 0, "/a\0"), reply(r, "v")],
    });
    expect(read("/a")).toBe(0);
    expect(h.xs_client_pending_events()).toBe(0);
    expect(h.xs_client_dropped_events()).toBe(2);
  });

  it("values and replies larger than a ring go through in pieces", () => {
    const big = "v".repeat(4000);
    expect(write("/local/domain/3/big", big)).toBe(0);
    expect(read("/local/domain/3/big")).toBe(0);
    expect(value()).toBe(big);
  });

  it("a request over XENSTORE_PAYLOAD_MAX is refused before anything is sent", () => {
    expect(write("/local/domain/3/big", "v".repeat(4096))).toBe(-E2BIG);
    expect(requests.length).toBe(0);
    expect(page().getUint32(REQ_PROD, true)).toBe(0);
    expect(h.xs_client_failure()).toBe(0);
  });
});

describe("client against a hostile xenstored", () => {
  it("replies for other req_ids are dropped; a reply of the wrong type is -EBADMSG", () => {
    open({ onRequest: (r) => [encode(XS.READ, r.reqId + 1, 0, "x"), reply(r, "OK\0", XS.WRITE)] });
    expect(read("/a")).toBe(-EBADMSG);
    expect(h.xs_client_stray_replies()).toBe(1);
    expect(h.xs_client_failure()).toBe(0);
  });

  it("an unknown error name is EINVAL", () => {
    open({ onRequest: (r) => [reply(r, "EWHATEVER\0", XS.ERROR)] });
    expect(read("/a")).toBe(-EINVAL);
  });

  it("a reply announcing more than XENSTORE_PAYLOAD_MAX breaks the connection with -EIO", () => {
    open({ onRequest: (r) => [encode(XS.READ, r.reqId, 0, "").map((b, i) => (i === 12 ? 1 : i === 13 ? 0x10 : b))] });
    expect(read("/a")).toBe(-EIO);
    expect(h.xs_client_failure()).toBe(-EIO);
    expect(read("/a")).toBe(-EIO);
  });

  it("impossible response indices are -EIO and the ring is reset, as the seed does", () => {
    open({
      onRequest: () => [],
      onBlock: (p) => (p.setUint32(RSP_PROD, 5000, true), false),
    });
    expect(read("/a")).toBe(-EIO);
    expect([page().getUint32(RSP_CONS, true), page().getUint32(RSP_PROD, true)]).toEqual([0, 0]);
    expect(h.xs_client_failure()).toBe(-EIO);
  });

  it("a peer that never answers: the wait error comes back and the client stays usable", () => {
    let answer = false;
    open({ onRequest: (r) => (answer ? [reply(r, "late")] : []) });
    expect(read("/a")).toBe(-EDEADLK);
    expect(h.xs_client_failure()).toBe(0);
    answer = true;
    expect(read("/b")).toBe(0);
    expect(value()).toBe("late");
  });

  const TYPES = [...Object.values(XS), 0, 20, 23, 26, 27, 0xffff, 0xffffffff];
  const hostileMessage = fc.record({
    type: fc.oneof(fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 0xffffffff })),
    reqIdDelta: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.integer({ min: 0, max: 0xffffffff })),
    txId: fc.integer({ min: 0, max: 0xffffffff }),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc.constantFrom(...["ENOENT\0", "EAGAIN", "/a\0tok\0", "/a\0", "b0\0r1\0", "7\0", "OK\0", ""].map((s) => encoder.encode(s))),
    ),
    // Announce a different length than the bytes that follow (truncated or overlong messages).
    lengthDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -8, max: 8 }), fc.integer({ min: 0, max: 0xffffffff })),
  });
  const hostilePeer = fc.record({
    messages: fc.array(hostileMessage, { maxLength: 6 }),
    garbage: fc.uint8Array({ maxLength: 40 }),
    indices: fc.option(
      fc.record({
        at: fc.constantFrom(REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD),
        value: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 3000 })),
        onBlock: fc.integer({ min: 1, max: 3 }),
      }),
    ),
  });
  /** Operations and whether success needs a reply to them (poll_events only takes what is there). */
  const ops: Array<[string, boolean, () => number]> = [
    ["read", true, () => read("/local/domain/3/name")],
    ["write", true, () => write("/local/domain/3/name", "v".repeat(1500))],
    ["directory", true, () => directory("/local/domain/3")],
    ["get_perms", true, () => h.xs_client_get_perms(0, ...arg(ARG0, "/a"))],
    ["watch", true, () => watch("/a", "tok")],
    ["transaction_start", true, () => h.xs_client_transaction_start()],
    ["get_domain_path", true, () => h.xs_client_get_domain_path(3)],
    ["poll_events", false, () => Math.min(0, h.xs_client_poll_events())],
  ];

  it("random headers, lengths, types, ids, truncated payloads and garbage indices: an error or a checked success, never a trap, nothing written outside the store page", () => {
    fc.assert(
      fc.property(hostilePeer, fc.constantFrom(...ops), fc.integer(), (script, [, needsReply, op], seed) => {
        let block = 0;
        open({
          onRequest: (r) => [
            ...script.messages.map((m) => {
              const message = encode(m.type, (r.reqId + m.reqIdDelta) >>> 0, m.txId, m.payload);
              new DataView(message.buffer).setUint32(12, (m.payload.length + m.lengthDelta) >>> 0, true);
              return message;
            }),
            script.garbage,
          ],
          onBlock: (p) => {
            block++;
            if (script.indices !== null && block === script.indices.onBlock) p.setUint32(script.indices.at, script.indices.value, true);
            return false;
          },
        });
        // Guard bytes everywhere in scratch except the store page and the argument/output pages.
        let x = seed | 1;
        const m = mem();
        for (let i = 0; i < 2 * PAGE; i++) m[scratch + i] = (x = (x * 1103515245 + 12345) >>> 0) & 0xff;
        m.fill(0x5a, STORE + PAGE, STORE + 2 * PAGE);
        const before = m.slice(scratch, STORE).join() + m.slice(STORE + PAGE, ARG0).join();
        const rc = op();
        // Success only from a message with our req_id that announces a payload the protocol allows.
        const possible = script.messages.some((m) => m.reqIdDelta === 0 && ((m.payload.length + m.lengthDelta) >>> 0) <= 4096);
        if (rc >= 0 && needsReply) expect(possible).toBe(true);
        const after = mem().slice(scratch, STORE).join() + mem().slice(STORE + PAGE, ARG0).join();
        expect(after).toBe(before);
        // Whatever happened, a fresh request after a protocol violation fails cleanly or works.
        expect(read("/x")).toBeLessThanOrEqual(0);
      }),
      { numRuns: 1500 },
    );
  });
});
