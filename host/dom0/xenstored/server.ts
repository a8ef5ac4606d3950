// xenstored's connection side: each connection (a domain id and a way to send
// bytes) decodes its peer's requests, holds them while too many replies are
// outstanding, and queues replies and watch events until its transport takes
// them. What a request does is requests.ts's `reply`; transports (socket,
// ring) feed bytes in and carry bytes out.
import { type Outcome, reply } from "./requests.js";
import { type Delivery, type DomainHooks, Session, XenStoreState } from "./state.js";
import type { NodeView } from "./store.js";
import { encodeMessage, MessageDecoder, type XsMessage } from "./wire.js";

export { SERVER_FEATURES } from "./state.js";

export interface XenStoredOptions extends DomainHooks {
  /** Watch events queued for an unprivileged connection that does not read beyond this are dropped. */
  maxQueuedWatchEvents?: number;
  /** Hears each request served, with its connection's domid and the reply, as C xenstored's trace (-T) records them. */
  trace?(domid: number, request: XsMessage, reply: XsMessage): void;
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
  /** Whole requests waiting while too many replies are outstanding. */
  readonly inbox: XsMessage[] = [];

  constructor(
    domid: number,
    readonly send: SendBytes,
    readonly onClose: () => void,
  ) {
    super(domid);
  }

  get queuedEvents(): number {
    return this.outbox.filter((message) => message.event).length;
  }
}

export class XenStored {
  private readonly state: XenStoreState;
  private readonly connections = new Set<Connection>();

  constructor(private readonly options: XenStoredOptions = {}) {
    this.state = new XenStoreState(options, (domid) => {
      for (const conn of [...this.connections]) if (conn.domid === domid) this.disconnect(conn);
    });
  }

  get tree() {
    return this.state.tree;
  }

  get quotas() {
    return this.state.quotas;
  }

  /** A new connection for `domid` (0 for dom0's tools on the socket). */
  connect(domid: number, send: SendBytes, onClose: () => void = () => {}): Connection {
    const conn = new Connection(domid, send, onClose);
    this.connections.add(conn);
    this.state.sessions.add(conn);
    return conn;
  }

  /** Bytes from the connection's peer. A protocol violation closes the connection. */
  receive(conn: Connection, bytes: Uint8Array): void {
    if (conn.closed) return;
    const messages = conn.decoder.push(bytes);
    if (messages === "protocol-error") {
      this.disconnect(conn);
      return;
    }
    for (const message of messages) conn.inbox.push(message);
    this.processInbox(conn);
  }

  /** The transport can take bytes again: send what is queued, then serve waiting requests. */
  flush(conn: Connection): void {
    this.flushOutbox(conn);
    this.processInbox(conn);
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
    conn.outbox.length = 0;
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

  private processInbox(conn: Connection): void {
    const limit = this.state.isPrivileged(conn.domid) ? 0 : this.quotas.get("outstanding", conn.domid);
    while (conn.inbox.length > 0 && !conn.closed) {
      if (limit !== 0 && conn.outbox.length >= limit) return;
      const request = conn.inbox.shift()!;
      this.answer(conn, request, reply(this.state, conn, request));
      this.flushOutbox(conn);
    }
  }

  /** Sends the events a request fired, then its reply, then what follows the reply. */
  private answer(conn: Connection, request: XsMessage, outcome: Outcome): void {
    this.deliver(outcome.fired);
    this.options.trace?.(conn.domid, request, outcome.reply);
    conn.outbox.push({ bytes: encodeMessage(outcome.reply), event: false });
    for (const delivery of outcome.after) this.queueEvent(delivery);
  }

  /** Queues each batch of watch events and lets every connection send it before the next. */
  private deliver(batches: readonly Delivery[][]): void {
    for (const batch of batches) {
      for (const delivery of batch) this.queueEvent(delivery);
      for (const conn of this.connections) this.flushOutbox(conn);
    }
  }

  /** An unprivileged connection that lets too many events pile up loses the new ones. */
  private queueEvent({ session, message }: Delivery): void {
    // Every session is a connection: connect() made it.
    const conn = session as Connection;
    const maxQueued = this.options.maxQueuedWatchEvents ?? 1024;
    if (!this.state.isPrivileged(conn.domid) && conn.queuedEvents >= maxQueued) return;
    conn.outbox.push({ bytes: encodeMessage(message), event: true });
  }

  private flushOutbox(conn: Connection): void {
    while (conn.outbox.length > 0 && !conn.closed) {
      if (conn.send(conn.outbox[0]!.bytes) === false) return;
      conn.outbox.shift();
    }
  }
}
