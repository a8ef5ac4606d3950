// The XenStore client: the operations of xs_wire.h, one request at a time,
// written in the blocking style of a kernel (see FreeBSD
// sys/xen/xenstore/xenstore.c), with the watches and transactions the
// caller opened kept across a restart of the connection under it. The
// message exchange is exchange.ts, the watch registry and event queue
// watches.ts, transaction handles transactions.ts.
//
// Replies are hostile until checked: one with a malformed payload fails the
// request with -EBADMSG (exchange.ts says what breaks the connection).
//
// The connection can be restarted under the client (xenstore-ring.txt's
// reconnection, or a resume after save/restore): xenstored then forgets our
// watches, transactions and whatever was in flight, and connectionReset()
// brings the client back in step with it.
import { E2BIG, EAGAIN, EBADMSG, EEXIST, ENOENT, ENOTEMPTY, ERANGE } from "../xen/abi";
import { XsExchange } from "./exchange";
import { TransactionHandles } from "./transactions";
import { XsTransport } from "./transport";
import { WATCH_EVENTS_MAX, WatchEvent, WatchQueue, XsWatch, XsWatchHandler } from "./watches";
import {
  DirectoryPart,
  isUtf8,
  joinPath,
  PayloadWriter,
  Perm,
  parseDecimal,
  parseDirectoryPart,
  parsePerms,
  splitStrings,
  stringEnd,
  XS_CONTROL,
  XS_DIRECTORY,
  XS_DIRECTORY_PART,
  XS_GET_DOMAIN_PATH,
  XS_GET_FEATURE,
  XS_GET_PERMS,
  XS_GET_QUOTA,
  XS_MKDIR,
  XS_NO_TRANSACTION,
  XS_READ,
  XS_RESET_WATCHES,
  XS_RM,
  XS_SET_FEATURE,
  XS_SET_PERMS,
  XS_SET_QUOTA,
  XS_TRANSACTION_END,
  XS_TRANSACTION_START,
  XS_UNWATCH,
  XS_WATCH,
  XS_WRITE,
} from "./wire";

/** What runTransaction runs: requests in transaction `tx`; a count (>= 0) or -errno. */
export abstract class XsTransactionBody {
  abstract run(client: XsClient, tx: u32): i32;
}

/** Times runTransaction tries before giving up with -EAGAIN: conflicts that keep coming mean contention, not bad luck. */
export const TRANSACTION_ATTEMPTS: i32 = 8;

/** Passed as a domid to feature and quota requests to leave the domid out (our own features, the global quotas). */
export const XS_NO_DOMID: i32 = -1;

/**
 * Bound on a listing read with DIRECTORY_PART, and on restarts when the
 * generation changes between parts: a server that keeps sending names or
 * keeps changing the node cannot keep the client busy or growing forever.
 */
export const DIRECTORY_LIST_MAX: u32 = 65536;
export const DIRECTORY_RESTARTS: i32 = 8;

/**
 * Handlers one dispatchWatchEvents runs at most; it leaves the rest to the
 * next call, which the transport raises. A backend that keeps a watch firing
 * (each handler's own read bringing the next event) cannot then hold the
 * guest in one call into the module, where xenbus.wasm's host cannot
 * collect the handlers' garbage (tools/build.ts).
 */
export const HANDLERS_PER_DISPATCH: i32 = 64;

/** Restarts connectionReset rides out while registering the watches again, so a peer that keeps restarting cannot keep it looping. */
export const RESET_ATTEMPTS: i32 = 8;

/** rmTree's body: it needs a transaction of its own when the caller has none. */
class RemoveTree extends XsTransactionBody {
  constructor(readonly path: string) {
    super();
  }

  run(client: XsClient, tx: u32): i32 {
    return client.rmTree(tx, this.path);
  }
}

export class XsClient extends XsExchange {
  /** Times the connection was restarted under the client (connectionReset runs). */
  restarts: u32 = 0;
  /** Watches the last connectionReset could not register again (dropped from the registry). */
  lostWatches: u32 = 0;

  // Results of the last successful request of each kind.
  value: string = "";
  entries: string[] = [];
  perms: Perm[] = [];
  /** The handle of the transaction transactionStart opened. */
  transaction: u32 = XS_NO_TRANSACTION;
  /** readInt/readU32, getFeature, getQuota. */
  number: i64 = 0;
  /** gather: each node's value ("" where it failed) and 0 or -errno. */
  gathered: string[] = [];
  gatherErrors: i32[] = [];

