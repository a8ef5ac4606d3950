// The simulated xenstored through its request processing: encoded requests in,
// decoded replies out, with the errors C xenstored gives.
import { describe, expect, it } from "vitest";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { SERVER_FEATURES, XenStored } from "../../host/dom0/xenstored/server.js";
import {
  bytesToText,
  encodeMessage,
  errnoOfName,
  MessageDecoder,
  nameOfErrno,
  strings,
  textToBytes,
  XSD_ERRORS,
  XsType,
} from "../../host/dom0/xenstored/wire.js";
import { perms } from "../support/perms.js";

/**
 * dom0 gives domain `domid` its home the way libxl does: owned by dom0,
 * readable by the domain, plus data/ owned by the domain. The owner entry's
 * letter is what everyone else gets, so "n<domid>" keeps data/ private.
 */
function withDomain(server: XenStored, dom0: LocalClient, domid: number): LocalClient {
  const home = `/local/domain/${domid}`;
  dom0.mkdir(home);
  dom0.setPerms(home, perms("n0", `r${domid}`));
  dom0.mkdir(`${home}/data`);
  dom0.setPerms(`${home}/data`, perms(`n${domid}`));
  dom0.call(XsType.INTRODUCE, strings(String(domid), "1234", "5"));
  return new LocalClient(server, domid);
}

function setup() {
  const server = new XenStored();
  const dom0 = new LocalClient(server, 0);
  return { server, dom0 };
}

describe("wire", () => {
  it("numbers the message types as the newest xs_wire.h", () => {
    expect([XsType.CONTROL, XsType.SET_TARGET, XsType.RESET_WATCHES, XsType.DIRECTORY_PART]).toEqual([0, 19, 21, 22]);
    expect([XsType.GET_FEATURE, XsType.SET_FEATURE, XsType.GET_QUOTA, XsType.SET_QUOTA, XsType.TYPE_COUNT]).toEqual([
      23, 24, 25, 26, 27,
    ]);
  });

  it("encodes the header little-endian and decodes across arbitrary chunking", () => {
    const bytes = encodeMessage({ type: XsType.WRITE, reqId: 0x01020304, txId: 7, payload: textToBytes("a\0b") });
    expect([...bytes.subarray(0, 16)]).toEqual([11, 0, 0, 0, 4, 3, 2, 1, 7, 0, 0, 0, 3, 0, 0, 0]);
    const decoder = new MessageDecoder();
    const twice = new Uint8Array([...bytes, ...bytes]);
    const got = [];
    for (const byte of twice) {
      const messages = decoder.push(new Uint8Array([byte]));
      if (messages === "protocol-error") throw new Error("unexpected");
      got.push(...messages);
    }
    expect(got).toHaveLength(2);
    expect(got[1]).toEqual({ type: XsType.WRITE, reqId: 0x01020304, txId: 7, payload: textToBytes("a\0b") });
    expect(decoder.pending).toBe(0);
  });

  it("treats a length over 4096 as a protocol error, for good", () => {
    const decoder = new MessageDecoder();
    const header = new Uint8Array(16);
    new DataView(header.buffer).setUint32(12, 4097, true);
    expect(decoder.push(header)).toBe("protocol-error");
    expect(decoder.push(encodeMessage({ type: 2, reqId: 1, txId: 0, payload: strings("/") }))).toBe("protocol-error");
    expect(() => encodeMessage({ type: 2, reqId: 1, txId: 0, payload: new Uint8Array(4097) })).toThrow(RangeError);
  });

  it("maps error names to errno and back, unknown names to EINVAL", () => {
    expect(errnoOfName("EAGAIN")).toBe(11);
    expect(errnoOfName("EISCONN")).toBe(106);
    expect(errnoOfName("EWHATEVER")).toBe(XSD_ERRORS.EINVAL);
    expect(errnoOfName("toString")).toBe(XSD_ERRORS.EINVAL);
    expect(nameOfErrno(7)).toBe("E2BIG");
    expect(nameOfErrno(9999)).toBe("EINVAL");
  });
});

