// An in-process client of XenStored for native services (and tests): the same
// bytes a ring or socket would carry, without a transport.
import { XsError } from "./errors.js";
import type { Connection, XenStored } from "./server.js";
import { bytesToText, MessageDecoder, strings, textToBytes, type XsErrorName, type XsMessage, XsType } from "./wire.js";

export interface WatchEvent {
  path: string;
  token: string;
}

/** Times inTransaction tries before passing on EAGAIN: conflicts that keep coming mean contention, not bad luck. */
const TRANSACTION_ATTEMPTS = 8;

export class LocalClient {
  readonly connection: Connection;
  /** Everything the server sent, in order, not yet taken by a request. */
  readonly received: XsMessage[] = [];
  /**
   * Called when a watch event arrives. That is while xenstored still handles
   * the request that fired it, so a service only schedules its work here
   * (an event on a port of its own, say) and takes the events later.
   */
  onWatchEvent: (() => void) | null = null;
  private readonly decoder = new MessageDecoder();
  private nextReqId = 1;

  constructor(
    private readonly server: XenStored,
    readonly domid: number,
  ) {
    this.connection = server.connect(domid, (bytes) => {
      const messages = this.decoder.push(bytes);
      if (messages === "protocol-error") throw new Error("xenstored sent an oversized message");
      this.received.push(...messages);
      if (messages.some((message) => message.type === XsType.WATCH_EVENT)) this.onWatchEvent?.();
    });
  }

  /** Closes the connection: xenstored forgets its watches and transactions. */
  close(): void {
    this.server.disconnect(this.connection);
  }

  /** Sends raw bytes as they would arrive from the transport. */
  sendBytes(bytes: Uint8Array): void {
    this.server.receive(this.connection, bytes);
  }

  /** Sends one request; returns its reply (ERROR included), or undefined if none came yet. */
  request(type: number, payload: Uint8Array, txId = 0): XsMessage | undefined {
    const reqId = this.nextReqId++;
    const header = new DataView(new ArrayBuffer(16));
    header.setUint32(0, type, true);
    header.setUint32(4, reqId, true);
    header.setUint32(8, txId, true);
    header.setUint32(12, payload.length, true);
    const bytes = new Uint8Array(16 + payload.length);
    bytes.set(new Uint8Array(header.buffer));
    bytes.set(payload, 16);
    this.sendBytes(bytes);
    const index = this.received.findIndex((message) => message.type !== XsType.WATCH_EVENT && message.reqId === reqId);
    return index < 0 ? undefined : this.received.splice(index, 1)[0];
  }

  /** A request that must succeed: its reply payload, or the server's error thrown as XsError. */
  call(type: number, payload: Uint8Array, txId = 0): Uint8Array {
    const reply = this.request(type, payload, txId);
    if (!reply) throw new Error(`no reply to request type ${type}`);
    if (reply.type === XsType.ERROR) throw new XsError(bytesToText(reply.payload).replace(/\0$/, "") as XsErrorName);
    if (reply.type !== type) throw new Error(`reply type ${reply.type} to request type ${type}`);
    return reply.payload;
  }

  /** Watch events received so far (taken out of `received`). */
  takeEvents(): WatchEvent[] {
    const events: WatchEvent[] = [];
    for (let i = 0; i < this.received.length; ) {
      const message = this.received[i]!;
      if (message.type !== XsType.WATCH_EVENT) {
        i++;
        continue;
      }
      const [path = "", token = ""] = bytesToText(message.payload).split("\0");
      events.push({ path, token });
      this.received.splice(i, 1);
    }
    return events;
  }

  read(path: string, txId = 0): string {
    return bytesToText(this.call(XsType.READ, strings(path), txId));
  }

  write(path: string, value: string, txId = 0): void {
    this.call(XsType.WRITE, textToBytes(`${path}\0${value}`), txId);
  }

  mkdir(path: string, txId = 0): void {
    this.call(XsType.MKDIR, strings(path), txId);
  }

  rm(path: string, txId = 0): void {
    this.call(XsType.RM, strings(path), txId);
  }

  directory(path: string, txId = 0): string[] {
    return splitNames(this.call(XsType.DIRECTORY, strings(path), txId));
  }

  getPerms(path: string, txId = 0): string[] {
    return splitNames(this.call(XsType.GET_PERMS, strings(path), txId));
  }

  setPerms(path: string, perms: string[], txId = 0): void {
    this.call(XsType.SET_PERMS, strings(path, ...perms), txId);
  }

  watch(path: string, token: string, depth?: number): void {
    this.call(XsType.WATCH, depth === undefined ? strings(path, token) : strings(path, token, String(depth)));
  }

  unwatch(path: string, token: string): void {
    this.call(XsType.UNWATCH, strings(path, token));
  }

  startTransaction(): number {
    return Number(splitNames(this.call(XsType.TRANSACTION_START, strings("")))[0]);
  }

  endTransaction(txId: number, commit: boolean): void {
    this.call(XsType.TRANSACTION_END, strings(commit ? "T" : "F"), txId);
  }

  /**
   * Runs `body` in a transaction and commits it, starting over when a
   * conflicting change wins (EAGAIN), at most TRANSACTION_ATTEMPTS times; a
   * body that throws aborts the transaction.
   */
  inTransaction(body: (tx: number) => void): void {
    for (let attempt = 1; ; attempt++) {
      const tx = this.startTransaction();
      try {
        body(tx);
      } catch (error) {
        this.endTransaction(tx, false);
        throw error;
      }
      try {
        this.endTransaction(tx, true);
        return;
      } catch (error) {
        if (!(error instanceof XsError && error.errorName === "EAGAIN") || attempt >= TRANSACTION_ATTEMPTS) throw error;
      }
    }
  }

  /** A request whose reply is one string (GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, GET_FEATURE, ...). */
  callString(type: number, ...parts: string[]): string {
    return splitNames(this.call(type, strings(...parts)))[0] ?? "";
  }
}

function splitNames(payload: Uint8Array): string[] {
  const text = bytesToText(payload);
  return text === "" ? [] : text.replace(/\0$/, "").split("\0");
}
