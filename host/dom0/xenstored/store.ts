// The tree and its operations, with C xenstored's semantics (docs/misc/xenstore.txt):
// implicit parents, inherited permissions, EACCES/ENOENT as errno_from_parents
// decides, quotas. Operations run on a NodeView, which is either the committed
// tree or a transaction's view of it, so each is written once.
import { XsError } from "./errors.js";
import { baseName, childPath, parentOf } from "./paths.js";
import { accessFor, type Caller, PERM_NONE, PERM_OWNER, PERM_READ, PERM_WRITE, type Perm } from "./perms.js";
import type { Quotas } from "./quota.js";
import type { XsErrorName } from "./wire.js";

export interface XsNode {
  readonly value: Uint8Array;
  readonly perms: readonly Perm[];
  /** Child names in creation order, as DIRECTORY returns them. */
  readonly children: ChildList;
  /** Bumped on every change of the node (value, perms or child list). */
  readonly generation: number;
}

export type NodeContents = Omit<XsNode, "generation">;

export interface NodeView {
  get(path: string): XsNode | undefined;
  put(path: string, node: NodeContents): void;
  remove(path: string): void;
  /** Nodes owned by `domid` (the "nodes" quota). */
  ownedBy(domid: number): number;
  /** Bytes of the nodes owned by `domid` (its share of the "memory" quota). */
  memoryOf(domid: number): number;
}

/**
 * The slots a line of ChildList versions shares: each made from the newest
 * by adding (a slot appended) or removing (its slots stamped with the
 * version that removed them). Older versions keep seeing what they saw: a
 * slot below their end not removed by them or before.
 */
class Lineage {
  readonly names: string[] = [];
  /** The stamp of the version that removed each slot (Infinity while none did). */
  readonly removedBy: number[] = [];
  /**
   * The slots of each name in the newest version (more than one only in a
   * transaction's inconsistent view), made at the first removal: most lists
   * only ever grow.
   */
  slotsOf: Map<string, number[]> | undefined;
  /** The newest version's stamp. */
  newest = 0;
  /** Slots removed so far: once they outnumber the names left, the next version starts a lineage of its own. */
  removed = 0;
}

/**
 * A node's child names in creation order, persistent: every version stays as
 * it was, so the committed tree and each transaction hold their own version
 * of a parent. Adding or removing a name in the newest version of its
 * lineage costs O(1) amortised (no copy); doing it to an older one (a
 * transaction's, after the committed tree moved on) copies the names into a
 * lineage of its own. The listing DIRECTORY and DIRECTORY_PART send is made
 * once per version.
 */
export class ChildList implements Iterable<string> {
  static readonly EMPTY = new ChildList(new Lineage(), 0, 0, 0, 0);
  /** Names read from slots so far, by every list: the cost tests bound it (test/dom0/xenstored-children.test.ts). */
  static namesVisited = 0;
  private listingText: string | undefined;

  private constructor(
    private readonly lineage: Lineage,
    private readonly stamp: number,
    /** The slots below this are this version's, unless removed by it or before. */
    private readonly end: number,
    readonly length: number,
    /** The names' bytes with a nul after each, as DIRECTORY sends them and the node-size quota counts them. */
    readonly bytes: number,
  ) {}

  static of(names: readonly string[]): ChildList {
    const lineage = new Lineage();
    let bytes = 0;
    for (const name of names) {
      addSlot(lineage, name);
      bytes += name.length + 1;
    }
    return new ChildList(lineage, 0, names.length, names.length, bytes);
  }

  with(name: string): ChildList {
    if (!this.isNewest()) return ChildList.of([...this, name]);
    const { lineage } = this;
    addSlot(lineage, name);
    return new ChildList(
      lineage,
      ++lineage.newest,
      lineage.names.length,
      this.length + 1,
      this.bytes + name.length + 1,
    );
  }