describe("tree", () => {
  it("starts with C xenstored's /tool/xenstored", () => {
    const { dom0 } = setup();
    expect(dom0.directory("/")).toEqual(["tool"]);
    expect(dom0.directory("/tool")).toEqual(["xenstored"]);
    expect(dom0.getPerms("/")).toEqual(perms("n0"));
  });

  it("creates missing parents with empty values; lists children in creation order", () => {
    const { dom0 } = setup();
    dom0.write("/a/b/c", "value");
    dom0.write("/a/z", "");
    dom0.write("/a/m", "1");
    expect(dom0.read("/a/b/c")).toBe("value");
    expect(dom0.read("/a/b")).toBe("");
    expect(dom0.directory("/a")).toEqual(["b", "z", "m"]);
    expect(dom0.directory("/a/b/c")).toEqual([]);
  });

  it("keeps binary values, nul bytes included", () => {
    const { dom0 } = setup();
    const value = "\0\x01\xff\0end";
    dom0.write("/bin", value);
    expect(dom0.read("/bin")).toBe(value);
  });

  it("mkdir leaves an existing value alone", () => {
    const { dom0 } = setup();
    dom0.write("/k", "v");
    dom0.mkdir("/k");
    dom0.mkdir("/k/sub/deeper");
    expect(dom0.read("/k")).toBe("v");
    expect(dom0.directory("/k/sub")).toEqual(["deeper"]);
  });

  it("rm removes a subtree; a missing node is fine only if its parent exists", () => {
    const { dom0 } = setup();
    dom0.write("/r/a/b", "1");
    dom0.write("/r/c", "2");
    dom0.rm("/r/a");
    expect(dom0.directory("/r")).toEqual(["c"]);
    expect(() => dom0.read("/r/a/b")).toThrow("ENOENT");
    dom0.rm("/r/a");
    expect(() => dom0.rm("/r/a/b")).toThrow("ENOENT");
    expect(() => dom0.rm("/")).toThrow("EINVAL");
  });

  it("resolves relative paths against /local/domain/<id>, dom0's too", () => {
    const { server, dom0 } = setup();
    dom0.write("rel", "zero");
    expect(dom0.read("/local/domain/0/rel")).toBe("zero");
    const guest = withDomain(server, dom0, 5);
    guest.write("data/x", "five");
    expect(dom0.read("/local/domain/5/data/x")).toBe("five");
    expect(guest.read("data/x")).toBe("five");
  });

  it("rejects invalid names with EINVAL", () => {
    const { dom0 } = setup();
    for (const bad of ["/a//b", "/a/", "", "/a b", "/a\u00e9", "/a.b", "@special", "/a\\b"]) {
      expect(() => dom0.write(bad, "x"), JSON.stringify(bad)).toThrow("EINVAL");
    }
    dom0.write("/ok-_@9/X", "fine");
    expect(dom0.read("/")).toBe("");
  });

  it("limits absolute paths to 3072 bytes and a guest's relative part to 2048", () => {
    const { server, dom0 } = setup();
    const name = (length: number) => `/${"a".repeat(length - 1)}`;
    dom0.write(name(3072), "");
    expect(() => dom0.write(name(3073), "")).toThrow("EINVAL");
    const guest = withDomain(server, dom0, 3);
    // A long child name also grows its parent's child list; lift node-size (0 = no limit) to see path-max alone.
    dom0.call(XsType.SET_QUOTA, strings("3", "node-size", "0"));
    const relative = (length: number) => `data/${"b".repeat(length - 5)}`;
    guest.write(relative(2048), "");
    expect(() => guest.write(relative(2049), "")).toThrow("EINVAL");
  });

  it("replies with the request's req_id and tx_id, ERROR carrying the name", () => {
    const { dom0 } = setup();
    const reply = dom0.request(XsType.READ, strings("/missing"));
    expect(reply).toMatchObject({ type: XsType.ERROR, reqId: 1, txId: 0 });
    expect(bytesToText(reply!.payload)).toBe("ENOENT\0");
  });

  it("requires exactly one nul-terminated argument where C xenstored does", () => {
    const { dom0 } = setup();
    dom0.write("/x", "1");
    expect(() => dom0.call(XsType.READ, textToBytes("/x"))).toThrow("EINVAL");
    expect(() => dom0.call(XsType.READ, textToBytes("/x\0extra\0"))).toThrow("EINVAL");
    expect(() => dom0.call(XsType.READ, new Uint8Array(0))).toThrow("EINVAL");
    expect(() => dom0.call(XsType.WRITE, textToBytes("/no-nul"))).toThrow("EINVAL");
  });

  it("answers DIRECTORY with E2BIG past 4096 bytes and serves it by DIRECTORY_PART", () => {
    const { dom0 } = setup();
    const names = Array.from({ length: 400 }, (_, i) => `child-number-${i}`);
    for (const name of names) dom0.mkdir(`/big/${name}`);
    expect(() => dom0.directory("/big")).toThrow("E2BIG");
    const collected: string[] = [];
    let offset = 0;
    let generation: string | undefined;
    for (;;) {
      const payload = bytesToText(dom0.call(XsType.DIRECTORY_PART, strings("/big", String(offset))));
      const [gen, ...rest] = payload.split("\0");
      generation ??= gen;
      expect(gen).toBe(generation);
      const complete = payload.endsWith("\0\0");
      const part = rest.filter((name) => name !== "");
      collected.push(...part);
      offset += part.reduce((sum, name) => sum + name.length + 1, 0);
      if (complete) break;
      expect(part.length).toBeGreaterThan(0);
    }
    expect(collected).toEqual(names);
    const past = bytesToText(dom0.call(XsType.DIRECTORY_PART, strings("/big", "999999")));
    expect(past).toBe(`${generation}\0\0`);
  });
});

