// xenstored under a client that floods it: no input crashes the daemon (a
// huge subtree removed inside a transaction), what it holds for a client
// stays within the README's budget, and one connection's backlog never keeps
// another waiting for more than a bounded number of turns.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { reply } from "../../host/dom0/xenstored/requests.js";
import {
  type Connection,
  MAX_QUEUED_EVENT_BYTES,
  MAX_QUEUED_REPLY_BYTES,
  REQUESTS_PER_TURN,
  XenStored,
} from "../../host/dom0/xenstored/server.js";
import { listenUnix } from "../../host/dom0/xenstored/socket.js";
import { Session, XenStoreState } from "../../host/dom0/xenstored/state.js";
import {
  bytesToText,
  encodeMessage,
  strings,
  textToBytes,
  XENSTORE_PAYLOAD_MAX,
  type XsMessage,
  XsType,
} from "../../host/dom0/xenstored/wire.js";

function request(type: number, txId: number, ...args: string[]): XsMessage {
  return { type, reqId: 1, txId, payload: strings(...args) };
}

const text = (message: XsMessage) => bytesToText(message.payload).split("\0")[0];

/** 50 × 50 × 50 = 125,000 leaves under /big, written through the pure core. */
function bigTree(state: XenStoreState, session: Session): void {
  for (let a = 0; a < 50; a++)
    for (let b = 0; b < 50; b++)
      for (let c = 0; c < 50; c++) {
        const payload = textToBytes(`/big/a${a}/b${b}/c${c}\0`);
        const outcome = reply(state, session, { type: XsType.WRITE, reqId: 1, txId: 0, payload });
        expect(outcome.reply.type).toBe(XsType.WRITE);
      }
}

describe("no input crashes xenstored", () => {
  it("removes a 125,000-node subtree inside a transaction, with a watcher seeing each node go", () => {
    const state = new XenStoreState();
    const dom0 = new Session(0);
    const watcher = new Session(0);
    state.addSession(dom0).addSession(watcher);
    bigTree(state, dom0);
    reply(state, watcher, request(XsType.WATCH, 0, "/big", "t"));
    const tx = Number(text(reply(state, dom0, request(XsType.TRANSACTION_START, 0, "")).reply));
    expect(text(reply(state, dom0, request(XsType.RM, tx, "/big")).reply)).toBe("OK");
    const end = reply(state, dom0, request(XsType.TRANSACTION_END, tx, "T"));
    expect(text(end.reply)).toBe("OK");
    // Only the removed root fires the watch on it; the nodes below are exact changes.
    expect(end.fired.flat().length).toBe(1);
    expect(text(reply(state, dom0, request(XsType.READ, 0, "/big")).reply)).toBe("ENOENT");
  }, 60_000);
});

/** The README's budget for one connection: replies, events, one read of input and a partial message. */
const MESSAGE = 16 + XENSTORE_PAYLOAD_MAX;
const CONNECTION_BUDGET = MAX_QUEUED_REPLY_BYTES + MESSAGE + MAX_QUEUED_EVENT_BYTES + 64 * 1024 + MESSAGE;

/** What xenstored holds for `conn`, counted from its queues themselves. */
function heldFor(conn: Connection): number {
  let bytes = conn.decoder.pending;
  for (const { bytes: queued } of conn.outbox) bytes += queued.length;
  for (const request of conn.inbox) bytes += 16 + request.payload.length;
  return bytes;
}

function requests(count: number, type: number, ...args: string[]): Uint8Array {
  const one = encodeMessage({ type, reqId: 1, txId: 0, payload: strings(...args) });
  const all = new Uint8Array(one.length * count);
  for (let i = 0; i < count; i++) all.set(one, i * one.length);
  return all;
}

/** A xenstored whose turns run only when the test says, counted. */
function turnByTurn() {
  const turns: (() => void)[] = [];
  const server = new XenStored({ schedule: (turn) => void turns.push(turn) });
  const runTurn = () => {
    const turn = turns.shift();
    if (!turn) throw new Error("no turn scheduled");
    turn();
  };
  return { server, turns, runTurn };
}

