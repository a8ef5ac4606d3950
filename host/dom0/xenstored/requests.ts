// The request handler: `reply` takes xenstored's state, the session a request
// came on and the request, and gives the reply and the watch events it fired,
// as mirage's ocaml-xenstore server does. It does no I/O, so every message's
// behaviour can be driven without a connection; server.ts carries the bytes.
import { XsError } from "./errors.js";
import { canonicalize, domainPath } from "./paths.js";
import { accessFor, type Caller, PERM_READ, type Perm, permToString } from "./perms.js";
import { isQuotaName } from "./quota.js";
import {
  type Delivery,
  SERVER_FEATURES,
  type Session,
  type Watch,
  watchEvent,
  watchKey,
  watchMemory,
  type XenStoreState,
} from "./state.js";
import {
  type Change,
  directory,
  getPerms,
  mkdir,
  readValue,
  rm,
  setPerms,
  TransactionView,
  type TreeAccess,
  write,
} from "./store.js";
import {
  bytesToText,
  strings,
  textToBytes,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
  type XsMessage,
  XsType,
} from "./wire.js";

/** What one request did. */
export interface Outcome {
  /** Watch events it fired, one batch per change: they go out before the reply, as C xenstored fires them. */
  fired: Delivery[][];
  reply: XsMessage;
  /** Events that follow the reply: a new watch's first event. */
  after: Delivery[];
}

/** Serves `request` on `session`: a reply always, an ERROR reply for what xenstored refuses. */
export function reply(state: XenStoreState, session: Session, request: XsMessage): Outcome {
  const context: Request = { state, session, caller: state.callerOf(session), message: request, fired: [], after: [] };
  try {
    const handler = HANDLERS.get(request.type);
    if (!handler) throw new XsError("ENOSYS");
    if (handler.privileged && !context.caller.privileged) throw new XsError("EACCES");
    if (!handler.ignoresTransaction && request.txId !== 0) {
      context.transaction = session.transactions.get(request.txId);
      if (!context.transaction) throw new XsError("ENOENT");
    }
    const result = handler.run(context);
    return answer(context, request.type, result === "OK" ? strings("OK") : result);
  } catch (error) {
    if (!(error instanceof XsError)) throw error;
    return answer(context, XsType.ERROR, strings(error.errorName));
  }
}

/** The outcome of the request in `context`: its reply, and the events it fired. */
function answer({ message, fired, after }: Request, type: number, payload: Uint8Array): Outcome {
  return { fired, reply: { type, reqId: message.reqId, txId: message.txId, payload }, after };
}

interface Request {
  state: XenStoreState;
  session: Session;
  caller: Caller;
  message: XsMessage;
  transaction?: TransactionView;
  /** Events fired so far, in order. */
  fired: Delivery[][];
  after: Delivery[];
}

type Reply = Uint8Array | "OK";

interface Handler {
  run(request: Request): Reply;
  privileged?: boolean;
  /** WATCH and UNWATCH ignore the header's tx_id. */
  ignoresTransaction?: boolean;
}

// Arguments -------------------------------------------------------------------

/** C atoi: leading decimal digits, 0 when there are none. */
function atoi(text: string): number {
  const match = /^\s*([+-]?\d+)/.exec(text);
  return match ? Number.parseInt(match[1]!, 10) | 0 : 0;
}

/** The payload's nul-terminated strings, at most `max`; an unterminated tail is not a string. */
function splitStrings(payload: Uint8Array, max: number): string[] {
  const result: string[] = [];
  let start = 0;
  while (result.length < max) {
    const end = payload.indexOf(0, start);
    if (end < 0) break;
    result.push(bytesToText(payload.subarray(start, end)));
    start = end + 1;
  }
  return result;
}

/** Exactly one nul-terminated string, as C xenstored's onearg insists; otherwise EINVAL. */
function oneArg(payload: Uint8Array): string {
  const end = payload.indexOf(0);
  if (end < 0 || end !== payload.length - 1) throw new XsError("EINVAL");
  return bytesToText(payload.subarray(0, end));
}

