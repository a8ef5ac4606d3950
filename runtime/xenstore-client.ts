// The one XenStore client interface, whatever carries the requests: the guest
// module's xs_* exports (runtime/xenstore.ts), the client component over a
// byte stream (runtime/component.ts), or dom0's in-process connection to the
// simulated xenstored (host's LocalClient). Values are strings (UTF-8, as
// nearly every node holds text); `readBytes` and a Uint8Array to `write` carry
// any bytes exactly. Failures throw XenStoreError with xenstored's errno name.
import { constants } from "node:os";
import { GuestCallError } from "./errors.js";

/** A XenStore request failed; `errno` is the positive errno, `code` its name (ENOENT, EACCES, EAGAIN, ...). */
export class XenStoreError extends GuestCallError {}

/** A watch fired: `path` changed (or is the watched path itself, at registration); `token` names the watch. */
export interface WatchEvent {
  path: string;
  token: string;
}

/** What a domain may do with a node (libxenstore's XS_PERM_NONE, _READ, _WRITE, both). */
export type Access = "none" | "read" | "write" | "both";

/**
 * One entry of a node's permission list. The first names the owner (who may
 * do everything) and what every other domain may do; the rest grant `access`
 * to `domid` alone.
 */
export interface Permission {
  domid: number;
  access: Access;
}

/** A transaction, or 0 for none (XBT_NULL). */
export type TransactionId = number;

export interface XenstoreClient {
  /** The value as UTF-8 text (bytes that are not UTF-8 become U+FFFD: readBytes has them exactly). */
  read(path: string, tx?: TransactionId): string;
  readBytes(path: string, tx?: TransactionId): Uint8Array;
  /** A string is written as UTF-8. */
  write(path: string, value: string | Uint8Array, tx?: TransactionId): void;
  mkdir(path: string, tx?: TransactionId): void;
  /** Removes the node and everything below it. */
  rm(path: string, tx?: TransactionId): void;
  /** The names of the node's children. */
  directory(path: string, tx?: TransactionId): string[];
  getPerms(path: string, tx?: TransactionId): Permission[];
  setPerms(path: string, perms: Permission[], tx?: TransactionId): void;
  /** xenstored fires the watch once at once, with `path` itself. */
  watch(path: string, token: string): void;
  unwatch(path: string, token: string): void;
  /**
   * The oldest watch event not yet taken. A client whose stream can wait
   * (the component over a socket) waits for one; the guest wrapper and
   * LocalClient, run in the thread that runs xenstored, give undefined
   * when none is queued.
   */
  nextEvent(): WatchEvent | undefined;
  transactionStart(): TransactionId;
  /** Commits (`commit`) or abandons `tx`; EAGAIN: it conflicted with another change, run it again. */
  transactionEnd(tx: TransactionId, commit: boolean): void;
  /** Runs `body` in a transaction and commits it, as runTransaction does. */
  transaction<T>(body: (tx: TransactionId) => T, attempts?: number): T;
  getDomainPath(domid: number): string;
}

/** Tries before passing EAGAIN on: conflicts that keep coming mean contention, not bad luck. */
const TRANSACTION_ATTEMPTS = 8;

/**
 * Runs `body` in a transaction of `client` and commits it, starting over
 * while the commit or the body fails with EAGAIN (a conflicting change won,
 * or a reset made the transaction stale), at most `attempts` times, as
 * Linux's and FreeBSD's callers of xenbus_transaction_end do. A body that
 * fails otherwise aborts the transaction and its error is passed on.
 */
export function runTransaction<T>(
  client: XenstoreClient,
  body: (tx: TransactionId) => T,
  attempts = TRANSACTION_ATTEMPTS,
): T {
  for (let attempt = 1; ; attempt++) {
    const tx = client.transactionStart();
    let value: T;
    try {
      value = body(tx);
    } catch (error) {
      // The body's error is the one that matters; the abort fails too when the transaction went stale.
      ignoringXenStoreError(() => client.transactionEnd(tx, false));
      if (isErrno(error, "EAGAIN") && attempt < attempts) continue;
      throw error;
    }
    try {
      client.transactionEnd(tx, true);
      return value;
    } catch (error) {
      // A failed commit ends the transaction: there is nothing left to abort.
      if (!isErrno(error, "EAGAIN") || attempt >= attempts) throw error;
    }
  }
}

/** Whether `error` is a XenStoreError for errno `code`. */
export function isErrno(error: unknown, code: keyof typeof constants.errno): boolean {
  return error instanceof XenStoreError && error.errno === constants.errno[code];
}

/** What `action` returns, or undefined when it fails with ENOENT (a node that is not there). */
export function ignoringMissing<T>(action: () => T): T | undefined {
  try {
    return action();
  } catch (error) {
    if (isErrno(error, "ENOENT")) return undefined;
    throw error;
  }
}

function ignoringXenStoreError(action: () => void): void {
  try {
    action();
  } catch (error) {
    if (!(error instanceof XenStoreError)) throw error;
  }
}

const LETTER_OF_ACCESS: Record<Access, string> = { none: "n", read: "r", write: "w", both: "b" };

/** `perm` as xenstored's wire spells it: "r5", "n0", ... */
export function formatPermission(perm: Permission): string {
  return `${LETTER_OF_ACCESS[perm.access]}${perm.domid}`;
}

/** A permission as xenstored's wire spells it; anything else is EBADMSG (a malformed reply). */
export function parsePermission(text: string, operation: string): Permission {
  const access = (Object.keys(LETTER_OF_ACCESS) as Access[]).find((name) => LETTER_OF_ACCESS[name] === text[0]);
  const digits = text.slice(1);
  if (access === undefined || !/^\d{1,5}$/.test(digits)) throw new XenStoreError(constants.errno.EBADMSG, operation);
  return { domid: Number(digits), access };
}
