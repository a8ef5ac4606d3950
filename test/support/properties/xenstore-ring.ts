// Property: the real guest module's XenStore client, connected over the real
// store ring, meets a hostile xenstored. The toolstack releases the domain
// from the simulated xenstored and a hostile dom0 peer takes its place on
// the same page and port. Every time it runs, the peer writes what
// fast-check scripted: messages with any type, req_id, length (up to and
// beyond 4096), truncated or oversized, payloads that are garbage or almost
// right (unterminated strings, watch events with missing fields), raw bytes,
// any ring index anywhere in u32 space, and the `error` field.
//
// Every xs_* export must return a negative errno or a well-formed result;
// the guest must never trap or die, except that a guest left waiting on a
// peer that stopped answering is killed by the scheduler's deadlock report;
// and the guest must write nothing but what a ring client may: request bytes
// into the request ring's free space, its own indices, and its result into
// the `out` page.

import { constants } from "node:os";
import fc from "fast-check";
import { expect } from "vitest";
import { startXenstore } from "../../../host/dom0/toolstack.js";
import { XsType } from "../../../host/dom0/xenstored/wire.js";
import { HVM_PARAM, XENSTORE, xenstore_domain_interface } from "../../../host/xen/abi.js";
import { CONSOLE_GFN, STORE_GFN } from "../../../host/xen/builder.js";
import { Hypervisor } from "../../../host/xen/hypervisor.js";
import type { Engine } from "../../../runtime/engine.js";
import { GuardedScratch } from "../scratch.js";
import { worldFactory } from "../world-snapshot.js";
import { bootXenbus, type Xenbus } from "../xenbus.js";
import { expectIs } from "./target.js";

const PAGE = 4096;
const RING = XENSTORE.RING_SIZE;
const FIELD = xenstore_domain_interface.fields;
const PAYLOAD_MAX = 4096;
const HEADER = 16;
/** Pages the guest must never write: any write there is a stray pointer in the client. */
const SENTINEL_PAGES = 4;

const encoder = new TextEncoder();
const errnos = new Set<number>(Object.values(constants.errno));
const TOKENS = ["t0", "t1", "t2"];
const PATHS = ["data/w", "/local/domain/1/data", "name", "", "a/b/c"];
const ERROR_NAMES = ["ENOENT", "EAGAIN", "EACCES", "EEXIST", "E2BIG", "EIO", "EQUOTA", ""];

const u32 = (bytes: Uint8Array, at: number): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
const setU32 = (bytes: Uint8Array, at: number, value: number): void =>
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value >>> 0, true);

/**
 * The store page between two runs of the peer. Between them only the guest
 * runs, so whatever changed is the guest's doing and must be what a ring
 * client may write.
 */
class StorePageWatch {
  private before: Uint8Array;

  constructor(private readonly page: () => Uint8Array) {
    this.before = page().slice();
  }

  snapshot(): void {
    this.before = this.page().slice();
  }

  /** Throws unless, since the snapshot, the guest only produced requests into free space, consumed replies, or reset impossible indices. */
  expectClientWritesOnly(): void {
    const [was, now] = [this.before, this.page()];
    const requests = this.direction("request", was, now, FIELD.req_cons, FIELD.req_prod);
    const replies = this.direction("reply", was, now, FIELD.rsp_cons, FIELD.rsp_prod);
    // The guest's index moves, bounded by what the indices it found allowed.
    const produced = (u32(now, FIELD.req_prod) - u32(was, FIELD.req_prod)) >>> 0;
    if (requests.valid && (u32(now, FIELD.req_cons) !== u32(was, FIELD.req_cons) || produced > RING - requests.used)) {
      throw new Error(
        `the guest moved the request indices from ${requests.describe(was)} to ${requests.describe(now)}`,
      );
    }
    const consumed = (u32(now, FIELD.rsp_cons) - u32(was, FIELD.rsp_cons)) >>> 0;
    if (replies.valid && (u32(now, FIELD.rsp_prod) !== u32(was, FIELD.rsp_prod) || consumed > replies.used)) {
      throw new Error(`the guest moved the reply indices from ${replies.describe(was)} to ${replies.describe(now)}`);
    }
    const freeSpaceStart = u32(was, FIELD.req_prod);
    for (let at = 0; at < PAGE; at++) {
      if (now[at] === was[at] || (at >= FIELD.req_cons && at < FIELD.rsp_prod + 4)) continue;
      // Request bytes: only the `produced` bytes from where the producer index was.
      if (at < FIELD.rsp && requests.valid && ((at - freeSpaceStart) & (RING - 1)) < produced) continue;
      throw new Error(`the guest wrote store page byte ${at} (${was[at]} → ${now[at]}), where a ring client may not`);
    }
  }

