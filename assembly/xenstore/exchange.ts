// The XenStore client's message exchange: one request out, its reply back
// by req_id, over an XsTransport (Linux drivers/xen/xenbus/xenbus_xs.c's
// xs_talkv and read_reply; the rings themselves are transport.ts, as
// xenbus_comms.c is Linux's).
//
// Everything that arrives from xenstored is hostile until checked: a header
// announcing more than XENSTORE_PAYLOAD_MAX bytes or impossible ring indices
// break the connection (-EIO from then on: the message boundaries are lost);
// a reply to another req_id is dropped; a reply of the wrong type fails the
// request with -EBADMSG. Watch events that come meanwhile go to the client.
import { EAGAIN, EBADMSG, EIO } from "../xen/abi";
import { XsTransport } from "./transport";
import {
  checkHeader,
  encodeHeader,
  errnoOfError,
  headerLength,
  headerReqId,
  headerType,
  PayloadWriter,
  XS_ERROR,
  XS_HEADER_SIZE,
  XS_MESSAGE_MAX,
  XS_WATCH_EVENT,
} from "./wire";

export abstract class XsExchange {
  /** Next request's req_id; xenstored echoes it in the reply. Stays 0 when requests are not numbered. */
  nextReqId: u32 = 1;
  /** 0 while the connection works; -EIO once a protocol violation lost the message boundaries. */
  failure: i32 = 0;
  /** Replies to req_ids we were not waiting for, dropped. */
  strayReplies: u32 = 0;

  /** The next request's payload, built by the caller of exchange(). */
  protected readonly payload: PayloadWriter;
  /** The last exchange got its reply (xenstored answered, even with an error), rather than losing the connection. */
  protected answered: bool = false;

  private readonly numberRequests: bool;
  private readonly outgoing: StaticArray<u8>;
  private readonly incoming: StaticArray<u8> = new StaticArray<u8>(XS_MESSAGE_MAX);
  /** Bytes of the message being received that are already in `incoming`. */
  private received: u32 = 0;
  /** `incoming` holds a whole message, to be forgotten when the next one is received. */
  private messageComplete: bool = false;

  /**
   * `numberRequests` false sends every request with req_id 0, as libxenstore
   * does: with one request in flight the number tells nothing, and a client
   * standing in for libxenstore (the component) should send its very bytes.
   */
  constructor(
    protected readonly transport: XsTransport,
    numberRequests: bool,
  ) {
    if (!numberRequests) this.nextReqId = 0;
    this.numberRequests = numberRequests;
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

  /** Marks the connection unusable (every request -EIO) until the next restart(). */
  markBroken(): void {
    this.failure = -EIO;
  }

  /** The WATCH_EVENT now at replyPayload(), replyLength(), before the next message is received. */
  protected abstract watchEventArrived(): void;

  /**
   * The transport was restarted while a request waited: what it sent or
   * half received is gone. What the client does about it; -EAGAIN, which
   * fails the request for the caller to retry.
   */
  protected abstract restartedUnderRequest(): i32;

  /** Forgets the message half received, and that the connection was broken: the transport starts afresh. */
  protected restart(): void {
    this.received = 0;
    this.messageComplete = false;
    this.failure = 0;
  }

  /**
   * Sends the payload built in `payload` as a `type` request in xenstored's
   * transaction `tx` and waits for its reply, passing on watch events that
   * come first. 0, or -errno: xenstored's error, -E2BIG for an oversize
   * request, -EBADMSG for a reply of the wrong type, -EAGAIN when the
   * connection restarted under the request, or the transport's error.
   */
  protected exchange(type: u32, tx: u32): i32 {
    this.answered = false;
    if (this.failure != 0) return this.failure;
    const length = this.payload.finish();
    if (length < 0) return length;
    const reqId = this.nextReqId;
    if (this.numberRequests) this.nextReqId++;
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
        this.watchEventArrived();
        continue;
      }
      if (headerReqId(reply) != reqId) {
        this.strayReplies++;
        continue;
      }
      this.answered = true;
      if (replyType == XS_ERROR) return -errnoOfError(this.replyPayload(), this.replyLength());
      return replyType == type ? 0 : -EBADMSG;
    }
  }

  /**
   * Takes in whatever xenstored has sent without blocking: watch events are
   * passed on, stray replies dropped. 0 once nothing more is there, or -errno.
   */
  protected receiveWaiting(): i32 {
    if (this.failure != 0) return this.failure;
    while (true) {
      const rc = this.receiveMessage(false);
      if (rc < 0) return this.fail(rc);
      if (rc == 0) return 0;
      if (headerType(changetype<usize>(this.incoming)) == XS_WATCH_EVENT) this.watchEventArrived();
      else this.strayReplies++;
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
        if (rc == -EAGAIN) return this.restartedUnderRequest();
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
        if (rc == -EAGAIN) return this.restartedUnderRequest();
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
}