  /** Without every occurrence of `name`; this same list if it has none. */
  without(name: string): ChildList {
    if (!this.isNewest()) {
      const names = [...this].filter((child) => child !== name);
      return names.length === this.length ? this : ChildList.of(names);
    }
    const { lineage } = this;
    if (!lineage.slotsOf) {
      lineage.slotsOf = new Map();
      ChildList.namesVisited += this.end;
      for (let slot = 0; slot < this.end; slot++) if (lineage.removedBy[slot]! > this.stamp) indexSlot(lineage, slot);
    }
    const slots = lineage.slotsOf.get(name);
    if (!slots) return this;
    const stamp = ++lineage.newest;
    for (const slot of slots) lineage.removedBy[slot] = stamp;
    lineage.slotsOf.delete(name);
    lineage.removed += slots.length;
    const length = this.length - slots.length;
    const bytes = this.bytes - slots.length * (name.length + 1);
    const list = new ChildList(lineage, stamp, this.end, length, bytes);
    // Dropping the removed slots costs the names left, no more than the removals since the last time.
    return lineage.removed > length ? ChildList.of([...list]) : list;
  }

  /** The names with a nul after each, one char per byte (DIRECTORY's payload as text); made once per version. */
  listing(): string {
    this.listingText ??= Array.from(this, (name) => `${name}\0`).join("");
    return this.listingText;
  }

  *[Symbol.iterator](): Iterator<string> {
    const { names, removedBy } = this.lineage;
    ChildList.namesVisited += this.end;
    for (let slot = 0; slot < this.end; slot++) if (removedBy[slot]! > this.stamp) yield names[slot]!;
  }

  /** Whether this is the newest version of its lineage (the empty list never is: each list grown from it starts one). */
  private isNewest(): boolean {
    return this.length > 0 && this.stamp === this.lineage.newest;
  }
}

function addSlot(lineage: Lineage, name: string): void {
  lineage.names.push(name);
  lineage.removedBy.push(Number.POSITIVE_INFINITY);
  if (lineage.slotsOf) indexSlot(lineage, lineage.names.length - 1);
}

/** Records `slot` in slotsOf (which the caller made). */
function indexSlot(lineage: Lineage, slot: number): void {
  const name = lineage.names[slot]!;
  const slots = lineage.slotsOf!.get(name);
  if (slots) slots.push(slot);
  else lineage.slotsOf!.set(name, [slot]);
}

/** What a domain's nodes take: how many, and their bytes as `nodeMemory` counts them. */
interface OwnerUsage {
  nodes: number;
  memory: number;
}

/** Adds `nodes` and `memory` to `domid`'s entry in `usage`. */
function addUsage(usage: Map<number, OwnerUsage>, domid: number, nodes: number, memory: number): void {
  const entry = usage.get(domid) ?? { nodes: 0, memory: 0 };
  usage.set(domid, { nodes: entry.nodes + nodes, memory: entry.memory + memory });
}

/** A change that watches may see: `exact` ones match only a watch on that very path (nodes removed below an rm). */
export interface Change {
  path: string;
  exact: boolean;
  /** The watcher must be able to read the node under one of these permission sets. */
  visibleUnder: (readonly Perm[])[];
}

export class CommittedTree implements NodeView {
  private readonly nodes = new Map<string, XsNode>();
  private readonly usage = new Map<number, OwnerUsage>();
  private generation = 0;

  constructor() {
    // C xenstored's initial store: /, /tool, /tool/xenstored, owned by dom0, no access for others.
    const perms = [{ domid: 0, access: PERM_NONE }];
    const empty = new Uint8Array(0);
    this.put("/", { value: empty, perms, children: ChildList.of(["tool"]) });
    this.put("/tool", { value: empty, perms, children: ChildList.of(["xenstored"]) });
    this.put("/tool/xenstored", { value: empty, perms, children: ChildList.EMPTY });
  }

  get(path: string): XsNode | undefined {
    return this.nodes.get(path);
  }

