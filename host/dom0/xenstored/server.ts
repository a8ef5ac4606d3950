// Request processing: connections (a domain id and a way to send bytes), the
// whole message set, watches and transactions per connection, domain records.
// No I/O here; transports (socket, ring) feed bytes in and carry bytes out.
import { XsError } from "./errors.js";
import { canonicalize, depthBelow, domainPath, isChild, isValidName } from "./paths.js";
import {
  accessFor,
  type Caller,
  DOMID_ANY,
  PERM_NONE,
  PERM_OWNER,
  PERM_READ,
  PERM_WRITE,
  type Perm,
  permFromString,
  permToString,
} from "./perms.js";
import { isQuotaName, Quotas } from "./quota.js";
import {
  type Change,
  CommittedTree,
  changeVisibleTo,
  directory,
  getPerms,
  mkdir,
  type NodeView,
  readValue,
  rm,
  setPerms,
  TransactionView,
  type TreeAccess,
  write,
} from "./store.js";
import {
  bytesToText,
  encodeMessage,
  MessageDecoder,
  strings,
  textToBytes,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
  XENSTORE_SERVER_FEATURE,
  type XsMessage,
  XsType,
} from "./wire.js";

export const SERVER_FEATURES =
  XENSTORE_SERVER_FEATURE.RECONNECTION |
  XENSTORE_SERVER_FEATURE.ERROR |
  XENSTORE_SERVER_FEATURE.WATCHDEPTH |
  XENSTORE_SERVER_FEATURE.DOMID_ANY;

const DOMID_FIRST_RESERVED = 0x7ff0;
const SPECIAL_WATCHES = ["@introduceDomain", "@releaseDomain"] as const;

export interface XenStoredOptions {
  /** Whether Xen has this domain (C xenstored asks the hypervisor). Default: any non-reserved id. */
  domainExists?(domid: number): boolean;
  /** INTRODUCE: connect to the domain's store page and event channel; throw XsError to refuse. */
  introduce?(domid: number, gfn: number, port: number): void;
  /** RELEASE: disconnect the domain's transport. */
  release?(domid: number): void;
  /** A domain other than 0 with dom0's rights (xenstored --priv-domid). */
  privilegedDomid?: number;
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

interface Watch {
  /** Canonical path or @special name. */
  path: string;
  token: string;
  relative: boolean;
  depth?: number;
}

/** Bytes a watch takes against its domain's memory quota, as C xenstored counts them. */
function watchMemory(watch: Watch): number {
  return watch.path.length + watch.token.length;
}

interface DomainRecord {
  introduced: boolean;
  /** Xen reported it shut down and @releaseDomain fired for that; XS_RESUME clears it. */
  shutdown: boolean;
  features: number;
  target?: number;
}

export class Connection {
  readonly decoder = new MessageDecoder();
  readonly watches: Watch[] = [];
  readonly transactions = new Map<number, TransactionView>();
  nextTransactionId = 1;
  closed = false;
  /** Encoded replies and events not yet taken by the transport. */
  readonly outbox: { bytes: Uint8Array; event: boolean }[] = [];
  /** Whole requests waiting while too many replies are outstanding. */
  readonly inbox: XsMessage[] = [];

  constructor(
    readonly domid: number,
    readonly send: SendBytes,
    readonly onClose: () => void,
  ) {}

  get queuedEvents(): number {
    return this.outbox.filter((message) => message.event).length;
  }
}

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

interface Request {
  conn: Connection;
  caller: Caller;
  message: XsMessage;
  transaction: TransactionView | undefined;
}

type Reply = Uint8Array | "OK";

interface Handler {
  run(this: XenStored, request: Request): Reply;
  privileged?: boolean;
  /** WATCH and UNWATCH ignore the header's tx_id. */
  ignoresTransaction?: boolean;
}

export class XenStored {
  readonly tree = new CommittedTree();
  readonly quotas = new Quotas();
  private readonly connections = new Set<Connection>();
  private readonly domains = new Map<number, DomainRecord>();
  private readonly specialPerms = new Map<string, readonly Perm[]>(
    SPECIAL_WATCHES.map((name) => [name, [{ domid: 0, access: PERM_NONE }]]),
  );

