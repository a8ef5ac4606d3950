// How the XenStore client reaches xenstored: a byte stream each way and a way
// to block. The client knows nothing else about the connection, so tests can
// drive it over rings in plain memory and the guest over the shared store page.
import { ByteRing } from "../ring/bytes";

export abstract class XsTransport {
  /** Takes up to `length` bytes for xenstored: the count taken (0 when there is no room now), or -errno. */
  abstract send(source: usize, length: u32): i32;

  /** Gives up to `length` bytes from xenstored: the count given (0 when none are there now), or -errno. */
  abstract receive(target: usize, length: u32): i32;

  /**
   * Blocks until xenstored may have taken or given bytes. 0, or -errno when
   * nothing could ever wake the caller (so it never spins). -EAGAIN says the
   * connection was restarted meanwhile: xenstored dropped everything in
   * flight, and the connection is usable again from scratch.
   */
  abstract wait(): i32;

  /**
   * The client's request made outside dispatch has its answer, or its
   * dispatchWatchEvents stopped with events left. Whatever else xenstored
   * sent meanwhile (events with handlers the client queued, when
   * `eventsQueued`, or messages still unread) must reach the client's
   * dispatchWatchEvents without another event from xenstored: the request's
   * wait took the one that came. A transport whose caller dispatches by
   * hand has nothing to do.
   */
  requestDone(eventsQueued: bool): void {}
}

/**
 * The two byte rings of a xenstore_domain_interface page. Subclasses say how
 * to signal xenstored and how to block (event channel and SCHEDOP_block in a
 * guest, a scripted peer in tests).
 */
export abstract class XsRingTransport extends XsTransport {
  private requests: ByteRing;
  private responses: ByteRing;

  constructor(private readonly store: usize) {
    super();
    this.requests = ByteRing.xenstoreRequests(store);
    this.responses = ByteRing.xenstoreResponses(store);
  }

  /** The xenstore page the rings are in. */
  get page(): usize {
    return this.store;
  }

  /** Tells xenstored that indices moved. */
  abstract notify(): void;

  send(source: usize, length: u32): i32 {
    const sent = this.requests.write(source, length);
    // Impossible indices: start the ring over, as the FreeBSD client does; the
    // caller gets -EIO and must treat the connection as broken.
    if (sent < 0) resetIndices(this.requests);
    else if (sent > 0) this.notify();
    return sent;
  }

  receive(target: usize, length: u32): i32 {
    const received = this.responses.read(target, length);
    if (received < 0) resetIndices(this.responses);
    else if (received > 0) this.notify();
    return received;
  }

  /** Whether xenstored has put bytes on the response ring that were not received (or broke its indices). */
  hasResponses(): bool {
    return this.responses.readable() != 0;
  }

  /** Frees the ring descriptors (not the page); the transport is unusable afterwards. */
  close(): void {
    heap.free(changetype<usize>(this.requests));
    heap.free(changetype<usize>(this.responses));
  }
}

function resetIndices(ring: ByteRing): void {
  atomic.store<u32>(ring.consAt, 0);
  atomic.store<u32>(ring.prodAt, 0);
}
