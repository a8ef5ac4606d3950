// xenstored's hostile-input properties, one source for the vitest suite (the
// short CI runs) and `npm run fuzz` (long runs): the decoder and the server
// never throw, and a hostile domain never reaches another's data.
import fc from "fast-check";
import { expect } from "vitest";
import { LocalClient } from "../../../host/dom0/xenstored/client.js";
import { childPath } from "../../../host/dom0/xenstored/paths.js";
import { permToString } from "../../../host/dom0/xenstored/perms.js";
import { XenStored } from "../../../host/dom0/xenstored/server.js";
import {
  bytesToText,
  encodeMessage,
  MessageDecoder,
  strings,
  textToBytes,
  XsType,
} from "../../../host/dom0/xenstored/wire.js";
import { formatPermission } from "../../../runtime/xenstore-client.js";
import { perms } from "../perms.js";
import { expectIs } from "./target.js";

function decodeAll(chunks: Uint8Array[]) {
  const decoder = new MessageDecoder();
  const messages = [];
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    if (result === "protocol-error") return "protocol-error";
    messages.push(...result);
  }
  return messages;
}

const validMessage = fc.record({
  type: fc.nat(30),
  reqId: fc.nat({ max: 0xffffffff }),
  txId: fc.nat({ max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 4096 }),
});

const SECRET = "SECRET-OF-6";

/** dom0 with a private subtree for domain 6 and a watch of 6's, and a hostile domain 5. */
function world() {
  const server = new XenStored();
  const dom0 = new LocalClient(server, 0);
  for (const domid of [5, 6]) {
    dom0.mkdir(`/local/domain/${domid}`);
    dom0.setPerms(`/local/domain/${domid}`, perms("n0", `r${domid}`));
    dom0.mkdir(`/local/domain/${domid}/data`);
    dom0.setPerms(`/local/domain/${domid}/data`, perms(`n${domid}`));
    dom0.call(XsType.INTRODUCE, strings(String(domid), "1", "1"));
  }
  dom0.write("/secret", SECRET);
  // Small enough that the hostile domain's long paths and tokens run into it.
  dom0.call(XsType.SET_QUOTA, strings("5", "memory", "2048"));
  const victim = new LocalClient(server, 6);
  victim.write("data/private", SECRET);
  victim.setPerms("data/private", perms("n6"));
  victim.watch("data", "mine");
  victim.takeEvents();
  // An open transaction, whose id a hostile domain may well guess.
  const victimTx = victim.transactionStart();
  victim.write("data/in-transaction", "pending", victimTx);
  const hostile = new LocalClient(server, 5);
  return { server, dom0, victim, victimTx, hostile };
}

/** One node: its value, its perms as the wire spells them ("n0", "r5"; the first names the owner), its children. */
interface SeenNode {
  value: Uint8Array;
  perms: string[];
  children: string[];
}

/** Reads one node, through requests or straight from the server's tree. */
type NodeReader = (path: string) => SeenNode;

/** The node as dom0 sees it, through READ, GET_PERMS and DIRECTORY requests. */
function seenBy(dom0: LocalClient): NodeReader {
  return (path) => ({
    value: dom0.readBytes(path),
    perms: dom0.getPerms(path).map(formatPermission),
    children: dom0.directory(path),
  });
}

/**
 * The node as the server's committed tree holds it: no request, so the walk
 * after each request costs no more than the request (the memory property). A
 * child name without its node throws: the tree must be whole.
 */
function inTree(server: XenStored): NodeReader {
  return (path) => {
    const node = server.tree.get(path);
    if (!node) throw new Error(`${path} is listed by its parent but is not in the tree`);
    return { value: node.value, perms: node.perms.map(permToString), children: [...node.children] };
  };
}

/** The whole tree from /, path → node: one walk serves both the dump and the recount. */
function walk(read: NodeReader): Map<string, SeenNode> {
  const tree = new Map<string, SeenNode>();
  const paths = ["/"];
  for (let path = paths.pop(); path !== undefined; path = paths.pop()) {
    const node = read(path);
    tree.set(path, node);
    for (const child of node.children) paths.push(childPath(path, child));
  }
  return tree;
}