  private readonly watches: WatchQueue = new WatchQueue();
  private readonly transactions: TransactionHandles = new TransactionHandles();
  private readonly part: DirectoryPart = new DirectoryPart();
  /** A handler is running: dispatchWatchEvents must not start another. */
  private dispatching: bool = false;
  /** Requests being exchanged (more than one while a reset under a request registers watches again). */
  private requesting: i32 = 0;
  /** connectionReset is registering watches: a restart under one of its requests starts its loop over instead of nesting. */
  private resetting: bool = false;
  private restartedDuringReset: bool = false;

  /** See XsExchange: `numberRequests` false sends every request with req_id 0, as libxenstore does. */
  constructor(transport: XsTransport, numberRequests: bool = true) {
    super(transport, numberRequests);
  }

  /** Watch events lost: malformed, for no watch of ours, or pushed out of a bounded watch's queue. */
  get droppedEvents(): u32 {
    return this.watches.droppedEvents;
  }

  // Operations: 0 (or a count) on success, -errno on failure. `tx` is a
  // transaction id from transactionStart, or XS_NO_TRANSACTION.

  /** The node's value, in `value` (decoded as UTF-8; the bytes at replyPayload()). */
  read(tx: u32, path: string): i32 {
    return this.valueReply(this.stringRequest(XS_READ, tx, path));
  }

  /** The node's value as an i32 in decimal ("-12"), in `number`; -ERANGE when it is not one. */
  readInt(tx: u32, path: string): i32 {
    return this.readNumber(tx, path, true);
  }

  /** The node's value as a u32 in decimal, in `number`; -ERANGE when it is not one. */
  readU32(tx: u32, path: string): i32 {
    return this.readNumber(tx, path, false);
  }

  /** Writes `value` in decimal: any i32 or u32. */
  writeInt(tx: u32, path: string, value: i64): i32 {
    return this.write(tx, path, value.toString());
  }

  /**
   * Reads `dir`/name for every name, going on past failures: values in
   * `gathered`, each one's 0 or -errno in `gatherErrors`. The count that failed.
   */
  gather(tx: u32, dir: string, names: string[]): i32 {
    const values = new Array<string>(names.length);
    const errors = new Array<i32>(names.length);
    let failed = 0;
    for (let i = 0; i < names.length; i++) {
      const rc = this.read(tx, joinPath(dir, names[i]));
      values[i] = rc < 0 ? "" : this.value;
      errors[i] = rc;
      if (rc < 0) failed++;
    }
    this.gathered = values;
    this.gatherErrors = errors;
    return failed;
  }

  write(tx: u32, path: string, value: string): i32 {
    this.payload.reset();
    this.payload.string(path).string(value, false);
    return this.request(XS_WRITE, tx);
  }

  /** Writes `length` raw bytes: values need not be text. */
  writeBytes(tx: u32, path: string, source: usize, length: u32): i32 {
    this.payload.reset();
    this.payload.string(path).bytes(source, length);
    return this.request(XS_WRITE, tx);
  }

  mkdir(tx: u32, path: string): i32 {
    return this.stringRequest(XS_MKDIR, tx, path);
  }

  rm(tx: u32, path: string): i32 {
    return this.stringRequest(XS_RM, tx, path);
  }

  /**
   * Removes `path` and everything below it, depth first as the seed does: each
   * child is removed, and one that is not empty (ENOTEMPTY, from a xenstored
   * whose RM is not recursive) is cleared first. Outside a transaction it runs
   * in one of its own, retried on EAGAIN, so nobody sees it half done.
   */
  rmTree(tx: u32, path: string): i32 {
    if (tx == XS_NO_TRANSACTION) return this.runTransaction(new RemoveTree(path));
    let current = path;
    while (true) {
      const count = this.directory(tx, current);
      if (count < 0) return count;
      const names = this.entries;
      let child: string | null = null;
      for (let i = 0; i < names.length; i++) {
        const rc = this.rm(tx, joinPath(current, names[i]));
        if (rc == -ENOTEMPTY) {
          child = joinPath(current, names[i]);
          break;
        }
        if (rc < 0) return rc;
      }
      if (child !== null) {
        current = child;
        continue;
      }
      const rc = this.rm(tx, current);
      if (rc < 0 || current == path) return rc;
      // Back to the parent, which lists again: children are only ever removed, so this ends.
      current = current.substring(0, current.lastIndexOf("/"));
    }
  }