  constructor(private readonly options: XenStoredOptions = {}) {}

  /** A new connection for `domid` (0 for dom0's tools on the socket). */
  connect(domid: number, send: SendBytes, onClose: () => void = () => {}): Connection {
    const conn = new Connection(domid, send, onClose);
    this.connections.add(conn);
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
    conn.inbox.push(...messages);
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
    conn.onClose();
  }

  /** Drops partial input, queued output, watches and transactions (xenstore-ring.txt's reconnection). */
  reset(conn: Connection): void {
    conn.decoder.reset();
    conn.inbox.length = 0;
    conn.outbox.length = 0;
    conn.watches.length = 0;
    conn.transactions.clear();
  }

  isIntroduced(domid: number): boolean {
    return domid === 0 || this.domains.get(domid)?.introduced === true;
  }

  /** The domain is gone or released: its connections close and @releaseDomain fires. */
  releaseDomain(domid: number): void {
    const record = this.domains.get(domid);
    if (!record?.introduced) throw new XsError("ENOENT");
    this.domains.delete(domid);
    this.quotas.forget(domid);
    for (const conn of [...this.connections]) if (conn.domid === domid) this.disconnect(conn);
    this.options.release?.(domid);
    this.fireSpecial("@releaseDomain");
  }

  /**
   * Xen reports that the domain shut down (VIRQ_DOM_EXC; for suspend, say):
   * @releaseDomain fires, once, until XS_RESUME clears the flag. A domain
   * not introduced is not tracked, as C xenstored's domain_cleanup skips it.
   */
  domainShutdown(domid: number): void {
    if (!this.isIntroduced(domid)) return;
    const record = this.domainRecord(domid);
    if (record.shutdown) return;
    record.shutdown = true;
    this.fireSpecial("@releaseDomain");
  }

  /** XS_RESUME: a later shutdown of the domain fires @releaseDomain again. */
  resumeDomain(domid: number): void {
    if (!this.isIntroduced(domid)) throw new XsError("ENOENT");
    this.domainRecord(domid).shutdown = false;
  }

  /** Bytes domain `domid` holds: its nodes as `view` has them, and its connections' watches. */
  memoryUsedBy(domid: number, view: NodeView = this.tree): number {
    let watchBytes = 0;
    for (const conn of this.connections) {
      if (conn.domid === domid) for (const watch of conn.watches) watchBytes += watchMemory(watch);
    }
    return view.memoryOf(domid) + watchBytes;
  }

  /** The memory quota binds an unprivileged caller adding bytes to an unprivileged domain (ENOMEM). */
  private checkMemoryGrowth(caller: Caller, view: NodeView, domid: number, bytes: number): void {
    if (caller.privileged || this.isPrivileged(domid)) return;
    this.quotas.checkMemory(domid, this.memoryUsedBy(domid, view) + bytes);
  }

  private isPrivileged(domid: number): boolean {
    return domid === 0 || domid === this.options.privilegedDomid;
  }

  private callerOf(conn: Connection): Caller {
    return {
      domid: conn.domid,
      privileged: this.isPrivileged(conn.domid),
      target: this.domains.get(conn.domid)?.target,
    };
  }

  domainExists(domid: number): boolean {
    if (domid < 0 || domid >= DOMID_FIRST_RESERVED) return false;
    return this.isIntroduced(domid) || (this.options.domainExists?.(domid) ?? true);
  }

  /** The domain's record, created on first mention as C's find_or_alloc_existing_domain does. */
  private domainRecord(domid: number): DomainRecord {
    if (!this.domainExists(domid)) throw new XsError("ENOENT");
    let record = this.domains.get(domid);
    if (!record) {
      record = { introduced: domid === 0, shutdown: false, features: SERVER_FEATURES };
      this.domains.set(domid, record);
    }
    return record;
  }