describe("permissions", () => {
  it("gives guests EACCES for unreadable nodes, and hides whether missing ones exist", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    expect(() => guest.read("/tool")).toThrow("EACCES");
    expect(() => guest.read("/nonexistent")).toThrow("EACCES");
    expect(guest.read("/local/domain/5")).toBe("");
    expect(() => guest.read("/local/domain/5/missing")).toThrow("ENOENT");
    expect(() => guest.read("/local/domain/6")).toThrow("EACCES");
  });

  it("needs write access to the closest existing ancestor to create", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    // Readable but not writable: creating below it is EACCES, not ENOENT.
    expect(() => guest.write("/local/domain/5/other", "x")).toThrow("EACCES");
    expect(() => guest.write("/local/domain/5/data/deep/er", "x")).not.toThrow();
  });

  it("lets guests own what they create, inheriting the rest of the parent's ACL", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    withDomain(server, dom0, 6);
    dom0.setPerms("/local/domain/5/data", perms("n0", "b5", "r6"));
    guest.write("data/new", "x");
    expect(guest.getPerms("data/new")).toEqual(perms("n5", "b5", "r6"));
    dom0.write("/local/domain/5/data/by-dom0", "y");
    expect(dom0.getPerms("/local/domain/5/data/by-dom0")).toEqual(perms("n0", "b5", "r6"));
  });

  it("applies the owner entry to everyone not listed, and ACL entries to their domain", () => {
    const { server, dom0 } = setup();
    const five = withDomain(server, dom0, 5);
    const six = withDomain(server, dom0, 6);
    const seven = withDomain(server, dom0, 7);
    dom0.write("/shared", "s");
    dom0.setPerms("/shared", perms("r0", "w6", "n7"));
    expect(five.read("/shared")).toBe("s");
    expect(() => five.write("/shared", "x")).toThrow("EACCES");
    expect(() => six.read("/shared")).toThrow("EACCES");
    six.write("/shared", "from six");
    expect(() => seven.read("/shared")).toThrow("EACCES");
    expect(dom0.read("/shared")).toBe("from six");
  });

  it("lets only owners change perms, and never give the node away", () => {
    const { server, dom0 } = setup();
    const five = withDomain(server, dom0, 5);
    const six = withDomain(server, dom0, 6);
    five.write("data/mine", "x");
    five.setPerms("data/mine", perms("n5", "r6"));
    expect(six.read("/local/domain/5/data/mine")).toBe("x");
    expect(() => five.setPerms("data/mine", perms("n6"))).toThrow("EPERM");
    dom0.setPerms("/local/domain/5/data/mine", perms("b5", "b6"));
    expect(() => six.setPerms("/local/domain/5/data/mine", perms("b5"))).toThrow("EACCES");
    expect(() => five.call(XsType.SET_PERMS, strings("data/mine", "x5"))).toThrow("EINVAL");
    expect(() => five.call(XsType.SET_PERMS, strings("data/mine"))).toThrow("EINVAL");
  });

  it("grants a SET_TARGET domain its target's rights", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    const deviceModel = withDomain(server, dom0, 9);
    guest.write("data/secret", "s");
    guest.setPerms("data/secret", perms("n5"));
    expect(() => deviceModel.read("/local/domain/5/data/secret")).toThrow("EACCES");
    dom0.call(XsType.SET_TARGET, strings("9", "5"));
    expect(deviceModel.read("/local/domain/5/data/secret")).toBe("s");
    expect(() => dom0.call(XsType.SET_TARGET, strings("77", "5"))).toThrow("ENOENT");
  });

  it("honours DOMID_ANY entries", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    dom0.write("/public", "p");
    expect(() => guest.read("/public")).toThrow("EACCES");
    dom0.setPerms("/public", perms("n0", `r${0x7ff4}`));
    expect(guest.read("/public")).toBe("p");
  });

  it("answers privileged-only requests from guests with EACCES", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    for (const type of [
      XsType.INTRODUCE,
      XsType.RELEASE,
      XsType.IS_DOMAIN_INTRODUCED,
      XsType.RESUME,
      XsType.SET_TARGET,
      XsType.CONTROL,
      XsType.GET_FEATURE,
      XsType.SET_FEATURE,
      XsType.GET_QUOTA,
      XsType.SET_QUOTA,
    ]) {
      expect(() => guest.call(type, strings("5", "0", "0")), `type ${type}`).toThrow("EACCES");
    }
    expect(guest.callString(XsType.GET_DOMAIN_PATH, "5")).toBe("/local/domain/5");
  });
});

