// The component against a hostile xenstored: the simulated one, with its
// replies mangled on the way (truncated, lengths past the limit, other types
// and req_ids, garbage and invalid UTF-8 payloads, extra messages, bytes
// dribbled out). Whatever arrives, every call gives a value or an xs-error:
// never a trap, never a malformed result (the strict host of
// test/support/component-core.ts checks layouts and UTF-8), and once it says
// eio it says eio for good (a watch on a token it holds aside: that is eexist
// before any request).
import fc from "fast-check";
import { expect } from "vitest";
import { XenStored } from "../../../host/dom0/xenstored/server.js";
import { encodeMessage, strings, textToBytes, XsType } from "../../../host/dom0/xenstored/wire.js";
import { type ByteStream, StreamError } from "../../../runtime/component.js";
import { CoreClient, type Result } from "../component-core.js";

type Mutation =
  | { kind: "none" }
  | { kind: "truncate"; keep: number }
  | { kind: "length"; length: number }
  | { kind: "type"; type: number }
  | { kind: "reqId"; reqId: number }
  | { kind: "payload"; payload: Uint8Array }
  | { kind: "flip"; offset: number; xor: number }
  | { kind: "inject"; message: Uint8Array }
  | { kind: "dribble"; size: number };

/** Payloads a hostile xenstored might send: names, numbers, error names, invalid UTF-8, NULs in odd places, noise. */
const nastyPayload = fc.oneof(
  fc.constantFrom(
    strings("OK"),
    strings("ENOENT"),
    strings("EBOGUS"),
    strings("1"),
    strings("4294967296"),
    strings("-1"),
    strings("b0", "r5"),
    strings("x70000"),
    strings("/path", "token"),
    strings("", ""),
    strings("gen", "a", "b", ""),
    Uint8Array.of(0xff, 0xfe, 0),
    Uint8Array.of(0xc0, 0x80, 0),
    Uint8Array.of(0xed, 0xa0, 0x80, 0),
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80, 0),
    Uint8Array.of(0x2f, 0xe2, 0x82, 0),
    new Uint8Array(0),
    new Uint8Array(4096).fill(0x61),
  ),
  fc.uint8Array({ maxLength: 64 }),
);

