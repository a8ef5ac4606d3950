// An in-process client of XenStored for native services (and tests): the same
// bytes a ring or socket would carry, without a transport. Besides the
// XenstoreClient operations it sends any request, raw bytes included.
import {
  formatPermission,
  type Permission,
  parsePermission,
  runTransaction,
  type TransactionId,
  type WatchEvent,
  XenStoreError,
  type XenstoreClient,
} from "../../../runtime/xenstore-client.js";
import type { Connection, XenStored } from "./server.js";
import { bytesToText, errnoOfName, MessageDecoder, type XsMessage, XsType } from "./wire.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** NUL-terminated UTF-8 strings, then `value` (the payload of WRITE). */
function payloadOf(parts: string[], value: Uint8Array = new Uint8Array(0)): Uint8Array {
  const head = encoder.encode(parts.map((part) => `${part}\0`).join(""));
  const payload = new Uint8Array(head.length + value.length);
  payload.set(head);
  payload.set(value, head.length);
  return payload;
}

/** A payload of NUL-terminated UTF-8 strings, split (a trailing NUL ends the last). */
function namesOf(payload: Uint8Array): string[] {
  const text = decoder.decode(payload);
  return text === "" ? [] : text.replace(/\0$/, "").split("\0");
}

export class LocalClient implements XenstoreClient {
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
      for (const message of messages) this.received.push(message);
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
    // From the end: the reply is among the last messages, after the events its request fired.
    let index = this.received.length - 1;
    while (index >= 0 && (this.received[index]!.type === XsType.WATCH_EVENT || this.received[index]!.reqId !== reqId))
      index--;
    return index < 0 ? undefined : this.received.splice(index, 1)[0];
  }

  /** A request that must succeed: its reply payload, or the server's error thrown as XenStoreError. */
  call(type: number, payload: Uint8Array, txId = 0, operation = `request type ${type}`): Uint8Array {
    const reply = this.request(type, payload, txId);
    if (!reply) throw new Error(`${operation}: no reply`);
    if (reply.type === XsType.ERROR) {
      throw new XenStoreError(errnoOfName(bytesToText(reply.payload).replace(/\0$/, "")), operation);
    }
    if (reply.type !== type) throw new Error(`${operation}: reply type ${reply.type}`);
    return reply.payload;
  }

  nextEvent(): WatchEvent | undefined {
    const index = this.received.findIndex((message) => message.type === XsType.WATCH_EVENT);
    if (index < 0) return undefined;
    const [path = "", token = ""] = namesOf(this.received.splice(index, 1)[0]!.payload);
    return { path, token };
  }

  /** Watch events received so far (taken out of `received`, in one pass however many there are). */
  takeEvents(): WatchEvent[] {
    const events: WatchEvent[] = [];
    const others: XsMessage[] = [];
    for (const message of this.received) {
      if (message.type !== XsType.WATCH_EVENT) others.push(message);
      else {
        const [path = "", token = ""] = namesOf(message.payload);
        events.push({ path, token });
      }
    }
    this.received.length = 0;
    for (const message of others) this.received.push(message);
    return events;
  }

  read(path: string, tx: TransactionId = 0): string {
    return decoder.decode(this.readBytes(path, tx));
  }

  readBytes(path: string, tx: TransactionId = 0): Uint8Array {
    return this.call(XsType.READ, payloadOf([path]), tx, `read ${path}`);
  }

  write(path: string, value: string | Uint8Array, tx: TransactionId = 0): void {
    const bytes = typeof value === "string" ? encoder.encode(value) : value;
    this.call(XsType.WRITE, payloadOf([path], bytes), tx, `write ${path}`);
  }

  mkdir(path: string, tx: TransactionId = 0): void {
    this.call(XsType.MKDIR, payloadOf([path]), tx, `mkdir ${path}`);
  }

  rm(path: string, tx: TransactionId = 0): void {
    this.call(XsType.RM, payloadOf([path]), tx, `rm ${path}`);
  }

  directory(path: string, tx: TransactionId = 0): string[] {
    return namesOf(this.call(XsType.DIRECTORY, payloadOf([path]), tx, `directory ${path}`));
  }

  getPerms(path: string, tx: TransactionId = 0): Permission[] {
    const operation = `get_perms ${path}`;
    return namesOf(this.call(XsType.GET_PERMS, payloadOf([path]), tx, operation)).map((perm) =>
      parsePermission(perm, operation),
    );
  }

  setPerms(path: string, perms: Permission[], tx: TransactionId = 0): void {
    this.call(XsType.SET_PERMS, payloadOf([path, ...perms.map(formatPermission)]), tx, `set_perms ${path}`);
  }

  /** `depth`: XENSTORE_SERVER_FEATURE_WATCHDEPTH's limit on how far below `path` a change fires it. */
  watch(path: string, token: string, depth?: number): void {
    const parts = depth === undefined ? [path, token] : [path, token, String(depth)];
    this.call(XsType.WATCH, payloadOf(parts), 0, `watch ${path}`);
  }

  unwatch(path: string, token: string): void {
    this.call(XsType.UNWATCH, payloadOf([path, token]), 0, `unwatch ${path}`);
  }

  transactionStart(): TransactionId {
    return Number(namesOf(this.call(XsType.TRANSACTION_START, payloadOf([""]), 0, "transaction_start"))[0]);
  }

  transactionEnd(tx: TransactionId, commit: boolean): void {
    this.call(XsType.TRANSACTION_END, payloadOf([commit ? "T" : "F"]), tx, `transaction_end ${tx}`);
  }

  transaction<T>(body: (tx: TransactionId) => T, attempts?: number): T {
    return runTransaction(this, body, attempts);
  }

  getDomainPath(domid: number): string {
    return this.callString(XsType.GET_DOMAIN_PATH, String(domid));
  }

  /** A request whose reply is one string (GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, GET_FEATURE, ...). */
  callString(type: number, ...parts: string[]): string {
    return namesOf(this.call(type, payloadOf(parts)))[0] ?? "";
  }
}