function args(payload: Uint8Array, count: number): string[] {
  const found = splitStrings(payload, count);
  if (found.length < count) throw new XsError("EINVAL");
  return found;
}

function domidArg(payload: Uint8Array): number {
  return atoi(oneArg(payload));
}

/** Appends one by one: a spread into push() overflows the stack on a large batch (an RM of 125,000 nodes). */
function append<T>(target: T[], items: readonly T[]): void {
  for (const item of items) target.push(item);
}

// Tree operations ---------------------------------------------------------------

function nodeName(request: Request, name: string): string {
  return request.state.nodeName(request.caller, name);
}

/** Runs a tree operation in the request's transaction or on the committed tree; announces its changes. */
function treeOperation<T>(request: Request, operation: (access: TreeAccess) => T): T {
  const { state, caller, transaction } = request;
  const changes: Change[] = [];
  const view = transaction ?? state.tree;
  const result = operation({
    view,
    caller,
    quotas: state.quotas,
    changes,
    checkMemoryGrowth(domid, bytes) {
      state.checkMemoryGrowth(caller, view, domid, bytes);
    },
  });
  if (transaction) append(transaction.changes, changes);
  else append(request.fired, state.watchEvents(changes));
  return result;
}

function startTransaction(request: Request): Reply {
  const { state, session, caller } = request;
  if (request.transaction) throw new XsError("EBUSY");
  if (!caller.privileged) state.quotas.check("transactions", session.domid, session.transactions.size + 1, "ENOSPC");
  let id = session.nextTransactionId;
  while (id === 0 || session.transactions.has(id)) id = (id + 1) >>> 0;
  session.nextTransactionId = (id + 1) >>> 0;
  const transaction = new TransactionView(state.tree, (touched) => {
    if (!caller.privileged) state.quotas.check("transaction-nodes", session.domid, touched, "ENOSPC");
  });
  session.transactions.set(id, transaction);
  return strings(String(id));
}

function endTransaction(request: Request): Reply {
  const commit = oneArg(request.message.payload);
  if (commit !== "T" && commit !== "F") throw new XsError("EINVAL");
  const { transaction } = request;
  if (!transaction) throw new XsError("ENOENT");
  request.session.transactions.delete(request.message.txId);
  if (commit === "T") {
    transaction.commit();
    append(request.fired, request.state.watchEvents(transaction.changes));
  }
  return "OK";
}

// Watches -------------------------------------------------------------------------

function addWatch(request: Request): Reply {
  const { state, session, caller } = request;
  const [name, token, depthText] = splitStrings(request.message.payload, 3);
  if (name === undefined || token === undefined) throw new XsError("EINVAL");
  if (depthText !== undefined && !/^\d+$/.test(depthText)) throw new XsError("EINVAL");
  const watch: Watch = { path: name, token, relative: false };
  if (depthText !== undefined) watch.depth = Number(depthText);
  if (name.startsWith("@")) {
    if (name.length > XENSTORE_REL_PATH_MAX) throw new XsError("EINVAL");
  } else {
    watch.relative = !name.startsWith("/");
    watch.path = state.nodeName(caller, name, true);
  }
  if (session.watches.has(watchKey(watch.path, token))) throw new XsError("EEXIST");
  if (!caller.privileged) state.quotas.check("watches", session.domid, session.watches.size + 1, "E2BIG");
  state.checkMemoryGrowth(caller, state.tree, session.domid, watchMemory(watch));
  state.addWatch(session, watch);
  // Every new watch fires once, after its ack.
  append(request.after, watchEvent(session, watch, watch.path));
  return "OK";
}

function removeWatch(request: Request): Reply {
  const { session } = request;
  const [name, token] = args(request.message.payload, 2);
  const path = name!.startsWith("@") ? name! : canonicalize(session.domid, name!);
  if (!request.state.removeWatch(session, path, token!)) throw new XsError("ENOENT");
  return "OK";
}

// The message set ---------------------------------------------------------------

const CONTROL_COMMANDS = ["check", "help", "log", "print"];