  /**
   * The children's names, in `entries`; their count. A listing too long for
   * one reply (E2BIG) is read in parts with DIRECTORY_PART.
   */
  directory(tx: u32, path: string): i32 {
    const rc = this.stringRequest(XS_DIRECTORY, tx, path);
    if (rc == -E2BIG) return this.directoryInParts(tx, path);
    if (rc < 0) return rc;
    const payload = this.replyPayload();
    const length = this.replyLength();
    const names = isUtf8(payload, length) ? splitStrings(payload, length) : null;
    if (names === null) return -EBADMSG;
    this.entries = names;
    return names.length;
  }

  /**
   * 1 when the node exists, else 0: also when it cannot be listed (no
   * permission, a failed request), as the seed's xs_exists, so that a
   * caller's `if` never takes an error for a node.
   */
  exists(tx: u32, path: string): i32 {
    return this.directory(tx, path) < 0 ? 0 : 1;
  }

  /** The node's permissions, in `perms`; their count. */
  getPerms(tx: u32, path: string): i32 {
    const rc = this.stringRequest(XS_GET_PERMS, tx, path);
    if (rc < 0) return rc;
    const perms = parsePerms(this.replyPayload(), this.replyLength());
    if (perms === null) return -EBADMSG;
    this.perms = perms;
    return perms.length;
  }

  setPerms(tx: u32, path: string, perms: Perm[]): i32 {
    this.payload.reset();
    this.payload.string(path);
    for (let i = 0; i < perms.length; i++) this.payload.string(perms[i].toString());
    return this.request(XS_SET_PERMS, tx);
  }

  /**
   * Starts delivering events for `path` and below under `token`, for
   * nextEvent(): registerWatch without a handler, keeping the newest
   * WATCH_EVENTS_MAX (the caller may take them late, or never).
   */
  watch(path: string, token: string): i32 {
    return this.registerWatch(path, token, null, WATCH_EVENTS_MAX);
  }

  /**
   * Stops the watch and drops its queued events, so none is dispatched after
   * this returns. A restart under the request is success: xenstored has
   * forgotten the watch with all the others, and the reset did not send it again.
   */
  unwatch(path: string, token: string): i32 {
    this.watches.forget(token);
    const restarts = this.restarts;
    const rc = this.watchRequest(XS_UNWATCH, path, token);
    return rc == -EAGAIN && this.restarts != restarts ? 0 : rc;
  }

  /** A new transaction, its handle in `transaction`. */
  transactionStart(): i32 {
    this.payload.reset();
    this.payload.string("");
    const rc = this.request(XS_TRANSACTION_START, XS_NO_TRANSACTION);
    if (rc < 0) return rc;
    const id = parseDecimal(this.replyPayload(), this.replyLength());
    // Id 0 would silently turn the caller's transactional requests into plain ones.
    if (id <= 0) return -EBADMSG;
    this.transaction = this.transactions.open(u32(id));
    return 0;
  }

  /**
   * Commits (or aborts) `tx`; -EAGAIN when a conflicting change won, or a
   * reset dropped the transaction, and the caller should retry. The handle
   * is done with whatever the outcome.
   */
  transactionEnd(tx: u32, commit: bool): i32 {
    const rc = this.stringRequest(XS_TRANSACTION_END, tx, commit ? "T" : "F");
    this.transactions.close(tx);
    return rc;
  }