  /** One ring's indices as the snapshot had them; with impossible ones the guest may only reset both to 0. */
  private direction(name: string, was: Uint8Array, now: Uint8Array, consAt: number, prodAt: number) {
    const describe = (bytes: Uint8Array) => `cons ${u32(bytes, consAt)} prod ${u32(bytes, prodAt)}`;
    const used = (u32(was, prodAt) - u32(was, consAt)) >>> 0;
    const valid = used <= RING;
    const unchanged = describe(now) === describe(was);
    if (!valid && !unchanged && describe(now) !== "cons 0 prod 0") {
      throw new Error(
        `the guest left the ${name} ring's impossible indices (${describe(was)}) as ${describe(now)}, not reset`,
      );
    }
    return { valid, used, describe };
  }
}

// What the peer does each time it runs.
type TypeChoice = "request" | number;
type ReqIdChoice = "request" | { before: number } | { literal: number };
/** Almost right for the type it goes out with (resolved when sent), or given bytes. */
type PayloadChoice = { fitting: number; bytes: Uint8Array } | { bytes: Uint8Array };
type Act =
  | {
      kind: "message";
      type: TypeChoice;
      reqId: ReqIdChoice;
      txId: number;
      payload: PayloadChoice;
      announced: "exact" | number;
      cut: number | null;
    }
  | { kind: "raw"; bytes: Uint8Array }
  | { kind: "index"; at: number; value: { absolute: number } | { delta: number } }
  | { kind: "error"; value: number }
  | { kind: "nothing" };
interface Action {
  /** Take the guest's requests off the request ring first, as a server would. */
  consume: boolean;
  act: Act;
  /** Signal the guest afterwards. */
  notify: boolean;
}

const u32Arb = fc.integer({ min: 0, max: 0xffffffff });
const textPayload = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.constantFrom(...TOKENS, ...PATHS, ...ERROR_NAMES, "OK", "T", "F", "7", "4294967296", "ü"),
        fc.string({ maxLength: 12 }),
      ),
      { maxLength: 4 },
    ),
    fc.boolean(),
  )
  .map(([parts, terminated]) => encoder.encode(parts.join("\0") + (terminated ? "\0" : "")));
const payload: fc.Arbitrary<PayloadChoice> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ fitting: fc.nat(1000), bytes: fc.uint8Array({ maxLength: 40 }) }) },
  { weight: 2, arbitrary: textPayload.map((bytes) => ({ bytes })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ bytes })) },
  // Beyond one ring, up to and past the largest payload.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1000, max: PAYLOAD_MAX + 100 }), fc.nat(255))
      .map(([length, fill]) => ({ bytes: new Uint8Array(length).fill(fill) })),
  },
);
const message = fc.record({
  kind: fc.constant("message" as const),
  type: fc.oneof(
    { weight: 5, arbitrary: fc.constant("request" as const) },
    { weight: 2, arbitrary: fc.constantFrom(XsType.WATCH_EVENT, XsType.ERROR) },
    { weight: 1, arbitrary: fc.constantFrom(...Object.values(XsType), 20, 0xffffffff) },
    { weight: 1, arbitrary: u32Arb },
  ),
  reqId: fc.oneof(
    { weight: 6, arbitrary: fc.constant("request" as const) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }).map((before) => ({ before })) },
    { weight: 1, arbitrary: u32Arb.map((literal) => ({ literal })) },
  ),
  txId: fc.oneof(fc.constant(0), u32Arb),
  payload,
  announced: fc.oneof(
    { weight: 6, arbitrary: fc.constant("exact" as const) },
    { weight: 1, arbitrary: fc.nat(PAYLOAD_MAX + 1000) },
    { weight: 1, arbitrary: fc.constantFrom(PAYLOAD_MAX, PAYLOAD_MAX + 1, 0x7fffffff, 0xffffffff) },
  ),
  cut: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat(80) }),
});
/** The reply the guest waits for, its payload almost right: so that calls get far enough for later ones to meet a working connection. */
const reply = fc.record({
  kind: fc.constant("message" as const),
  type: fc.constant("request" as const),
  reqId: fc.constant("request" as const),
  txId: fc.constant(0),
  payload: fc.record({ fitting: fc.nat(1000), bytes: fc.uint8Array({ maxLength: 40 }) }),
  announced: fc.constant("exact" as const),
  cut: fc.constant(null),
});
const watchEvent = reply.map((event) => ({ ...event, type: XsType.WATCH_EVENT }));
const act: fc.Arbitrary<Act> = fc.oneof(
  { weight: 6, arbitrary: reply },
  { weight: 2, arbitrary: watchEvent },
  { weight: 3, arbitrary: message },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("raw" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("index" as const),
      at: fc.constantFrom(FIELD.req_cons, FIELD.req_prod, FIELD.rsp_cons, FIELD.rsp_prod),
      value: fc.oneof(
        u32Arb.map((absolute) => ({ absolute })),
        fc.integer({ min: -1100, max: 1100 }).map((delta) => ({ delta })),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("error" as const), value: fc.oneof(fc.constantFrom(0, 1, 2, 3), u32Arb) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "nothing" as const }) },
);
const action: fc.Arbitrary<Action> = fc.record({
  consume: fc.nat(4).map((n) => n > 0),
  act,
  notify: fc.nat(4).map((n) => n > 0),
});

