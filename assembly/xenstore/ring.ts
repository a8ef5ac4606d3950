// The guest's connection to xenstored over the store page and event channel
// the toolstack gave it (HVM_PARAM_STORE_PFN / HVM_PARAM_STORE_EVTCHN), with
// the one XsClient that uses it, for as long as the guest runs: a
// reconnection or a resume restarts the connection under the same client.
//
// Waiting is the event channel's blocking wait (SCHEDOP_block, then dispatch).
// Events that arrive while nobody waits run storeEvent from the upcall, which
// takes what xenstored sent off the ring (so it can go on sending) and runs
// the handlers of watch events.
import * as evtchn from "../evtchn/evtchn";
import {
  EAGAIN,
  EBUSY,
  EIO,
  ENODEV,
  EOPNOTSUPP,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
  XENSTORE_CONNECTED,
  XENSTORE_RECONNECT,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
} from "../xen/abi";
import { SpecialRing } from "../xen/hvm";
import { xenstore_domain_interface as xs } from "../xen/layout";
import { logLine } from "../xen/log";
import { STORE_PAGE } from "../xen/pages";
import { XsClient } from "./client";
import { XsRingTransport } from "./transport";

class StoreRing extends XsRingTransport {
  /**
   * req_prod and rsp_cons as we last left them. Only we write them, and
   * xenstored's restart of the rings leaves them at zero, so when they have
   * gone to zero xenstored restarted the rings (a reconnection someone else
   * asked for), even one that began and ended while we were not looking.
   */
  private requestsProduced: u32 = 0;
  private responsesConsumed: u32 = 0;

  constructor(
    page: usize,
    public port: u32,
  ) {
    super(page);
    this.noteIndices();
  }

  notify(): void {
    evtchn.send(this.port);
  }

  /** What else came with the reply goes to the upcall: our own event on the store port runs storeEvent once we are idle. */
  requestDone(eventsQueued: bool): void {
    if (eventsQueued || this.hasResponses()) evtchn.raise(this.port);
  }

  /**
   * Drops whatever is left on the response ring from before we connected
   * (xs_init_comms does so at connect and resume): a stale reply would be
   * taken as the answer to our first request, garbage would break the
   * connection for good.
   */
  quiesceResponses(): void {
    const consumed = atomic.load<u32>(this.page + xs.rsp_cons);
    const produced = atomic.load<u32>(this.page + xs.rsp_prod);
    if (consumed != produced) {
      logLine(`xenstore: response ring is not quiescent (${consumed}:${produced}), fixing up`);
      atomic.store<u32>(this.page + xs.rsp_cons, produced);
    }
    this.noteIndices();
  }

  send(source: usize, length: u32): i32 {
    const sent = super.send(source, length);
    this.noteIndices();
    return sent;
  }

  receive(target: usize, length: u32): i32 {
    const received = super.receive(target, length);
    this.noteIndices();
    return received;
  }

  /**
   * -EIO once xenstored has set `error` (it has stopped serving us, so no
   * event would come); -EAGAIN, once it is over, when the rings were
   * restarted under the caller.
   */
  wait(): i32 {
    const rc = this.interruption();
    if (rc != 0) return rc;
    eventsSeen = evtchn.eventCount(this.port);
    const blocked = block(storeEventArrived);
    return blocked < 0 ? blocked : this.interruption();
  }

  /** What stops a wait: 0 when nothing does; else as wait() says, after waiting out a restart under way. */
  private interruption(): i32 {
    if (this.serverError() != 0) return -EIO;
    if (this.connected() && !this.restarted()) return 0;
    const rc = block(connectionRestoredOrFailed);
    if (rc < 0) return rc;
    if (this.serverError() != 0) return -EIO;
    this.noteIndices();
    return -EAGAIN;
  }

  noteIndices(): void {
    this.requestsProduced = atomic.load<u32>(this.page + xs.req_prod);
    this.responsesConsumed = atomic.load<u32>(this.page + xs.rsp_cons);
  }

  /** Whether xenstored restarted the rings since we last used them. */
  restarted(): bool {
    const produced = atomic.load<u32>(this.page + xs.req_prod);
    const consumed = atomic.load<u32>(this.page + xs.rsp_cons);
    return produced == 0 && consumed == 0 && (this.requestsProduced != 0 || this.responsesConsumed != 0);
  }

  serverError(): u32 {
    return atomic.load<u32>(this.page + xs.error);
  }

  features(): u32 {
    return atomic.load<u32>(this.page + xs.server_features);
  }

  connected(): bool {
    return atomic.load<u32>(this.page + xs.connection) == XENSTORE_CONNECTED;
  }
}

