// The guest's connection to xenstored over the store page and event channel
// the toolstack gave it (HVM_PARAM_STORE_PFN / HVM_PARAM_STORE_EVTCHN), with
// the one XsClient that uses it.
//
// Waiting is the event channel's blocking wait (SCHEDOP_block, then dispatch).
// Events that arrive while nobody waits run storeEvent from the upcall, which
// takes watch events off the ring so xenstored can go on sending.
import * as evtchn from "../evtchn/evtchn";
import { getParam } from "../xen/hvm";
import {
  EINVAL, EIO, ENODEV, EOPNOTSUPP, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN,
  XENSTORE_CONNECTED, XENSTORE_RECONNECT, XENSTORE_SERVER_FEATURE_RECONNECTION,
} from "../xen/abi";
import { xenstore_domain_interface as xs } from "../xen/layout";
import { PAGE_SHIFT } from "../xen/pages";
import { XsClient } from "./client";
import { XsRingTransport } from "./transport";

class StoreRing extends XsRingTransport {
  constructor(page: usize, readonly port: u32) {
    super(page);
  }

  notify(): void {
    evtchn.send(this.port);
  }

  /** -EIO once xenstored has set `error`: it has stopped serving us, so no event would come. */
  wait(): i32 {
    if (this.serverError() != 0) return -EIO;
    eventsSeen = evtchn.eventCount(this.port);
    const rc = block(storeEventArrived);
    if (rc < 0) return rc;
    return this.serverError() != 0 ? -EIO : 0;
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

function block(done: () => bool): i32 {
  waiting = true;
  const rc = evtchn.waitUntil(done);
  waiting = false;
  return rc;
}

function storeEvent(port: u32): void {
  if (!waiting && client !== null) client!.pollEvents();
}

/**
 * Connects to xenstored (after xen_boot). 0, or -errno: -ENODEV when the
 * toolstack gave no store page or port, -EINVAL when they are unusable.
 * Idempotent.
 */
export function connect(): i32 {
  if (client !== null) return 0;
  const pfn = getParam(HVM_PARAM_STORE_PFN);
  if (pfn < 0) return i32(pfn);
  const port = getParam(HVM_PARAM_STORE_EVTCHN);
  if (port < 0) return i32(port);
  if (pfn == 0 || port == 0) return -ENODEV;
  const pages = u64(memory.size()) << (16 - PAGE_SHIFT);
  if (u64(pfn) >= pages || u64(port) >= u64(evtchn.NR_PORTS)) return -EINVAL;
  const page = usize(pfn) << PAGE_SHIFT;
  const opened = new StoreRing(page, u32(port));
  ring = opened;
  // Someone else may have started a reconnection (xenstore-ring.txt): ignore the rest until it is done.
  if ((opened.features() & XENSTORE_SERVER_FEATURE_RECONNECTION) != 0 && !opened.connected()) {
    const rc = block(connectionRestored);
    if (rc < 0) return rc;
  }
  evtchn.setHandler(u32(port), storeEvent);
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
 * and transactions and restarts both rings; we start a fresh client (its
 * watches are gone with the server's and must be registered again).
 * 0, -ENODEV before connect(), -EOPNOTSUPP when the server does not offer it.
 */
export function reconnect(): i32 {
  if (ring === null) return -ENODEV;
  const current = ring!;
  if ((current.features() & XENSTORE_SERVER_FEATURE_RECONNECTION) == 0) return -EOPNOTSUPP;
  atomic.store<u32>(current.page + xs.connection, XENSTORE_RECONNECT);
  current.notify();
  const rc = block(connectionRestored);
  if (rc < 0) return rc;
  client = new XsClient(current);
  return 0;
}
