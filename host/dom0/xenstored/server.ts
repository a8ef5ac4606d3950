// xenstored's connection side: each connection (a domain id and a way to send
// bytes) decodes its peer's requests, holds them while too many replies are
// outstanding, and queues replies and watch events until its transport takes
// them. What a request does is requests.ts's `reply`; transports (socket,
// ring) feed bytes in and carry bytes out.
//
// What a connection makes xenstored hold is bounded (the README's budget):
// requests are not served while its replies are not taken, the transport
// stops reading while requests wait, and watch events past a bound are
// dropped and counted. Connections take turns: each serves at most
// REQUESTS_PER_TURN requests, then waits behind the others with work.
import { type Outcome, reply } from "./requests.js";
import { type Delivery, type DomainHooks, Session, XenStoreState } from "./state.js";
import type { NodeView } from "./store.js";
import { encodeMessage, HEADER_SIZE, MessageDecoder, XENSTORE_PAYLOAD_MAX, type XsMessage } from "./wire.js";

export { SERVER_FEATURES } from "./state.js";

/** Requests a connection serves before the others with work get theirs. */
export const REQUESTS_PER_TURN = 64;
/** A connection's requests are not served while this many bytes of its replies wait for its transport. */
export const MAX_QUEUED_REPLY_BYTES = 16 * 1024;
/** Watch events queued for one connection past these are dropped (unless XenStoredOptions say otherwise). */
export const MAX_QUEUED_EVENTS = 1024;
export const MAX_QUEUED_EVENT_BYTES = 256 * 1024;
/** Watch events queued for all connections together past this are dropped. */
export const MAX_TOTAL_EVENT_BYTES = 32 * 1024 * 1024;
/** The largest message: a header and a whole payload. */
const MAX_MESSAGE_BYTES = HEADER_SIZE + XENSTORE_PAYLOAD_MAX;

export interface XenStoredOptions extends DomainHooks {
  /** Watch events queued for a connection that does not read beyond this are dropped (default 1024). */
  maxQueuedWatchEvents?: number;
  /** The same in bytes (default 256 KiB; when only maxQueuedWatchEvents is given, that many whole messages). */
  maxQueuedEventBytes?: number;
  /** Hears each request served, with its connection's domid and the reply, as C xenstored's trace (-T) records them. */
  trace?(domid: number, request: XsMessage, reply: XsMessage): void;
  /** Runs `turn` after pending I/O, to serve the connections still with requests (default setImmediate). */
  schedule?(turn: () => void): void;
  /** Hears a line when a connection starts losing watch events, and when it reads again (the standalone logs them). */
  log?(line: string): void;
}

/**
 * How a transport hands bytes to its peer. Returning false means it could not
 * take them now: they stay queued until the transport calls `XenStored.flush`.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a sender that cannot refuse returns nothing
export type SendBytes = (bytes: Uint8Array) => boolean | void;

export class Connection extends Session {
  readonly decoder = new MessageDecoder();
  closed = false;
  /** Encoded replies and events not yet taken by the transport. */
  readonly outbox: { bytes: Uint8Array; event: boolean }[] = [];
  /** Whole requests waiting for their turn, or while too many replies are outstanding. */
  readonly inbox: XsMessage[] = [];
  queuedEvents = 0;
  queuedEventBytes = 0;
  queuedReplyBytes = 0;
  inboxBytes = 0;
  /** Watch events this connection lost because it did not take them (xenstored logs when it starts). */
  droppedEvents = 0;
  /** Dropping since the last time its queue emptied. */
  dropping = false;

  constructor(
    domid: number,
    readonly send: SendBytes,
    readonly onClose: () => void,
    /** Every request received is served: the transport may read more. */
    readonly onDrained: () => void,
  ) {
    super(domid);
  }

  /** What xenstored holds for this connection: queued replies and events, requests and a partial one. */
  get retainedBytes(): number {
    return this.queuedReplyBytes + this.queuedEventBytes + this.inboxBytes + this.decoder.pending;
  }
}