  put(path: string, node: NodeContents): void {
    const previous = this.nodes.get(path);
    if (previous) addUsage(this.usage, ownerOf(previous), -1, -nodeMemory(path, previous));
    addUsage(this.usage, ownerOf(node), +1, nodeMemory(path, node));
    this.nodes.set(path, { ...node, generation: ++this.generation });
  }

  remove(path: string): void {
    const previous = this.nodes.get(path);
    if (!previous) return;
    addUsage(this.usage, ownerOf(previous), -1, -nodeMemory(path, previous));
    this.nodes.delete(path);
  }

  ownedBy(domid: number): number {
    return this.usage.get(domid)?.nodes ?? 0;
  }

  memoryOf(domid: number): number {
    return this.usage.get(domid)?.memory ?? 0;
  }
}

/**
 * A transaction's view: nodes are read from the committed tree on first
 * access and kept, writes stay here. Commit succeeds only if every node the
 * transaction touched still has the generation it saw (or is still absent).
 */
export class TransactionView implements NodeView {
  private readonly overlay = new Map<string, XsNode | null>();
  /** Each node as the transaction first saw it (undefined: absent); later reads see the same. */
  private readonly seen = new Map<string, XsNode | undefined>();
  /** How the transaction changes each owner's usage, so quota checks inside it count its own writes. */
  private readonly usageDelta = new Map<number, OwnerUsage>();
  /** Changes to announce to watches if and when the transaction commits. */
  readonly changes: Change[] = [];

  constructor(
    private readonly committed: CommittedTree,
    /** Called before the transaction touches one more node; throws to refuse. */
    private readonly beforeTouch: (touched: number) => void,
  ) {}

  get(path: string): XsNode | undefined {
    if (this.overlay.has(path)) return this.overlay.get(path) ?? undefined;
    this.touch(path);
    return this.seen.get(path);
  }

  put(path: string, node: NodeContents): void {
    const previous = this.get(path);
    if (previous) addUsage(this.usageDelta, ownerOf(previous), -1, -nodeMemory(path, previous));
    addUsage(this.usageDelta, ownerOf(node), +1, nodeMemory(path, node));
    this.overlay.set(path, { ...node, generation: previous?.generation ?? 0 });
  }

  remove(path: string): void {
    const previous = this.get(path);
    if (previous) addUsage(this.usageDelta, ownerOf(previous), -1, -nodeMemory(path, previous));
    this.overlay.set(path, null);
  }

  ownedBy(domid: number): number {
    return this.committed.ownedBy(domid) + (this.usageDelta.get(domid)?.nodes ?? 0);
  }

  memoryOf(domid: number): number {
    return this.committed.memoryOf(domid) + (this.usageDelta.get(domid)?.memory ?? 0);
  }

  /** Applies the transaction, or throws EAGAIN if another change got in first. */
  commit(): void {
    for (const [path, node] of this.seen) {
      if (this.committed.get(path)?.generation !== node?.generation) throw new XsError("EAGAIN");
    }
    for (const [path, node] of this.overlay) {
      if (node) this.committed.put(path, node);
      else this.committed.remove(path);
    }
  }

  private touch(path: string): void {
    if (this.seen.has(path)) return;
    this.beforeTouch(this.seen.size + 1);
    this.seen.set(path, this.committed.get(path));
  }
}

/** One request's access to the tree. */
export interface TreeAccess {
  view: NodeView;
  caller: Caller;
  quotas: Quotas;
  /** Receives the changes the operation makes. */
  changes: Change[];
  /** Throws ENOMEM if domain `domid` may not take `bytes` more (the "memory" quota, where it binds). */
  checkMemoryGrowth(domid: number, bytes: number): void;
}

/** Bytes a node takes against the node-size quota: value, 8 per permission, child names with their nuls. */
export function nodeSize(node: NodeContents): number {
  return node.value.length + 8 * node.perms.length + node.children.bytes;
}

