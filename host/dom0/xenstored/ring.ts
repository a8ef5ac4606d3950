// The ring transport of xenstored: one RingConnection per introduced domain,
// over its store page (xenstore_domain_interface, docs/misc/xenstore-ring.txt)
// and the event channel the toolstack allocated for it. The page is mapped
// by gfn, as a privileged xenstored maps a guest's page it has no grant for:
// the mapping holds the frame, so it follows the page when the guest moves
// it (XENMAPSPACE_gmfn). It is accessed as a live view: every access
// derives it afresh, so it survives the guest's memory.grow.
//
// Everything in the page is the guest's to write, so every index is checked
// before use; an impossible pair, or a request announcing more than
// XENSTORE_PAYLOAD_MAX, sets `error` and stops the connection until the guest
// asks to reconnect.

import { XENSTORE, XENSTORE_ERROR, xenstore_domain_interface } from "../../xen/abi.js";
import type { Domain } from "../../xen/domain.js";
import type { Frame } from "../../xen/memory.js";
import type { NativeDomain } from "../../xen/native.js";
import { type ByteRingLayout, putBytes, takeBytes } from "../byte-ring.js";
import { XsError } from "./errors.js";
import type { Connection, XenStored } from "./server.js";

/** Where each field of the xenstore page is. */
const RING = xenstore_domain_interface.fields;
const REQUESTS: ByteRingLayout = { data: RING.req, size: XENSTORE.RING_SIZE, cons: RING.req_cons, prod: RING.req_prod };
const RESPONSES: ByteRingLayout = {
  data: RING.rsp,
  size: XENSTORE.RING_SIZE,
  cons: RING.rsp_cons,
  prod: RING.rsp_prod,
};

/**
 * Starts both rings of a xenstore page afresh, as the reconnection protocol
 * ends (and as a restored domain finds its page): indices zero, no error,
 * connected.
 */
export function restartRings(view: DataView): void {
  for (const index of [RING.req_cons, RING.req_prod, RING.rsp_cons, RING.rsp_prod]) view.setUint32(index, 0, true);
  view.setUint32(RING.error, XENSTORE_ERROR.NONE, true);
  view.setUint32(RING.connection, XENSTORE.CONNECTED, true);
}

export class RingConnection {
  private conn: Connection | null = null;
  /** The rest of a message that did not fit in the output ring, sent before anything else. */
  private unsent = new Uint8Array(0);
  /** Bytes moved through the rings, the service loop's progress measure. */
  private traffic = 0;
  readonly localPort: number;
  /** Closed already: the port may since belong to another channel, so it must not be unbound twice. */
  private released = false;
  /** The store page as INTRODUCE found it at `gfn`. */
  readonly frame: Frame;

  constructor(
    private readonly xenstored: XenStored,
    private readonly dom0: NativeDomain,
    readonly guest: Domain,
    readonly gfn: number,
    remotePort: number,
  ) {
    const frame = guest.frame(gfn);
    if (!frame) throw new XsError("EINVAL");
    this.frame = frame;
    this.localPort = dom0.evtchn.bindInterdomain(guest.domid, remotePort);
    // Advertised before anything is produced or consumed, as xenstore-ring.txt requires.
    this.view().setUint32(RING.server_features, xenstored.featuresOf(guest.domid), true);
    this.attach();
    dom0.evtchn.on(this.localPort, () => this.service());
  }

  /** The `error` field as the guest sees it. */
  get error(): number {
    return this.view().getUint32(RING.error, true);
  }

  /** Whether requests are being served (false after a protocol violation until the guest reconnects). */
  get serving(): boolean {
    return this.conn !== null;
  }

  /** The domain was released: stop serving and unbind the port (the page needs no unmapping). Idempotent. */
  close(): void {
    if (this.released) return;
    this.released = true;
    const conn = this.conn;
    this.conn = null;
    if (conn) this.xenstored.disconnect(conn);
    this.dom0.evtchn.unbind(this.localPort);
  }

  private view(): DataView {
    const page = this.frame.bytes();
    return new DataView(page.buffer, page.byteOffset, page.byteLength);
  }

  private attach(): void {
    this.conn = this.xenstored.connect(
      this.guest.domid,
      (bytes) => this.send(bytes),
      () => this.closed(),
    );
  }

  /** XenStored closed the connection (a protocol violation, or the domain's release). */
  private closed(): void {
    this.conn = null;
  }

  private fail(error: number): void {
    this.view().setUint32(RING.error, error, true);
    const conn = this.conn;
    this.conn = null;
    this.unsent = new Uint8Array(0);
    if (conn) this.xenstored.disconnect(conn);
    this.notify();
  }

  private notify(): void {
    this.dom0.evtchn.notify(this.localPort);
  }

  /** The event handler: a reconnection request, or whatever the guest produced or consumed. */
  private service(): void {
    if (this.view().getUint32(RING.connection, true) === XENSTORE.RECONNECT) {
      this.reconnect();
      return;
    }
    let before: number;
    do {
      before = this.traffic;
      this.drainOutput();
      this.readRequests();
    } while (this.conn && this.traffic !== before);
  }

  /** Drops everything the connection had and starts both rings afresh. */
  private reconnect(): void {
    if (this.conn) this.xenstored.reset(this.conn);
    else this.attach(); // a reconnection may also recover from an error
    this.unsent = new Uint8Array(0);
    restartRings(this.view());
    this.notify();
  }

  /** Sends what did not fit before; once all is out, lets XenStored send its queue and serve held requests. */
  private drainOutput(): void {
    if (!this.conn) return;
    if (this.unsent.length > 0) {
      const written = this.writeRing(this.unsent);
      if (written < 0) return;
      this.unsent = this.unsent.slice(written);
    }
    if (this.unsent.length === 0) this.xenstored.flush(this.conn);
  }

  /** XenStored's SendBytes: takes a whole message, keeping what the ring has no room for. */
  private send(bytes: Uint8Array): boolean {
    if (!this.conn || this.unsent.length > 0) return false;
    const written = this.writeRing(bytes);
    if (written < 0) return false;
    this.unsent = bytes.slice(written);
    return true;
  }

  /** Copies as much as fits into the output ring: the count, or -1 when the guest broke the indices. */
  private writeRing(bytes: Uint8Array): number {
    const count = putBytes(this.view(), RESPONSES, bytes);
    if (count < 0) {
      this.fail(XENSTORE_ERROR.RINGIDX);
      return -1;
    }
    if (count === 0) return 0;
    this.traffic += count;
    this.notify();
    return count;
  }

  /** Takes the guest's requests off the input ring, unless XenStored still holds earlier ones (flow control). */
  private readRequests(): void {
    const conn = this.conn;
    if (!conn || conn.inbox.length > 0) return;
    const bytes = takeBytes(this.view(), REQUESTS);
    if (bytes === null) {
      this.fail(XENSTORE_ERROR.RINGIDX);
      return;
    }
    if (bytes.length === 0) return;
    this.traffic += bytes.length;
    this.notify();
    this.xenstored.receive(conn, bytes);
    // Closed while receiving: a protocol violation (an oversize length), unless sending a reply already failed it.
    if (conn.closed && this.error === XENSTORE_ERROR.NONE) this.fail(XENSTORE_ERROR.PROTO);
  }
}