export class XenStored {
  private readonly state: XenStoreState;
  private readonly connections = new Set<Connection>();
  /** Connections with requests left after their turn, in the order they get the next. */
  private readonly waiting = new Set<Connection>();
  private turnScheduled = false;
  private totalEventBytes = 0;
  private readonly maxQueuedEvents: number;
  private readonly maxQueuedEventBytes: number;
  /** Watch events lost by all connections so far. */
  droppedEvents = 0;

  constructor(private readonly options: XenStoredOptions = {}) {
    this.state = new XenStoreState(options, (domid) => {
      for (const conn of [...this.connections]) if (conn.domid === domid) this.disconnect(conn);
    });
    this.maxQueuedEvents = options.maxQueuedWatchEvents ?? MAX_QUEUED_EVENTS;
    this.maxQueuedEventBytes =
      options.maxQueuedEventBytes ??
      (options.maxQueuedWatchEvents === undefined ? MAX_QUEUED_EVENT_BYTES : this.maxQueuedEvents * MAX_MESSAGE_BYTES);
  }

  get tree() {
    return this.state.tree;
  }

  get quotas() {
    return this.state.quotas;
  }

  /** What xenstored holds for all its connections (Connection.retainedBytes). */
  get retainedBytes(): number {
    let total = 0;
    for (const conn of this.connections) total += conn.retainedBytes;
    return total;
  }

  /** A new connection for `domid` (0 for dom0's tools on the socket). */
  connect(
    domid: number,
    send: SendBytes,
    onClose: () => void = () => {},
    onDrained: () => void = () => {},
  ): Connection {
    const conn = new Connection(domid, send, onClose, onDrained);
    this.connections.add(conn);
    this.state.addSession(conn);
    return conn;
  }

  /**
   * Bytes from the connection's peer: its requests are served now, up to a
   * turn's worth, unless it is waiting for its turn already. A transport
   * stops reading while `conn.inbox` is not empty. A protocol violation
   * closes the connection.
   */
  receive(conn: Connection, bytes: Uint8Array): void {
    if (conn.closed) return;
    const messages = conn.decoder.push(bytes);
    if (messages === "protocol-error") {
      this.disconnect(conn);
      return;
    }
    for (const message of messages) {
      conn.inbox.push(message);
      conn.inboxBytes += HEADER_SIZE + message.payload.length;
    }
    if (!this.waiting.has(conn)) this.serve(conn);
  }

  /** The transport can take bytes again: send what is queued, then serve waiting requests. */
  flush(conn: Connection): void {
    this.flushOutbox(conn);
    if (!this.waiting.has(conn)) this.serve(conn);
  }

  disconnect(conn: Connection): void {
    if (conn.closed) return;
    this.reset(conn);
    conn.closed = true;
    this.connections.delete(conn);
    this.state.sessions.delete(conn);
    conn.onClose();
  }

  /** Drops partial input, queued output, watches and transactions (xenstore-ring.txt's reconnection). */
  reset(conn: Connection): void {
    conn.decoder.reset();
    conn.inbox.length = 0;
    conn.inboxBytes = 0;
    conn.outbox.length = 0;
    this.totalEventBytes -= conn.queuedEventBytes;
    conn.queuedEvents = conn.queuedEventBytes = conn.queuedReplyBytes = 0;
    conn.dropping = false;
    this.waiting.delete(conn);
    this.state.clearSession(conn);
  }
  // Domains, as Xen reports them ------------------------------------------------

  isIntroduced(domid: number): boolean {
    return this.state.isIntroduced(domid);
  }

  domainExists(domid: number): boolean {
    return this.state.domainExists(domid);
  }

  featuresOf(domid: number): number {
    return this.state.featuresOf(domid);
  }

  /** The domain is gone or released: its connections close and @releaseDomain fires. */
  releaseDomain(domid: number): void {
    this.deliver(this.state.releaseDomain(domid));
  }

  /** Xen reports that the domain shut down: @releaseDomain fires, once until XS_RESUME (state.ts). */
  domainShutdown(domid: number): void {
    this.deliver(this.state.domainShutdown(domid));
  }

  /** XS_RESUME: a later shutdown of the domain fires @releaseDomain again. */
  resumeDomain(domid: number): void {
    this.state.resumeDomain(domid);
  }

