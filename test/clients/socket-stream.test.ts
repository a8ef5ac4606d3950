// The blocking streams to xenstored (runtime/socket-stream.ts): real xs_wire
// messages through a Unix socket to a simulated xenstored running in a child
// process (a blocking client cannot share its thread with the server), the
// peer closing, character devices, and libxenstore's rules for the path.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bytesToText,
  encodeMessage,
  MessageDecoder,
  strings,
  type XsMessage,
  XsType,
} from "../../host/dom0/xenstored/wire.js";
import { type ByteStream, StreamError } from "../../runtime/component.js";
import { connectXenstored, xenstoredPaths } from "../../runtime/socket-stream.js";

/** A simulated xenstored in a child process, serving `socket` once it has said so. */
async function xenstoredChild(socket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "host/dom0/xenstored/main.ts", "--socket", socket], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`xenstored exited (${code}) before listening`)));
  });
  return child;
}

/** Sends `message` and blocks until the whole reply has come, however recv splits it. */
function roundtrip(stream: ByteStream, message: Omit<XsMessage, "reqId" | "txId">, max = 4096): XsMessage {
  stream.send(encodeMessage({ reqId: 0, txId: 0, ...message }));
  const decoder = new MessageDecoder();
  for (;;) {
    const decoded = decoder.push(stream.recv(max));
    if (decoded === "protocol-error") throw new Error("xenstored sent a malformed reply");
    if (decoded.length > 0) return decoded[0]!;
  }
}