/**
 * Bytes a node takes against its owner's memory quota: its path and what it
 * stores, as C xenstored charges a node's key and data to the node's owner.
 * (C's data also holds a small record header, which is left out here.)
 */
function nodeMemory(path: string, node: NodeContents): number {
  return path.length + nodeSize(node);
}

function ownerOf(node: NodeContents): number {
  return node.perms[0]!.domid;
}

function permits(access: TreeAccess, node: XsNode, wanted: number): boolean {
  return (accessFor(access.caller, node.perms) & wanted) === wanted;
}

/**
 * The node at `path` if the caller has `wanted` access. Otherwise the error
 * xenstored gives: EACCES or ENOENT, unless the closest existing ancestor
 * grants the caller none of `wanted`, in which case always EACCES (the caller
 * may not learn what exists there). So creating a node needs write access to
 * its closest existing ancestor.
 */
function lookup(access: TreeAccess, path: string, wanted: number): XsNode | XsErrorName {
  const node = access.view.get(path);
  if (node && permits(access, node, wanted)) return node;
  const error = node ? "EACCES" : "ENOENT";
  let ancestor: XsNode | undefined;
  for (let name = path; name !== "/" && !ancestor; ) {
    name = parentOf(name);
    ancestor = access.view.get(name);
  }
  const ancestorGrants = ancestor !== undefined && (accessFor(access.caller, ancestor.perms) & wanted) !== 0;
  return ancestorGrants ? error : "EACCES";
}

/** The node at `path` if the caller has `wanted` access; otherwise throws `lookup`'s error. */
export function getNode(access: TreeAccess, path: string, wanted: number): XsNode {
  const found = lookup(access, path, wanted);
  if (typeof found === "string") throw new XsError(found);
  return found;
}

function checkSize(access: TreeAccess, node: NodeContents): void {
  if (!access.caller.privileged) access.quotas.check("node-size", access.caller.domid, nodeSize(node), "ENOSPC");
}

function addTo(totals: Map<number, number>, domid: number, bytes: number): void {
  totals.set(domid, (totals.get(domid) ?? 0) + bytes);
}

/** Refuses writes that would grow a node owner's bytes past its memory quota; shrinking is always allowed. */
function checkMemory(access: TreeAccess, writes: readonly (readonly [string, NodeContents])[]): void {
  const growth = new Map<number, number>();
  for (const [path, node] of writes) {
    const previous = access.view.get(path);
    if (previous) addTo(growth, ownerOf(previous), -nodeMemory(path, previous));
    addTo(growth, ownerOf(node), nodeMemory(path, node));
  }
  for (const [domid, bytes] of growth) if (bytes > 0) access.checkMemoryGrowth(domid, bytes);
}

function store(access: TreeAccess, path: string, node: NodeContents): void {
  checkSize(access, node);
  checkMemory(access, [[path, node]]);
  access.view.put(path, node);
}

/** Creates `path` and its missing ancestors; new nodes inherit their parent's perms, unprivileged creators own them. */
function create(access: TreeAccess, path: string, value: Uint8Array): void {
  const missing: string[] = [];
  let parentPath = path;
  let parent: XsNode | undefined;
  do {
    missing.unshift(parentPath);
    parentPath = parentOf(parentPath);
    parent = access.view.get(parentPath);
  } while (!parent);
  const { caller } = access;
  if (!caller.privileged)
    access.quotas.check("nodes", caller.domid, access.view.ownedBy(caller.domid) + missing.length, "ENOSPC");
  const perms = caller.privileged
    ? parent.perms
    : [{ ...parent.perms[0]!, domid: caller.domid }, ...parent.perms.slice(1)];
  // Every node written is checked before any is, so a refused request changes nothing.
  const writes: [string, NodeContents][] = [
    [parentPath, { ...parent, children: parent.children.with(baseName(missing[0]!)) }],
  ];
  missing.forEach((name, level) => {
    const child = missing[level + 1];
    const children = child ? ChildList.of([baseName(child)]) : ChildList.EMPTY;
    writes.push([name, { value: child ? new Uint8Array(0) : value, perms, children }]);
  });
  for (const [, node] of writes) checkSize(access, node);
  checkMemory(access, writes);
  for (const [name, node] of writes) access.view.put(name, node);
}