/** Everything the walk saw, as path → value and perms. */
function dump(tree: Map<string, SeenNode>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [path, node] of tree) result[path] = `${bytesToText(node.value)}|${node.perms.join(",")}`;
  return result;
}

/**
 * What domain `domid` holds against the memory quota, counted afresh from the
 * nodes (not from xenstored's running totals): each node it owns (path,
 * value, 8 bytes per permission, child names with their nuls), and the
 * watches of its clients (path and token).
 */
function recountMemory(tree: Map<string, SeenNode>, domid: number, clients: LocalClient[]): number {
  let bytes = 0;
  for (const [path, { value, perms, children }] of tree) {
    // The first entry is the owner.
    if (perms[0]!.slice(1) !== String(domid)) continue;
    bytes += path.length + value.length + 8 * perms.length + children.reduce((sum, child) => sum + child.length + 1, 0);
  }
  for (const client of clients)
    for (const watch of client.connection.watches.values()) bytes += watch.path.length + watch.token.length;
  return bytes;
}

const PATHS = [
  "/local/domain/6/data/private",
  "/local/domain/6/data",
  "/local/domain/6",
  "/local/domain/6/data/new",
  "/secret",
  "/",
  "/local",
  "data/x",
  "data",
  "x",
  "@releaseDomain",
  "@introduceDomain",
  "",
  "/a//b",
  `data/${"long".repeat(400)}`,
];

const hostileRequest = fc.record({
  type: fc.oneof(fc.constantFrom(...Object.values(XsType)), fc.nat({ max: 0xffffffff })),
  txId: fc.oneof(fc.constant(0), fc.nat(4), fc.nat({ max: 0xffffffff })),
  payload: fc
    .oneof(
      fc
        .tuple(
          fc.constantFrom(...PATHS),
          fc.array(
            fc.constantFrom("T", "F", "b5", "r5", "n5", "6", "5", "0", "tok", "", "nodes", "1", "t".repeat(2500)),
            { maxLength: 3 },
          ),
        )
        .map(([path, rest]) => strings(path, ...rest)),
      fc.constantFrom(...PATHS).map((path) => textToBytes(path)),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map((payload) => payload.subarray(0, 4096)),
});

/** The payload of a memoryRequest of `type` (only that one is made: making all of them cost as much as serving it). */
function memoryPayload(
  type: number,
  { path, size, perms, commit }: { path: string; size: number; perms: string[]; commit: string },
): Uint8Array {
  switch (type) {
    case XsType.WRITE:
      return textToBytes(`${path}\0${"v".repeat(size)}`);
    case XsType.SET_PERMS:
      return strings(path, "n5", ...perms);
    case XsType.WATCH:
    case XsType.UNWATCH:
      return strings(path, "v".repeat(size));
    case XsType.TRANSACTION_START:
      return strings("");
    case XsType.TRANSACTION_END:
      return strings(commit);
    default:
      return strings(path);
  }
}

/** Requests that move a guest's memory up and down: writes of any size, watches with long tokens, transactions. */
const memoryRequest = fc
  .record({
    type: fc.constantFrom(
      XsType.WRITE,
      XsType.MKDIR,
      XsType.RM,
      XsType.SET_PERMS,
      XsType.WATCH,
      XsType.UNWATCH,
      XsType.TRANSACTION_START,
      XsType.TRANSACTION_END,
    ),
    txId: fc.constantFrom(0, 0, 0, 1),
    path: fc.constantFrom(
      "data/a",
      "data/b",
      "data/a/deep",
      "data/b/c/d",
      "/local/domain/6/data/shared",
      "/local/domain/6/data/shared/mine",
    ),
    size: fc.nat(1500),
    perms: fc.subarray(["r6", "w6", "b0", "r5"]),
    commit: fc.constantFrom("T", "F"),
  })
  .map(({ type, txId, ...request }) => ({ type, txId, payload: memoryPayload(type, request) }));

/** The decoder never throws, and the messages do not depend on how bytes are chunked. */
export function decoderProperty() {
  return fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(600), { maxLength: 8 }), (bytes, cuts) => {
    const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
    const chunks = [0, ...points, bytes.length]
      .slice(1)
      .map((end, i, all) => bytes.subarray(i === 0 ? 0 : all[i - 1], end));
    const whole = decodeAll([bytes]);
    expect(decodeAll(chunks)).toEqual(whole);
  });
}

