// The XenStore client (assembly/xenstore/client.ts) as exports, for the tests
// (build/harness.wasm): one client over the xenstore rings of a page the test
// lays out, transactions with a scripted body, and watch handlers that log
// their events (some also act from inside the callback). Strings pass as
// marshal.ts says.
import { send as sendEvent } from "../evtchn/evtchn";
import { EINVAL, SCHEDOP_block } from "../xen/abi";
import { sched_op } from "../xen/hypercall";
import { XS_NO_DOMID, XsClient, XsTransactionBody } from "../xenstore/client";
import { XsRingTransport } from "../xenstore/transport";
import { XsWatchHandler } from "../xenstore/watches";
import { parsePerms, splitStrings, XS_NO_TRANSACTION } from "../xenstore/wire";
import { copyOut, showPerms, text } from "./marshal";

/** The test's transport: the rings of a page the test lays out; blocking is SCHEDOP_block, which the test answers. */
class ScratchRingTransport extends XsRingTransport {
  notify(): void {
    sendEvent(XS_HARNESS_PORT);
  }

  wait(): i32 {
    return sched_op(SCHEDOP_block, 0);
  }
}

/** The event channel port the test transport notifies (the test counts EVTCHNOP_send calls). */
const XS_HARNESS_PORT: u32 = 1;

let xsTransport: ScratchRingTransport | null = null;
let xsClient: XsClient | null = null;

/** A fresh client over the xenstore rings in the page at `page`. */
export function xs_client_open(page: usize): void {
  const old = xsTransport;
  if (old === null || old.page != page) {
    if (old !== null) old.close();
    xsTransport = new ScratchRingTransport(page);
  }
  xsClient = new XsClient(xsTransport!);
}

export function xs_client_read(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.read(tx, text(path, pathLength));
}

export function xs_client_write(tx: u32, path: usize, pathLength: u32, value: usize, valueLength: u32): i32 {
  return xsClient!.writeBytes(tx, text(path, pathLength), value, valueLength);
}

export function xs_client_write_string(tx: u32, path: usize, pathLength: u32, value: usize, valueLength: u32): i32 {
  return xsClient!.write(tx, text(path, pathLength), text(value, valueLength));
}

export function xs_client_mkdir(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.mkdir(tx, text(path, pathLength));
}

export function xs_client_rm(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.rm(tx, text(path, pathLength));
}

export function xs_client_directory(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.directory(tx, text(path, pathLength));
}

export function xs_client_exists(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.exists(tx, text(path, pathLength));
}

export function xs_client_get_perms(tx: u32, path: usize, pathLength: u32): i32 {
  const rc = xsClient!.getPerms(tx, text(path, pathLength));
  if (rc >= 0) showPerms(xsClient!.perms);
  return rc;
}

/** `perms` holds NUL-terminated entries as xenstored sends them ("b0\0r1\0"); -EINVAL when malformed. */
export function xs_client_set_perms(tx: u32, path: usize, pathLength: u32, perms: usize, permsLength: u32): i32 {
  const parsed = parsePerms(perms, permsLength);
  return parsed === null ? -EINVAL : xsClient!.setPerms(tx, text(path, pathLength), parsed);
}

export function xs_client_watch(path: usize, pathLength: u32, token: usize, tokenLength: u32): i32 {
  return xsClient!.watch(text(path, pathLength), text(token, tokenLength));
}

export function xs_client_unwatch(path: usize, pathLength: u32, token: usize, tokenLength: u32): i32 {
  return xsClient!.unwatch(text(path, pathLength), text(token, tokenLength));
}

export function xs_client_transaction_start(): i32 {
  return xsClient!.transactionStart();
}

export function xs_client_transaction(): u32 {
  return xsClient!.transaction;
}

export function xs_client_transaction_end(tx: u32, commit: bool): i32 {
  return xsClient!.transactionEnd(tx, commit);
}

export function xs_client_get_domain_path(domid: u32): i32 {
  return xsClient!.getDomainPath(domid);
}

export function xs_client_poll_events(): i32 {
  return xsClient!.pollEvents();
}

export function xs_client_pending_events(): i32 {
  return xsClient!.pendingEvents();
}

/** The oldest event as "path\0token\0" at `target`; its length, or -1 when none is queued. */
export function xs_client_next_event(target: usize, capacity: u32): i32 {
  const event = xsClient!.nextEvent();
  if (event === null) return -1;
  return copyOut(`${event.path}\0${event.token}\0`, target, capacity);
}

/** The last read's raw value (or get_domain_path's path) at `target`; its length. */
export function xs_client_value(target: usize, capacity: u32): i32 {
  return copyOut(xsClient!.value, target, capacity);
}

export function xs_client_entry(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(xsClient!.entries[index], target, capacity);
}

export function xs_client_failure(): i32 {
  return xsClient!.failure;
}

export function xs_client_connection_reset(): i32 {
  return xsClient!.connectionReset();
}

export function xs_client_lost_watches(): u32 {
  return xsClient!.lostWatches;
}

export function xs_client_next_req_id(): u32 {
  return xsClient!.nextReqId;
}

export function xs_client_stray_replies(): u32 {
  return xsClient!.strayReplies;
}

export function xs_client_dropped_events(): u32 {
  return xsClient!.droppedEvents;
}

export function xs_client_rm_tree(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.rmTree(tx, text(path, pathLength));
}

export function xs_client_read_int(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.readInt(tx, text(path, pathLength));
}

export function xs_client_read_u32(tx: u32, path: usize, pathLength: u32): i32 {
  return xsClient!.readU32(tx, text(path, pathLength));
}

export function xs_client_write_int(tx: u32, path: usize, pathLength: u32, value: i64): i32 {
  return xsClient!.writeInt(tx, text(path, pathLength), value);
}