describe("transactions", () => {
  it("isolates writes until commit and reads its own writes", () => {
    const { dom0 } = setup();
    dom0.write("/t/a", "old");
    const tx = dom0.transactionStart();
    expect(tx).not.toBe(0);
    dom0.write("/t/a", "new", tx);
    dom0.write("/t/b/c", "created", tx);
    expect(dom0.read("/t/a", tx)).toBe("new");
    expect(dom0.read("/t/a")).toBe("old");
    expect(() => dom0.read("/t/b/c")).toThrow("ENOENT");
    dom0.transactionEnd(tx, true);
    expect(dom0.read("/t/a")).toBe("new");
    expect(dom0.read("/t/b/c")).toBe("created");
  });

  it("keeps reading what it first saw after an outside change, then fails the commit", () => {
    const { dom0 } = setup();
    dom0.write("/iso", "a");
    const tx = dom0.transactionStart();
    expect(dom0.read("/iso", tx)).toBe("a");
    dom0.write("/iso", "b");
    expect(dom0.read("/iso", tx)).toBe("a");
    dom0.write("/iso", "c", tx);
    expect(dom0.read("/iso", tx)).toBe("c");
    expect(() => dom0.transactionEnd(tx, true)).toThrow("EAGAIN");
    expect(dom0.read("/iso")).toBe("b");
  });

  it("answers EINVAL to rm of a node whose parent it first saw missing", () => {
    const { dom0 } = setup();
    const tx = dom0.transactionStart();
    expect(() => dom0.read("/p", tx)).toThrow("ENOENT");
    dom0.write("/p/q", "1");
    expect(() => dom0.rm("/p/q", tx)).toThrow("EINVAL");
    expect(() => dom0.transactionEnd(tx, true)).toThrow("EAGAIN");
    expect(dom0.read("/p/q")).toBe("1");
  });

  it("discards an aborted transaction", () => {
    const { dom0 } = setup();
    const tx = dom0.transactionStart();
    dom0.write("/gone", "x", tx);
    dom0.transactionEnd(tx, false);
    expect(() => dom0.read("/gone")).toThrow("ENOENT");
    expect(() => dom0.read("/gone", tx)).toThrow("ENOENT");
  });

  it("fails the commit with EAGAIN when a node it touched changed meanwhile, and ends it anyway", () => {
    const { dom0 } = setup();
    dom0.write("/c/x", "0");
    const tx = dom0.transactionStart();
    expect(dom0.read("/c/x", tx)).toBe("0");
    dom0.write("/c/y", "other", tx);
    dom0.write("/c/x", "1");
    expect(() => dom0.transactionEnd(tx, true)).toThrow("EAGAIN");
    expect(() => dom0.read("/c/y")).toThrow("ENOENT");
    expect(() => dom0.transactionEnd(tx, true)).toThrow("ENOENT");
  });

  it("commits when only untouched nodes changed", () => {
    const { dom0 } = setup();
    dom0.write("/p/x", "0");
    dom0.write("/q", "0");
    const tx = dom0.transactionStart();
    dom0.write("/p/x", "tx", tx);
    dom0.write("/q", "outside");
    dom0.transactionEnd(tx, true);
    expect(dom0.read("/p/x")).toBe("tx");
  });

  it("detects a node created after the transaction saw it missing", () => {
    const { dom0 } = setup();
    dom0.mkdir("/n");
    const tx = dom0.transactionStart();
    expect(() => dom0.read("/n/later", tx)).toThrow("ENOENT");
    dom0.write("/n/later", "x");
    expect(() => dom0.transactionEnd(tx, true)).toThrow("EAGAIN");
  });

  it("rejects unknown tx ids, nested starts and bad END arguments", () => {
    const { dom0 } = setup();
    expect(() => dom0.read("/", 12345)).toThrow("ENOENT");
    const tx = dom0.transactionStart();
    expect(() => dom0.call(XsType.TRANSACTION_START, strings(""), tx)).toThrow("EBUSY");
    expect(() => dom0.call(XsType.TRANSACTION_END, strings("X"), tx)).toThrow("EINVAL");
    expect(() => dom0.call(XsType.TRANSACTION_END, strings("T"))).toThrow("ENOENT");
    dom0.transactionEnd(tx, false);
  });

  it("keeps each connection's transactions its own", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    const tx = dom0.transactionStart();
    expect(() => guest.read("data", tx)).toThrow("ENOENT");
    dom0.transactionEnd(tx, false);
  });
});