/**
 * dom0 in xenstored's place: bound to the guest's store port, and to a
 * loopback port it signals to run again while its script lasts, so it also
 * acts when the guest has nothing to say. With the script done it falls
 * silent.
 */
class HostilePeer {
  script: Action[] = [];
  private readonly tick: number;
  private readonly port: number;
  /** Bytes scripted for the reply ring that did not fit yet. */
  private unsent = new Uint8Array(0);
  /** Request bytes taken off the ring that do not make a whole message yet. */
  private partial = new Uint8Array(0);
  private lastRequest = { type: XsType.READ as number, reqId: 0 };

  constructor(
    private readonly hv: Hypervisor,
    guest: Xenbus,
    private readonly page: () => Uint8Array,
    private readonly storeWatch: StorePageWatch,
  ) {
    const dom0 = hv.dom0.evtchn;
    this.port = dom0.bindInterdomain(guest.domid, Number(guest.domain.params.get(HVM_PARAM.STORE_EVTCHN)!));
    const loopback = dom0.bindUnboundPort(hv.dom0.domid);
    this.tick = dom0.bindInterdomain(hv.dom0.domid, loopback);
    dom0.on(this.port, () => this.run());
    dom0.on(loopback, () => this.run());
  }

  /** Makes the peer run at the scheduler's next step, whoever waits. */
  wake(): void {
    this.hv.dom0.evtchn.notify(this.tick);
  }

  private run(): void {
    this.storeWatch.expectClientWritesOnly();
    const next = this.script.shift();
    if (next) {
      if (next.consume) this.consumeRequests();
      this.perform(next.act);
      this.sendUnsent();
    }
    this.storeWatch.snapshot();
    if (next?.notify) this.hv.dom0.evtchn.notify(this.port);
    if (this.script.length > 0) this.wake();
  }

  private perform(act: Act): void {
    const page = this.page();
    switch (act.kind) {
      case "message":
        this.queue(this.encode(act));
        break;
      case "raw":
        this.queue(act.bytes);
        break;
      case "index":
        setU32(page, act.at, "absolute" in act.value ? act.value.absolute : u32(page, act.at) + act.value.delta);
        break;
      case "error":
        setU32(page, FIELD.error, act.value);
        break;
      case "nothing":
        break;
    }
  }

  private encode(act: Extract<Act, { kind: "message" }>): Uint8Array {
    const type = act.type === "request" ? this.lastRequest.type : act.type;
    const reqId =
      act.reqId === "request"
        ? this.lastRequest.reqId
        : "before" in act.reqId
          ? this.lastRequest.reqId - act.reqId.before
          : act.reqId.literal;
    const body =
      "fitting" in act.payload ? this.fitting(type, act.payload.fitting, act.payload.bytes) : act.payload.bytes;
    const bytes = new Uint8Array(HEADER + body.length);
    [type, reqId, act.txId, act.announced === "exact" ? body.length : act.announced].forEach((value, i) =>
      setU32(bytes, 4 * i, value),
    );
    bytes.set(body, HEADER);
    return act.cut === null ? bytes : bytes.subarray(0, act.cut);
  }

