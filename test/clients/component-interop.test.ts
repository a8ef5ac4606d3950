// The XenStore client component against Debian's libxenstore: for one fixed
// sequence of operations, the requests the component sends, in wasmtime
// and in V8, equal byte for byte those libxenstore sends (all recorded
// at the simulated xenstored's Unix socket), and the results agree. Then the
// component's operations under wasmtime, checked against what dom0 sees in
// the same xenstored.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { listenUnix } from "../../host/dom0/xenstored/socket.js";
import { bytesToText, HEADER_SIZE } from "../../host/dom0/xenstored/wire.js";
import { wasmtimeLibrary } from "../../tools/wasmtime.js";
import { peer } from "../support/peer.js";
import { perms } from "../support/perms.js";
import {
  buildLibxenstoreOps,
  type Driver,
  libxenstoreDriver,
  nodeComponentDriver,
  type Operation,
  type Reply,
  wasmtimeComponentDriver,
} from "../support/xenstore-drivers.js";

const libxenstore = peer("Debian's libxenstore", buildLibxenstoreOps);
const library = peer("wasmtime", wasmtimeLibrary);

/** In SEQUENCE, the transaction the last transaction-start began. */
const STARTED = -1;

/** One of each operation, in and out of transactions, including failures. */
const SEQUENCE: Operation[] = [
  { op: "write", tx: 0, path: "/cmp/a", value: "hello" },
  { op: "read", tx: 0, path: "/cmp/a" },
  { op: "mkdir", tx: 0, path: "/cmp/dir" },
  { op: "directory", tx: 0, path: "/cmp" },
  { op: "get-perms", tx: 0, path: "/cmp/a" },
  {
    op: "set-perms",
    tx: 0,
    path: "/cmp/a",
    perms: [
      { domid: 0, access: "read" },
      { domid: 5, access: "both" },
    ],
  },
  { op: "get-perms", tx: 0, path: "/cmp/a" },
  { op: "rm", tx: 0, path: "/cmp/dir" },
  { op: "read", tx: 0, path: "/cmp/missing" },
  { op: "watch", path: "/cmp", token: "tok" },
  { op: "next-event" },
  { op: "write", tx: 0, path: "/cmp/a", value: "changed" },
  { op: "next-event" },
  { op: "unwatch", path: "/cmp", token: "tok" },
  { op: "transaction-start" },
  { op: "read", tx: STARTED, path: "/cmp/a" },
  { op: "write", tx: STARTED, path: "/cmp/t", value: "in tx" },
  { op: "transaction-end", tx: STARTED, commit: true },
  { op: "transaction-start" },
  { op: "write", tx: STARTED, path: "/cmp/u", value: "abandoned" },
  { op: "transaction-end", tx: STARTED, commit: false },
  { op: "read", tx: 0, path: "/cmp/u" },
  { op: "directory", tx: 0, path: "/cmp" },
  { op: "get-domain-path", domid: 3 },
];

/** A message as header bytes in hex and payload as text: lossless, and readable in a diff. */
function describeMessage(message: Uint8Array): string {
  const header = Buffer.from(message.subarray(0, HEADER_SIZE)).toString("hex");
  return `${header} ${JSON.stringify(bytesToText(message.subarray(HEADER_SIZE)))}`;
}