export function readValue(access: TreeAccess, path: string): Uint8Array {
  return getNode(access, path, PERM_READ).value;
}

export function write(access: TreeAccess, path: string, value: Uint8Array): void {
  const node = existingForWrite(access, path);
  if (node) store(access, path, { ...node, value });
  else create(access, path, value);
  access.changes.push({ path, exact: false, visibleUnder: [access.view.get(path)!.perms] });
}

export function mkdir(access: TreeAccess, path: string): void {
  if (existingForWrite(access, path)) return;
  create(access, path, new Uint8Array(0));
  access.changes.push({ path, exact: false, visibleUnder: [access.view.get(path)!.perms] });
}

/** The writable node at `path`, or undefined when it does not exist and may be created. */
function existingForWrite(access: TreeAccess, path: string): XsNode | undefined {
  const found = lookup(access, path, PERM_WRITE);
  if (found === "ENOENT") return undefined;
  if (typeof found === "string") throw new XsError(found);
  return found;
}

/** Removes `path` and everything below; a missing node is fine if its parent exists. */
export function rm(access: TreeAccess, path: string): void {
  const node = existingForWrite(access, path);
  if (!node) {
    if (access.view.get(parentOf(path))) return;
    throw new XsError("ENOENT");
  }
  if (path === "/") throw new XsError("EINVAL");
  const parentPath = parentOf(path);
  // A transaction can see a node whose parent it first saw missing; C's _rm answers EINVAL then.
  const parent = access.view.get(parentPath);
  if (!parent) throw new XsError("EINVAL");
  removeTree(access, path, node);
  access.view.put(parentPath, { ...parent, children: parent.children.without(baseName(path)) });
}

/**
 * Post-order, as C xenstored: each removed node is announced while its perms
 * can still be seen. An explicit stack, not recursion, walks the subtree.
 */
function removeTree(access: TreeAccess, root: string, rootNode: XsNode): void {
  const stack: { path: string; node: XsNode; expanded: boolean }[] = [{ path: root, node: rootNode, expanded: false }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (!top.expanded) {
      top.expanded = true;
      // Pushed in reverse so the children are removed in their listed order.
      const names = [...top.node.children];
      for (let index = names.length - 1; index >= 0; index--) {
        const path = childPath(top.path, names[index]!);
        const node = access.view.get(path);
        if (node) stack.push({ path, node, expanded: false });
      }
      continue;
    }
    stack.pop();
    access.view.remove(top.path);
    access.changes.push({ path: top.path, exact: top.path !== root, visibleUnder: [top.node.perms] });
  }
}

export function directory(access: TreeAccess, path: string): XsNode {
  return getNode(access, path, PERM_READ);
}

export function getPerms(access: TreeAccess, path: string): readonly Perm[] {
  return getNode(access, path, PERM_READ).perms;
}

/** Owners (and privileged callers) may change perms; unprivileged owners may not give the node away. */
export function setPerms(access: TreeAccess, path: string, perms: readonly Perm[]): void {
  const node = getNode(access, path, PERM_WRITE | PERM_OWNER);
  if (!access.caller.privileged && perms[0]!.domid !== node.perms[0]!.domid) throw new XsError("EPERM");
  store(access, path, { ...node, perms });
  access.changes.push({ path, exact: false, visibleUnder: [node.perms, perms] });
}

/** Whether a watcher may see `change` (events only for nodes it can read). */
export function changeVisibleTo(caller: Caller, change: Change): boolean {
  return change.visibleUnder.some((perms) => (accessFor(caller, perms) & PERM_READ) !== 0);
}