function expectStreamError(call: () => unknown, kind: StreamError["kind"]): void {
  let caught: unknown;
  try {
    call();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(StreamError);
  expect((caught as StreamError).kind).toBe(kind);
}

describe("a Unix socket to xenstored in another process", () => {
  const directory = mkdtempSync(join(tmpdir(), "socket-stream-"));
  const socket = join(directory, "socket");
  let xenstored: ChildProcess;

  beforeAll(async () => {
    xenstored = await xenstoredChild(socket);
  });

  afterAll(() => {
    xenstored.kill();
    rmSync(directory, { recursive: true, force: true });
  });

  it("carries requests and replies: a write, then its value read back on a second connection", () => {
    const writer = connectXenstored(socket);
    const ack = roundtrip(writer, {
      type: XsType.WRITE,
      payload: strings("/tool/stream", "over the socket").subarray(0, -1),
    });
    expect(ack.type).toBe(XsType.WRITE);
    expect(bytesToText(ack.payload)).toBe("OK\0");
    writer.close();

    const reader = connectXenstored(socket);
    const value = roundtrip(reader, { type: XsType.READ, payload: strings("/tool/stream") });
    expect(value.type).toBe(XsType.READ);
    expect(bytesToText(value.payload)).toBe("over the socket");
    const missing = roundtrip(reader, { type: XsType.READ, payload: strings("/tool/missing") });
    expect(missing.type).toBe(XsType.ERROR);
    expect(bytesToText(missing.payload)).toBe("ENOENT\0");
    reader.close();
  });

  it("gives a reply a byte at a time when asked for one byte, and a large reply through the ring whole", () => {
    const stream = connectXenstored(socket);
    const big = "x".repeat(4000);
    roundtrip(stream, { type: XsType.WRITE, payload: strings("/tool/big", big).subarray(0, -1) });
    expect(bytesToText(roundtrip(stream, { type: XsType.READ, payload: strings("/tool/big") }, 1).payload)).toBe(big);
    // More replies than the 64 KiB ring holds, asked for before any is read: the worker waits for room
    // (within what the socket buffers: xenstored stops reading while its replies back up).
    const reads = 20;
    const request = encodeMessage({ type: XsType.READ, reqId: 0, txId: 0, payload: strings("/tool/big") });
    for (let i = 0; i < reads; i++) stream.send(request);
    const decoder = new MessageDecoder();
    const replies: XsMessage[] = [];
    while (replies.length < reads) {
      const decoded = decoder.push(stream.recv(65536));
      if (decoded === "protocol-error") throw new Error("malformed reply");
      replies.push(...decoded);
    }
    expect(replies.every((reply) => bytesToText(reply.payload) === big)).toBe(true);
    stream.close();
  });

  it("reports xenstored closing the connection as StreamError closed, for recv and then send", () => {
    const stream = connectXenstored(socket);
    // A header announcing more than XENSTORE_PAYLOAD_MAX: xenstored drops the connection.
    const hostile = new Uint8Array(16);
    new DataView(hostile.buffer).setUint32(12, 4097, true);
    stream.send(hostile);
    expectStreamError(() => stream.recv(16), "closed");
    expectStreamError(() => stream.send(hostile), "closed");
    stream.close();
  });

  it("reports a peer that went away without reading as closed: to a send (queued sends may come first), then to recv", async () => {
    // A peer in this process: it runs only while the test awaits, between the stream's blocking calls.
    const path = join(directory, "vanishing");
    const server = createServer();
    server.listen(path);
    await once(server, "listening");
    const accepted = once(server, "connection");
    const stream = connectXenstored(path);
    const [peer] = (await accepted) as [Socket];
    peer.destroy();
    // Sends before the worker has seen the close may succeed; once it has, they say closed, and so does recv.
    const request = encodeMessage({ type: XsType.READ, reqId: 0, txId: 0, payload: strings("/tool/stream") });
    let sends = 0;
    let caught: unknown;
    for (const deadline = Date.now() + 10_000; caught === undefined && Date.now() < deadline; sends++) {
      try {
        stream.send(request);
      } catch (error) {
        caught = error;
      }
    }
    expect(caught, `${sends} sends all returned`).toBeInstanceOf(StreamError);
    expect((caught as StreamError).kind).toBe("closed");
    expectStreamError(() => stream.recv(16), "closed");
    stream.close();
    server.close();
  });

  it("refuses to be used after close", () => {
    const stream = connectXenstored(socket);
    stream.close();
    expectStreamError(() => stream.recv(1), "closed");
    expectStreamError(() => stream.send(new Uint8Array(1)), "closed");
  });

  it("names the path and errno when there is nothing to connect to", () => {
    expect(() => connectXenstored(join(directory, "absent"))).toThrow(/absent: ENOENT/);
    // A socket file left behind by a server that is gone.
    const stale = join(directory, "stale");
    execFileSync(process.execPath, [
      "-e",
      `require("net").createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`,
    ]);
    expect(() => connectXenstored(stale)).toThrow(/stale: ECONNREFUSED/);
  });
});

describe("a character device (/dev/xen/xenbus on a Xen host)", () => {
  it("reads and writes with blocking system calls: /dev/zero gives bytes, /dev/null ends", () => {
    const zero = connectXenstored("/dev/zero");
    zero.send(new Uint8Array([1, 2, 3]));
    expect(zero.recv(8)).toEqual(new Uint8Array(8));
    zero.close();
    const nul = connectXenstored("/dev/null");
    nul.send(new Uint8Array(16));
    expectStreamError(() => nul.recv(16), "closed");
    nul.close();
    expectStreamError(() => nul.recv(16), "closed");
  });
});

describe("where xenstored is, by libxenstore's rules", () => {
  const rundir = mkdtempSync(join(tmpdir(), "xenstored-rundir-"));
  const devices = ["/dev/xen/xenbus", "/proc/xen/xenbus"];
  afterAll(() => rmSync(rundir, { recursive: true, force: true }));

  it("takes --socket first, then XENSTORED_PATH, each alone", () => {
    expect(xenstoredPaths("/given", { XENSTORED_PATH: "/from/env" })).toEqual(["/given"]);
    expect(xenstoredPaths(undefined, { XENSTORED_PATH: "/from/env" })).toEqual(["/from/env"]);
  });

  it("else the daemon's socket in XENSTORED_RUNDIR (by default /var/run/xenstored), then the xenbus device", () => {
    expect(xenstoredPaths(undefined, { XENSTORED_RUNDIR: rundir })).toEqual([join(rundir, "socket"), ...devices]);
    expect(xenstoredPaths(undefined, {})).toEqual(["/var/run/xenstored/socket", ...devices]);
  });

  it("connects to the first path that exists", () => {
    const stream = connectXenstored([join(rundir, "absent"), "/dev/null"]);
    expectStreamError(() => stream.recv(1), "closed");
    stream.close();
  });

  it.skipIf(devices.some((device) => existsSync(device)))(
    "names every path it tried, with its errno, when none exists",
    () => {
      const tried = xenstoredPaths(undefined, { XENSTORED_RUNDIR: rundir });
      expect(() => connectXenstored(tried)).toThrow(
        `cannot reach xenstored at ${join(rundir, "socket")}: ENOENT, /dev/xen/xenbus: ENOENT, /proc/xen/xenbus: ENOENT`,
      );
    },
  );
});