describe("watches", () => {
  it("fires once on registration, then on writes to the node and below", () => {
    const { dom0 } = setup();
    dom0.watch("/w", "tok");
    expect(dom0.takeEvents()).toEqual([{ path: "/w", token: "tok" }]);
    dom0.write("/w/a/b", "1");
    dom0.write("/other", "1");
    dom0.write("/w", "2");
    expect(dom0.takeEvents()).toEqual([
      { path: "/w/a/b", token: "tok" },
      { path: "/w", token: "tok" },
    ]);
  });

  it("sends the ack before the registration event", () => {
    const { dom0 } = setup();
    dom0.request(XsType.WATCH, strings("/w", "t"));
    expect(dom0.received.map((message) => message.type)).toEqual([XsType.WATCH_EVENT]);
  });

  it("on rm, fires watches on each removed node and on the removed root and its parents", () => {
    const { dom0 } = setup();
    dom0.write("/r/a/b", "1");
    dom0.watch("/r/a/b", "deep");
    dom0.watch("/r", "top");
    dom0.watch("/r/never", "missing");
    dom0.takeEvents();
    dom0.rm("/r/a");
    expect(dom0.takeEvents()).toEqual([
      { path: "/r/a/b", token: "deep" },
      { path: "/r/a", token: "top" },
    ]);
  });

  it("fires on mkdir of a new node and on SET_PERMS, not on mkdir of an existing one", () => {
    const { dom0 } = setup();
    dom0.watch("/m", "t");
    dom0.takeEvents();
    dom0.mkdir("/m");
    dom0.mkdir("/m");
    dom0.setPerms("/m", perms("r0"));
    expect(dom0.takeEvents()).toEqual([
      { path: "/m", token: "t" },
      { path: "/m", token: "t" },
    ]);
  });

  it("reports relative events for relative watches", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    guest.watch("data", "rel");
    guest.watch("/local/domain/5/data", "abs");
    expect(guest.takeEvents()).toEqual([
      { path: "data", token: "rel" },
      { path: "/local/domain/5/data", token: "abs" },
    ]);
    dom0.write("/local/domain/5/data/x", "1");
    expect(guest.takeEvents()).toEqual([
      { path: "data/x", token: "rel" },
      { path: "/local/domain/5/data/x", token: "abs" },
    ]);
  });

  it("sends events only for nodes the watcher may read", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    guest.watch("/", "root");
    guest.takeEvents();
    dom0.write("/secret", "x");
    dom0.write("/local/domain/5/data/visible", "y");
    expect(guest.takeEvents()).toEqual([{ path: "/local/domain/5/data/visible", token: "root" }]);
  });

  it("announces transaction changes at commit only, and never for aborts", () => {
    const { dom0 } = setup();
    dom0.watch("/tx", "t");
    dom0.takeEvents();
    const aborted = dom0.transactionStart();
    dom0.write("/tx/a", "1", aborted);
    dom0.transactionEnd(aborted, false);
    const committed = dom0.transactionStart();
    dom0.write("/tx/b", "1", committed);
    expect(dom0.takeEvents()).toEqual([]);
    dom0.transactionEnd(committed, true);
    expect(dom0.takeEvents()).toEqual([{ path: "/tx/b", token: "t" }]);
  });

  it("limits matches by depth", () => {
    const { dom0 } = setup();
    dom0.watch("/d", "zero", 0);
    dom0.watch("/d", "one", 1);
    dom0.takeEvents();
    dom0.write("/d", "");
    dom0.write("/d/a", "");
    dom0.write("/d/a/b", "");
    expect(dom0.takeEvents()).toEqual([
      { path: "/d", token: "zero" },
      { path: "/d", token: "one" },
      { path: "/d/a", token: "one" },
    ]);
    expect(() => dom0.watch("/d", "bad", "x" as unknown as number)).toThrow("EINVAL");
  });

  it("refuses duplicate watches with EEXIST and unknown unwatches with ENOENT", () => {
    const { dom0 } = setup();
    dom0.watch("/u", "t");
    expect(() => dom0.watch("/u", "t")).toThrow("EEXIST");
    dom0.watch("/u", "t2");
    dom0.unwatch("/u", "t");
    expect(() => dom0.unwatch("/u", "t")).toThrow("ENOENT");
    dom0.takeEvents();
    dom0.write("/u", "x");
    expect(dom0.takeEvents()).toEqual([{ path: "/u", token: "t2" }]);
    expect(() => dom0.call(XsType.WATCH, strings("/only-path"))).toThrow("EINVAL");
  });

  it("ignores tx_id on WATCH", () => {
    const { dom0 } = setup();
    dom0.call(XsType.WATCH, strings("/x", "t"), 999);
    expect(dom0.takeEvents()).toEqual([{ path: "/x", token: "t" }]);
  });

  it("fires @introduceDomain and @releaseDomain for privileged watchers and those allowed by SET_PERMS", () => {
    const { server, dom0 } = setup();
    const watcher = withDomain(server, dom0, 4);
    dom0.watch("@introduceDomain", "intro");
    dom0.watch("@releaseDomain", "release");
    watcher.watch("@releaseDomain", "w");
    dom0.takeEvents();
    watcher.takeEvents();
    withDomain(server, dom0, 5);
    expect(dom0.takeEvents()).toEqual([{ path: "@introduceDomain", token: "intro" }]);
    dom0.call(XsType.RELEASE, strings("5"));
    expect(dom0.takeEvents()).toEqual([{ path: "@releaseDomain", token: "release" }]);
    expect(watcher.takeEvents()).toEqual([]);
    dom0.setPerms("@releaseDomain", perms("n0", "r4"));
    expect(dom0.getPerms("@releaseDomain")).toEqual(perms("n0", "r4"));
    withDomain(server, dom0, 6);
    dom0.call(XsType.RELEASE, strings("6"));
    expect(watcher.takeEvents()).toEqual([{ path: "@releaseDomain", token: "w" }]);
  });

  it("RESET_WATCHES drops the caller's watches and transactions", () => {
    const { dom0 } = setup();
    dom0.watch("/rw", "t");
    const tx = dom0.transactionStart();
    dom0.call(XsType.RESET_WATCHES, strings(""));
    dom0.takeEvents();
    dom0.write("/rw", "x");
    expect(dom0.takeEvents()).toEqual([]);
    expect(() => dom0.read("/", tx)).toThrow("ENOENT");
  });
});