  /** A payload a careless reading would take for a proper reply of `type`. */
  private fitting(type: number, choice: number, bytes: Uint8Array): Uint8Array {
    switch (type) {
      case XsType.READ:
        return bytes;
      case XsType.DIRECTORY:
        return encoder.encode(
          ["a", "b", "node", "ü"]
            .slice(0, choice % 5)
            .map((name) => `${name}\0`)
            .join(""),
        );
      case XsType.TRANSACTION_START:
        return encoder.encode(`${choice % 3 === 0 ? 0 : choice}\0`);
      case XsType.WATCH_EVENT:
        return encoder.encode(`${PATHS[choice % PATHS.length]}\0${TOKENS[choice % TOKENS.length]}\0`);
      case XsType.ERROR:
        return encoder.encode(`${ERROR_NAMES[choice % ERROR_NAMES.length]}\0`);
      default:
        return encoder.encode("OK\0");
    }
  }

  private queue(bytes: Uint8Array): void {
    const joined = new Uint8Array(this.unsent.length + bytes.length);
    joined.set(this.unsent);
    joined.set(bytes, this.unsent.length);
    this.unsent = joined;
  }

  /** As much of the queue as the reply ring has room for, by the indices as they are now. */
  private sendUnsent(): void {
    const page = this.page();
    const prod = u32(page, FIELD.rsp_prod);
    const used = (prod - u32(page, FIELD.rsp_cons)) >>> 0;
    if (used > RING) return;
    const count = Math.min(this.unsent.length, RING - used);
    for (let i = 0; i < count; i++) page[FIELD.rsp + ((prod + i) & (RING - 1))] = this.unsent[i]!;
    setU32(page, FIELD.rsp_prod, prod + count);
    this.unsent = this.unsent.subarray(count);
  }

  /** Takes the request bytes in the ring and notes the type and req_id of the last whole request. */
  private consumeRequests(): void {
    const page = this.page();
    const cons = u32(page, FIELD.req_cons);
    const prod = u32(page, FIELD.req_prod);
    const count = (prod - cons) >>> 0;
    if (count > RING) return;
    let stream = new Uint8Array(this.partial.length + count);
    stream.set(this.partial);
    for (let i = 0; i < count; i++) stream[this.partial.length + i] = page[FIELD.req + ((cons + i) & (RING - 1))]!;
    setU32(page, FIELD.req_cons, prod);
    while (stream.length >= HEADER) {
      const length = u32(stream, 12);
      if (length > PAYLOAD_MAX) {
        stream = new Uint8Array(0); // our own index games desynchronised the stream
        break;
      }
      if (stream.length < HEADER + length) break;
      this.lastRequest = { type: u32(stream, 0), reqId: u32(stream, 4) };
      stream = stream.subarray(HEADER + length);
    }
    this.partial = stream.slice();
  }
}

// What the guest is asked to do; each call comes with the peer's script for it.
type Call =
  | { kind: "read" | "directory"; path: string }
  | { kind: "write"; path: string; value: Uint8Array }
  | { kind: "watch" | "unwatch"; path: string; token: string }
  | { kind: "transaction_start" }
  | { kind: "transaction_end"; tx: "last" | number; commit: boolean }
  /** The peer plays its script while the guest is idle (its upcall takes what comes), then the guest takes an event. */
  | { kind: "next_event" };

const path = fc.constantFrom(...PATHS);
const token = fc.constantFrom(...TOKENS);
const call: fc.Arbitrary<Call> = fc.oneof(
  fc.record({ kind: fc.constantFrom("read" as const, "directory" as const), path }),
  fc.record({ kind: fc.constant("write" as const), path, value: fc.uint8Array({ maxLength: 32 }) }),
  fc.record({ kind: fc.constantFrom("watch" as const, "unwatch" as const), path, token }),
  fc.record({ kind: fc.constant("transaction_start" as const) }),
  fc.record({
    kind: fc.constant("transaction_end" as const),
    tx: fc.oneof(fc.constant("last" as const), u32Arb),
    commit: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("next_event" as const) }),
);
/** A server that answers properly (watch events included), so that a run gets further than its first protocol violation. */
const calm = fc.array(
  fc
    .oneof({ weight: 3, arbitrary: reply }, { weight: 1, arbitrary: watchEvent })
    .map((act): Action => ({ consume: true, act, notify: true })),
  { minLength: 1, maxLength: 4 },
);
const step = fc.record({
  call,
  script: fc.oneof({ weight: 2, arbitrary: calm }, { weight: 3, arbitrary: fc.array(action, { maxLength: 12 }) }),
});

