// The XenStore client: one request at a time over an XsTransport, written in
// the blocking style of a kernel (see seeds/freebsd-xenstore.c.txt).
//
// Everything that arrives from xenstored is hostile until checked: a header
// announcing more than XENSTORE_PAYLOAD_MAX bytes or impossible ring indices
// break the connection (-EIO from then on: the message boundaries are lost);
// a reply to another req_id is dropped; a reply of the wrong type or with a
// malformed payload fails the request with -EBADMSG; a watch event that is
// malformed or names no watch of ours is dropped.
import { EBADMSG, EEXIST, EIO, ENOENT } from "../xen/abi";
import { XsTransport } from "./transport";
import {
  PayloadWriter, Perm, WatchEventFields, XS_DIRECTORY, XS_ERROR, XS_GET_DOMAIN_PATH, XS_GET_PERMS,
  XS_HEADER_SIZE, XS_MESSAGE_MAX, XS_MKDIR, XS_NO_TRANSACTION, XS_READ, XS_RM, XS_SET_PERMS,
  XS_TRANSACTION_END, XS_TRANSACTION_START, XS_UNWATCH, XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
  checkHeader, encodeHeader, errnoOfError, headerLength, headerReqId, headerType, parseDecimal,
  parsePerms, parseWatchEvent, splitStrings, stringEnd,
} from "./wire";

/** A watch event waiting to be dispatched. */
export class WatchEvent {
  constructor(
    readonly path: string,
    readonly token: string,
  ) {}
}

/** Watch events kept while nobody dispatches them; beyond this the oldest is dropped. */
export const EVENT_QUEUE_MAX: i32 = 64;

export class XsClient {
  /** Next request's req_id; xenstored echoes it in the reply. */
  nextReqId: u32 = 1;
  /** 0 while the connection works; -EIO once a protocol violation lost the message boundaries. */
  failure: i32 = 0;
  /** Replies to req_ids we were not waiting for, dropped. */
  strayReplies: u32 = 0;
  /** Watch events dropped: malformed, for no watch of ours, or pushed out of a full queue. */
  droppedEvents: u32 = 0;

  // Results of the last successful request of each kind.
  value: string = "";
  entries: string[] = [];
  perms: Perm[] = [];
  transaction: u32 = XS_NO_TRANSACTION;

  private readonly outgoing: StaticArray<u8>;
  private readonly incoming: StaticArray<u8> = new StaticArray<u8>(XS_MESSAGE_MAX);
  private readonly payload: PayloadWriter;
  /** Bytes of the message being received that are already in `incoming`. */
  private received: u32 = 0;
  /** `incoming` holds a whole message, to be forgotten when the next one is received. */
  private messageComplete: bool = false;
  private readonly events: WatchEvent[] = [];
  private readonly tokens: Set<string> = new Set<string>();
  private readonly eventFields: WatchEventFields = new WatchEventFields();

  constructor(private readonly transport: XsTransport) {
    const outgoing = new StaticArray<u8>(XS_MESSAGE_MAX);
    this.outgoing = outgoing;
    this.payload = new PayloadWriter(changetype<usize>(outgoing) + XS_HEADER_SIZE);
  }

  /** Where the last reply's payload is, valid until the next request. */
  replyPayload(): usize {
    return changetype<usize>(this.incoming) + XS_HEADER_SIZE;
  }

  replyLength(): u32 {
    return headerLength(changetype<usize>(this.incoming));
  }

  // Operations: 0 (or a count) on success, -errno on failure. `tx` is a
  // transaction id from transactionStart, or XS_NO_TRANSACTION.