let ring: StoreRing | null = null;
let client: XsClient | null = null;
/** A wait of ours is under way: the upcall handler must not touch the client mid-request. */
let waiting: bool = false;
let eventsSeen: u32 = 0;

function storeEventArrived(): bool {
  return evtchn.eventCount(ring!.port) != eventsSeen;
}

function connectionRestored(): bool {
  return ring!.connected();
}

function connectionRestoredOrFailed(): bool {
  return ring!.connected() || ring!.serverError() != 0;
}

function block(done: () => bool): i32 {
  waiting = true;
  const rc = evtchn.waitUntil(done);
  waiting = false;
  return rc;
}

function storeEvent(port: u32): void {
  if (waiting || client === null) return;
  const current = ring!;
  // Nothing can be taken in now; a restart under way ends with another event.
  if (current.serverError() != 0 || !current.connected()) return;
  if (current.restarted()) {
    current.noteIndices();
    client!.connectionReset();
  }
  client!.dispatchWatchEvents();
}

/** Where the HVM params put the store, and the page we move it to. */
const store = new SpecialRing(STORE_PAGE);

/** Reads the store's page and port into `store`. 0, -ENODEV when there are none, -EINVAL when unusable. */
function readStore(): i32 {
  return store.read(HVM_PARAM_STORE_PFN, HVM_PARAM_STORE_EVTCHN);
}

/**
 * Connects to xenstored (after xen_boot). 0, or -errno: -ENODEV when the
 * toolstack gave no store page or port, -EINVAL when they are unusable.
 * Idempotent.
 */
export function connect(): i32 {
  if (client !== null) return 0;
  const rc = readStore();
  if (rc < 0) return rc;
  const opened = new StoreRing(store.page, store.port);
  ring = opened;
  // Someone else may have started a reconnection (xenstore-ring.txt): ignore the rest until it is done.
  if ((opened.features() & XENSTORE_SERVER_FEATURE_RECONNECTION) != 0 && !opened.connected()) {
    const blocked = block(connectionRestored);
    if (blocked < 0) return blocked;
  }
  opened.quiesceResponses();
  evtchn.setHandler(store.port, storeEvent);
  client = new XsClient(opened);
  return 0;
}

/** The client, or null before connect(). */
export function currentClient(): XsClient | null {
  return client;
}

/** The server's `error` field: 0 while it serves us, XENSTORE_ERROR_* once it stopped. */
export function serverError(): u32 {
  return ring !== null ? ring!.serverError() : 0;
}

/**
 * The reconnection protocol: xenstored drops our in-flight requests, watches
 * and transactions and restarts both rings; the client then starts over
 * (XsClient.connectionReset: watches registered again, transactions stale).
 * 0, or -errno: -ENODEV before connect(), -EBUSY while a request or a watch
 * handler runs, -EOPNOTSUPP when the server does not offer it, or the
 * client's error registering the watches again.
 */
export function reconnect(): i32 {
  if (ring === null) return -ENODEV;
  const current = ring!;
  if (!client!.idle()) return -EBUSY;
  if ((current.features() & XENSTORE_SERVER_FEATURE_RECONNECTION) == 0) return -EOPNOTSUPP;
  atomic.store<u32>(current.page + xs.connection, XENSTORE_RECONNECT);
  current.notify();
  const rc = block(connectionRestored);
  if (rc < 0) return rc;
  current.noteIndices();
  return client!.connectionReset();
}

/**
 * Readies the connection for a suspend: runs the handlers of queued watch
 * events, so none is held across it. 0, or -EBUSY while a request or a
 * handler is under way (the caller suspends once it is over).
 */
export function quiesce(): i32 {
  if (client === null) return 0;
  if (!client!.idle()) return -EBUSY;
  client!.dispatchWatchEvents();
  return 0;
}

/**
 * After a resume from save/restore, where xenstored knows the domain afresh:
 * the store's port is read again from the HVM params and its page moved
 * onto ours again (the restored domain has it at the param's gfn), the
 * upcall handler moves to the port, and the client starts over. 0 (also
 * when never connected), or -errno: the params are unusable (the client then
 * fails every request with -EIO), or the client's error registering the
 * watches again.
 */
export function resume(): i32 {
  if (client === null) return 0;
  const current = ring!;
  store.restored();
  const rc = readStore();
  if (rc < 0) {
    client!.markBroken();
    return rc;
  }
  evtchn.setHandler(current.port, null);
  current.port = store.port;
  current.quiesceResponses();
  evtchn.setHandler(store.port, storeEvent);
  return client!.connectionReset();
}