describe("xenstored's memory stays within its budget", () => {
  it("stops serving a pipelining client that never takes its replies; others are served", () => {
    const { server, turns, runTurn } = turnByTurn();
    const dom0 = new LocalClient(server, 0);
    dom0.write("/big", "x".repeat(4000));
    const silent = server.connect(0, () => false);
    // As a transport does: it reads again only once every request received is served.
    for (let read = 0; read < 50 && silent.inbox.length === 0; read++) {
      server.receive(silent, requests(4000, XsType.READ, "/big"));
      while (turns.length > 0) runTurn();
    }
    expect(silent.inbox.length).toBeGreaterThan(0);
    expect(heldFor(silent)).toBe(silent.retainedBytes);
    expect(silent.retainedBytes).toBeLessThanOrEqual(CONNECTION_BUDGET);
    expect(dom0.read("/big")).toHaveLength(4000);
    server.disconnect(silent);
    expect(server.retainedBytes).toBe(0);
  });

  it("drops, counts and logs the events of a watcher that never reads while another client writes", () => {
    const lines: string[] = [];
    const server = new XenStored({ log: (line) => lines.push(line) });
    const dom0 = new LocalClient(server, 0);
    let reading = false;
    const watcher = server.connect(0, () => reading);
    server.receive(watcher, requests(1, XsType.WATCH, "/", "t".repeat(1000)));
    for (let i = 0; i < 5000; i++) dom0.write(`/n${i % 50}`, "v");
    expect(watcher.retainedBytes).toBeLessThanOrEqual(CONNECTION_BUDGET);
    expect(heldFor(watcher)).toBe(watcher.retainedBytes);
    expect(watcher.droppedEvents).toBeGreaterThan(4000);
    expect(server.droppedEvents).toBe(watcher.droppedEvents);
    expect(lines).toEqual(["xenstored: domain 0's connection is not reading: dropping its watch events"]);
    reading = true;
    server.flush(watcher);
    expect(watcher.retainedBytes).toBe(0);
    expect(lines[1]).toMatch(/reads again; \d+ watch events lost in all/);
  });

  it("200 silent connections with 20 watches each hold at most their budget, and nothing once gone", () => {
    const server = new XenStored();
    const dom0 = new LocalClient(server, 0);
    const silent: Connection[] = [];
    for (let c = 0; c < 200; c++) {
      const conn = server.connect(0, () => false);
      for (let w = 0; w < 20; w++) server.receive(conn, requests(1, XsType.WATCH, "/", `${"t".repeat(200)}${w}`));
      silent.push(conn);
    }
    for (let i = 0; i < 100; i++) dom0.write(`/n${i}`, "v");
    expect(server.retainedBytes).toBeLessThanOrEqual(200 * CONNECTION_BUDGET);
    for (const conn of silent) expect(conn.retainedBytes).toBeLessThanOrEqual(CONNECTION_BUDGET);
    expect(server.droppedEvents).toBeGreaterThan(0);
    for (const conn of silent) server.disconnect(conn);
    expect(server.retainedBytes).toBe(0);
    for (const conn of silent) expect(conn.watches.size).toBe(0);
    const watcher = new LocalClient(server, 0);
    watcher.watch("/", "w");
    watcher.takeEvents();
    dom0.write("/after", "v");
    expect(watcher.takeEvents()).toEqual([{ path: "/after", token: "w" }]);
  });

  it("over the socket: a client that pipelines READs and never reads stays within budget; another is served", async () => {
    const directory = mkdtempSync(join(tmpdir(), "xenstored-flood-"));
    const path = join(directory, "socket");
    const server = new XenStored();
    const listener = await listenUnix(server, path);
    try {
      const dom0 = new LocalClient(server, 0);
      dom0.write("/big", "x".repeat(4000));
      const open = async (): Promise<Socket> => {
        const socket = connect(path);
        await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
        return socket;
      };
      const flooder = await open();
      flooder.pause(); // never reads its replies
      const burst = requests(4000, XsType.READ, "/big");
      let held = 0;
      for (let round = 0; round < 40; round++) {
        flooder.write(burst);
        await new Promise((resolve) => setTimeout(resolve, 5));
        held = Math.max(held, server.retainedBytes);
      }
      expect(held).toBeLessThanOrEqual(2 * CONNECTION_BUDGET);
      const other = await open();
      const answer = new Promise<Buffer>((resolve) => other.once("data", resolve));
      other.write(encodeMessage({ type: XsType.READ, reqId: 9, txId: 0, payload: strings("/big") }));
      expect((await answer).readUInt32LE(4)).toBe(9);
      other.destroy();
      flooder.destroy();
      while (server.retainedBytes > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(server.retainedBytes).toBe(0);
    } finally {
      await listener.close();
      rmSync(directory, { recursive: true, force: true });
    }
  }, 30_000);
});

describe("connections take turns", () => {
  it("answers another client's request at once and finishes its backlog within a few turns while a flood waits", () => {
    const { server, turns, runTurn } = turnByTurn();
    const flooder = server.connect(0, () => true);
    server.receive(flooder, requests(5000, XsType.WRITE, "/flood", "v"));
    expect(flooder.inbox.length).toBe(5000 - REQUESTS_PER_TURN);
    const other = new LocalClient(server, 0);
    other.write("/mine", "yes");
    expect(other.read("/mine")).toBe("yes");
    // A backlog of its own: 300 requests, served a turn's worth at a time beside the flood.
    const replies = () => other.received.filter((message) => message.type === XsType.READ).length;
    other.received.length = 0;
    other.sendBytes(requests(300, XsType.READ, "/mine"));
    let turnsTaken = 0;
    while (replies() < 300) {
      runTurn();
      turnsTaken++;
    }
    expect(turnsTaken).toBe(Math.ceil((300 - REQUESTS_PER_TURN) / REQUESTS_PER_TURN));
    expect(flooder.inbox.length).toBeGreaterThan(0);
    while (turns.length > 0) runTurn();
    expect(flooder.inbox.length).toBe(0);
  });
});