const header = fc.record({
  type: fc.oneof(fc.constantFrom(...Object.values(XsType)), fc.nat({ max: 0xffffffff })),
  reqId: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
});

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.constant({ kind: "none" as const }), weight: 4 },
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat(40) }),
  fc.record({
    kind: fc.constant("length" as const),
    length: fc.oneof(fc.integer({ min: 4097, max: 0xffffffff }), fc.nat(64)),
  }),
  fc.record({ kind: fc.constant("type" as const), type: header.map((h) => h.type) }),
  fc.record({ kind: fc.constant("reqId" as const), reqId: fc.integer({ min: 1, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant("payload" as const), payload: nastyPayload }),
  fc.record({ kind: fc.constant("flip" as const), offset: fc.nat(80), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    kind: fc.constant("inject" as const),
    message: fc
      .tuple(header, nastyPayload, fc.constantFrom(XsType.WATCH_EVENT, XsType.ERROR, undefined))
      .map(([h, payload, type]) => encodeMessage({ type: type ?? h.type, reqId: h.reqId, txId: 0, payload })),
  }),
  fc.record({ kind: fc.constant("dribble" as const), size: fc.integer({ min: 1, max: 7 }) }),
);

/** The chunks `reply` (one whole message from xenstored) arrives as, once mangled. */
function mangle(reply: Uint8Array, change: Mutation): Uint8Array[] {
  const bytes = reply.slice();
  const view = new DataView(bytes.buffer);
  switch (change.kind) {
    case "none":
      return [bytes];
    case "truncate":
      return [bytes.subarray(0, Math.min(change.keep, bytes.length - 1))].filter((chunk) => chunk.length > 0);
    case "length":
      view.setUint32(12, change.length, true);
      return [bytes];
    case "type":
      view.setUint32(0, change.type, true);
      return [bytes];
    case "reqId":
      view.setUint32(4, change.reqId, true);
      return [bytes];
    case "payload":
      return [
        encodeMessage({
          type: view.getUint32(0, true),
          reqId: view.getUint32(4, true),
          txId: view.getUint32(8, true),
          payload: change.payload,
        }),
      ];
    case "flip":
      if (change.offset < bytes.length) bytes[change.offset]! ^= change.xor;
      return [bytes];
    case "inject":
      return [change.message, bytes];
    case "dribble":
      return Array.from({ length: Math.ceil(bytes.length / change.size) }, (_, i) =>
        bytes.subarray(i * change.size, (i + 1) * change.size),
      );
  }
}

/** A stream into a fresh simulated xenstored whose replies are mangled by `mutations`, one per reply, then left alone. */
export function hostileStream(mutations: Mutation[]): ByteStream & { failed: boolean } {
  const xenstored = new XenStored();
  const queued: Uint8Array[] = [];
  let next = 0;
  const conn = xenstored.connect(
    0,
    (bytes) => void queued.push(...mangle(bytes, mutations[next++] ?? { kind: "none" })),
  );
  // Another connection changes a node after each request, so a watch on it sends events.
  const other = xenstored.connect(0, () => {});
  const stream = {
    failed: false,
    send(bytes: Uint8Array) {
      xenstored.receive(conn, bytes);
      xenstored.receive(
        other,
        encodeMessage({ type: XsType.WRITE, reqId: 1, txId: 0, payload: textToBytes("/w/changed\0x") }),
      );
    },
    recv(max: number) {
      const first = queued.shift();
      if (first === undefined) {
        stream.failed = true;
        throw new StreamError("io", "nothing more from the hostile xenstored");
      }
      if (first.length > max) queued.unshift(first.subarray(max));
      return first.subarray(0, max);
    },
    close() {},
  };
  return stream;
}

type Operation = { name: string; run(core: CoreClient): Result<unknown> };

const PATHS = ["/w", "/w/changed", "/a", "/a/b", "/missing"];
const path = fc.constantFrom(...PATHS);
const operation: fc.Arbitrary<Operation> = fc.oneof(
  path.map((p) => ({ name: `read ${p}`, run: (core: CoreClient) => core.read(0, p) })),
  fc
    .tuple(path, fc.uint8Array({ maxLength: 8 }))
    .map(([p, v]) => ({ name: `write ${p}`, run: (core: CoreClient) => core.write(0, p, v) })),
  path.map((p) => ({ name: `mkdir ${p}`, run: (core: CoreClient) => core.mkdir(0, p) })),
  path.map((p) => ({ name: `rm ${p}`, run: (core: CoreClient) => core.rm(0, p) })),
  path.map((p) => ({ name: `directory ${p}`, run: (core: CoreClient) => core.directory(0, p) })),
  path.map((p) => ({ name: `get-perms ${p}`, run: (core: CoreClient) => core.getPerms(0, p) })),
  path.map((p) => ({
    name: `set-perms ${p}`,
    run: (core: CoreClient) => core.setPerms(0, p, [{ domid: 0, access: 1 }]),
  })),
  fc
    .tuple(path, fc.constantFrom("t1", "t2"))
    .map(([p, t]) => ({ name: `watch ${p}`, run: (core: CoreClient) => core.watch(p, t) })),
  fc
    .tuple(path, fc.constantFrom("t1", "t2"))
    .map(([p, t]) => ({ name: `unwatch ${p}`, run: (core: CoreClient) => core.unwatch(p, t) })),
  fc.constant({ name: "next-event", run: (core: CoreClient) => core.nextEvent() }),
  fc.constant({ name: "transaction-start", run: (core: CoreClient) => core.transactionStart() }),
  fc.tuple(fc.nat(3), fc.boolean()).map(([tx, commit]) => ({
    name: `transaction-end ${tx}`,
    run: (core: CoreClient) => core.transactionEnd(tx, commit),
  })),
  fc
    .nat(70000)
    .map((domid) => ({ name: `get-domain-path ${domid}`, run: (core: CoreClient) => core.getDomainPath(domid) })),
);

/** Every call gives a well-formed value or xs-error, and eio for good once the connection is lost. */
export function hostileXenstoreProperty() {
  return fc.property(
    fc.array(mutation, { maxLength: 12 }),
    fc.array(operation, { minLength: 1, maxLength: 12 }),
    (mutations, operations) => {
      const core = new CoreClient(hostileStream(mutations));
      let lost = false;
      for (const op of operations) {
        const result = op.run(core); // a trap or malformed result throws, failing the property
        const eio = "err" in result && result.err === "eio";
        if (lost)
          expect(result, op.name).toEqual({
            err: op.name.startsWith("watch") && "err" in result && result.err === "eexist" ? "eexist" : "eio",
          });
        lost ||= eio;
      }
    },
  );
}