  private processInbox(conn: Connection): void {
    const limit = this.isPrivileged(conn.domid) ? 0 : this.quotas.get("outstanding", conn.domid);
    while (conn.inbox.length > 0 && !conn.closed) {
      if (limit !== 0 && conn.outbox.length >= limit) return;
      this.process(conn, conn.inbox.shift()!);
      this.flushOutbox(conn);
    }
  }

  private flushOutbox(conn: Connection): void {
    while (conn.outbox.length > 0 && !conn.closed) {
      if (conn.send(conn.outbox[0]!.bytes) === false) return;
      conn.outbox.shift();
    }
  }

  private queue(conn: Connection, message: XsMessage, event = false): void {
    conn.outbox.push({ bytes: encodeMessage(message), event });
  }

  private process(conn: Connection, message: XsMessage): void {
    const reply = (type: number, payload: Uint8Array) => {
      const answer = { type, reqId: message.reqId, txId: message.txId, payload };
      this.options.trace?.(conn.domid, message, answer);
      this.queue(conn, answer);
    };
    try {
      const handler = HANDLERS.get(message.type);
      if (!handler) throw new XsError("ENOSYS");
      const caller = this.callerOf(conn);
      if (handler.privileged && !caller.privileged) throw new XsError("EACCES");
      let transaction: TransactionView | undefined;
      if (!handler.ignoresTransaction && message.txId !== 0) {
        transaction = conn.transactions.get(message.txId);
        if (!transaction) throw new XsError("ENOENT");
      }
      const result = handler.run.call(this, { conn, caller, message, transaction });
      if (result !== NO_REPLY) reply(message.type, result === "OK" ? strings("OK") : result);
    } catch (error) {
      if (!(error instanceof XsError)) throw error;
      reply(XsType.ERROR, strings(error.errorName));
    }
  }

  // Tree operations ------------------------------------------------------------

  /** A canonical, valid node name for this caller, or EINVAL. */
  nodeName(caller: Caller, name: string): string {
    const canonical = canonicalize(caller.domid, name);
    const relativeLimit = caller.privileged ? undefined : this.quotas.get("path-max", caller.domid) || undefined;
    if (!isValidName(canonical, false, relativeLimit)) throw new XsError("EINVAL");
    return canonical;
  }

  /** Runs a tree operation in the request's transaction or on the committed tree; announces its changes. */
  treeOperation<T>(request: Request, operation: (access: TreeAccess) => T): T {
    const { caller, transaction } = request;
    const changes: Change[] = [];
    const view = transaction ?? this.tree;
    const checkMemoryGrowth = (domid: number, bytes: number) => this.checkMemoryGrowth(caller, view, domid, bytes);
    const result = operation({ view, caller, quotas: this.quotas, changes, checkMemoryGrowth });
    if (transaction) transaction.changes.push(...changes);
    else this.fire(changes);
    return result;
  }

  startTransaction(request: Request): Reply {
    const { conn, caller } = request;
    if (request.transaction) throw new XsError("EBUSY");
    if (!caller.privileged) this.quotas.check("transactions", conn.domid, conn.transactions.size + 1, "ENOSPC");
    let id = conn.nextTransactionId;
    while (id === 0 || conn.transactions.has(id)) id = (id + 1) >>> 0;
    conn.nextTransactionId = (id + 1) >>> 0;
    const transaction = new TransactionView(this.tree, (touched) => {
      if (!caller.privileged) this.quotas.check("transaction-nodes", conn.domid, touched, "ENOSPC");
    });
    conn.transactions.set(id, transaction);
    return strings(String(id));
  }

  endTransaction(request: Request): Reply {
    const commit = oneArg(request.message.payload);
    if (commit !== "T" && commit !== "F") throw new XsError("EINVAL");
    const { transaction } = request;
    if (!transaction) throw new XsError("ENOENT");
    request.conn.transactions.delete(request.message.txId);
    if (commit === "T") {
      transaction.commit();
      this.fire(transaction.changes);
    }
    return "OK";
  }

  // Watches -------------------------------------------------------------------