const HANDLERS = new Map<number, Handler>([
  [
    XsType.DIRECTORY,
    {
      run(request) {
        const path = nodeName(request, oneArg(request.message.payload));
        const { children } = treeOperation(request, (access) => directory(access, path));
        if (children.bytes > XENSTORE_PAYLOAD_MAX) throw new XsError("E2BIG");
        return textToBytes(children.listing());
      },
    },
  ],
  [
    XsType.DIRECTORY_PART,
    {
      run(request) {
        const [name, offsetText] = args(request.message.payload, 2);
        const path = nodeName(request, name!);
        const node = treeOperation(request, (access) => directory(access, path));
        const generation = `${node.generation}\0`;
        // The listing is made once per version of the child list, so each part costs its own bytes.
        const all = node.children.listing();
        const offset = Math.max(0, atoi(offsetText!));
        if (offset >= all.length) return textToBytes(`${generation}\0`);
        // Whole names from the offset (a name cut by it counts from there) while they fit, leaving room for the closing nul.
        let end = offset;
        while (end < all.length) {
          const next = all.indexOf("\0", end) + 1;
          if (generation.length + (next - offset) + 1 > XENSTORE_PAYLOAD_MAX) break;
          end = next;
        }
        const complete = end === all.length;
        return textToBytes(`${generation}${all.slice(offset, end)}${complete ? "\0" : ""}`);
      },
    },
  ],
  [
    XsType.READ,
    {
      run(request) {
        const path = nodeName(request, oneArg(request.message.payload));
        return treeOperation(request, (access) => readValue(access, path));
      },
    },
  ],
  [
    XsType.GET_PERMS,
    {
      run(request) {
        const name = oneArg(request.message.payload);
        let perms: readonly Perm[];
        if (name.startsWith("@")) {
          perms = request.state.specialPermsOf(name);
          if (!(accessFor(request.caller, perms) & PERM_READ)) throw new XsError("EACCES");
        } else {
          const path = nodeName(request, name);
          perms = treeOperation(request, (access) => getPerms(access, path));
        }
        return strings(...perms.map(permToString));
      },
    },
  ],
  [
    XsType.WRITE,
    {
      run(request) {
        const { payload } = request.message;
        const end = payload.indexOf(0);
        if (end < 0) throw new XsError("EINVAL");
        const path = nodeName(request, bytesToText(payload.subarray(0, end)));
        const value = payload.slice(end + 1);
        treeOperation(request, (access) => write(access, path, value));
        return "OK";
      },
    },
  ],
  [
    XsType.MKDIR,
    {
      run(request) {
        const path = nodeName(request, oneArg(request.message.payload));
        treeOperation(request, (access) => mkdir(access, path));
        return "OK";
      },
    },
  ],
  [
    XsType.RM,
    {
      run(request) {
        const path = nodeName(request, oneArg(request.message.payload));
        treeOperation(request, (access) => rm(access, path));
        return "OK";
      },
    },
  ],
  [
    XsType.SET_PERMS,
    {
      run(request) {
        const [name, ...texts] = splitStrings(request.message.payload, Number.MAX_SAFE_INTEGER);
        if (name === undefined || texts.length === 0) throw new XsError("EINVAL");
        const { state, caller } = request;
        if (!caller.privileged) state.quotas.check("permissions", caller.domid, texts.length, "ENOSPC");
        const perms = state.checkedPerms(caller, texts);
        if (name.startsWith("@")) {
          state.setSpecialPerms(caller, name, perms);
          return "OK";
        }
        const path = nodeName(request, name);
        treeOperation(request, (access) => setPerms(access, path, perms));
        return "OK";
      },
    },
  ],
  [XsType.WATCH, { run: addWatch, ignoresTransaction: true }],
  [XsType.UNWATCH, { run: removeWatch, ignoresTransaction: true }],
  [XsType.TRANSACTION_START, { run: startTransaction }],
  [XsType.TRANSACTION_END, { run: endTransaction }],
  [
    XsType.RESET_WATCHES,
    {
      run(request) {
        request.state.clearSession(request.session);
        return "OK";
      },
    },
  ],
  [
    XsType.GET_DOMAIN_PATH,
    {
      run(request) {
        return strings(domainPath(domidArg(request.message.payload)));
      },
    },
  ],
  [
    XsType.INTRODUCE,
    {
      privileged: true,
      run(request) {
        const [domidText, gfnText, portText] = args(request.message.payload, 3);
        append(request.fired, request.state.introduceDomain(atoi(domidText!), atoi(gfnText!), atoi(portText!)));
        return "OK";
      },
    },
  ],
  [
    XsType.RELEASE,
    {
      privileged: true,
      run(request) {
        const domid = domidArg(request.message.payload);
        if (domid === 0) throw new XsError("EINVAL");
        append(request.fired, request.state.releaseDomain(domid));
        return "OK";
      },
    },
  ],
  [
    XsType.IS_DOMAIN_INTRODUCED,
    {
      privileged: true,
      run(request) {
        return strings(request.state.isIntroduced(domidArg(request.message.payload)) ? "T" : "F");
      },
    },
  ],
  [
    XsType.RESUME,
    {
      privileged: true,
      run(request) {
        const domid = domidArg(request.message.payload);
        // As C's onearg_domain: dom0 is never released or resumed.
        if (domid === 0) throw new XsError("EINVAL");
        request.state.resumeDomain(domid);
        return "OK";
      },
    },
  ],
  [
    XsType.SET_TARGET,
    {
      privileged: true,
      run(request) {
        const [domidText, targetText] = args(request.message.payload, 2);
        request.state.setTarget(atoi(domidText!), atoi(targetText!));
        return "OK";
      },
    },
  ],
  [
    XsType.CONTROL,
    {
      privileged: true,
      run(request) {
        const [command, ...parameters] = splitStrings(request.message.payload, 16);
        switch (command) {
          case "help":
            return strings(CONTROL_COMMANDS.join("\n"));
          case "check":
          case "print":
            return "OK";
          case "log":
            if (parameters[0] !== "on" && parameters[0] !== "off") throw new XsError("EINVAL");
            return "OK";
          default:
            throw new XsError("EINVAL");
        }
      },
    },
  ],
  [
    XsType.GET_FEATURE,
    {
      privileged: true,
      run(request) {
        const [domidText] = splitStrings(request.message.payload, 1);
        const features = domidText === undefined ? SERVER_FEATURES : request.state.featuresOf(atoi(domidText));
        return strings(String(features));
      },
    },
  ],
  [
    XsType.SET_FEATURE,
    {
      privileged: true,
      run(request) {
        const [domidText, valueText] = args(request.message.payload, 2);
        request.state.setFeatures(atoi(domidText!), atoi(valueText!) >>> 0);
        return "OK";
      },
    },
  ],
  [
    XsType.GET_QUOTA,
    {
      privileged: true,
      run(request) {
        const { state } = request;
        const found = splitStrings(request.message.payload, 3);
        if (found.length > 2) throw new XsError("EINVAL");
        if (found.length === 0) return strings(state.quotas.names().join(" "));
        const [domid, name] = found.length === 2 ? [atoi(found[0]!), found[1]!] : [undefined, found[0]!];
        if (!isQuotaName(name)) throw new XsError("EINVAL");
        if (domid !== undefined && !state.domainExists(domid)) throw new XsError("ENOENT");
        return strings(String(state.quotas.get(name, domid)));
      },
    },
  ],
  [
    XsType.SET_QUOTA,
    {
      privileged: true,
      run(request) {
        const { state } = request;
        const found = splitStrings(request.message.payload, 4);
        if (found.length < 2 || found.length > 3) throw new XsError("EINVAL");
        const [domid, name, value] =
          found.length === 3 ? [atoi(found[0]!), found[1]!, found[2]!] : [undefined, found[0]!, found[1]!];
        if (!isQuotaName(name)) throw new XsError("EINVAL");
        if (domid !== undefined && !state.domainExists(domid)) throw new XsError("ENOENT");
        state.quotas.set(name, atoi(value) >>> 0, domid);
        return "OK";
      },
    },
  ],
]);