  /** Bytes domain `domid` holds: its nodes as `view` has them, and its connections' watches. */
  memoryUsedBy(domid: number, view?: NodeView): number {
    return this.state.memoryUsedBy(domid, view);
  }

  // Flow ------------------------------------------------------------------------

  /** Whether the connection may be served a request now: its replies are being taken. */
  private mayServe(conn: Connection): boolean {
    if (conn.queuedReplyBytes >= MAX_QUEUED_REPLY_BYTES) return false;
    const limit = this.state.isPrivileged(conn.domid) ? 0 : this.quotas.get("outstanding", conn.domid);
    return limit === 0 || conn.outbox.length < limit;
  }

  /**
   * Serves up to a turn's worth of the connection's requests. With more left
   * it waits for its next turn, behind every connection already waiting;
   * held by flow control, it goes on when its transport calls `flush`.
   */
  private serve(conn: Connection): void {
    for (let served = 0; conn.inbox.length > 0 && !conn.closed && this.mayServe(conn); served++) {
      if (served === REQUESTS_PER_TURN) {
        this.waitForTurn(conn);
        return;
      }
      const request = conn.inbox.shift()!;
      conn.inboxBytes -= HEADER_SIZE + request.payload.length;
      this.answer(conn, request, reply(this.state, conn, request));
      this.flushOutbox(conn);
    }
    if (conn.inbox.length === 0 && !conn.closed) conn.onDrained();
  }

  private waitForTurn(conn: Connection): void {
    this.waiting.add(conn);
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    (this.options.schedule ?? setImmediate)(() => this.turn());
  }

  /** One turn for each connection that was waiting, in order; those with more left wait again. */
  private turn(): void {
    this.turnScheduled = false;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const conn of waiting) this.serve(conn);
  }

  /** Sends the events a request fired, then its reply, then what follows the reply. */
  private answer(conn: Connection, request: XsMessage, outcome: Outcome): void {
    this.deliver(outcome.fired);
    this.options.trace?.(conn.domid, request, outcome.reply);
    const bytes = encodeMessage(outcome.reply);
    conn.outbox.push({ bytes, event: false });
    conn.queuedReplyBytes += bytes.length;
    for (const delivery of outcome.after) this.queueEvent(delivery);
  }

  /** Queues each batch of watch events and lets every connection send it before the next. */
  private deliver(batches: readonly Delivery[][]): void {
    for (const batch of batches) {
      for (const delivery of batch) this.queueEvent(delivery);
      for (const delivery of batch) this.flushOutbox(delivery.session as Connection);
    }
  }

  /** A connection that lets too many events pile up (or all together too many bytes) loses the new ones. */
  private queueEvent({ session, message }: Delivery): void {
    // Every session is a connection: connect() made it.
    const conn = session as Connection;
    const size = HEADER_SIZE + message.payload.length;
    if (
      conn.queuedEvents >= this.maxQueuedEvents ||
      conn.queuedEventBytes + size > this.maxQueuedEventBytes ||
      this.totalEventBytes + size > MAX_TOTAL_EVENT_BYTES
    ) {
      conn.droppedEvents++;
      this.droppedEvents++;
      if (!conn.dropping) {
        conn.dropping = true;
        this.options.log?.(`xenstored: domain ${conn.domid}'s connection is not reading: dropping its watch events`);
      }
      return;
    }
    conn.outbox.push({ bytes: encodeMessage(message), event: true });
    conn.queuedEvents++;
    conn.queuedEventBytes += size;
    this.totalEventBytes += size;
  }

  private flushOutbox(conn: Connection): void {
    while (conn.outbox.length > 0 && !conn.closed) {
      const { bytes, event } = conn.outbox[0]!;
      if (conn.send(bytes) === false) return;
      conn.outbox.shift();
      if (event) {
        conn.queuedEvents--;
        conn.queuedEventBytes -= bytes.length;
        this.totalEventBytes -= bytes.length;
      } else conn.queuedReplyBytes -= bytes.length;
    }
    if (conn.dropping && conn.outbox.length === 0) {
      conn.dropping = false;
      this.options.log?.(
        `xenstored: domain ${conn.domid}'s connection reads again; ${conn.droppedEvents} watch events lost in all`,
      );
    }
  }
}