describe("domains", () => {
  it("introduces, reports and releases domains", () => {
    const { dom0 } = setup();
    const introduced: number[][] = [];
    const released: number[] = [];
    const tracked = new XenStored({
      introduce: (...a) => introduced.push(a),
      release: (domid) => released.push(domid),
    });
    const tool = new LocalClient(tracked, 0);
    expect(tool.callString(XsType.IS_DOMAIN_INTRODUCED, "0")).toBe("T");
    expect(tool.callString(XsType.IS_DOMAIN_INTRODUCED, "3")).toBe("F");
    tool.call(XsType.INTRODUCE, strings("3", "4096", "7"));
    expect(introduced).toEqual([[3, 4096, 7]]);
    expect(tool.callString(XsType.IS_DOMAIN_INTRODUCED, "3")).toBe("T");
    tool.call(XsType.RESUME, strings("3"));
    tool.call(XsType.RELEASE, strings("3"));
    expect(released).toEqual([3]);
    expect(tool.callString(XsType.IS_DOMAIN_INTRODUCED, "3")).toBe("F");
    expect(() => tool.call(XsType.RELEASE, strings("3"))).toThrow("ENOENT");
    expect(() => tool.call(XsType.RESUME, strings("3"))).toThrow("ENOENT");
    expect(() => tool.call(XsType.INTRODUCE, strings("0", "1", "1"))).toThrow("EINVAL");
    expect(() => tool.call(XsType.INTRODUCE, strings("3", "1"))).toThrow("EINVAL");
    expect(dom0.callString(XsType.GET_DOMAIN_PATH, "017")).toBe("/local/domain/17");
  });

  it("closes a released domain's connections with its watches", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    guest.watch("data", "t");
    dom0.call(XsType.RELEASE, strings("5"));
    expect(guest.connection.closed).toBe(true);
    expect(guest.request(XsType.READ, strings("data"))).toBeUndefined();
  });

  it("fires @releaseDomain once when a domain shuts down, and again only after RESUME", () => {
    const { server, dom0 } = setup();
    withDomain(server, dom0, 5);
    dom0.watch("@releaseDomain", "release");
    dom0.takeEvents();
    const fired = [{ path: "@releaseDomain", token: "release" }];
    server.domainShutdown(5);
    server.domainShutdown(5);
    expect(dom0.takeEvents()).toEqual(fired);
    expect(dom0.callString(XsType.IS_DOMAIN_INTRODUCED, "5")).toBe("T");
    dom0.call(XsType.RESUME, strings("5"));
    expect(dom0.takeEvents()).toEqual([]);
    server.domainShutdown(5);
    expect(dom0.takeEvents()).toEqual(fired);
    // Going away still fires, shut down or not; after that the domain is not tracked.
    dom0.call(XsType.RELEASE, strings("5"));
    expect(dom0.takeEvents()).toEqual(fired);
    server.domainShutdown(5);
    server.domainShutdown(77);
    expect(dom0.takeEvents()).toEqual([]);
  });

  it("answers RESUME from a guest with EACCES, and ENOENT/EINVAL as C's onearg_domain does", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    dom0.watch("@releaseDomain", "release");
    server.domainShutdown(5);
    dom0.takeEvents();
    expect(() => guest.call(XsType.RESUME, strings("5"))).toThrow("EACCES");
    server.domainShutdown(5);
    expect(dom0.takeEvents()).toEqual([]);
    expect(() => dom0.call(XsType.RESUME, strings("9"))).toThrow("ENOENT");
    expect(() => dom0.call(XsType.RESUME, strings("0"))).toThrow("EINVAL");
    expect(() => dom0.call(XsType.RESUME, strings("5", "extra"))).toThrow("EINVAL");
  });

  it("reports and sets features: server-wide, per domain, only before INTRODUCE", () => {
    const { dom0 } = setup();
    expect(dom0.callString(XsType.GET_FEATURE)).toBe(String(SERVER_FEATURES));
    expect(SERVER_FEATURES).toBe(15);
    dom0.call(XsType.SET_FEATURE, strings("8", "2"));
    expect(dom0.callString(XsType.GET_FEATURE, "8")).toBe("2");
    expect(() => dom0.call(XsType.SET_FEATURE, strings("8", "16"))).toThrow("EINVAL");
    dom0.call(XsType.INTRODUCE, strings("8", "1", "1"));
    expect(() => dom0.call(XsType.SET_FEATURE, strings("8", "1"))).toThrow("EBUSY");
    expect(() => dom0.callString(XsType.GET_FEATURE, String(0x7ff0))).toThrow("ENOENT");
  });

  it("answers CONTROL help/check and EINVAL for unknown commands", () => {
    const { dom0 } = setup();
    expect(dom0.callString(XsType.CONTROL, "help")).toContain("check");
    expect(dom0.callString(XsType.CONTROL, "check")).toBe("OK");
    expect(() => dom0.call(XsType.CONTROL, strings("no-such-command"))).toThrow("EINVAL");
  });

  it("answers unknown and reply-only types with ENOSYS", () => {
    const { dom0 } = setup();
    for (const type of [XsType.WATCH_EVENT, XsType.ERROR, 20, XsType.TYPE_COUNT, 0xffff, 0x12345678]) {
      expect(() => dom0.call(type, strings("/")), `type ${type}`).toThrow("ENOSYS");
    }
  });
});

