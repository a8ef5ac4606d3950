// The Unix-socket transport with a raw client: requests and replies as bytes,
// and a protocol violation closes only that connection.
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { listenUnix, type SocketListener } from "../../host/dom0/xenstored/socket.js";
import {
  bytesToText,
  encodeMessage,
  MessageDecoder,
  strings,
  type XsMessage,
  XsType,
} from "../../host/dom0/xenstored/wire.js";

describe("Unix-socket transport", () => {
  const directory = mkdtempSync(join(tmpdir(), "xenstored-socket-"));
  const socketPath = join(directory, "socket");
  let listener: SocketListener;

  beforeAll(async () => {
    listener = await listenUnix(new XenStored(), socketPath);
  });

  afterAll(async () => {
    await listener.close();
    rmSync(directory, { recursive: true, force: true });
  });

  /** A connected socket and a way to await the next n messages from the server. */
  async function client(): Promise<{
    socket: Socket;
    next: (count: number) => Promise<XsMessage[]>;
    closed: Promise<void>;
  }> {
    const socket = connect(socketPath);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const decoder = new MessageDecoder();
    const messages: XsMessage[] = [];
    let wake = () => {};
    socket.on("data", (bytes) => {
      const decoded = decoder.push(new Uint8Array(bytes));
      if (decoded !== "protocol-error") messages.push(...decoded);
      wake();
    });
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const next = async (count: number) => {
      while (messages.length < count) await new Promise<void>((resolve) => (wake = resolve));
      return messages.splice(0, count);
    };
    return { socket, next, closed };
  }

  it("answers requests in order, pipelined and split across writes", async () => {
    const { socket, next } = await client();
    const write = encodeMessage({ type: XsType.WRITE, reqId: 1, txId: 0, payload: strings("/s", "v").subarray(0, 4) });
    const read = encodeMessage({ type: XsType.READ, reqId: 2, txId: 0, payload: strings("/s") });
    const both = new Uint8Array([...write, ...read]);
    socket.write(both.subarray(0, 7));
    socket.write(both.subarray(7));
    const [ack, value] = await next(2);
    expect(ack).toMatchObject({ type: XsType.WRITE, reqId: 1 });
    expect(value).toMatchObject({ type: XsType.READ, reqId: 2 });
    expect(bytesToText(value!.payload)).toBe("v");
    socket.destroy();
  });

  it("closes a connection that announces more than 4096 bytes; others carry on", async () => {
    const hostile = await client();
    const bystander = await client();
    const header = new Uint8Array(16);
    new DataView(header.buffer).setUint32(12, 4097, true);
    hostile.socket.write(header);
    await hostile.closed;
    bystander.socket.write(encodeMessage({ type: XsType.GET_DOMAIN_PATH, reqId: 9, txId: 0, payload: strings("3") }));
    const [reply] = await bystander.next(1);
    expect(bytesToText(reply!.payload)).toBe("/local/domain/3\0");
    bystander.socket.destroy();
  });

  it("records each request whole, per connection, however the bytes were cut", async () => {
    const recordedPath = join(directory, "recorded");
    const recorded: [number, string][] = [];
    const recording = await listenUnix(new XenStored(), recordedPath, {
      onRequest: (message, connection) => recorded.push([connection, Buffer.from(message).toString("hex")]),
    });
    const write = encodeMessage({ type: XsType.WRITE, reqId: 7, txId: 0, payload: strings("/r", "v").subarray(0, 4) });
    const read = encodeMessage({ type: XsType.READ, reqId: 8, txId: 0, payload: strings("/r") });
    const [first, second] = [connect(recordedPath), connect(recordedPath)];
    await Promise.all([first, second].map((socket) => new Promise((resolve) => socket.once("connect", resolve))));
    const both = new Uint8Array([...write, ...read]);
    for (const cut of [both.subarray(0, 3), both.subarray(3, 17), both.subarray(17)]) first.write(cut);
    await vi.waitFor(() => expect(recorded).toHaveLength(2));
    second.write(read);
    await vi.waitFor(() => expect(recorded).toHaveLength(3));
    expect(recorded).toEqual([
      [0, Buffer.from(write).toString("hex")],
      [0, Buffer.from(read).toString("hex")],
      [1, Buffer.from(read).toString("hex")],
    ]);
    first.destroy();
    second.destroy();
    await recording.close();
  });
});