interface Session {
  xenstored: XenStored;
  socketPath: string;
  /** The requests the first connection sent, as they came. */
  requests: Uint8Array[];
  /** Closes the socket and every connection, as a xenstored that goes away. */
  hangUp(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh xenstored on a fresh socket, recording what its first connection sends. */
async function session(): Promise<Session> {
  const directory = mkdtempSync(join(tmpdir(), "component-interop-"));
  const socketPath = join(directory, "socket");
  const xenstored = new XenStored();
  const requests: Uint8Array[] = [];
  const listener = await listenUnix(xenstored, socketPath, {
    onRequest: (message, connection) => void (connection === 0 && requests.push(message)),
  });
  let open = true;
  const hangUp = async () => {
    if (open) await listener.close();
    open = false;
  };
  cleanups.push(async () => {
    await hangUp();
    rmSync(directory, { recursive: true, force: true });
  });
  return { xenstored, socketPath, requests, hangUp };
}

/** Opens a driver that is closed (and must exit cleanly) after the test. */
function opened(driver: Driver): Driver {
  cleanups.push(async () => void expect(await driver.close()).toBe(0));
  return driver;
}

/** Runs SEQUENCE; the replies in order. */
async function runSequence(driver: Driver): Promise<Reply[]> {
  const replies: Reply[] = [];
  let started = 0;
  for (const operation of SEQUENCE) {
    const reply = await driver.run(
      "tx" in operation && operation.tx === STARTED ? { ...operation, tx: started } : operation,
    );
    if (operation.op === "transaction-start" && "ok" in reply) started = reply.ok as number;
    replies.push(reply);
  }
  return replies;
}

/** The component's hosts, each in a Node child over a blocking socket: wasmtime's component model (through its C API), and V8 with jco's bindings. */
const hosts: { host: string; open: (socketPath: string) => Driver }[] = [
  ...(library
    ? [{ host: "wasmtime", open: (socketPath: string) => wasmtimeComponentDriver(library, socketPath) }]
    : []),
  { host: "V8", open: nodeComponentDriver },
];

describe.skipIf(!libxenstore)("the component and Debian's libxenstore, same operations", () => {
  it.each(hosts)("under $host: the same requests, byte for byte, and the same results", async ({ open }) => {
    const native = await session();
    const nativeReplies = await runSequence(opened(libxenstoreDriver(libxenstore!, native.socketPath)));
    const component = await session();
    const componentReplies = await runSequence(opened(open(component.socketPath)));

    // libxenstore sends exactly one request per operation, next-event none (events come unasked).
    expect(native.requests).toHaveLength(SEQUENCE.filter((operation) => operation.op !== "next-event").length);
    expect(component.requests.map(describeMessage)).toEqual(native.requests.map(describeMessage));
    expect(componentReplies).toEqual(nativeReplies);
    // The sequence did what it says, so equal replies are not equal failures.
    expect(nativeReplies.filter((reply) => "error" in reply)).toEqual([{ error: "enoent" }, { error: "enoent" }]);
    expect(nativeReplies.at(-2)).toEqual({ ok: ["a", "t"] });
  });
});

describe.skipIf(!library)("the component under wasmtime's component API", () => {
  async function connected(): Promise<{
    xs: Driver;
    dom0: LocalClient;
    xenstored: XenStored;
    hangUp: () => Promise<void>;
  }> {
    const { xenstored, socketPath, hangUp } = await session();
    const xs = opened(wasmtimeComponentDriver(library!, socketPath));
    return { xs, dom0: new LocalClient(xenstored, 0), xenstored, hangUp };
  }

  it("reads, writes, lists and removes what dom0 sees", async () => {
    const { xs, dom0 } = await connected();
    expect(await xs.run({ op: "write", tx: 0, path: "/w/a", value: "from the component" })).toEqual({ ok: null });
    expect(dom0.read("/w/a")).toBe("from the component");
    dom0.write("/w/b", "from dom0");
    expect(await xs.run({ op: "read", tx: 0, path: "/w/b" })).toEqual({ ok: "from dom0" });
    // Values are bytes: NUL and high bytes round-trip.
    const binary = "\u0000\u0001nul\u00ff";
    expect(await xs.run({ op: "write", tx: 0, path: "/w/bin", value: binary })).toEqual({ ok: null });
    expect(dom0.readBytes("/w/bin")).toEqual(new Uint8Array(Buffer.from(binary, "latin1")));
    expect(await xs.run({ op: "read", tx: 0, path: "/w/bin" })).toEqual({ ok: binary });
    expect(await xs.run({ op: "mkdir", tx: 0, path: "/w/d/e" })).toEqual({ ok: null });
    expect(await xs.run({ op: "directory", tx: 0, path: "/w" })).toEqual({ ok: dom0.directory("/w") });
    expect(dom0.directory("/w")).toEqual(["a", "b", "bin", "d"]);
    expect(await xs.run({ op: "rm", tx: 0, path: "/w/d" })).toEqual({ ok: null });
    expect(dom0.directory("/w")).toEqual(["a", "b", "bin"]);
    expect(await xs.run({ op: "get-domain-path", domid: 7 })).toEqual({ ok: "/local/domain/7" });
  });

  it("gets xenstored's errors as the enum's names, and refuses oversized requests itself", async () => {
    const { xs } = await connected();
    expect(await xs.run({ op: "read", tx: 0, path: "/nowhere" })).toEqual({ error: "enoent" });
    expect(await xs.run({ op: "directory", tx: 0, path: "/nowhere" })).toEqual({ error: "enoent" });
    expect(await xs.run({ op: "write", tx: 0, path: "/bad//path", value: "x" })).toEqual({ error: "einval" });
    expect(await xs.run({ op: "transaction-end", tx: 4242, commit: true })).toEqual({ error: "enoent" });
    // As libxenstore: a payload over XENSTORE_PAYLOAD_MAX is E2BIG, and the connection stays usable.
    expect(await xs.run({ op: "write", tx: 0, path: "/big", value: "x".repeat(5000) })).toEqual({ error: "e2big" });
    expect(await xs.run({ op: "get-domain-path", domid: 1 })).toEqual({ ok: "/local/domain/1" });
  });

  it("sets permissions that bind other domains, and reads them back", async () => {
    const { xs, dom0, xenstored } = await connected();
    dom0.write("/p/node", "v");
    const given = perms("n0", "r5");
    expect(await xs.run({ op: "set-perms", tx: 0, path: "/p/node", perms: given })).toEqual({ ok: null });
    expect(dom0.getPerms("/p/node")).toEqual(perms("n0", "r5"));
    expect(new LocalClient(xenstored, 5).read("/p/node")).toBe("v");
    expect(() => new LocalClient(xenstored, 6).read("/p/node")).toThrow("EACCES");
    dom0.setPerms("/p/node", perms("r3", "b9"));
    expect(await xs.run({ op: "get-perms", tx: 0, path: "/p/node" })).toEqual({
      ok: [
        { domid: 3, access: "read" },
        { domid: 9, access: "both" },
      ],
    });
  });

  it("gets watch events for dom0's changes, in order, and none after unwatching", async () => {
    const { xs, dom0 } = await connected();
    expect(await xs.run({ op: "watch", path: "/ev", token: "first" })).toEqual({ ok: null });
    expect(await xs.run({ op: "next-event" })).toEqual({ ok: { path: "/ev", token: "first" } });
    // The component blocks in next-event until dom0's write fires the watch.
    const pending = xs.run({ op: "next-event" });
    dom0.write("/ev/x", "1");
    expect(await pending).toEqual({ ok: { path: "/ev/x", token: "first" } });
    // Events that arrive during another request are queued and given first.
    dom0.write("/ev/y", "2");
    expect(await xs.run({ op: "read", tx: 0, path: "/ev/y" })).toEqual({ ok: "2" });
    expect(await xs.run({ op: "next-event" })).toEqual({ ok: { path: "/ev/y", token: "first" } });
    expect(await xs.run({ op: "unwatch", path: "/ev", token: "first" })).toEqual({ ok: null });
    dom0.write("/ev/z", "3");
    // The next event is the new watch's own, not /ev/z's.
    expect(await xs.run({ op: "watch", path: "/other", token: "second" })).toEqual({ ok: null });
    expect(await xs.run({ op: "next-event" })).toEqual({ ok: { path: "/other", token: "second" } });
  });

  it("runs transactions: hidden until commit, abandoned on abort, EAGAIN on conflict", async () => {
    const { xs, dom0 } = await connected();
    const start = async () => {
      const reply = await xs.run({ op: "transaction-start" });
      expect(reply).toMatchObject({ ok: expect.any(Number) });
      return (reply as { ok: number }).ok;
    };
    const tx = await start();
    expect(await xs.run({ op: "write", tx, path: "/tx/a", value: "committed" })).toEqual({ ok: null });
    expect(() => dom0.read("/tx/a")).toThrow("ENOENT");
    expect(await xs.run({ op: "read", tx, path: "/tx/a" })).toEqual({ ok: "committed" });
    expect(await xs.run({ op: "transaction-end", tx, commit: true })).toEqual({ ok: null });
    expect(dom0.read("/tx/a")).toBe("committed");

    const abandoned = await start();
    expect(await xs.run({ op: "write", tx: abandoned, path: "/tx/b", value: "never" })).toEqual({ ok: null });
    expect(await xs.run({ op: "transaction-end", tx: abandoned, commit: false })).toEqual({ ok: null });
    expect(() => dom0.read("/tx/b")).toThrow("ENOENT");

    const conflicted = await start();
    expect(await xs.run({ op: "read", tx: conflicted, path: "/tx/a" })).toEqual({ ok: "committed" });
    dom0.write("/tx/a", "dom0 got there first");
    expect(await xs.run({ op: "write", tx: conflicted, path: "/tx/a", value: "late" })).toEqual({ ok: null });
    expect(await xs.run({ op: "transaction-end", tx: conflicted, commit: true })).toEqual({ error: "eagain" });
    expect(dom0.read("/tx/a")).toBe("dom0 got there first");
  });

  it("answers eio once xenstored has gone, without trapping or hanging", async () => {
    const { xs, hangUp } = await connected();
    expect(await xs.run({ op: "write", tx: 0, path: "/gone", value: "soon" })).toEqual({ ok: null });
    await hangUp();
    expect(await xs.run({ op: "read", tx: 0, path: "/gone" })).toEqual({ error: "eio" });
    expect(await xs.run({ op: "next-event" })).toEqual({ error: "eio" });
    expect(await xs.run({ op: "transaction-start" })).toEqual({ error: "eio" });
  });
});