/** Any sequence of valid messages round-trips through the encoder and decoder. */
export function roundTripProperty() {
  return fc.property(fc.array(validMessage, { maxLength: 5 }), (messages) => {
    const bytes = messages.map(encodeMessage);
    expect(decodeAll(bytes)).toEqual(messages);
  });
}

/** xenstored never throws, and never changes or reveals another domain's data. */
export function hostileDomainProperty() {
  return fc.property(fc.array(hostileRequest, { maxLength: 40 }), (requests) => {
    const { server, dom0, victim, victimTx, hostile } = world();
    const before = dump(walk(seenBy(dom0)));
    let reqId = 1;
    for (const request of requests) {
      hostile.sendBytes(encodeMessage({ ...request, reqId: reqId++ }));
    }
    for (const message of hostile.received) {
      const text = bytesToText(message.payload);
      // expect() only to report it (expectIs's reason).
      if (text.includes(SECRET)) expect(text).not.toContain(SECRET);
    }
    const tree = walk(seenBy(dom0));
    const after = dump(tree);
    for (const [path, state] of Object.entries(before)) {
      if (path.startsWith("/local/domain/5")) continue;
      expectIs(after[path], state, path);
    }
    for (const path of Object.keys(after)) {
      if (!(path in before)) expectIs(path.startsWith("/local/domain/5/data"), true, path);
    }
    expect(victim.takeEvents()).toEqual([]);
    for (const [domid, clients] of [
      [0, [dom0]],
      [5, [hostile]],
      [6, [victim]],
    ] as const) {
      expectIs(server.memoryUsedBy(domid), recountMemory(tree, domid, [...clients]), `memory of ${domid}`);
    }
    expect(victim.read("data/private")).toBe(SECRET);
    victim.transactionEnd(victimTx, true);
    expect(victim.read("data/in-transaction")).toBe("pending");
  });
}

/** xenstored survives arbitrary byte streams; each connection's damage is its own. */
export function byteStreamsProperty() {
  return fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
    const { dom0, victim, hostile } = world();
    for (const chunk of chunks) hostile.sendBytes(chunk);
    expect(victim.read("data/private")).toBe(SECRET);
    expect(dom0.read("/secret")).toBe(SECRET);
    victim.write("data/after", "ok");
    expect(victim.read("data/after")).toBe("ok");
  });
}

/** The memory accounting matches a recount after every request; a request refused with ENOMEM changes nothing. */
export function memoryAccountingProperty() {
  return fc.property(fc.array(memoryRequest, { minLength: 10, maxLength: 30 }), (requests) => {
    const { server, dom0, victim, hostile } = world();
    // A node of domain 6 that domain 5 may write: bytes domain 5 adds there are charged to 6.
    victim.write("data/shared", "");
    victim.setPerms("data/shared", perms("n6", "w5"));
    dom0.call(XsType.SET_QUOTA, strings("6", "memory", "3000"));
    let reqId = 1;
    // The tree after one request is the tree before the next.
    let tree = walk(inTree(server));
    for (const request of requests) {
      const before = tree;
      const watchesBefore = hostile.connection.watches.size;
      hostile.sendBytes(encodeMessage({ ...request, reqId: reqId++ }));
      tree = walk(inTree(server));
      const reply = hostile.received.splice(0).find((message) => message.type !== XsType.WATCH_EVENT);
      if (reply && bytesToText(reply.payload) === "ENOMEM\0") {
        expect(dump(tree)).toEqual(dump(before));
        expect(hostile.connection.watches.size).toBe(watchesBefore);
      }
      for (const [domid, clients] of [
        [5, [hostile]],
        [6, [victim]],
      ] as const) {
        expectIs(server.memoryUsedBy(domid), recountMemory(tree, domid, [...clients]), `memory of ${domid}`);
      }
    }
  });
}
