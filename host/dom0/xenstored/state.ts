// What xenstored knows beyond one request: the tree, the quotas, the domains
// it has heard of, the special watches' permissions, and each connection's
// session (its watches and transactions). Requests (requests.ts) read and
// change it; nothing here does I/O. Watch events come out as deliveries for
// the connection layer (server.ts) to queue.
import { XsError } from "./errors.js";
import { canonicalize, depthBelow, domainPath, isChild, isValidName, parentOf } from "./paths.js";
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
} from "./perms.js";
import { Quotas } from "./quota.js";
import { type Change, CommittedTree, changeVisibleTo, type NodeView, type TransactionView } from "./store.js";
import { strings, XENSTORE_PAYLOAD_MAX, XENSTORE_SERVER_FEATURE, type XsMessage, XsType } from "./wire.js";

export const SERVER_FEATURES =
  XENSTORE_SERVER_FEATURE.RECONNECTION |
  XENSTORE_SERVER_FEATURE.ERROR |
  XENSTORE_SERVER_FEATURE.WATCHDEPTH |
  XENSTORE_SERVER_FEATURE.DOMID_ANY;

export const DOMID_FIRST_RESERVED = 0x7ff0;
const SPECIAL_WATCHES = ["@introduceDomain", "@releaseDomain"] as const;

/** How xenstored learns about domains from Xen and the transports. */
export interface DomainHooks {
  /** Whether Xen has this domain (C xenstored asks the hypervisor). Default: any non-reserved id. */
  domainExists?(domid: number): boolean;
  /** INTRODUCE: connect to the domain's store page and event channel; throw XsError to refuse. */
  introduce?(domid: number, gfn: number, port: number): void;
  /** RELEASE: disconnect the domain's transport. */
  release?(domid: number): void;
  /** A domain other than 0 with dom0's rights (xenstored --priv-domid). */
  privilegedDomid?: number;
}

export interface Watch {
  /** Canonical path or @special name. */
  path: string;
  token: string;
  relative: boolean;
  depth?: number;
}

/** Bytes a watch takes against its domain's memory quota, as C xenstored counts them. */
export function watchMemory(watch: Watch): number {
  return watch.path.length + watch.token.length;
}

/** The key of a watch in its session: a session has at most one watch per path and token (EEXIST). */
export function watchKey(path: string, token: string): string {
  return `${path}\0${token}`;
}

/**
 * What requests act on for one connection: its domain, its watches and its
 * open transactions. Watches change only through XenStoreState, which
 * indexes them by path.
 */
export class Session {
  /** By watchKey, in the order they were set. */
  readonly watches = new Map<string, Watch>();
  readonly transactions = new Map<number, TransactionView>();
  nextTransactionId = 1;
  /** When it joined its state (XenStoreState.addSession), which is the order its watch events go out in. */
  order = 0;

  constructor(readonly domid: number) {}
}

/** A watch with its session, as the path index holds it; `order` is the order watches were set in. */
interface IndexedWatch {
  session: Session;
  watch: Watch;
  order: number;
}

/** A watch event for one session. */
export interface Delivery {
  session: Session;
  message: XsMessage;
}

interface DomainRecord {
  introduced: boolean;
  /** Xen reported it shut down and @releaseDomain fired for that; XS_RESUME clears it. */
  shutdown: boolean;
  features: number;
  target?: number;
}

export class XenStoreState {
  readonly tree = new CommittedTree();
  readonly quotas = new Quotas();
  /** Every connection's session (addSession): their watches hear changes and count against their domain's memory. */
  readonly sessions = new Set<Session>();
  private sessionsAdded = 0;
  private readonly domains = new Map<number, DomainRecord>();
  /** Every session's watches by watched path, so a change looks only at its own path and its ancestors. */
  private readonly watchesByPath = new Map<string, Set<IndexedWatch>>();
  private readonly indexed = new Map<Watch, IndexedWatch>();
  private watchesSet = 0;
  /** Bytes of each domain's watches (their share of its memory quota). */
  private readonly watchBytes = new Map<number, number>();
  private readonly specialPerms = new Map<string, readonly Perm[]>(
    SPECIAL_WATCHES.map((name) => [name, [{ domid: 0, access: PERM_NONE }]]),
  );

