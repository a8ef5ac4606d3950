// The XenStore client (assembly/xenstore/client.ts) over the rings of a page
// in plain memory, through build/harness.wasm. The peer is a scripted
// xenstored written here: the harness's transport blocks with
// sched_op(SCHEDOP_block), which this file answers by letting the peer take
// requests and put replies on the rings; a peer with nothing left to do
// answers -EDEADLK, as a hypervisor refuses to block a guest nothing can wake.
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";

const PAGE = 4096;
const RING = 1024;
const SCHEDOP_block = 1;
const EVTCHNOP_send = 4;
const ENOSYS = 38;
const EDEADLK = 35;
const [ENOENT, EIO, E2BIG, EAGAIN, EEXIST, EINVAL, ERANGE, EBADMSG] = [2, 5, 7, 11, 17, 22, 34, 74];

// xsd_sockmsg_type values used here.
const XS = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  GET_FEATURE: 23,
  SET_FEATURE: 24,
  GET_QUOTA: 25,
  SET_QUOTA: 26,
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
/** Blocks still to come that restart the connection (rings emptied, wait answers -EAGAIN) instead of serving. */
let restarts = 0;
const { harness: h, scratch } = loadHarness({
  event_channel_op: (cmd) => {
    if (cmd !== EVTCHNOP_send) return -ENOSYS;
    notifications++;
    return 0;
  },
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
  if (restarts > 0) {
    restarts--;
    for (const index of [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD]) p.setUint32(index, 0, true);
    fromGuest = new Uint8Array(0);
    toGuest = [];
    return -EAGAIN;
  }
  let progress = false;
  let cons = p.getUint32(REQ_CONS, true);
  const prod = p.getUint32(REQ_PROD, true);
  if ((prod - cons) >>> 0 <= RING && prod !== cons) {
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
    const request = {
      type: v.getUint32(0, true),
      reqId: v.getUint32(4, true),
      txId: v.getUint32(8, true),
      payload: fromGuest.slice(16, 16 + length),
    };
    fromGuest = fromGuest.slice(16 + length);
    requests.push(request);
    for (const bytes of peer!.onRequest(request)) toGuest.push(...bytes);
  }
  if (peer!.onBlock?.(p)) progress = true;
  const rspCons = p.getUint32(RSP_CONS, true);
  let rspProd = p.getUint32(RSP_PROD, true);
  while (toGuest.length !== 0 && (rspProd - rspCons) >>> 0 < RING) {
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
  /** Commits that fail with EAGAIN before one succeeds (when set, instead of the tx 8 rule). */
  conflicts: number | null = null;
  /** RM of a node with children is ENOTEMPTY, as a xenstored whose RM is not recursive. */
  rmNeedsEmpty = false;
  /** DIRECTORY listings longer than this are E2BIG; DIRECTORY_PART sends names of at most `partBytes` per part. */
  directoryMax = 4096;
  partBytes = 4096;
  generation = 1;
  /** Called after each DIRECTORY_PART reply (to change the node between parts). */
  afterPart: (() => void) | null = null;
  beforeTransaction = this.nodes;
  features = 3;
  quotas = new Map<string, number>([
    ["nodes", 1000],
    ["watches", 128],
  ]);

  children(path: string): string[] {
    return [...this.nodes.keys()]
      .filter((k) => k.startsWith(`${path}/`) && !k.slice(path.length + 1).includes("/"))
      .map((k) => k.slice(path.length + 1));
  }

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
        if (this.rmNeedsEmpty && this.children(path).length !== 0) return error("ENOTEMPTY");
        for (const key of [...this.nodes.keys()])
          if (key === path || key.startsWith(`${path}/`)) this.nodes.delete(key);
        return [reply(r, "OK\0"), ...this.fire(path)];
      case XS.DIRECTORY: {
        if (!this.nodes.has(path)) return error("ENOENT");
        const list = this.children(path)
          .map((name) => `${name}\0`)
          .join("");
        return list.length > this.directoryMax ? error("E2BIG") : [reply(r, list)];
      }
      case XS.DIRECTORY_PART: {
        if (!this.nodes.has(path)) return error("ENOENT");
        const list = this.children(path)
          .map((name) => `${name}\0`)
          .join("");
        let part = "";
        for (const name of list.slice(Number(strings[1])).split("\0").slice(0, -1)) {
          if (part.length + name.length + 1 > this.partBytes) break;
          part += `${name}\0`;
        }
        const end = Number(strings[1]) + part.length === list.length ? "\0" : "";
        const answer = [reply(r, `${this.generation}\0${part}${end}`)];
        this.afterPart?.();
        return answer;
      }
      case XS.CONTROL:
        return path === "help"
          ? [reply(r, "check\nhelp\0")]
          : path === "log" && strings[1] === "on"
            ? [reply(r, "OK\0")]
            : error("EINVAL");
      case XS.RESET_WATCHES:
        this.watches = [];
        return [reply(r, "OK\0")];
      case XS.GET_FEATURE:
        return r.payload.length === 0 ? [reply(r, "7\0")] : [reply(r, `${this.features}\0`)];
      case XS.SET_FEATURE:
        this.features = Number(strings[1]);
        return [reply(r, "OK\0")];
      case XS.GET_QUOTA: {
        if (r.payload.length === 0) return [reply(r, `${[...this.quotas.keys()].join(" ")}\0`)];
        const name = strings.length === 3 ? strings[1] : strings[0];
        return this.quotas.has(name) ? [reply(r, `${this.quotas.get(name)}\0`)] : error("EINVAL");
      }
      case XS.SET_QUOTA: {
        const [name, value] = strings.length === 4 ? strings.slice(1, 3) : strings.slice(0, 2);
        if (!this.quotas.has(name)) return error("EINVAL");
        this.quotas.set(name, Number(value));
        return [reply(r, "OK\0")];
      }
      case XS.GET_PERMS:
        return this.nodes.has(path) ? [reply(r, this.perms.get(path) ?? "n0\0")] : error("ENOENT");
      case XS.SET_PERMS:
        this.perms.set(
          path,
          strings
            .slice(1, -1)
            .map((s) => `${s}\0`)
            .join(""),
        );
        return [reply(r, "OK\0")];
      case XS.WATCH:
        this.watches.push([path, strings[1]]);
        return [reply(r, "OK\0"), watchEvent(path, strings[1])];
      case XS.UNWATCH:
        this.watches = this.watches.filter(([p, t]) => p !== path || t !== strings[1]);
        return [reply(r, "OK\0")];
      case XS.TRANSACTION_START:
        this.beforeTransaction = new Map(this.nodes);
        return [reply(r, `${this.nextTx++}\0`)];
      case XS.TRANSACTION_END: {
        const conflict = this.conflicts === null ? r.txId === 8 : this.conflicts > 0;
        if (path === "T" && !conflict) return [reply(r, "OK\0")];
        // Changes are made in place; a transaction that does not commit takes them back.
        this.nodes = this.beforeTransaction;
        if (path !== "T") return [reply(r, "OK\0")];
        if (this.conflicts !== null) this.conflicts--;
        return error("EAGAIN");
      }
      case XS.GET_DOMAIN_PATH:
        return [reply(r, `/local/domain/${path}\0`)];
      default:
        return error("EINVAL");
    }
  }

  private fire(path: string): Uint8Array[] {
    return this.watches.filter(([w]) => path === w || path.startsWith(`${w}/`)).map(([, t]) => watchEvent(path, t));
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
  restarts = 0;
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
    expect(requests.map((r) => [r.type, r.reqId, r.txId])).toEqual([
      [XS.WRITE, 1, 0],
      [XS.READ, 2, 0],
    ]);
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

  it("transactions: the caller's handle stands for xenstored's id, which travels in tx_id; end sends T or F; EAGAIN comes back", () => {
    expect(h.xs_client_transaction_start()).toBe(0);
    const tx = h.xs_client_transaction();
    expect(tx).toBe(1);
    expect(write("/local/domain/3/a", "1", tx)).toBe(0);
    expect(h.xs_client_transaction_end(tx, 1)).toBe(0);
    expect(requests.slice(1).map((r) => r.txId)).toEqual([7, 7]);
    expect(decoder.decode(requests[2].payload)).toBe("T\0");
    expect(h.xs_client_transaction_start()).toBe(0);
    expect(h.xs_client_transaction_end(h.xs_client_transaction(), 1)).toBe(-EAGAIN);
    expect(requests.at(-1)!.txId).toBe(8);
    h.xs_client_transaction_start();
    expect(h.xs_client_transaction_end(h.xs_client_transaction(), 0)).toBe(0);
    expect(decoder.decode(requests.at(-1)!.payload)).toBe("F\0");
  });

  it("a handle that names no open transaction is ENOENT without reaching xenstored; ended handles are not reused", () => {
    expect(h.xs_client_transaction_start()).toBe(0);
    const tx = h.xs_client_transaction();
    expect(h.xs_client_transaction_end(tx, 0)).toBe(0);
    const sent = requests.length;
    expect(write("/local/domain/3/a", "1", tx)).toBe(-ENOENT);
    expect(h.xs_client_transaction_end(tx, 1)).toBe(-ENOENT);
    expect(write("/local/domain/3/a", "1", 12345)).toBe(-ENOENT);
    expect(requests.length).toBe(sent);
    expect(h.xs_client_transaction_start()).toBe(0);
    expect(h.xs_client_transaction()).not.toBe(tx);
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

/** NUL-terminated strings as the harness takes lists: (address, length). */
const list = (at: number, items: string[]) => arg(at, items.map((item) => `${item}\0`).join(""));
const payloads = () => requests.map((r) => [r.type, decoder.decode(r.payload)]);
const number = () => Number(h.xs_client_number());
/** Its value is an i64, which crosses as a BigInt. */
const writeInt = h.xs_client_write_int as unknown as (
  tx: number,
  path: number,
  pathLength: number,
  value: bigint,
) => number;

describe("client operations beyond the basic ones", () => {
  let store: StorePeer;
  beforeEach(() => {
    store = new StorePeer();
    open(store);
  });

  const rmTree = (path: string, tx = 0) => h.xs_client_rm_tree(tx, ...arg(ARG0, path));
  const tree = ["/t", "/t/a", "/t/a/x", "/t/a/y", "/t/b", "/keep"];

  it("rm_tree in its own transaction: directory, each child, then the node, committed", () => {
    for (const path of tree) store.nodes.set(path, new Uint8Array(0));
    expect(rmTree("/t")).toBe(0);
    expect([...store.nodes.keys()].filter((k) => k.startsWith("/t"))).toEqual([]);
    expect(requests.map((r) => [r.type, r.txId, decoder.decode(r.payload)])).toEqual([
      [XS.TRANSACTION_START, 0, "\0"],
      [XS.DIRECTORY, 7, "/t\0"],
      [XS.RM, 7, "/t/a\0"],
      [XS.RM, 7, "/t/b\0"],
      [XS.RM, 7, "/t\0"],
      [XS.TRANSACTION_END, 7, "T\0"],
    ]);
  });

  it("rm_tree descends into a child that is not empty (ENOTEMPTY) and returns to its parent", () => {
    for (const path of tree) store.nodes.set(path, new Uint8Array(0));
    store.rmNeedsEmpty = true;
    h.xs_client_transaction_start();
    expect(rmTree("/t", h.xs_client_transaction())).toBe(0);
    expect([...store.nodes.keys()]).toEqual(["/local/domain/3", "/keep"]);
    expect(payloads().slice(1)).toEqual([
      [XS.DIRECTORY, "/t\0"],
      [XS.RM, "/t/a\0"],
      [XS.DIRECTORY, "/t/a\0"],
      [XS.RM, "/t/a/x\0"],
      [XS.RM, "/t/a/y\0"],
      [XS.RM, "/t/a\0"],
      [XS.DIRECTORY, "/t\0"],
      [XS.RM, "/t/b\0"],
      [XS.RM, "/t\0"],
    ]);
    // Inside the caller's transaction: no transaction of its own.
    expect(requests.slice(1).every((r) => r.txId === 7)).toBe(true);
  });

  it("rm_tree of a missing node is ENOENT (as in the seed) and aborts its transaction", () => {
    expect(rmTree("/nowhere")).toBe(-ENOENT);
    expect(payloads().at(-1)).toEqual([XS.TRANSACTION_END, "F\0"]);
  });

  it("rm_tree retries its own transaction on EAGAIN", () => {
    store.nodes.set("/t", new Uint8Array(0));
    store.conflicts = 1;
    expect(rmTree("/t")).toBe(0);
    expect(requests.filter((r) => r.type === XS.TRANSACTION_START).length).toBe(2);
  });

  it("directory falls back to DIRECTORY_PART on E2BIG, parts by byte offset", () => {
    const names = Array.from({ length: 40 }, (_, i) => `child-${i}`);
    for (const name of names) store.nodes.set(`/local/domain/3/${name}`, new Uint8Array(0));
    store.directoryMax = 100;
    store.partBytes = 120;
    expect(directory("/local/domain/3")).toBe(40);
    expect(entries(40)).toEqual(names);
    // Names of 8 or 9 bytes with their NULs: 13 or 14 per 120-byte part; each part starts where the bytes before it end.
    expect(payloads()).toEqual([
      [XS.DIRECTORY, "/local/domain/3\0"],
      ...[0, 116, 233].map((offset) => [XS.DIRECTORY_PART, `/local/domain/3\0${offset}\0`]),
    ]);
  });

  it("DIRECTORY_PART: a generation change between parts starts the listing over", () => {
    for (let i = 0; i < 30; i++) store.nodes.set(`/d/n${i}`, new Uint8Array(0));
    store.nodes.set("/d", new Uint8Array(0));
    store.directoryMax = 10;
    store.partBytes = 50;
    let parts = 0;
    store.afterPart = () => {
      if (++parts === 2) {
        store.nodes.set("/d/late", new Uint8Array(0));
        store.generation++;
      }
    };
    const count = directory("/d");
    expect(count).toBe(31);
    expect(entries(count).sort()).toEqual([...store.children("/d")].sort());
    const offsets = requests
      .filter((r) => r.type === XS.DIRECTORY_PART)
      .map((r) => decoder.decode(r.payload).split("\0")[1]);
    // Parts 1 and 2, then (after generation 2 appeared in part 3) from 0 again.
    expect(offsets.slice(0, 4).map(Number)).toEqual([0, offsets.map(Number)[1], offsets.map(Number)[2], 0]);
  });

  it("DIRECTORY_PART: a generation that keeps changing gives up with EAGAIN; malformed parts are EBADMSG", () => {
    for (let i = 0; i < 30; i++) store.nodes.set(`/d/n${i}`, new Uint8Array(0));
    store.nodes.set("/d", new Uint8Array(0));
    store.directoryMax = 10;
    store.partBytes = 50;
    store.afterPart = () => store.generation++;
    expect(directory("/d")).toBe(-EAGAIN);
    for (const bad of ["", "\0", "1\0", "1\0a\0\0b\0", "1\0a", "\0a\0\0"]) {
      open({ onRequest: (r) => [r.type === XS.DIRECTORY ? reply(r, "E2BIG\0", XS.ERROR) : reply(r, bad)] });
      expect(directory("/d")).toBe(-EBADMSG);
    }
    open({ onRequest: (r) => [r.type === XS.DIRECTORY ? reply(r, "E2BIG\0", XS.ERROR) : reply(r, "9\0\0")] });
    expect(directory("/d")).toBe(0);
  });

  it("typed reads and writes of numbers; ERANGE for values that are not numbers of the type", () => {
    expect(writeInt(0, ...arg(ARG0, "/n"), -42n)).toBe(0);
    expect(decoder.decode(requests[0].payload)).toBe("/n\0-42");
    expect(h.xs_client_read_int(0, ...arg(ARG0, "/n"))).toBe(0);
    expect(number()).toBe(-42);
    expect(h.xs_client_read_u32(0, ...arg(ARG0, "/n"))).toBe(-ERANGE);
    const cases: Array<[string, number, number]> = [
      ["4294967295", -ERANGE, 4294967295],
      ["2147483647", 2147483647, 2147483647],
      ["-2147483648", -2147483648, -ERANGE],
      ["2147483648", -ERANGE, 2147483648],
      ["", -ERANGE, -ERANGE],
      ["12x", -ERANGE, -ERANGE],
      ["-", -ERANGE, -ERANGE],
      ["7\0", 7, 7],
    ];
    for (const [text, asInt, asU32] of cases) {
      store.nodes.set("/n", encoder.encode(text));
      const rc = h.xs_client_read_int(0, ...arg(ARG0, "/n"));
      expect(rc < 0 ? rc : number()).toBe(asInt);
      const rcU = h.xs_client_read_u32(0, ...arg(ARG0, "/n"));
      expect(rcU < 0 ? rcU : number()).toBe(asU32);
    }
    expect(h.xs_client_read_int(0, ...arg(ARG0, "/missing"))).toBe(-ENOENT);
  });

  it("gather reads several nodes of a directory and reports which failed", () => {
    store.nodes.set("/dev/ring-ref", encoder.encode("8"));
    store.nodes.set("/dev/port", encoder.encode("5"));
    expect(h.xs_client_gather(0, ...arg(ARG0, "/dev"), ...list(ARG1, ["ring-ref", "missing", "port"]))).toBe(1);
    expect([0, 1, 2].map((i) => h.xs_client_gather_error(i))).toEqual([0, -ENOENT, 0]);
    expect([0, 1, 2].map((i) => output(h.xs_client_gather_value(i, OUTPUT, PAGE)))).toEqual(["8", "", "5"]);
    expect(payloads().map(([, p]) => p)).toEqual(["/dev/ring-ref\0", "/dev/missing\0", "/dev/port\0"]);
  });

  it("control, reset_watches, features and quotas: wire bytes and replies", () => {
    expect(h.xs_client_control(...arg(ARG0, "help"), ARG1, 0)).toBe(0);
    expect(value()).toBe("check\nhelp\0");
    expect(h.xs_client_control(...arg(ARG0, "log"), ...list(ARG1, ["on"]))).toBe(0);
    expect(h.xs_client_control(...arg(ARG0, "bogus"), ARG1, 0)).toBe(-EINVAL);
    expect(h.xs_client_get_feature(-1)).toBe(0);
    expect(number()).toBe(7);
    expect(h.xs_client_set_feature(3, 1)).toBe(0);
    expect(h.xs_client_get_feature(3)).toBe(0);
    expect(number()).toBe(1);
    expect(h.xs_client_quota_names()).toBe(2);
    expect(entries(2)).toEqual(["nodes", "watches"]);
    expect(h.xs_client_set_quota(-1, ...arg(ARG0, "nodes"), 50)).toBe(0);
    expect(h.xs_client_set_quota(3, ...arg(ARG0, "watches"), 4294967295)).toBe(0);
    expect(h.xs_client_get_quota(3, ...arg(ARG0, "nodes"))).toBe(0);
    expect(number()).toBe(50);
    expect(h.xs_client_get_quota(-1, ...arg(ARG0, "watches"))).toBe(0);
    expect(number()).toBe(4294967295);
    expect(h.xs_client_get_quota(-1, ...arg(ARG0, "bogus"))).toBe(-EINVAL);
    expect(watch("/a", "w")).toBe(0);
    expect(h.xs_client_reset_watches()).toBe(0);
    expect(h.xs_client_watch_count(...arg(ARG0, "w"), 0)).toBe(-1);
    expect(payloads()).toEqual([
      [XS.CONTROL, "help\0"],
      [XS.CONTROL, "log\0on\0"],
      [XS.CONTROL, "bogus\0"],
      [XS.GET_FEATURE, ""],
      [XS.SET_FEATURE, "3\x001\0"],
      [XS.GET_FEATURE, "3\0"],
      [XS.GET_QUOTA, ""],
      [XS.SET_QUOTA, "nodes\x0050\0"],
      [XS.SET_QUOTA, "3\0watches\x004294967295\0"],
      [XS.GET_QUOTA, "3\0nodes\0"],
      [XS.GET_QUOTA, "watches\0"],
      [XS.GET_QUOTA, "bogus\0"],
      [XS.WATCH, "/a\0w\0"],
      [XS.RESET_WATCHES, "\0"],
    ]);
    // The registration event that followed WATCH's reply is for a watch that no longer exists.
    expect(h.xs_client_poll_events()).toBe(0);
  });

  it("feature and quota replies that are not decimal numbers are EBADMSG", () => {
    open({ onRequest: (r) => [reply(r, "x7\0")] });
    expect(h.xs_client_get_feature(-1)).toBe(-EBADMSG);
    expect(h.xs_client_get_quota(-1, ...arg(ARG0, "nodes"))).toBe(-EBADMSG);
    open({ onRequest: (r) => [reply(r, "nodes")] });
    expect(h.xs_client_quota_names()).toBe(-EBADMSG);
  });
});

describe("transactions run by the client", () => {
  let store: StorePeer;
  beforeEach(() => {
    store = new StorePeer();
    open(store);
  });
  const run = (result: number, attempts: number) =>
    h.xs_client_run_transaction(...arg(ARG0, "/t/v"), ...arg(ARG1, "1"), result, attempts);

  it("EAGAIN twice, then success: the body runs three times, each in a fresh transaction", () => {
    store.conflicts = 2;
    expect(run(5, 8)).toBe(5);
    expect(h.xs_client_transaction_runs()).toBe(3);
    expect(requests.map((r) => [r.type, r.txId])).toEqual(
      [7, 8, 9].flatMap((tx) => [
        [XS.TRANSACTION_START, 0],
        [XS.WRITE, tx],
        [XS.TRANSACTION_END, tx],
      ]),
    );
  });

  it("gives up with EAGAIN after the allowed attempts", () => {
    store.conflicts = 100;
    expect(run(0, 3)).toBe(-EAGAIN);
    expect(h.xs_client_transaction_runs()).toBe(3);
  });

  it("the body's error aborts the transaction and is returned; its EAGAIN retries", () => {
    expect(run(-EINVAL, 8)).toBe(-EINVAL);
    expect(h.xs_client_transaction_runs()).toBe(1);
    expect(decoder.decode(requests.at(-1)!.payload)).toBe("F\0");
    expect(run(-EAGAIN, 4)).toBe(-EAGAIN);
    expect(h.xs_client_transaction_runs()).toBe(4);
  });

  it("a failed start is returned without running the body", () => {
    open({ onRequest: (r) => [reply(r, "ENOSPC\0", XS.ERROR)] });
    expect(run(0, 8)).toBe(-28);
    expect(h.xs_client_transaction_runs()).toBe(0);
  });
});

describe("watch registry and dispatch", () => {
  let store: StorePeer;
  beforeEach(() => {
    store = new StorePeer();
    open(store);
  });
  const [NONE, LOG, NESTED, READ] = [0, 1, 2, 3];
  const register = (path: string, token: string, maxPending = 0, mode = LOG) =>
    h.xs_client_register_watch(...arg(ARG0, path), ...arg(ARG1, token), maxPending, mode);
  const pending = (token: string) => h.xs_client_watch_count(...arg(ARG0, token), 0);
  const dropped = (token: string) => h.xs_client_watch_count(...arg(ARG0, token), 1);
  const handled = () =>
    Array.from({ length: h.xs_client_handled_count() }, (_, i) =>
      output(h.xs_client_handled(i, OUTPUT, PAGE))
        .split("\0")
        .slice(0, 2),
    );
  /** Writes that fire events; a read after them collects the events the last write's reply was followed by. */
  const fire = (...paths: string[]) => {
    for (const path of paths) expect(write(path, "v")).toBe(0);
    expect(read(paths.at(-1)!)).toBe(0);
  };

  it("handlers run from dispatch, oldest first, each with its own token; handler-less events stay for nextEvent", () => {
    expect(register("/a", "A")).toBe(0);
    expect(register("/b", "B")).toBe(0);
    expect(watch("/c", "C")).toBe(0);
    fire("/a/1", "/c/1", "/b/1");
    expect(h.xs_client_dispatch()).toBe(4);
    expect(handled()).toEqual([
      ["/a", "A"],
      ["/b", "B"],
      ["/a/1", "A"],
      ["/b/1", "B"],
    ]);
    expect(h.xs_client_pending_events()).toBe(2);
    expect(nextEvent()).toEqual(["/c", "C"]);
    expect(nextEvent()).toEqual(["/c/1", "C"]);
    expect(register("/a", "A")).toBe(-EEXIST);
  });

  it("max_pending keeps the newest events of a watch, counting the dropped ones", () => {
    expect(register("/a", "A", 2)).toBe(0);
    expect(register("/b", "B")).toBe(0);
    fire("/a/1", "/b/1", "/a/2", "/a/3");
    expect(pending("A")).toBe(2);
    expect(dropped("A")).toBe(2);
    expect(h.xs_client_dropped_events()).toBe(2);
    expect(h.xs_client_dispatch()).toBe(4);
    expect(handled()).toEqual([
      ["/b", "B"],
      ["/b/1", "B"],
      ["/a/2", "A"],
      ["/a/3", "A"],
    ]);
    expect(pending("A")).toBe(0);
  });

  it("a watch made with watch() keeps its newest 64 events, counting the dropped ones", () => {
    expect(watch("/a", "A")).toBe(0);
    fire(...Array.from({ length: 70 }, (_, i) => `/a/${i}`));
    expect(pending("A")).toBe(64);
    expect(dropped("A")).toBe(71 - 64);
    expect(h.xs_client_dropped_events()).toBe(71 - 64);
    expect(nextEvent()).toEqual(["/a/6", "A"]);
  });

  it("an unbounded watch loses nothing: a like event adds nothing, and past its bound its events collapse into one on its path", () => {
    const collapsed = (token: string) => h.xs_client_watch_count(...arg(ARG0, token), 2);
    expect(register("/a", "A", 0, NONE)).toBe(0);
    expect(register("/b", "B", 0, NONE)).toBe(0);
    fire("/a/1", "/b/1", "/a/1", "/a/1");
    expect(pending("A")).toBe(2);
    fire(...Array.from({ length: 70 }, (_, i) => `/a/${i}`), "/b/2");
    // The 65th distinct event of A collapsed its queue where its oldest was; what came after is covered by it.
    expect(pending("A")).toBe(1);
    expect(collapsed("A")).toBe(1);
    expect(dropped("A")).toBe(0);
    expect(h.xs_client_dropped_events()).toBe(0);
    expect([nextEvent(), nextEvent(), nextEvent(), nextEvent(), nextEvent()]).toEqual([
      ["/a", "A"],
      ["/b", "B"],
      ["/b/1", "B"],
      ["/b/2", "B"],
      null,
    ]);
    // Once taken, the watch queues events again.
    fire("/a/3");
    expect(nextEvent()).toEqual(["/a/3", "A"]);
  });

  it("unregister cancels that watch's queued events and sends UNWATCH", () => {
    expect(register("/a", "A")).toBe(0);
    expect(register("/b", "B")).toBe(0);
    fire("/a/1", "/b/1");
    expect(h.xs_client_unregister_watch(...arg(ARG0, "A"))).toBe(0);
    expect(decoder.decode(requests.at(-1)!.payload)).toBe("/a\0A\0");
    expect(h.xs_client_dispatch()).toBe(2);
    expect(handled()).toEqual([
      ["/b", "B"],
      ["/b/1", "B"],
    ]);
    expect(h.xs_client_unregister_watch(...arg(ARG0, "A"))).toBe(-ENOENT);
  });

  it("dispatch never nests: a call from inside a handler returns 0 and the outer loop runs the rest", () => {
    expect(register("/a", "A", 0, NESTED)).toBe(0);
    expect(register("/b", "B")).toBe(0);
    fire("/a/1", "/b/1");
    expect(h.xs_client_dispatch()).toBe(4);
    expect(h.xs_client_nested_dispatches()).toBe(2);
    expect(h.xs_client_nested_dispatched()).toBe(0);
    expect(handled()).toEqual([
      ["/a", "A"],
      ["/b", "B"],
      ["/a/1", "A"],
      ["/b/1", "B"],
    ]);
  });

  it("events that handlers' own requests bring in are dispatched by the same call; dispatch takes in what is on the ring", () => {
    expect(register("/a", "A", 0, READ)).toBe(0);
    // The registration event is still on the ring: dispatch polls it in.
    expect(h.xs_client_dispatch()).toBe(1);
    expect(write("/a/1", "v")).toBe(0);
    // The handler's read of /a/1 follows the event of the write of /a/2 that is still on the ring.
    expect(write("/a/2", "v")).toBe(0);
    expect(h.xs_client_dispatch()).toBe(2);
    expect(handled()).toEqual([
      ["/a/1", "A"],
      ["/a/2", "A"],
    ]);
  });

  it("a failed registration forgets the watch", () => {
    open({ onRequest: (r) => [reply(r, "ENOSPC\0", XS.ERROR)] });
    expect(register("/a", "A")).toBe(-28);
    expect(pending("A")).toBe(-1);
  });
});

describe("the connection restarted under the client", () => {
  let store: StorePeer;
  beforeEach(() => {
    store = new StorePeer();
    open(store);
  });
  const types = () => requests.map((r) => [r.type, decoder.decode(r.payload)]);
  /** The next request of `type` reaches the peer, and the connection restarts before it answers. */
  const restartAfter = (type: number) => {
    const serve = store.onRequest.bind(store);
    store.onRequest = (r) => {
      if (r.type !== type) return serve(r);
      store.onRequest = serve;
      restarts = 1;
      return [];
    };
  };

  it("a request the restart interrupts is -EAGAIN; watches are sent again, queued events kept, transactions stale without a request", () => {
    expect(watch("/a", "A")).toBe(0);
    expect(write("/a/1", "v")).toBe(0); // its event stays queued
    expect(h.xs_client_transaction_start()).toBe(0);
    const tx = h.xs_client_transaction();
    requests.length = 0;
    restarts = 1;
    expect(read("/a/1")).toBe(-EAGAIN);
    // The READ on the ring went with the restart; then WATCH again, which fires once.
    expect(types()).toEqual([[XS.WATCH, "/a\0A\0"]]);
    expect(h.xs_client_failure()).toBe(0);
    h.xs_client_poll_events();
    expect([nextEvent(), nextEvent(), nextEvent(), nextEvent()]).toEqual([
      ["/a", "A"],
      ["/a/1", "A"],
      ["/a", "A"],
      null,
    ]);
    expect(write("/a/2", "v", tx)).toBe(-EAGAIN);
    expect(h.xs_client_transaction_end(tx, 1)).toBe(-EAGAIN);
    expect(h.xs_client_transaction_end(tx, 1)).toBe(-ENOENT);
    expect(requests.length).toBe(1);
    expect(read("/a/1")).toBe(0);
  });

  it("a transaction the restart makes stale is started over by runTransaction", () => {
    store.conflicts = 0;
    restartAfter(XS.WRITE); // the body's write in the first attempt
    expect(h.xs_client_run_transaction(...arg(ARG0, "/t/v"), ...arg(ARG1, "1"), 0, 8)).toBe(0);
    expect(h.xs_client_transaction_runs()).toBe(2);
    expect(decoder.decode(store.nodes.get("/t/v")!)).toBe("1");
  });

  it("a restart under WATCH leaves the watch registered (the reset sends it); under UNWATCH, gone", () => {
    restartAfter(XS.WATCH);
    requests.length = 0;
    expect(watch("/x", "X")).toBe(0);
    expect(types()).toEqual([
      [XS.WATCH, "/x\0X\0"],
      [XS.WATCH, "/x\0X\0"],
    ]);
    expect(h.xs_client_watch_count(...arg(ARG0, "X"), 0)).toBeGreaterThanOrEqual(0);

    restartAfter(XS.UNWATCH);
    requests.length = 0;
    expect(unwatch("/x", "X")).toBe(0);
    expect(types()).toEqual([[XS.UNWATCH, "/x\0X\0"]]);
    expect(h.xs_client_watch_count(...arg(ARG0, "X"), 0)).toBe(-1);
  });

  it("connectionReset drops a watch xenstored refuses and counts it; the others stay registered", () => {
    expect(watch("/a", "A")).toBe(0);
    expect(watch("/b", "B")).toBe(0);
    expect(watch("/c", "C")).toBe(0);
    const original = store.onRequest.bind(store);
    store.onRequest = (r) =>
      r.type === XS.WATCH && decoder.decode(r.payload) === "/b\0B\0" ? [reply(r, "E2BIG\0", XS.ERROR)] : original(r);
    expect(h.xs_client_connection_reset()).toBe(-E2BIG);
    expect(h.xs_client_lost_watches()).toBe(1);
    expect(h.xs_client_watch_count(...arg(ARG0, "B"), 0)).toBe(-1);
    expect(h.xs_client_watch_count(...arg(ARG0, "C"), 0)).toBeGreaterThan(0);
  });

  it("a restart while watches are sent again starts the re-registration over; one that keeps coming gives up with -EAGAIN", () => {
    expect(watch("/a", "A")).toBe(0);
    expect(watch("/b", "B")).toBe(0);
    requests.length = 0;
    restarts = 1;
    expect(h.xs_client_connection_reset()).toBe(0);
    // The first WATCH went with the restart, and the loop started over.
    expect(restarts).toBe(0);
    expect(types()).toEqual([
      [XS.WATCH, "/a\0A\0"],
      [XS.WATCH, "/b\0B\0"],
    ]);
    expect(store.watches).toEqual([
      ["/a", "A"],
      ["/b", "B"],
      ["/a", "A"],
      ["/b", "B"],
    ]);

    requests.length = 0;
    restarts = 1000;
    expect(h.xs_client_connection_reset()).toBe(-EAGAIN);
    expect(requests.length).toBe(0);
    expect(blocks).toBeLessThan(20);
    restarts = 0;
    expect(h.xs_client_connection_reset()).toBe(0);
    expect(read("/a")).toBe(-ENOENT);
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
      onBlock: (p) => {
        p.setUint32(RSP_PROD, 5000, true);
        return false;
      },
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
      fc.constantFrom(
        ...[
          "ENOENT\0",
          "EAGAIN",
          "E2BIG\0",
          "ENOTEMPTY\0",
          "/a\0tok\0",
          "/a\0",
          "b0\0r1\0",
          "7\0",
          "OK\0",
          "",
          "1\0a\0\0",
          "1\0a\0",
        ].map((s) => encoder.encode(s)),
      ),
    ),
    // Announce a different length than the bytes that follow (truncated or overlong messages).
    lengthDelta: fc.oneof(
      fc.constant(0),
      fc.constant(0),
      fc.integer({ min: -8, max: 8 }),
      fc.integer({ min: 0, max: 0xffffffff }),
    ),
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
    ["rm_tree", true, () => h.xs_client_rm_tree(0, ...arg(ARG0, "/a"))],
    ["read_int", true, () => h.xs_client_read_int(0, ...arg(ARG0, "/a"))],
    ["gather", true, () => Math.min(0, -h.xs_client_gather(0, ...arg(ARG0, "/a"), ...list(ARG1, ["x", "y"])))],
    ["control", true, () => h.xs_client_control(...arg(ARG0, "log"), ...list(ARG1, ["on"]))],
    ["reset_watches", true, () => h.xs_client_reset_watches()],
    ["get_feature", true, () => h.xs_client_get_feature(3)],
    ["get_quota", true, () => h.xs_client_get_quota(-1, ...arg(ARG0, "nodes"))],
    ["quota_names", true, () => h.xs_client_quota_names()],
    ["run_transaction", true, () => h.xs_client_run_transaction(...arg(ARG0, "/a"), ...arg(ARG1, "v"), 0, 3)],
    [
      "dispatch",
      false,
      () => {
        h.xs_client_register_watch(...arg(ARG0, "/a"), ...arg(ARG1, "tok"), 2, 3);
        return Math.min(0, -h.xs_client_dispatch());
      },
    ],
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
            if (script.indices !== null && block === script.indices.onBlock)
              p.setUint32(script.indices.at, script.indices.value, true);
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
        const possible = script.messages.some(
          (m) => m.reqIdDelta === 0 && (m.payload.length + m.lengthDelta) >>> 0 <= 4096,
        );
        if (rc >= 0 && needsReply) expect(possible).toBe(true);
        const after =
          mem().slice(scratch, STORE).join() +
          mem()
            .slice(STORE + PAGE, ARG0)
            .join();
        expect(after).toBe(before);
        // Whatever happened, a fresh request after a protocol violation fails cleanly or works.
        expect(read("/x")).toBeLessThanOrEqual(0);
      }),
      { numRuns: 1500 },
    );
  });
});