/** readInt/readU32/getFeature/getQuota's result. */
export function xs_client_number(): i64 {
  return xsClient!.number;
}

/** `names` holds NUL-terminated node names; the count that failed (-EINVAL when `names` is malformed). */
export function xs_client_gather(tx: u32, dir: usize, dirLength: u32, names: usize, namesLength: u32): i32 {
  const list = splitStrings(names, namesLength);
  return list === null ? -EINVAL : xsClient!.gather(tx, text(dir, dirLength), list);
}

export function xs_client_gather_error(index: i32): i32 {
  return xsClient!.gatherErrors[index];
}

export function xs_client_gather_value(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(xsClient!.gathered[index], target, capacity);
}

/** `parameters` holds NUL-terminated strings (none for length 0). */
export function xs_client_control(command: usize, commandLength: u32, parameters: usize, parametersLength: u32): i32 {
  const list = splitStrings(parameters, parametersLength);
  return list === null ? -EINVAL : xsClient!.control(text(command, commandLength), list);
}

export function xs_client_reset_watches(): i32 {
  return xsClient!.resetWatches();
}

/** `domid` < 0 leaves the domid out (XS_NO_DOMID), here and for quotas. */
export function xs_client_get_feature(domid: i32): i32 {
  return xsClient!.getFeature(domid < 0 ? XS_NO_DOMID : domid);
}

export function xs_client_set_feature(domid: u32, features: u32): i32 {
  return xsClient!.setFeature(domid, features);
}

export function xs_client_get_quota(domid: i32, name: usize, nameLength: u32): i32 {
  return xsClient!.getQuota(domid < 0 ? XS_NO_DOMID : domid, text(name, nameLength));
}

export function xs_client_quota_names(): i32 {
  return xsClient!.quotaNames();
}

export function xs_client_set_quota(domid: i32, name: usize, nameLength: u32, value: u32): i32 {
  return xsClient!.setQuota(domid < 0 ? XS_NO_DOMID : domid, text(name, nameLength), value);
}

/** The test's transaction body: writes its node, then returns the result the test chose. */
class ScriptedBody extends XsTransactionBody {
  runs: i32 = 0;

  constructor(
    readonly path: string,
    readonly value: string,
    readonly result: i32,
  ) {
    super();
  }

  run(client: XsClient, tx: u32): i32 {
    this.runs++;
    const rc = client.write(tx, this.path, this.value);
    return rc < 0 ? rc : this.result;
  }
}

let transactionBody: ScriptedBody | null = null;

export function xs_client_run_transaction(
  path: usize,
  pathLength: u32,
  value: usize,
  valueLength: u32,
  result: i32,
  attempts: i32,
): i32 {
  const body = new ScriptedBody(text(path, pathLength), text(value, valueLength), result);
  transactionBody = body;
  return xsClient!.runTransaction(body, attempts);
}

/** How many times the last run_transaction ran its body. */
export function xs_client_transaction_runs(): i32 {
  return transactionBody!.runs;
}

const _HANDLER_LOG: i32 = 1;
/** Also calls dispatchWatchEvents from inside the callback (which must return 0 at once). */
const HANDLER_NESTED_DISPATCH: i32 = 2;
/** Also reads the event's path, so a request runs (and may queue events) during dispatch. */
const HANDLER_READ: i32 = 3;

let handled: string[] = [];
let nestedDispatches: i32 = 0;
let nestedDispatched: i32 = 0;

class TestHandler extends XsWatchHandler {
  constructor(readonly mode: i32) {
    super();
  }

  onEvent(path: string, token: string): void {
    handled.push(`${path}\0${token}\0`);
    if (this.mode == HANDLER_NESTED_DISPATCH) {
      nestedDispatches++;
      nestedDispatched += xsClient!.dispatchWatchEvents();
    } else if (this.mode == HANDLER_READ) {
      xsClient!.read(XS_NO_TRANSACTION, path);
    }
  }
}

/** `mode` 0 registers without a handler (events for nextEvent), else a TestHandler of that mode. */
export function xs_client_register_watch(
  path: usize,
  pathLength: u32,
  token: usize,
  tokenLength: u32,
  maxPending: i32,
  mode: i32,
): i32 {
  const handler: XsWatchHandler | null = mode == 0 ? null : new TestHandler(mode);
  return xsClient!.registerWatch(text(path, pathLength), text(token, tokenLength), handler, maxPending);
}

export function xs_client_unregister_watch(token: usize, tokenLength: u32): i32 {
  return xsClient!.unregisterWatch(text(token, tokenLength));
}

/** Dispatches from a fresh log; the count dispatched. */
export function xs_client_dispatch(): i32 {
  handled = [];
  nestedDispatches = 0;
  nestedDispatched = 0;
  return xsClient!.dispatchWatchEvents();
}

export function xs_client_handled_count(): i32 {
  return handled.length;
}

/** The `index`th event handled by the last dispatch as "path\0token\0". */
export function xs_client_handled(index: i32, target: usize, capacity: u32): i32 {
  return copyOut(handled[index], target, capacity);
}

export function xs_client_nested_dispatches(): i32 {
  return nestedDispatches;
}

export function xs_client_nested_dispatched(): i32 {
  return nestedDispatched;
}

/** The watch's queued events (which == 0), dropped events (1) or collapses (2); -1 when `token` names none. */
export function xs_client_watch_count(token: usize, tokenLength: u32, which: i32): i32 {
  const watch = xsClient!.watchOf(text(token, tokenLength));
  if (watch === null) return -1;
  return which == 0 ? watch.pending : which == 1 ? i32(watch.dropped) : i32(watch.collapsed);
}