  /**
   * `closeSessions` ends a released domain's sessions: the connection layer
   * closes their connections (each leaving `sessions`); by default they are
   * just forgotten.
   */
  constructor(
    private readonly hooks: DomainHooks = {},
    private readonly closeSessions = (domid: number): void => {
      for (const session of [...this.sessions]) {
        if (session.domid !== domid) continue;
        this.clearSession(session);
        this.sessions.delete(session);
      }
    },
  ) {}

  /** A connection's session joins: its watches fire after those of every session that joined before it. */
  addSession(session: Session): this {
    session.order = this.sessionsAdded++;
    this.sessions.add(session);
    return this;
  }

  isPrivileged(domid: number): boolean {
    return domid === 0 || domid === this.hooks.privilegedDomid;
  }

  callerOf(session: Session): Caller {
    return {
      domid: session.domid,
      privileged: this.isPrivileged(session.domid),
      target: this.domains.get(session.domid)?.target,
    };
  }

  // Domains -------------------------------------------------------------------

  isIntroduced(domid: number): boolean {
    return domid === 0 || this.domains.get(domid)?.introduced === true;
  }

  domainExists(domid: number): boolean {
    if (domid < 0 || domid >= DOMID_FIRST_RESERVED) return false;
    return this.isIntroduced(domid) || (this.hooks.domainExists?.(domid) ?? true);
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

  /** INTRODUCE: connects the domain's transport; the first introduction fires @introduceDomain. */
  introduceDomain(domid: number, gfn: number, port: number): Delivery[][] {
    if (domid <= 0 || domid >= DOMID_FIRST_RESERVED) throw new XsError("EINVAL");
    const record = this.domainRecord(domid);
    this.hooks.introduce?.(domid, gfn, port);
    if (record.introduced) return [];
    record.introduced = true;
    return this.specialEvents("@introduceDomain");
  }

  /** The domain is gone or released: its transport closes (with its sessions) and @releaseDomain fires. */
  releaseDomain(domid: number): Delivery[][] {
    const record = this.domains.get(domid);
    if (!record?.introduced) throw new XsError("ENOENT");
    this.domains.delete(domid);
    this.quotas.forget(domid);
    this.closeSessions(domid);
    this.hooks.release?.(domid);
    return this.specialEvents("@releaseDomain");
  }

  /**
   * Xen reports that the domain shut down (VIRQ_DOM_EXC; for suspend, say):
   * @releaseDomain fires, once, until XS_RESUME clears the flag. A domain
   * not introduced is not tracked, as C xenstored's domain_cleanup skips it.
   */
  domainShutdown(domid: number): Delivery[][] {
    if (!this.isIntroduced(domid)) return [];
    const record = this.domainRecord(domid);
    if (record.shutdown) return [];
    record.shutdown = true;
    return this.specialEvents("@releaseDomain");
  }

  /** XS_RESUME: a later shutdown of the domain fires @releaseDomain again. */
  resumeDomain(domid: number): void {
    if (!this.isIntroduced(domid)) throw new XsError("ENOENT");
    this.domainRecord(domid).shutdown = false;
  }

  setTarget(domid: number, target: number): void {
    if (!this.isIntroduced(domid) || !this.domainExists(target)) throw new XsError("ENOENT");
    this.domainRecord(domid).target = target;
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

  // Permissions and quotas ----------------------------------------------------

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

  /** A canonical, valid node (or, for a watch, @special) name for this caller, or EINVAL. */
  nodeName(caller: Caller, name: string, watch = false): string {
    const canonical = canonicalize(caller.domid, name);
    const relativeLimit = caller.privileged ? undefined : this.quotas.get("path-max", caller.domid) || undefined;
    if (!isValidName(canonical, watch, relativeLimit)) throw new XsError("EINVAL");
    return canonical;
  }

  /** Bytes domain `domid` holds: its nodes as `view` has them, and its sessions' watches. */
  memoryUsedBy(domid: number, view: NodeView = this.tree): number {
    return view.memoryOf(domid) + (this.watchBytes.get(domid) ?? 0);
  }

  /** The memory quota binds an unprivileged caller adding bytes to an unprivileged domain (ENOMEM). */
  checkMemoryGrowth(caller: Caller, view: NodeView, domid: number, bytes: number): void {
    if (caller.privileged || this.isPrivileged(domid)) return;
    this.quotas.checkMemory(domid, this.memoryUsedBy(domid, view) + bytes);
  }

  // Watches -------------------------------------------------------------------

  addWatch(session: Session, watch: Watch): void {
    const entry = { session, watch, order: this.watchesSet++ };
    session.watches.set(watchKey(watch.path, watch.token), watch);
    this.indexed.set(watch, entry);
    let atPath = this.watchesByPath.get(watch.path);
    if (!atPath) this.watchesByPath.set(watch.path, (atPath = new Set()));
    atPath.add(entry);
    this.addWatchBytes(session.domid, watchMemory(watch));
  }

  /** Removes the session's watch on `path` with `token`; false if it has none. */
  removeWatch(session: Session, path: string, token: string): boolean {
    const key = watchKey(path, token);
    const watch = session.watches.get(key);
    if (!watch) return false;
    session.watches.delete(key);
    const entry = this.indexed.get(watch)!;
    this.indexed.delete(watch);
    const atPath = this.watchesByPath.get(path)!;
    atPath.delete(entry);
    if (atPath.size === 0) this.watchesByPath.delete(path);
    this.addWatchBytes(session.domid, -watchMemory(watch));
    return true;
  }

  /** Forgets the session's watches and transactions (XS_RESET_WATCHES, a reconnection, a closed connection). */
  clearSession(session: Session): void {
    for (const watch of [...session.watches.values()]) this.removeWatch(session, watch.path, watch.token);
    session.transactions.clear();
  }

  private addWatchBytes(domid: number, bytes: number): void {
    const total = (this.watchBytes.get(domid) ?? 0) + bytes;
    if (total === 0) this.watchBytes.delete(domid);
    else this.watchBytes.set(domid, total);
  }

  // Watch events --------------------------------------------------------------

  /**
   * The events each change fires, one batch per change: every session's
   * matching watches it may see, sessions in the order they were made and
   * each one's watches in the order they were set. Only the watches on the
   * changed path and its ancestors are looked at.
   */
  watchEvents(changes: readonly Change[]): Delivery[][] {
    return changes.map((change) => {
      const matching: IndexedWatch[] = [];
      for (const path of watchedPaths(change)) {
        for (const entry of this.watchesByPath.get(path) ?? []) {
          if (this.sessions.has(entry.session) && watchMatches(entry.watch, change)) matching.push(entry);
        }
      }
      matching.sort((a, b) => a.session.order - b.session.order || a.order - b.order);
      const batch: Delivery[] = [];
      let session: Session | undefined;
      let visible = false;
      for (const { session: owner, watch } of matching) {
        if (owner !== session) {
          session = owner;
          visible = changeVisibleTo(this.callerOf(owner), change);
        }
        if (visible) for (const event of watchEvent(owner, watch, change.path)) batch.push(event);
      }
      return batch;
    });
  }

  /** @introduceDomain / @releaseDomain go to privileged sessions and those SET_PERMS allowed to read them. */
  private specialEvents(name: (typeof SPECIAL_WATCHES)[number]): Delivery[][] {
    return this.watchEvents([{ path: name, exact: false, visibleUnder: [this.specialPerms.get(name)!] }]);
  }
}

/** The paths whose watches may match `change`: its own and, unless it is exact, every ancestor (/ for @names). */
function* watchedPaths(change: Change): Generator<string> {
  yield change.path;
  if (change.exact) return;
  for (let path = change.path; path !== "/"; ) {
    path = path.startsWith("@") ? "/" : parentOf(path);
    yield path;
  }
}

function watchMatches(watch: Watch, change: Change): boolean {
  if (change.exact) return watch.path === change.path;
  if (!isChild(change.path, watch.path)) return false;
  return watch.depth === undefined || depthBelow(change.path, watch.path) <= watch.depth;
}

/** The event `watch` fires for `path`; none when path and token do not fit in one message (the event is lost). */
export function watchEvent(session: Session, watch: Watch, path: string): Delivery[] {
  const prefix = `${domainPath(session.domid)}/`;
  const shown = watch.relative && path.startsWith(prefix) ? path.slice(prefix.length) : path;
  const payload = strings(shown, watch.token);
  if (payload.length > XENSTORE_PAYLOAD_MAX) return [];
  return [{ session, message: { type: XsType.WATCH_EVENT, reqId: 0, txId: 0, payload } }];
}
