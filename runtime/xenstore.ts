// The XenstoreClient over a booted xenbus guest's exports (see runtime/xenbus.ts
// for the raw convention), with what only the guest's client has: its watch
// queues, reconnection, and the privileged commands.
import { constants } from "node:os";
import { allocPage, resultCheck } from "./errors.js";
import type { Guest } from "./guest.js";
import type { XenbusExports } from "./xenbus.js";
import {
  formatPermission,
  parsePermission,
  runTransaction,
  type WatchEvent,
  XenStoreError,
  type XenstoreClient,
} from "./xenstore-client.js";

const PAGE_SIZE = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What became of one watch's events in the guest. */
export interface WatchStats {
  /** Queued now. */
  pending: number;
  /** Dropped, oldest first, past the watch's bound (a watch made with `watch` keeps the newest 64). */
  dropped: number;
  /** Times its events collapsed into one on the watch's own path (a watch that loses none, past its bound). */
  collapsed: number;
}

export interface XenStore extends XenstoreClient {
  /** Removes the node and everything below it. */
  rmTree(path: string, tx?: number): void;
  /** False also for a node it may not list (xs_exists's 0), as the seed's xs_exists. */
  exists(path: string, tx?: number): boolean;
  /** xenstored forgets all this guest's watches and transactions, and so does the guest. */
  resetWatches(): void;
  /** A CONTROL command (privileged); its reply. */
  control(command: string, parameters?: string[]): string;
  /** XENSTORE_SERVER_FEATURE_* bits offered to `domid`, or the server's own without one (privileged). */
  getFeature(domid?: number): number;
  setFeature(domid: number, features: number): void;
  /** Quota `name` of `domid`, or its global default without one (privileged). */
  getQuota(name: string, domid?: number): number;
  setQuota(name: string, value: number, domid?: number): void;
  quotaNames(): string[];
  /** Watch events queued in the guest, oldest first (taking them out). */
  takeEvents(): WatchEvent[];
  /** Watch events the guest lost: malformed, for no watch of its own, or pushed out of a bounded watch's queue. */
  droppedEvents(): number;
  /** The counts of the watch `token` names (ENOENT when none). */
  watchStats(token: string): WatchStats;
  /** The reconnection protocol; throws the first error registering a watch again (see lostWatches). */
  reconnect(): void;
  /** Watches the last reconnection or resume could not register again, and dropped. */
  lostWatches(): number;
  /** The ring's `error` field (0 while xenstored serves the guest). */
  ringError(): number;
}

/**
 * Connects the guest (xs_init) and wraps its exports. Three pages of the
 * guest carry the arguments and results: path, value/token/list, and `out`.
 */