/** A guest connected through the real xenstored, which then hands its ring to a hostile peer. */
class HostileWorld {
  readonly hv = new Hypervisor();
  /** Held here, not only by the hypervisor's listeners: a restored world is what its fields reach (test/support/world-snapshot.ts). */
  readonly service = startXenstore(this.hv);
  readonly guest: Xenbus;
  readonly peer: HostilePeer;
  private readonly pathPage: number;
  private readonly argPage: number;
  private readonly out: GuardedScratch;
  private readonly sentinels: GuardedScratch[] = [];
  private readonly storeWatch: StorePageWatch;
  private readonly consolePage: number;
  /** Tokens of the watches the guest has registered, as its exports reported. */
  private readonly watched = new Set<string>();
  private lastTransaction = 0;
  private calls = 0;

  constructor(engine: Engine) {
    this.guest = bootXenbus(this.hv, "victim", engine);
    expect(this.guest.exports.xs_init()).toBe(0);
    expect(this.guest.exports.console_init()).toBe(0);
    const page = (): number => {
      const address = this.guest.exports.page_alloc();
      expect(address).toBeGreaterThan(0);
      return address;
    };
    [this.pathPage, this.argPage] = [page(), page()];
    const memory = () => this.guest.memory();
    this.out = new GuardedScratch(memory, page(), PAGE, (address) => `out+${address - this.out.base}`);
    for (let i = 0; i < SENTINEL_PAGES; i++) {
      const sentinel = new GuardedScratch(memory, page(), PAGE);
      sentinel.fill(i + 1);
      this.sentinels.push(sentinel);
    }
    // Where the guest moved its store and console pages.
    const special = this.guest.domain.specialPages;
    const store = special.get(STORE_GFN)!.gfn! * PAGE;
    this.consolePage = special.get(CONSOLE_GFN)!.gfn! * PAGE;
    // What the toolstack does to stop xenstored serving a domain; the guest's port is left unbound for dom0 to bind again.
    this.service.xenstored.releaseDomain(this.guest.domid);
    const storePage = () => this.guest.memory().subarray(store, store + PAGE);
    this.storeWatch = new StorePageWatch(storePage);
    this.peer = new HostilePeer(this.hv, this.guest, storePage, this.storeWatch);
  }

  /** Pages the guest has no business writing: its arguments, the sentinels, the console ring. */
  private untouchable(): Array<[string, Uint8Array]> {
    const memory = this.guest.memory();
    return [
      ["the path argument's page", memory.slice(this.pathPage, this.pathPage + PAGE)],
      ["the value or token argument's page", memory.slice(this.argPage, this.argPage + PAGE)],
      ["the console page", memory.slice(this.consolePage, this.consolePage + PAGE)],
      ...this.sentinels.map((sentinel, i): [string, Uint8Array] => [`sentinel page ${i}`, sentinel.snapshot()]),
    ];
  }

  /** Runs one call against the peer's script: false once the guest is dead. */
  perform(call: Call, script: Action[]): boolean {
    const what = `call ${++this.calls} ${JSON.stringify(call)}`;
    const run = this.prepare(call);
    this.out.fill(this.calls);
    const outBefore = this.out.snapshot();
    const untouchable = this.untouchable();
    this.peer.script = script;
    const rc = run();
    this.storeWatch.expectClientWritesOnly();
    this.storeWatch.snapshot();
    this.untouchable().forEach(([name, bytes], i) => {
      // Buffer.compare, not toEqual: a deep comparison of typed arrays costs more than the call.
      expectIs(Buffer.compare(bytes, untouchable[i]![1]), 0, `${what} wrote into ${name}`);
    });
    if (rc === undefined) {
      // Only the scheduler's report of a guest waiting on a peer that fell silent may end it.
      expect(this.guest.exit?.message, what).toMatch(/can never wake/);
      this.out.expectOnlyChanged(outBefore, []);
      return false;
    }
    expectIs(this.guest.exit, null, what);
    expectIs(Number.isInteger(rc), true, what);
    if (rc < 0) expectIs(errnos.has(-rc), true, `${what}: ${rc} is no errno`);
    const result = this.guest.memory().slice(this.out.base, this.out.base + Math.max(rc, 0));
    this.out.expectOnlyChanged(outBefore, rc > 0 ? [[this.out.base, this.out.base + rc]] : []);
    if (rc >= 0) this.expectWellFormed(call, rc, result, what);
    this.track(call, rc, what);
    return true;
  }