  addWatch(request: Request): Reply {
    const { conn, caller } = request;
    const [name, token, depthText] = splitStrings(request.message.payload, 3);
    if (name === undefined || token === undefined) throw new XsError("EINVAL");
    if (depthText !== undefined && !/^\d+$/.test(depthText)) throw new XsError("EINVAL");
    const watch: Watch = { path: name, token, relative: false };
    if (depthText !== undefined) watch.depth = Number(depthText);
    if (name.startsWith("@")) {
      if (name.length > XENSTORE_REL_PATH_MAX) throw new XsError("EINVAL");
    } else {
      watch.relative = !name.startsWith("/");
      watch.path = canonicalize(conn.domid, name);
      const relativeLimit = caller.privileged ? undefined : this.quotas.get("path-max", conn.domid) || undefined;
      if (!isValidName(watch.path, true, relativeLimit)) throw new XsError("EINVAL");
    }
    if (conn.watches.some((other) => other.path === watch.path && other.token === token)) throw new XsError("EEXIST");
    if (!caller.privileged) this.quotas.check("watches", conn.domid, conn.watches.length + 1, "E2BIG");
    this.checkMemoryGrowth(caller, this.tree, conn.domid, watchMemory(watch));
    conn.watches.push(watch);
    // The ack goes first, then the event every new watch fires once.
    this.queue(conn, {
      type: XsType.WATCH,
      reqId: request.message.reqId,
      txId: request.message.txId,
      payload: strings("OK"),
    });
    this.queueEvent(conn, watch, watch.path);
    return NO_REPLY;
  }

  removeWatch(request: Request): Reply {
    const { conn } = request;
    const [name, token] = args(request.message.payload, 2);
    const path = name!.startsWith("@") ? name! : canonicalize(conn.domid, name!);
    const index = conn.watches.findIndex((watch) => watch.path === path && watch.token === token);
    if (index < 0) throw new XsError("ENOENT");
    conn.watches.splice(index, 1);
    return "OK";
  }

  private queueEvent(conn: Connection, watch: Watch, path: string): void {
    const maxQueued = this.options.maxQueuedWatchEvents ?? 1024;
    if (!this.isPrivileged(conn.domid) && conn.queuedEvents >= maxQueued) return;
    const prefix = `${domainPath(conn.domid)}/`;
    const shown = watch.relative && path.startsWith(prefix) ? path.slice(prefix.length) : path;
    const payload = strings(shown, watch.token);
    // A long path under a watch with a long token cannot be sent in one message; the event is lost.
    if (payload.length > XENSTORE_PAYLOAD_MAX) return;
    this.queue(conn, { type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload }, true);
  }

  private watchMatches(watch: Watch, change: Change): boolean {
    if (change.exact) return watch.path === change.path;
    if (!isChild(change.path, watch.path)) return false;
    return watch.depth === undefined || depthBelow(change.path, watch.path) <= watch.depth;
  }

  private fire(changes: readonly Change[]): void {
    for (const change of changes) {
      for (const conn of this.connections) {
        // Matching first: it is cheaper than the permission check, and most connections watch elsewhere.
        const matching = conn.watches.filter((watch) => this.watchMatches(watch, change));
        if (matching.length === 0 || !changeVisibleTo(this.callerOf(conn), change)) continue;
        for (const watch of matching) this.queueEvent(conn, watch, change.path);
      }
      for (const conn of this.connections) this.flushOutbox(conn);
    }
  }

  /** @introduceDomain / @releaseDomain go to privileged connections and those SET_PERMS allowed to read them. */
  private fireSpecial(name: (typeof SPECIAL_WATCHES)[number]): void {
    this.fire([{ path: name, exact: false, visibleUnder: [this.specialPerms.get(name)!] }]);
  }

  // Domains -------------------------------------------------------------------

  introduce(request: Request): Reply {
    const [domidText, gfnText, portText] = args(request.message.payload, 3);
    const domid = atoi(domidText!);
    if (domid <= 0 || domid >= DOMID_FIRST_RESERVED) throw new XsError("EINVAL");
    const record = this.domainRecord(domid);
    this.options.introduce?.(domid, atoi(gfnText!), atoi(portText!));
    if (!record.introduced) {
      record.introduced = true;
      this.fireSpecial("@introduceDomain");
    }
    return "OK";
  }