export function xenstore(guest: Guest<XenbusExports>): XenStore {
  const x = guest.exports;
  const check = resultCheck(guest, XenStoreError);
  check(x.xs_init(), "xs_init");
  const page = (): number => allocPage(guest, "XenStore arguments");
  const [pathPage, argPage, out] = [page(), page(), page()];
  /** Copies `bytes` into the guest page at `at`: their length. */
  const put = (at: number, bytes: Uint8Array, operation: string): number => {
    if (bytes.length > PAGE_SIZE) throw new XenStoreError(constants.errno.E2BIG, operation);
    guest.memory().set(bytes, at);
    return bytes.length;
  };
  const path = (text: string, operation: string): [number, number] => [
    pathPage,
    put(pathPage, encoder.encode(text), operation),
  ];
  /** `texts` as NUL-terminated strings in the argument page. */
  const list = (texts: string[], operation: string): [number, number] => [
    argPage,
    put(argPage, encoder.encode(texts.map((text) => `${text}\0`).join("")), operation),
  ];
  /** The whole result of `length` bytes: the first page from `out`, the rest page by page through xs_result. */
  const result = (length: number, operation: string): Uint8Array => {
    const bytes = new Uint8Array(length);
    bytes.set(guest.memory().subarray(out, out + Math.min(length, PAGE_SIZE)));
    for (let offset = PAGE_SIZE; offset < length; offset += PAGE_SIZE) {
      const count = check(x.xs_result(offset, out), operation);
      bytes.set(guest.memory().subarray(out, out + count), offset);
    }
    return bytes;
  };
  const text = (length: number, operation: string): string => decoder.decode(result(length, operation));
  const names = (length: number, operation: string): string[] => {
    const all = text(length, operation);
    return all === "" ? [] : all.replace(/\0$/, "").split("\0");
  };
  const domidOrNone = (domid: number | undefined): number => domid ?? -1;

  return {
    readBytes(name, tx = 0) {
      const operation = `read ${name}`;
      return result(check(x.xs_read(tx, ...path(name, "read"), out), operation), operation);
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
    rmTree(name, tx = 0) {
      check(x.xs_rm_tree(tx, ...path(name, "rm_tree")), `rm_tree ${name}`);
    },
    exists(name, tx = 0) {
      return check(x.xs_exists(tx, ...path(name, "exists")), `exists ${name}`) === 1;
    },
    directory(name, tx = 0) {
      const operation = `directory ${name}`;
      return names(check(x.xs_directory(tx, ...path(name, "directory"), out), operation), operation);
    },
    getPerms(name, tx = 0) {
      const operation = `get_perms ${name}`;
      const perms = names(check(x.xs_get_perms(tx, ...path(name, "get_perms"), out), operation), operation);
      return perms.map((perm) => parsePermission(perm, operation));
    },
    setPerms(name, perms, tx = 0) {
      const entries = list(perms.map(formatPermission), "set_perms");
      check(x.xs_set_perms(tx, ...path(name, "set_perms"), ...entries), `set_perms ${name}`);
    },
    watch(name, token) {
      check(x.xs_watch(...path(name, "watch"), argPage, put(argPage, encoder.encode(token), "watch")), `watch ${name}`);
    },
    unwatch(name, token) {
      check(
        x.xs_unwatch(...path(name, "unwatch"), argPage, put(argPage, encoder.encode(token), "unwatch")),
        `unwatch ${name}`,
      );
    },
    resetWatches() {
      check(x.xs_reset_watches(), "reset_watches");
    },
    transactionStart() {
      check(x.xs_transaction_start(), "transaction_start");
      return x.xs_transaction_id() >>> 0;
    },
    transactionEnd(tx, commit) {
      check(x.xs_transaction_end(tx, commit), `transaction_end ${tx}`);
    },
    transaction(body, attempts) {
      return runTransaction(this, body, attempts);
    },
    getDomainPath(domid) {
      const operation = `get_domain_path ${domid}`;
      return text(check(x.xs_get_domain_path(domid, out), operation), operation);
    },
    control(command, parameters = []) {
      const operation = `control ${command}`;
      return text(
        check(x.xs_control(...path(command, "control"), ...list(parameters, "control"), out), operation),
        operation,
      );
    },
    getFeature(domid) {
      check(x.xs_get_feature(domidOrNone(domid)), `get_feature ${domid ?? ""}`);
      return x.xs_number() >>> 0;
    },
    setFeature(domid, features) {
      check(x.xs_set_feature(domid, features), `set_feature ${domid}`);
    },
    getQuota(name, domid) {
      check(x.xs_get_quota(domidOrNone(domid), ...path(name, "get_quota")), `get_quota ${name}`);
      return x.xs_number() >>> 0;
    },
    setQuota(name, value, domid) {
      check(x.xs_set_quota(domidOrNone(domid), ...path(name, "set_quota"), value), `set_quota ${name}`);
    },
    quotaNames() {
      return names(check(x.xs_quota_names(out), "quota_names"), "quota_names");
    },
    nextEvent() {
      const length = check(x.xs_next_event(out), "next_event");
      if (length === 0) return undefined;
      const [eventPath = "", token = ""] = names(length, "next_event");
      return { path: eventPath, token };
    },
    takeEvents() {
      const events: WatchEvent[] = [];
      for (let event = this.nextEvent(); event; event = this.nextEvent()) events.push(event);
      return events;
    },
    droppedEvents() {
      return x.xs_dropped_events() >>> 0;
    },
    watchStats(token) {
      const operation = `watch_stats ${token}`;
      check(x.xs_watch_stats(...path(token, "watch_stats"), out), operation);
      const view = new DataView(guest.memory().buffer, out, 12);
      return { pending: view.getUint32(0, true), dropped: view.getUint32(4, true), collapsed: view.getUint32(8, true) };
    },
    reconnect() {
      check(x.xs_reconnect(), "reconnect");
    },
    lostWatches() {
      return x.xs_lost_watches() >>> 0;
    },
    ringError() {
      return x.xs_ring_error() >>> 0;
    },
  };
}