describe("quotas", () => {
  it("lists, reads and sets global and per-domain quotas", () => {
    const { dom0 } = setup();
    const names = dom0.callString(XsType.GET_QUOTA).split(" ");
    expect(names).toEqual(
      expect.arrayContaining(["nodes", "watches", "transactions", "node-size", "permissions", "outstanding", "memory"]),
    );
    expect(dom0.callString(XsType.GET_QUOTA, "nodes")).toBe("1000");
    dom0.call(XsType.SET_QUOTA, strings("5", "nodes", "10"));
    expect(dom0.callString(XsType.GET_QUOTA, "5", "nodes")).toBe("10");
    expect(dom0.callString(XsType.GET_QUOTA, "nodes")).toBe("1000");
    expect(() => dom0.call(XsType.GET_QUOTA, strings("bogus"))).toThrow("EINVAL");
    expect(() => dom0.call(XsType.SET_QUOTA, strings("nodes"))).toThrow("EINVAL");
  });

  it("limits the nodes a guest owns (ENOSPC), counting implicit parents, and frees them on rm", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    // data/ already counts: dom0 made domain 5 its owner.
    dom0.call(XsType.SET_QUOTA, strings("5", "nodes", "4"));
    guest.write("data/a", "");
    expect(() => guest.write("data/b/c/d", "")).toThrow("ENOSPC");
    expect(() => guest.read("data/b")).toThrow("ENOENT");
    guest.write("data/b/c", "");
    expect(() => guest.write("data/z", "")).toThrow("ENOSPC");
    guest.rm("data/b");
    guest.write("data/z", "");
  });

  it("limits node size (ENOSPC) for guests, not for dom0", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    guest.write("data/fits", "x".repeat(2048 - 8));
    expect(() => guest.write("data/big", "x".repeat(2048 - 7))).toThrow("ENOSPC");
    dom0.write("/local/domain/5/data/dom0-big", "x".repeat(4000));
  });

  it("limits watches (E2BIG), transactions (ENOSPC) and perms per node (ENOSPC)", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    dom0.call(XsType.SET_QUOTA, strings("5", "watches", "2"));
    guest.watch("data", "1");
    guest.watch("data", "2");
    expect(() => guest.watch("data", "3")).toThrow("E2BIG");
    dom0.call(XsType.SET_QUOTA, strings("5", "transactions", "1"));
    const tx = guest.transactionStart();
    expect(() => guest.transactionStart()).toThrow("ENOSPC");
    guest.transactionEnd(tx, false);
    guest.transactionStart();
    guest.write("data/p", "");
    expect(() => guest.setPerms("data/p", perms("b5", "r1", "r2", "r3", "r4", "r6"))).toThrow("ENOSPC");
    guest.setPerms("data/p", perms("b5", "r1", "r2", "r3", "r4"));
  });

  it("limits the nodes one transaction may touch", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    dom0.call(XsType.SET_QUOTA, strings("5", "transaction-nodes", "3"));
    const tx = guest.transactionStart();
    guest.write("data/a", "", tx);
    expect(() => guest.write("data/b/c", "", tx)).toThrow("ENOSPC");
  });

  it("limits a guest's memory (ENOMEM) at the quota, changing nothing; rm and shorter values give bytes back", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    // data/ is domain 5's: its path and one permission entry.
    const base = server.memoryUsedBy(5);
    expect(base).toBe("/local/domain/5/data".length + 8);
    // data/a: path, 100-byte value, one permission; data/ lists "a\0".
    const nodeA = "/local/domain/5/data/a".length + 100 + 8 + 2;
    dom0.call(XsType.SET_QUOTA, strings("5", "memory", String(base + nodeA)));
    expect(() => guest.write("data/a", "x".repeat(100))).toThrow("ENOMEM");
    expect(guest.directory("data")).toEqual([]);
    expect(server.memoryUsedBy(5)).toBe(base);
    dom0.call(XsType.SET_QUOTA, strings("5", "memory", String(base + nodeA + 1)));
    guest.write("data/a", "x".repeat(100));
    expect(server.memoryUsedBy(5)).toBe(base + nodeA);
    expect(() => guest.write("data/b", "y")).toThrow("ENOMEM");
    expect(() => guest.write("data/a", "x".repeat(101))).toThrow("ENOMEM");
    expect(guest.read("data/a")).toBe("x".repeat(100));
    guest.write("data/a", "x".repeat(90));
    expect(server.memoryUsedBy(5)).toBe(base + nodeA - 10);
    guest.rm("data/a");
    expect(server.memoryUsedBy(5)).toBe(base);
    guest.write("data/b", "y".repeat(100));
    expect(guest.read("data/b")).toBe("y".repeat(100));
  });

  it("counts a guest's watches (path and token); unwatch and release give them back", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    const base = server.memoryUsedBy(5);
    dom0.call(XsType.SET_QUOTA, strings("5", "memory", String(base + 50)));
    // A relative watch counts its absolute path: "/local/domain/5/data" is 20 bytes.
    guest.watch("data", "t".repeat(10));
    expect(server.memoryUsedBy(5)).toBe(base + 30);
    expect(() => guest.watch("data", "u".repeat(20))).toThrow("ENOMEM");
    guest.unwatch("data", "t".repeat(10));
    guest.watch("data", "u".repeat(20));
    expect(server.memoryUsedBy(5)).toBe(base + 40);
    dom0.call(XsType.RELEASE, strings("5"));
    // The nodes domain 5 owns stay (and stay its); its watches went with its connection.
    expect(server.memoryUsedBy(5)).toBe(base);
  });

  it("sets the memory quota globally and per domain; binds neither dom0 nor its writes", () => {
    const { server, dom0 } = setup();
    const five = withDomain(server, dom0, 5);
    const six = withDomain(server, dom0, 6);
    expect(dom0.callString(XsType.GET_QUOTA, "memory")).toBe("2621440");
    dom0.call(XsType.SET_QUOTA, strings("memory", "500"));
    expect(dom0.callString(XsType.GET_QUOTA, "6", "memory")).toBe("500");
    expect(() => five.write("data/big", "x".repeat(500))).toThrow("ENOMEM");
    expect(() => six.write("data/big", "x".repeat(500))).toThrow("ENOMEM");
    dom0.call(XsType.SET_QUOTA, strings("6", "memory", "0"));
    six.write("data/big", "x".repeat(500));
    expect(() => five.write("data/big", "x".repeat(500))).toThrow("ENOMEM");
    dom0.write("/dom0-big", "x".repeat(4000));
    // dom0 may push a guest past its quota; the guest then may only shrink.
    dom0.write("/local/domain/5/data/from-dom0", "x".repeat(1000));
    expect(five.getPerms("data/from-dom0")).toEqual(perms("n5"));
    expect(server.memoryUsedBy(5)).toBeGreaterThan(500);
    expect(() => five.write("data/small", "")).toThrow("ENOMEM");
    five.write("data/from-dom0", "shorter");
    five.rm("data/from-dom0");
    five.write("data/small", "");
  });

  it("moves a node's bytes to its new owner on SET_PERMS, and counts 8 bytes per permission", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    dom0.write("/given", "x".repeat(100));
    const [dom0Before, fiveBefore] = [server.memoryUsedBy(0), server.memoryUsedBy(5)];
    const given = "/given".length + 100 + 8;
    dom0.setPerms("/given", perms("n5"));
    expect(server.memoryUsedBy(5)).toBe(fiveBefore + given);
    expect(server.memoryUsedBy(0)).toBe(dom0Before - given);
    dom0.call(XsType.SET_QUOTA, strings("5", "memory", String(server.memoryUsedBy(5) + 9)));
    guest.setPerms("/given", perms("n5", "r6"));
    expect(server.memoryUsedBy(5)).toBe(fiveBefore + given + 8);
    expect(() => guest.setPerms("/given", perms("n5", "r6", "r7"))).toThrow("ENOMEM");
    expect(guest.getPerms("/given")).toEqual(perms("n5", "r6"));
    dom0.setPerms("/given", perms("n0"));
    expect(server.memoryUsedBy(5)).toBe(fiveBefore);
  });

  it("checks a transaction's writes against committed bytes plus its own, charging them only at commit", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    guest.write("data/a", "");
    guest.write("data/b", "");
    const base = server.memoryUsedBy(5);
    dom0.call(XsType.SET_QUOTA, strings("5", "memory", String(base + 150)));
    const aborted = guest.transactionStart();
    guest.write("data/a", "x".repeat(100), aborted);
    expect(server.memoryUsedBy(5)).toBe(base);
    expect(() => guest.write("data/b", "x".repeat(50), aborted)).toThrow("ENOMEM");
    expect(guest.read("data/b", aborted)).toBe("");
    guest.transactionEnd(aborted, false);
    expect(server.memoryUsedBy(5)).toBe(base);
    // Two transactions that each fit commit unchecked, as C's finalize_transaction writes.
    const first = guest.transactionStart();
    const second = guest.transactionStart();
    guest.write("data/a", "x".repeat(100), first);
    guest.write("data/b", "x".repeat(100), second);
    guest.transactionEnd(first, true);
    expect(server.memoryUsedBy(5)).toBe(base + 100);
    guest.transactionEnd(second, true);
    expect(server.memoryUsedBy(5)).toBe(base + 200);
    expect(() => guest.write("data/c", "")).toThrow("ENOMEM");
    guest.write("data/b", "");
    guest.write("data/c", "");
  });

  it("stops reading a guest's requests while too many replies are outstanding", () => {
    const server = new XenStored();
    const dom0 = new LocalClient(server, 0);
    withDomain(server, dom0, 5);
    const taken: Uint8Array[] = [];
    let accepting = false;
    const conn = server.connect(5, (bytes) => {
      if (!accepting) return false;
      taken.push(bytes);
      return true;
    });
    const request = (reqId: number) =>
      encodeMessage({ type: XsType.GET_DOMAIN_PATH, reqId, txId: 0, payload: strings("5") });
    for (let reqId = 1; reqId <= 30; reqId++) server.receive(conn, request(reqId));
    expect(conn.outbox.length).toBe(20);
    expect(conn.inbox.length).toBe(10);
    accepting = true;
    server.flush(conn);
    expect(taken.length).toBe(30);
    const decoder = new MessageDecoder();
    const replies = taken.flatMap((bytes) => {
      const messages = decoder.push(bytes);
      if (messages === "protocol-error") throw new Error("oversized reply");
      return messages;
    });
    expect(replies.map((reply) => reply.reqId)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });
});