  setTarget(request: Request): Reply {
    const [domidText, targetText] = args(request.message.payload, 2);
    const domid = atoi(domidText!);
    const target = atoi(targetText!);
    if (!this.isIntroduced(domid) || !this.domainExists(target)) throw new XsError("ENOENT");
    this.domainRecord(domid).target = target;
    return "OK";
  }

  specialPermsOf(name: string): readonly Perm[] {
    const perms = this.specialPerms.get(name);
    if (!perms) throw new XsError("ENOENT");
    return perms;
  }

  setSpecialPerms(caller: Caller, name: string, perms: readonly Perm[]): void {
    const current = this.specialPermsOf(name);
    if (!caller.privileged && accessFor(caller, current) !== (PERM_READ | PERM_WRITE | PERM_OWNER))
      throw new XsError("EACCES");
    this.specialPerms.set(name, perms);
  }

  featuresOf(domid: number): number {
    return this.domainRecord(domid).features;
  }

  setFeatures(domid: number, features: number): void {
    if ((features & ~SERVER_FEATURES) !== 0) throw new XsError("EINVAL");
    const record = this.domainRecord(domid);
    if (record.introduced) throw new XsError("EBUSY");
    record.features = features;
  }

  /** Permission entries for domains Xen does not have are dropped; an unknown owner is ENOENT. */
  checkedPerms(caller: Caller, texts: string[]): Perm[] {
    const perms = texts.map(permFromString);
    if (perms[0]!.domid !== DOMID_ANY && !this.domainExists(perms[0]!.domid)) throw new XsError("ENOENT");
    const callerFeatures = this.domains.get(caller.domid)?.features ?? SERVER_FEATURES;
    return perms.filter((perm, index) => {
      if (index === 0) return true;
      if (perm.domid === DOMID_ANY) return (callerFeatures & XENSTORE_SERVER_FEATURE.DOMID_ANY) !== 0;
      return this.domainExists(perm.domid);
    });
  }
}

/** Marks a handler that queued its own reply (WATCH: ack, then the initial event). */
const NO_REPLY = new Uint8Array(0);

function domidArg(payload: Uint8Array): number {
  return atoi(oneArg(payload));
}

function joinNames(names: readonly string[]): Uint8Array {
  return textToBytes(names.map((name) => `${name}\0`).join(""));
}

const HANDLERS = new Map<number, Handler>([
  [
    XsType.DIRECTORY,
    {
      run(request) {
        const path = this.nodeName(request.caller, oneArg(request.message.payload));
        const payload = joinNames(this.treeOperation(request, (access) => directory(access, path)).children);
        if (payload.length > XENSTORE_PAYLOAD_MAX) throw new XsError("E2BIG");
        return payload;
      },
    },
  ],
  [
    XsType.DIRECTORY_PART,
    {
      run(request) {
        const [name, offsetText] = args(request.message.payload, 2);
        const path = this.nodeName(request.caller, name!);
        const node = this.treeOperation(request, (access) => directory(access, path));
        const generation = `${node.generation}\0`;
        const all = bytesToText(joinNames(node.children));
        const offset = Math.max(0, atoi(offsetText!));
        if (offset >= all.length) return textToBytes(`${generation}\0`);
        // Whole names from the offset while they fit, leaving room for the closing nul.
        let part = "";
        for (const child of all.slice(offset).split("\0").slice(0, -1)) {
          if (generation.length + part.length + child.length + 2 > XENSTORE_PAYLOAD_MAX) break;
          part += `${child}\0`;
        }
        const complete = offset + part.length === all.length;
        return textToBytes(`${generation}${part}${complete ? "\0" : ""}`);
      },
    },
  ],
  [
    XsType.READ,
    {
      run(request) {
        const path = this.nodeName(request.caller, oneArg(request.message.payload));
        return this.treeOperation(request, (access) => readValue(access, path));
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
          perms = this.specialPermsOf(name);
          if (!(accessFor(request.caller, perms) & PERM_READ)) throw new XsError("EACCES");
        } else {
          const path = this.nodeName(request.caller, name);
          perms = this.treeOperation(request, (access) => getPerms(access, path));
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
        const path = this.nodeName(request.caller, bytesToText(payload.subarray(0, end)));
        const value = payload.slice(end + 1);
        this.treeOperation(request, (access) => write(access, path, value));
        return "OK";
      },
    },
  ],
  [
    XsType.MKDIR,
    {
      run(request) {
        const path = this.nodeName(request.caller, oneArg(request.message.payload));
        this.treeOperation(request, (access) => mkdir(access, path));
        return "OK";
      },
    },
  ],
  [
    XsType.RM,
    {
      run(request) {
        const path = this.nodeName(request.caller, oneArg(request.message.payload));
        this.treeOperation(request, (access) => rm(access, path));
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
        const { caller } = request;
        if (!caller.privileged) this.quotas.check("permissions", caller.domid, texts.length, "ENOSPC");
        const perms = this.checkedPerms(caller, texts);
        if (name.startsWith("@")) {
          this.setSpecialPerms(caller, name, perms);
          return "OK";
        }
        const path = this.nodeName(caller, name);
        this.treeOperation(request, (access) => setPerms(access, path, perms));
        return "OK";
      },
    },
  ],
  [XsType.WATCH, { run: XenStored.prototype.addWatch, ignoresTransaction: true }],
  [XsType.UNWATCH, { run: XenStored.prototype.removeWatch, ignoresTransaction: true }],
  [XsType.TRANSACTION_START, { run: XenStored.prototype.startTransaction }],
  [XsType.TRANSACTION_END, { run: XenStored.prototype.endTransaction }],
  [
    XsType.RESET_WATCHES,
    {
      run(request) {
        request.conn.watches.length = 0;
        request.conn.transactions.clear();
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
  [XsType.INTRODUCE, { run: XenStored.prototype.introduce, privileged: true }],
  [
    XsType.RELEASE,
    {
      privileged: true,
      run(request) {
        const domid = domidArg(request.message.payload);
        if (domid === 0) throw new XsError("EINVAL");
        this.releaseDomain(domid);
        return "OK";
      },
    },
  ],
  [
    XsType.IS_DOMAIN_INTRODUCED,
    {
      privileged: true,
      run(request) {
        return strings(this.isIntroduced(domidArg(request.message.payload)) ? "T" : "F");
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
        this.resumeDomain(domid);
        return "OK";
      },
    },
  ],
  [XsType.SET_TARGET, { run: XenStored.prototype.setTarget, privileged: true }],
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
        const features = domidText === undefined ? SERVER_FEATURES : this.featuresOf(atoi(domidText));
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
        this.setFeatures(atoi(domidText!), atoi(valueText!) >>> 0);
        return "OK";
      },
    },
  ],
  [
    XsType.GET_QUOTA,
    {
      privileged: true,
      run(request) {
        const found = splitStrings(request.message.payload, 3);
        if (found.length > 2) throw new XsError("EINVAL");
        if (found.length === 0) return strings(this.quotas.names().join(" "));
        const [domid, name] = found.length === 2 ? [atoi(found[0]!), found[1]!] : [undefined, found[0]!];
        if (!isQuotaName(name)) throw new XsError("EINVAL");
        if (domid !== undefined && !this.domainExists(domid)) throw new XsError("ENOENT");
        return strings(String(this.quotas.get(name, domid)));
      },
    },
  ],
  [
    XsType.SET_QUOTA,
    {
      privileged: true,
      run(request) {
        const found = splitStrings(request.message.payload, 4);
        if (found.length < 2 || found.length > 3) throw new XsError("EINVAL");
        const [domid, name, value] =
          found.length === 3 ? [atoi(found[0]!), found[1]!, found[2]!] : [undefined, found[0]!, found[1]!];
        if (!isQuotaName(name)) throw new XsError("EINVAL");
        if (domid !== undefined && !this.domainExists(domid)) throw new XsError("ENOENT");
        this.quotas.set(name, atoi(value) >>> 0, domid);
        return "OK";
      },
    },
  ],
]);

const CONTROL_COMMANDS = ["check", "help", "log", "print"];