  /** The node's value, in `value` (decoded as UTF-8; the bytes at replyPayload()). */
  read(tx: u32, path: string): i32 {
    const rc = this.stringRequest(XS_READ, tx, path);
    if (rc < 0) return rc;
    this.value = String.UTF8.decodeUnsafe(this.replyPayload(), this.replyLength());
    return 0;
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

  /** The children's names, in `entries`; their count. */
  directory(tx: u32, path: string): i32 {
    const rc = this.stringRequest(XS_DIRECTORY, tx, path);
    if (rc < 0) return rc;
    const names = splitStrings(this.replyPayload(), this.replyLength());
    if (names === null) return -EBADMSG;
    this.entries = names;
    return names.length;
  }

  /** 1 when the node exists, 0 when it does not, -errno when xenstored could not say. */
  exists(tx: u32, path: string): i32 {
    const rc = this.directory(tx, path);
    if (rc == -ENOENT) return 0;
    return rc < 0 ? rc : 1;
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
   * Starts delivering events for `path` and below under `token`. The token is
   * registered before the request goes out: xenstored fires the watch once on
   * registration, and that event may arrive before we return. A watch that
   * xenstored already has (EEXIST) counts as registered.
   */
  watch(path: string, token: string): i32 {
    const known = this.tokens.has(token);
    this.tokens.add(token);
    const rc = this.watchRequest(XS_WATCH, path, token);
    if (rc == -EEXIST) return 0;
    if (rc < 0 && !known) this.tokens.delete(token);
    return rc;
  }

  /** Stops the watch and drops its queued events, so none is dispatched after this returns. */
  unwatch(path: string, token: string): i32 {
    this.tokens.delete(token);
    this.cancelEvents(token);
    return this.watchRequest(XS_UNWATCH, path, token);
  }

  /** A new transaction, its id in `transaction`. */
  transactionStart(): i32 {
    this.payload.reset();
    this.payload.string("");
    const rc = this.request(XS_TRANSACTION_START, XS_NO_TRANSACTION);
    if (rc < 0) return rc;
    const id = parseDecimal(this.replyPayload(), this.replyLength());
    // Id 0 would silently turn the caller's transactional requests into plain ones.
    if (id <= 0) return -EBADMSG;
    this.transaction = u32(id);
    return 0;
  }

  /** Commits (or aborts) `tx`; -EAGAIN when a conflicting change won and the caller should retry. */
  transactionEnd(tx: u32, commit: bool): i32 {
    return this.stringRequest(XS_TRANSACTION_END, tx, commit ? "T" : "F");
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

  // Watch events.

  /**
   * Takes in whatever xenstored has sent without blocking (the upcall's job):
   * watch events are queued, stray replies dropped. The count of events
   * queued, or -errno.
   */
  pollEvents(): i32 {
    if (this.failure != 0) return this.failure;
    const before = this.events.length;
    while (true) {
      const rc = this.receiveMessage(false);
      if (rc < 0) return this.fail(rc);
      if (rc == 0) return this.events.length - before;
      if (headerType(changetype<usize>(this.incoming)) == XS_WATCH_EVENT) this.queueEvent();
      else this.strayReplies++;
    }
  }

  /** The oldest queued watch event, or null. */
  nextEvent(): WatchEvent | null {
    return this.events.length != 0 ? this.events.shift() : null;
  }

  pendingEvents(): i32 {
    return this.events.length;
  }

  // The request/reply exchange.

  /** A request whose payload is one NUL-terminated string (a path, a domid, "T"/"F"). */
  private stringRequest(type: u32, tx: u32, text: string): i32 {
    this.payload.reset();
    this.payload.string(text);
    return this.request(type, tx);
  }

  private watchRequest(type: u32, path: string, token: string): i32 {
    this.payload.reset();
    this.payload.string(path).string(token);
    return this.request(type, XS_NO_TRANSACTION);
  }

  /**
   * Sends the payload built in `payload` as a `type` request and waits for its
   * reply (in `incoming`), queueing watch events that come first. 0, or -errno:
   * xenstored's error, -E2BIG for an oversize request, -EBADMSG for a reply of
   * the wrong type, or the transport's error.
   */
  private request(type: u32, tx: u32): i32 {
    if (this.failure != 0) return this.failure;
    const length = this.payload.finish();
    if (length < 0) return length;
    const reqId = this.nextReqId++;
    const message = changetype<usize>(this.outgoing);
    encodeHeader(message, type, reqId, tx, length);
    const sent = this.sendAll(message, XS_HEADER_SIZE + u32(length));
    if (sent < 0) return sent;
    while (true) {
      const rc = this.receiveMessage(true);
      if (rc < 0) return rc;
      const reply = changetype<usize>(this.incoming);
      const replyType = headerType(reply);
      if (replyType == XS_WATCH_EVENT) {
        this.queueEvent();
        continue;
      }
      if (headerReqId(reply) != reqId) {
        this.strayReplies++;
        continue;
      }
      if (replyType == XS_ERROR) return -errnoOfError(this.replyPayload(), this.replyLength());
      return replyType == type ? 0 : -EBADMSG;
    }
  }

  /** Sends a whole message. A message cut short would corrupt the stream, so that breaks the connection. */
  private sendAll(source: usize, length: u32): i32 {
    let done: u32 = 0;
    while (done < length) {
      const sent = this.transport.send(source + done, length - done);
      if (sent < 0) return this.fail(sent);
      if (sent == 0) {
        const rc = this.transport.wait();
        if (rc < 0) return done == 0 ? rc : this.fail(rc);
      }
      done += u32(sent);
    }
    return 0;
  }

  /**
   * Receives into `incoming` until it holds a whole message (1), the
   * transport has nothing more now and `block` is false (0), or -errno.
   * Partial progress is kept, so a failed wait loses nothing.
   */
  private receiveMessage(block: bool): i32 {
    const message = changetype<usize>(this.incoming);
    if (this.messageComplete) {
      this.received = 0;
      this.messageComplete = false;
    }
    while (true) {
      let wanted = XS_HEADER_SIZE;
      if (this.received >= XS_HEADER_SIZE) {
        if (checkHeader(message) < 0) return this.fail(-EIO);
        wanted += headerLength(message);
      }
      if (this.received == wanted) {
        this.messageComplete = true;
        return 1;
      }
      const got = this.transport.receive(message + this.received, wanted - this.received);
      if (got < 0) return this.fail(got);
      if (got == 0) {
        if (!block) return 0;
        const rc = this.transport.wait();
        if (rc < 0) return rc;
      }
      this.received += u32(got);
    }
  }

  /** Marks the connection broken; returns `rc` for the caller to pass on. */
  private fail(rc: i32): i32 {
    this.failure = -EIO;
    return rc;
  }

  private queueEvent(): void {
    const payload = this.replyPayload();
    const fields = this.eventFields;
    if (parseWatchEvent(payload, this.replyLength(), fields) < 0) {
      this.droppedEvents++;
      return;
    }
    const token = String.UTF8.decodeUnsafe(payload + fields.tokenStart, fields.tokenLength);
    if (!this.tokens.has(token)) {
      this.droppedEvents++;
      return;
    }
    if (this.events.length >= EVENT_QUEUE_MAX) {
      this.events.shift();
      this.droppedEvents++;
    }
    this.events.push(new WatchEvent(String.UTF8.decodeUnsafe(payload + fields.pathStart, fields.pathLength), token));
  }

  private cancelEvents(token: string): void {
    let kept = 0;
    for (let i = 0; i < this.events.length; i++) {
      const event = this.events[i];
      if (event.token != token) this.events[kept++] = event;
    }
    this.events.length = kept;
  }
}
