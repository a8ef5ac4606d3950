// Typed XenStore over a booted xenbus guest's exports (see runtime/xenbus.ts
// for the raw convention). Failures throw XenStoreError carrying the errno,
// so callers branch on `errno` (e.g. EAGAIN: retry the transaction).
import { constants } from "node:os";
import type { Guest } from "./guest.js";
import type { XenbusExports } from "./xenbus.js";

const PAGE_SIZE = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A XenStore export failed; `errno` is the positive errno, `code` its name (EACCES, ...). */
export class XenStoreError extends Error {
  readonly code: string;

  constructor(readonly errno: number, operation: string) {
    const code = Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`;
    super(`${operation}: ${code}`);
    this.name = "XenStoreError";
    this.code = code;
  }
}

export interface WatchEvent {
  path: string;
  token: string;
}

export interface XenStore {
  read(path: string, tx?: number): string;
  readBytes(path: string, tx?: number): Uint8Array;
  write(path: string, value: string | Uint8Array, tx?: number): void;
  mkdir(path: string, tx?: number): void;
  rm(path: string, tx?: number): void;
  directory(path: string, tx?: number): string[];
  watch(path: string, token: string): void;
  unwatch(path: string, token: string): void;
  transactionStart(): number;
  transactionEnd(tx: number, commit: boolean): void;
  getDomainPath(domid: number): string;
  /** Watch events queued in the guest, oldest first (taking them out). */
  takeEvents(): WatchEvent[];
  reconnect(): void;
  /** The ring's `error` field (0 while xenstored serves the guest). */
  ringError(): number;
}

/**
 * Connects the guest (xs_init) and wraps its exports. Three pages of the
 * guest carry the arguments and results: path, value/token, and `out`.
 */
export function xenstore(guest: Guest<XenbusExports>): XenStore {
  const x = guest.exports;
  const check = (rc: number | undefined, operation: string): number => {
    if (rc === undefined) throw new Error(`${guest.name} exited during ${operation}: ${guest.exit?.message ?? ""}`);
    if (rc < 0) throw new XenStoreError(-rc, operation);
    return rc;
  };
  check(x.xs_init(), "xs_init");
  const page = (): number => {
    const address = x.page_alloc();
    if (!address) throw new Error(`${guest.name}: no page for XenStore arguments`);
    return address;
  };
  const [pathPage, argPage, out] = [page(), page(), page()];
  /** Copies `bytes` into the guest page at `at`: their length. */
  const put = (at: number, bytes: Uint8Array, operation: string): number => {
    if (bytes.length > PAGE_SIZE) throw new XenStoreError(constants.errno.E2BIG, operation);
    guest.memory().set(bytes, at);
    return bytes.length;
  };
  const path = (text: string, operation: string): [number, number] => [pathPage, put(pathPage, encoder.encode(text), operation)];
  const result = (length: number): Uint8Array => guest.memory().slice(out, out + length);
  const names = (length: number): string[] => {
    const text = decoder.decode(result(length));
    return text === "" ? [] : text.replace(/\0$/, "").split("\0");
  };

  return {
    readBytes(name, tx = 0) {
      return result(check(x.xs_read(tx, ...path(name, "read"), out), `read ${name}`));
    },
    read(name, tx = 0) {
      return decoder.decode(this.readBytes(name, tx));
    },
    write(name, value, tx = 0) {
      const bytes = typeof value === "string" ? encoder.encode(value) : value;
      check(x.xs_write(tx, ...path(name, "write"), argPage, put(argPage, bytes, "write")), `write ${name}`);
    },
    mkdir(name, tx = 0) {
      check(x.xs_mkdir(tx, ...path(name, "mkdir")), `mkdir ${name}`);
    },
    rm(name, tx = 0) {
      check(x.xs_rm(tx, ...path(name, "rm")), `rm ${name}`);
    },
    directory(name, tx = 0) {
      return names(check(x.xs_directory(tx, ...path(name, "directory"), out), `directory ${name}`));
    },
    watch(name, token) {
      check(x.xs_watch(...path(name, "watch"), argPage, put(argPage, encoder.encode(token), "watch")), `watch ${name}`);
    },
    unwatch(name, token) {
      check(x.xs_unwatch(...path(name, "unwatch"), argPage, put(argPage, encoder.encode(token), "unwatch")), `unwatch ${name}`);
    },
    transactionStart() {
      check(x.xs_transaction_start(), "transaction_start");
      return x.xs_transaction_id() >>> 0;
    },
    transactionEnd(tx, commit) {
      check(x.xs_transaction_end(tx, commit), `transaction_end ${tx}`);
    },
    getDomainPath(domid) {
      return decoder.decode(result(check(x.xs_get_domain_path(domid, out), `get_domain_path ${domid}`)));
    },
    takeEvents() {
      const events: WatchEvent[] = [];
      for (let length; (length = check(x.xs_next_event(out), "next_event")) > 0; ) {
        const [eventPath = "", token = ""] = names(length);
        events.push({ path: eventPath, token });
      }
      return events;
    },
    reconnect() {
      check(x.xs_reconnect(), "reconnect");
    },
    ringError() {
      return x.xs_ring_error() >>> 0;
    },
  };
}