  /** Puts the call's arguments in their pages: the call itself, to run. */
  private prepare(call: Call): () => number | undefined {
    const x = this.guest.exports;
    const out = this.out.base;
    const put = (at: number, bytes: Uint8Array): number => {
      this.guest.memory().set(bytes, at);
      return bytes.length;
    };
    const pathArgs = (text: string): [number, number] => [this.pathPage, put(this.pathPage, encoder.encode(text))];
    const tx = this.lastTransaction;
    switch (call.kind) {
      case "read": {
        const args = pathArgs(call.path);
        return () => x.xs_read(tx, ...args, out);
      }
      case "directory": {
        const args = pathArgs(call.path);
        return () => x.xs_directory(tx, ...args, out);
      }
      case "write": {
        const args = pathArgs(call.path);
        const length = put(this.argPage, call.value);
        return () => x.xs_write(tx, ...args, this.argPage, length);
      }
      case "watch":
      case "unwatch": {
        const args = pathArgs(call.path);
        const length = put(this.argPage, encoder.encode(call.token));
        return call.kind === "watch"
          ? () => x.xs_watch(...args, this.argPage, length)
          : () => x.xs_unwatch(...args, this.argPage, length);
      }
      case "transaction_start":
        return () => x.xs_transaction_start();
      case "transaction_end":
        return () => x.xs_transaction_end(call.tx === "last" ? tx : call.tx, call.commit);
      case "next_event":
        return () => {
          this.peer.wake();
          this.hv.runUntilIdle();
          return this.guest.exit ? undefined : x.xs_next_event(out);
        };
    }
  }

  /** Keeps up with the watches and the transaction the guest has, as its results say. */
  private track(call: Call, rc: number, what: string): void {
    if (call.kind === "watch" && rc === 0) this.watched.add(call.token);
    // The guest forgets a watch whatever the server says about removing it.
    if (call.kind === "unwatch") this.watched.delete(call.token);
    if (call.kind === "transaction_start" && rc === 0) {
      this.lastTransaction = this.guest.exports.xs_transaction_id() >>> 0;
      expectIs(this.lastTransaction > 0, true, `${what}: id 0 would make later requests non-transactional`);
    }
  }

  /** Checks a result that is not an error. */
  private expectWellFormed(call: Call, rc: number, result: Uint8Array, what: string): void {
    const text = () => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(result);
    switch (call.kind) {
      case "read":
        expectIs(rc <= PAYLOAD_MAX, true, `${what}: ${rc} bytes`);
        return;
      case "directory":
        expectIs(rc <= PAGE, true, `${what}: ${rc} bytes`);
        // Names, each NUL-terminated, in valid UTF-8.
        if (rc > 0) expectIs(result[rc - 1], 0, what);
        text();
        return;
      case "next_event": {
        if (rc === 0) return;
        const fields = text().split("\0");
        expectIs(fields.length, 3, `${what}: ${JSON.stringify(fields)}`);
        expectIs(fields[0] !== "", true, `${what}: an empty path`);
        expectIs(fields[2], "", what);
        // Only events of a watch the guest has.
        expectIs(this.watched.has(fields[1]!), true, `${what}: token ${fields[1]}`);
        return;
      }
      case "watch":
      case "unwatch":
      case "transaction_start":
      case "write":
      case "transaction_end":
        expectIs(rc <= 0, true, `${what}: ${rc}`);
        return;
    }
  }
}

/** A hostile xenstored on the store ring gets errors or well-formed results from every export, never a trap or a stray write. */
export function hostileXenstoreRingProperty(engine: Engine) {
  const booted = worldFactory(engine, (engine) => new HostileWorld(engine));
  return fc.property(fc.array(step, { minLength: 1, maxLength: 10 }), (steps) => {
    const world = booted();
    for (const { call, script } of steps) if (!world.perform(call, script)) break;
  });
}