describe("hostile clients", () => {
  it("closes a connection that announces an oversized payload, leaving others alone", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    const header = new Uint8Array(16);
    new DataView(header.buffer).setUint32(12, 0xffffffff, true);
    guest.sendBytes(header);
    expect(guest.connection.closed).toBe(true);
    dom0.write("/still", "fine");
    expect(dom0.read("/still")).toBe("fine");
  });

  it("waits for the rest of a partial packet", () => {
    const { dom0 } = setup();
    const bytes = encodeMessage({ type: XsType.READ, reqId: 77, txId: 0, payload: strings("/") });
    dom0.sendBytes(bytes.subarray(0, 10));
    expect(dom0.received).toEqual([]);
    dom0.sendBytes(bytes.subarray(10));
    expect(dom0.received).toMatchObject([{ type: XsType.READ, reqId: 77 }]);
  });

  it("drops a watch event too long for one message instead of failing", () => {
    const { dom0 } = setup();
    dom0.watch("/", "t".repeat(4000));
    dom0.takeEvents();
    dom0.write(`/${"p".repeat(200)}`, "x");
    expect(dom0.takeEvents()).toEqual([]);
    dom0.write("/short", "x");
    expect(dom0.takeEvents()).toEqual([{ path: "/short", token: "t".repeat(4000) }]);
  });

  it("reset (ring reconnection) drops a partial packet, queued output, watches and transactions", () => {
    const { server, dom0 } = setup();
    const guest = withDomain(server, dom0, 5);
    guest.watch("data", "t");
    const tx = guest.transactionStart();
    guest.takeEvents();
    const read = encodeMessage({ type: XsType.READ, reqId: 50, txId: 0, payload: strings("data") });
    guest.sendBytes(read.subarray(0, 9));
    server.reset(guest.connection);
    expect(guest.connection.decoder.pending).toBe(0);
    dom0.write("/local/domain/5/data/x", "1");
    expect(guest.takeEvents()).toEqual([]);
    expect(() => guest.read("data", tx)).toThrow("ENOENT");
    guest.sendBytes(read);
    expect(guest.received).toMatchObject([{ type: XsType.READ, reqId: 50 }]);
  });

  it("caps watch events queued for a guest that never reads", () => {
    const server = new XenStored({ maxQueuedWatchEvents: 5 });
    const dom0 = new LocalClient(server, 0);
    withDomain(server, dom0, 5);
    const conn = server.connect(5, () => false);
    server.receive(conn, encodeMessage({ type: XsType.WATCH, reqId: 1, txId: 0, payload: strings("data", "t") }));
    for (let i = 0; i < 50; i++) dom0.write(`/local/domain/5/data/n${i}`, "");
    expect(conn.queuedEvents).toBe(5);
  });
});
