// xenstored's costs at scale, in milliseconds: 60,000 children of one node
// added, and removed one by one, a write among 60,000 watches, 50,000 writes
// in one transaction, and how long a client's READ over the socket waits
// while another connection floods.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalClient } from "../host/dom0/xenstored/client.js";
import { XenStored } from "../host/dom0/xenstored/server.js";
import { listenUnix } from "../host/dom0/xenstored/socket.js";
import { encodeMessage, MessageDecoder, strings, XsType } from "../host/dom0/xenstored/wire.js";

function timed(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

/** Adds 60,000 children to one node, then lists one. */
export function children60kMs(): number {
  const dom0 = new LocalClient(new XenStored(), 0);
  return timed(() => {
    for (let i = 0; i < 60_000; i++) dom0.write(`/many/c${i}`, "v");
    dom0.read("/many/c59999");
  });
}

/** Removes 60,000 children of one node one by one (their adding not timed). */
export function removeChildren60kMs(): number {
  const dom0 = new LocalClient(new XenStored(), 0);
  for (let i = 0; i < 60_000; i++) dom0.write(`/many/c${i}`, "v");
  return timed(() => {
    for (let i = 0; i < 60_000; i++) dom0.rm(`/many/c${i}`);
  });
}

/** Sets 60,000 watches (one connection, distinct paths), then writes 10,000 nodes among them. */
export function watches60kMs(): number {
  const server = new XenStored();
  const dom0 = new LocalClient(server, 0);
  const watcher = new LocalClient(server, 0);
  return timed(() => {
    for (let i = 0; i < 60_000; i++) watcher.watch(`/w/${i % 600}/n${i}`, `t${i}`);
    watcher.takeEvents();
    for (let i = 0; i < 10_000; i++) dom0.write(`/w/${i % 600}/n${i}`, "v");
    watcher.takeEvents();
  });
}

/** 50,000 writes under one node in one transaction, and its commit. */
export function transactionWrites50kMs(): number {
  const dom0 = new LocalClient(new XenStored(), 0);
  return timed(() => {
    const tx = dom0.transactionStart();
    for (let i = 0; i < 50_000; i++) dom0.write(`/tx/n${i}`, "v", tx);
    dom0.transactionEnd(tx, true);
  });
}

/**
 * The longest a client's READ over the socket waits for its reply while
 * another connection has 60,000 writes queued: READs one after another
 * until the flood is served.
 */
export async function readLatencyUnderFloodMs(): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), "xenstored-bench-"));
  const path = join(directory, "socket");
  const server = new XenStored();
  const listener = await listenUnix(server, path);
  const open = async (): Promise<Socket> => {
    const socket = connect(path);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    return socket;
  };
  try {
    const flooder = await open();
    const reader = await open();
    const count = 60_000;
    const write = encodeMessage({ type: XsType.WRITE, reqId: 1, txId: 0, payload: strings("/flood/n", "v") });
    const flood = new Uint8Array(write.length * count);
    for (let i = 0; i < count; i++) flood.set(write, i * write.length);
    let floodReplies = 0;
    const floodDecoder = new MessageDecoder();
    const floodDone = new Promise<void>((resolve) =>
      flooder.on("data", (bytes) => {
        const messages = floodDecoder.push(new Uint8Array(bytes));
        if (messages !== "protocol-error") floodReplies += messages.length;
        if (floodReplies >= count) resolve();
      }),
    );
    flooder.write(flood);
    const read = encodeMessage({ type: XsType.READ, reqId: 2, txId: 0, payload: strings("/") });
    let longest = 0;
    while (floodReplies < count) {
      const start = performance.now();
      const reply = new Promise<void>((resolve) => reader.once("data", () => resolve()));
      reader.write(read);
      await reply;
      longest = Math.max(longest, performance.now() - start);
    }
    await floodDone;
    flooder.destroy();
    reader.destroy();
    return longest;
  } finally {
    await listener.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