  /**
   * Runs `body` in a transaction and commits it. A conflict (EAGAIN at commit,
   * or from the body) starts it over, at most `attempts` times, then -EAGAIN;
   * any other error of the body aborts the transaction and is returned.
   * The body's result on success.
   */
  runTransaction(body: XsTransactionBody, attempts: i32 = TRANSACTION_ATTEMPTS): i32 {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const started = this.transactionStart();
      if (started < 0) return started;
      const tx = this.transaction;
      const result = body.run(this, tx);
      const ended = this.transactionEnd(tx, result >= 0);
      if (result < 0 && result != -EAGAIN) return result;
      if (result >= 0 && ended != -EAGAIN) return ended < 0 ? ended : result;
    }
    return -EAGAIN;
  }

  /** The home path of domain `domid` (/local/domain/<domid>), in `value`. */
  getDomainPath(domid: u32): i32 {
    const rc = this.stringRequest(XS_GET_DOMAIN_PATH, XS_NO_TRANSACTION, domid.toString());
    if (rc < 0) return rc;
    const end = stringEnd(this.replyPayload(), this.replyLength(), 0);
    if (end <= 0) return -EBADMSG;
    this.value = String.UTF8.decodeUnsafe(this.replyPayload(), end);
    return 0;
  }

  /** A CONTROL command with its parameters (xenstored's own; dom0 only); the reply in `value`. */
  control(command: string, parameters: string[]): i32 {
    this.payload.reset();
    this.payload.string(command);
    for (let i = 0; i < parameters.length; i++) this.payload.string(parameters[i]);
    return this.valueReply(this.request(XS_CONTROL, XS_NO_TRANSACTION));
  }

  /**
   * Makes xenstored forget all our watches and transactions (a new kernel
   * cleaning up after an old one). Our registry and queue go too: no event
   * for them can come any more; open transactions are stale.
   */
  resetWatches(): i32 {
    const rc = this.stringRequest(XS_RESET_WATCHES, XS_NO_TRANSACTION, "");
    if (rc < 0) return rc;
    this.watches.clear();
    this.transactions.staleAll();
    return 0;
  }

  /** XENSTORE_SERVER_FEATURE_* bits of `domid` (XS_NO_DOMID: our own), in `number`. */
  getFeature(domid: i32 = XS_NO_DOMID): i32 {
    this.payload.reset();
    this.domidArgument(domid);
    return this.decimalReply(this.request(XS_GET_FEATURE, XS_NO_TRANSACTION));
  }

  setFeature(domid: u32, features: u32): i32 {
    this.payload.reset();
    this.payload.string(domid.toString()).string(features.toString());
    return this.request(XS_SET_FEATURE, XS_NO_TRANSACTION);
  }

  /** Quota `name` of `domid` (XS_NO_DOMID: the global default), in `number`. */
  getQuota(domid: i32, name: string): i32 {
    this.payload.reset();
    this.domidArgument(domid).string(name);
    return this.decimalReply(this.request(XS_GET_QUOTA, XS_NO_TRANSACTION));
  }

  /** The quota names xenstored supports, in `entries`; their count. */
  quotaNames(): i32 {
    this.payload.reset();
    const rc = this.request(XS_GET_QUOTA, XS_NO_TRANSACTION);
    if (rc < 0) return rc;
    const end = stringEnd(this.replyPayload(), this.replyLength(), 0);
    if (end < 0) return -EBADMSG;
    const names = String.UTF8.decodeUnsafe(this.replyPayload(), end).split(" ");
    this.entries = names.filter((name: string): bool => name.length != 0);
    return this.entries.length;
  }

  /** Sets quota `name` of `domid` (XS_NO_DOMID: the global default) to `value` (0 disables the check). */
  setQuota(domid: i32, name: string, value: u32): i32 {
    this.payload.reset();
    this.domidArgument(domid).string(name).string(value.toString());
    return this.request(XS_SET_QUOTA, XS_NO_TRANSACTION);
  }

  // The connection.

  /** No request is being exchanged and no handler runs: the connection may be reset or suspended under the client. */
  idle(): bool {
    return this.requesting == 0 && !this.dispatching;
  }

  /**
   * Brings the client back in step with xenstored after the transport was
   * restarted (reconnection, resume), when xenstored has forgotten all we
   * had: the message half received is dropped, the connection is usable
   * again, open transactions go stale (a request naming one, and its end,
   * are -EAGAIN without reaching xenstored, so runTransaction starts over),
   * queued events stay, and every registered watch is sent to xenstored
   * again (and fires once, as on registration). 0, or the first error: a
   * watch xenstored refuses is dropped from the registry and counted in
   * `lostWatches`; a connection that fails again stops the re-registration
   * and keeps the remaining watches for the next reset.
   */
  connectionReset(): i32 {
    this.restarts++;
    this.resetting = true;
    this.lostWatches = 0;
    let rc = 0;
    for (let attempt = 0; attempt < RESET_ATTEMPTS; attempt++) {
      this.restart();
      this.transactions.staleAll();
      this.restartedDuringReset = false;
      rc = this.registerWatchesAgain();
      if (!this.restartedDuringReset) break;
    }
    this.resetting = false;
    return rc;
  }

  // Watches.

  /**
   * Registers a watch whose events `handler` runs from dispatchWatchEvents
   * (null: the caller takes them with nextEvent), keeping at most `maxPending`
   * of them queued (0: losing none, see XsWatch). A token names one watch:
   * -EEXIST, and nothing sent, when it is registered already. Registered
   * before the request goes out, since xenstored fires the watch once on
   * registration and that event may arrive before the reply; a watch
   * xenstored already has (EEXIST) counts as registered, and so does one
   * still in the registry after a restart under the request (the reset sent
   * it again with the others, or keeps it for the next one).
   */
  registerWatch(path: string, token: string, handler: XsWatchHandler | null, maxPending: i32 = 0): i32 {
    if (!this.watches.add(new XsWatch(path, token, handler, maxPending))) return -EEXIST;
    const restarts = this.restarts;
    const rc = this.watchRequest(XS_WATCH, path, token);
    if (rc == -EEXIST) return 0;
    if (rc == -EAGAIN && this.restarts != restarts && this.watches.watchOf(token) !== null) return 0;
    if (rc < 0) this.watches.forget(token);
    return rc;
  }

  /** Unregisters the watch `token` names (-ENOENT if none) as unwatch does. */
  unregisterWatch(token: string): i32 {
    const watch = this.watches.watchOf(token);
    return watch === null ? -ENOENT : this.unwatch(watch.path, token);
  }

  /** The registered watch `token` names, or null. */
  watchOf(token: string): XsWatch | null {
    return this.watches.watchOf(token);
  }

  /**
   * The upcall's work: takes in what xenstored has sent, then runs the
   * handlers of queued events, oldest first, until none is left (events that
   * handlers' own requests queue included) or HANDLERS_PER_DISPATCH have run;
   * then the transport raises the next call for the rest. A call made while a
   * handler runs returns 0 at once: handlers never nest, and the running loop
   * picks up whatever the inner call would have run. The count of events
   * dispatched.
   */
  dispatchWatchEvents(): i32 {
    if (this.dispatching) return 0;
    this.dispatching = true;
    this.pollEvents();
    let dispatched = 0;
    while (dispatched < HANDLERS_PER_DISPATCH) {
      const event = this.watches.nextWithHandler();
      if (event === null) break;
      this.watches.watchOf(event.token)!.handler!.onEvent(event.path, event.token);
      dispatched++;
    }
    const more = dispatched == HANDLERS_PER_DISPATCH;
    this.watches.undispatched = more;
    this.dispatching = false;
    if (more) this.transport.requestDone(true);
    return dispatched;
  }

  /**
   * Takes in whatever xenstored has sent without blocking (the upcall's job):
   * watch events are queued, stray replies dropped. The count of events
   * queued, or -errno.
   */
  pollEvents(): i32 {
    const before = this.watches.length;
    const rc = this.receiveWaiting();
    return rc < 0 ? rc : this.watches.length - before;
  }

  /** The oldest queued watch event, or null. */
  nextEvent(): WatchEvent | null {
    return this.watches.next();
  }

  pendingEvents(): i32 {
    return this.watches.length;
  }

  // The request/reply exchange.

  /** A request whose payload is one NUL-terminated string (a path, a domid, "T"/"F"). */
  private stringRequest(type: u32, tx: u32, text: string): i32 {
    this.payload.reset();
    this.payload.string(text);
    return this.request(type, tx);
  }

  /** An optional leading domid argument; XS_NO_DOMID leaves it out. */
  private domidArgument(domid: i32): PayloadWriter {
    return domid < 0 ? this.payload : this.payload.string(domid.toString());
  }

  /** Passes on a request's failure, or keeps its reply (all of it, as bytes may be binary) in `value`. */
  private valueReply(rc: i32): i32 {
    if (rc < 0) return rc;
    this.value = String.UTF8.decodeUnsafe(this.replyPayload(), this.replyLength());
    return 0;
  }

  /** Passes on a request's failure, or keeps its decimal u32 reply in `number`. */
  private decimalReply(rc: i32): i32 {
    if (rc < 0) return rc;
    const value = parseDecimal(this.replyPayload(), this.replyLength());
    if (value < 0) return -EBADMSG;
    this.number = value;
    return 0;
  }

  /**
   * A node's value in decimal, in `number`. ERANGE (as the seed's scanf) when
   * it is not a number of the type: xenstored never sends that errno, so the
   * caller can tell a bad value from a failed read.
   */
  private readNumber(tx: u32, path: string, signed: bool): i32 {
    const rc = this.read(tx, path);
    if (rc < 0) return rc;
    const at = this.replyPayload();
    const length = this.replyLength();
    const negative = signed && length != 0 && load<u8>(at) == 0x2d; // '-'
    const skip: u32 = negative ? 1 : 0;
    const magnitude = parseDecimal(at + skip, length - skip);
    const limit: i64 = !signed ? 0xffffffff : negative ? 0x80000000 : 0x7fffffff;
    if (magnitude < 0 || magnitude > limit) return -ERANGE;
    this.number = negative ? -magnitude : magnitude;
    return 0;
  }

  /**
   * The DIRECTORY_PART protocol: parts from byte offsets into the list, all
   * of one generation of the node; when the generation changes between parts
   * the node changed, and the listing starts over.
   */
  private directoryInParts(tx: u32, path: string): i32 {
    const part = this.part;
    for (let restart = 0; restart < DIRECTORY_RESTARTS; restart++) {
      const names = new Array<string>();
      let generation: string | null = null;
      let offset: u32 = 0;
      while (true) {
        this.payload.reset();
        this.payload.string(path).string(offset.toString());
        const rc = this.request(XS_DIRECTORY_PART, tx);
        if (rc < 0) return rc;
        const payload = this.replyPayload();
        if (parseDirectoryPart(payload, this.replyLength(), part) < 0) return -EBADMSG;
        const partGeneration = String.UTF8.decodeUnsafe(payload, part.generationLength);
        if (generation === null) generation = partGeneration;
        else if (partGeneration != generation) break;
        if (part.namesLength > DIRECTORY_LIST_MAX - offset) return -E2BIG;
        if (!isUtf8(payload + part.namesStart, part.namesLength)) return -EBADMSG;
        const partNames = splitStrings(payload + part.namesStart, part.namesLength)!;
        for (let i = 0; i < partNames.length; i++) names.push(partNames[i]);
        offset += part.namesLength;
        if (part.complete) {
          this.entries = names;
          return names.length;
        }
      }
    }
    return -EAGAIN;
  }

  /** connectionReset's WATCH of each registered watch: the first error; a connection error stops it at once. */
  private registerWatchesAgain(): i32 {
    const watches = this.watches.registered();
    let first = 0;
    for (let i = 0; i < watches.length; i++) {
      const watch = watches[i];
      const rc = this.watchRequest(XS_WATCH, watch.path, watch.token);
      if (rc == 0 || rc == -EEXIST) continue;
      if (!this.answered) return rc;
      this.watches.forget(watch.token);
      this.lostWatches++;
      if (first == 0) first = rc;
    }
    return first;
  }

  private watchRequest(type: u32, path: string, token: string): i32 {
    this.payload.reset();
    this.payload.string(path).string(token);
    return this.request(type, XS_NO_TRANSACTION);
  }

  /**
   * Sends the payload built in `payload` as a `type` request in transaction
   * `tx` (a handle) and waits for its reply: XsExchange.exchange, and
   * -ENOENT for a handle that names no transaction, -EAGAIN for a stale one.
   */
  private request(type: u32, tx: u32): i32 {
    const id = this.failure != 0 ? i64(this.failure) : this.transactions.idOf(tx);
    if (id < 0) {
      this.answered = false;
      return i32(id);
    }
    this.requesting++;
    const rc = this.exchange(type, u32(id));
    this.requesting--;
    if (this.requesting == 0 && !this.dispatching) this.transport.requestDone(this.watches.undispatched);
    return rc;
  }

  protected watchEventArrived(): void {
    this.watches.queue(this.replyPayload(), this.replyLength());
  }

  /** The client starts over (connectionReset's own requests leave that to its loop). */
  protected restartedUnderRequest(): i32 {
    if (this.resetting) this.restartedDuringReset = true;
    else this.connectionReset();
    return -EAGAIN;
  }
}
