// The XenStore client's watches: the registry of watches by token and the
// queue of their events waiting to be taken or dispatched. Bounded however
// fast xenstored sends: a bounded watch keeps its newest events, an unbounded
// one collapses them into one on its own path (Linux keeps its events in
// drivers/xen/xenbus/xenbus_xs.c's watch_events list, unbounded).
//
// Events are taken in while a request waits for its reply, inside one call
// into the module, where xenbus.wasm cannot collect garbage (tools/build.ts):
// so taking one in allocates nothing the collector must free. Its watch is
// found from the token's bytes, and a queued event keeps its path's bytes in
// memory of its own (QueuedEvent), freed as soon as it is taken or dropped.
// Only taking an event out of the queue makes strings of it.
import { isUtf8, parseWatchEvent, WatchEventFields } from "./wire";

/** A watch event waiting to be dispatched. */
export class WatchEvent {
  constructor(
    readonly path: string,
    readonly token: string,
  ) {}
}

/** The newest events a watch made with watch() keeps for the caller to take; older ones are dropped and counted. */
export const WATCH_EVENTS_MAX: i32 = 64;

/**
 * Distinct events an unbounded watch (maxPending 0) keeps queued. One more
 * and they collapse into a single event on the watch's own path, which
 * stands for everything that arrives until it is dispatched: nothing is
 * lost, and memory stays bounded however fast xenstored sends.
 */
export const UNBOUNDED_EVENTS_MAX: i32 = 64;

/**
 * Runs a registered watch's events, from dispatchWatchEvents (the upcall),
 * one at a time. An event on the watch's own path means anything below it
 * may have changed (the registration's event, or an unbounded watch's
 * collapsed events): the handler reads afresh what it cares about.
 */
export abstract class XsWatchHandler {
  abstract onEvent(path: string, token: string): void;
}

/** A registered watch: its token names it, and its queued events are counted against `maxPending`. */
export class XsWatch {
  /** Its events in the queue now. */
  pending: i32 = 0;
  /** Its events dropped, oldest first, because it had `maxPending` queued (bounded watches only). */
  dropped: u32 = 0;
  /** Times its queued events collapsed into one on its own path (unbounded watches only). */
  collapsed: u32 = 0;
  /** Its one queued event is a collapsed one, standing for whatever else arrives before it is dispatched. */
  collapsedQueued: bool = false;
  /** The token as xenstored sends it (UTF-8), to match events without decoding them. */
  readonly tokenBytes: ArrayBuffer;
  readonly tokenHash: u32;
  /** The next registered watch whose token has the same hash (WatchQueue.byTokenHash). */
  sameHash: XsWatch | null = null;

  constructor(
    readonly path: string,
    readonly token: string,
    /** Null for watches whose events the caller takes with nextEvent(). */
    readonly handler: XsWatchHandler | null,
    /**
     * Queued events kept for this watch, older ones dropped first; 0 for
     * none lost: an event like one still queued adds nothing, and past
     * UNBOUNDED_EVENTS_MAX they collapse into one on the watch's path.
     */
    readonly maxPending: i32,
  ) {
    const tokenBytes = String.UTF8.encode(token);
    this.tokenBytes = tokenBytes;
    this.tokenHash = hashBytes(changetype<usize>(tokenBytes), u32(tokenBytes.byteLength));
  }
}

/** Bytes the event buffer starts with; it doubles when an event does not fit. */
const EVENT_BUFFER_START: u32 = 512;

export class WatchQueue {
  /** Events lost: malformed, for no watch of ours, or pushed out of a bounded watch's queue. */
  droppedEvents: u32 = 0;
  /** Events with handlers were queued since this was last cleared (by the dispatcher). */
  undispatched: bool = false;

  /**
   * The queued events, oldest first, one after the other in one buffer of
   * their own (heap.alloc, outside the collector), which only grows: each is
   * its watch (registered for as long as the event is queued: forgetting a
   * watch drops its events), its path's length and the path's bytes, padded
   * to 4 bytes. Taking one out moves those behind it down.
   */
  private buffer: usize = 0;
  private capacity: u32 = 0;
  /** Bytes of `buffer` the queued events take. */
  private used: u32 = 0;
  private count: i32 = 0;
  private readonly watches: Map<string, XsWatch> = new Map<string, XsWatch>();
  /** The registered watches by their token's hash, each the first of those with that hash (XsWatch.sameHash). */
  private readonly byTokenHash: Map<u32, XsWatch> = new Map<u32, XsWatch>();
  private readonly fields: WatchEventFields = new WatchEventFields();

  /** The registered watch `token` names, or null. */
  watchOf(token: string): XsWatch | null {
    return this.watches.has(token) ? this.watches.get(token) : null;
  }

  /** Every registered watch. */
  registered(): XsWatch[] {
    return this.watches.values();
  }

  /** Registers `watch`; false, and nothing changed, when its token names one already. */
  add(watch: XsWatch): bool {
    if (this.watches.has(watch.token)) return false;
    this.watches.set(watch.token, watch);
    const hash = watch.tokenHash;
    if (this.byTokenHash.has(hash)) watch.sameHash = this.byTokenHash.get(hash);
    this.byTokenHash.set(hash, watch);
    return true;
  }

  /** Unregisters `token` and cancels its queued events, so none is dispatched after this. */
  forget(token: string): void {
    const watch = this.watchOf(token);
    if (watch === null) return;
    this.watches.delete(token);
    this.unhash(watch);
    this.removeEventsOf(watch, 0);
  }

  /** Forgets every watch and queued event. */
  clear(): void {
    this.watches.clear();
    this.byTokenHash.clear();
    this.used = 0;
    this.count = 0;
  }

  /** Events queued now. */
  get length(): i32 {
    return this.count;
  }

  /** Queues the WATCH_EVENT whose payload is at [payload, payload + length), or drops and counts it. */
  queue(payload: usize, length: u32): void {
    const fields = this.fields;
    const watch: XsWatch | null =
      parseWatchEvent(payload, length, fields) < 0 || !isUtf8(payload, length)
        ? null
        : this.watchOfBytes(payload + fields.tokenStart, fields.tokenLength);
    if (watch === null) {
      this.droppedEvents++;
      return;
    }
    const path = payload + fields.pathStart;
    const pathLength = fields.pathLength;
    if (watch.maxPending > 0) {
      if (watch.pending >= watch.maxPending) this.drop(this.oldestOf(watch));
    } else {
      // Handlers read state afresh, so an event already queued covers its like.
      if (watch.collapsedQueued || this.isQueued(watch, path, pathLength)) return;
      if (watch.pending >= UNBOUNDED_EVENTS_MAX) {
        this.collapse(watch);
        return;
      }
    }
    memory.copy(this.insert(this.used, watch, pathLength), path, pathLength);
    if (watch.handler !== null) this.undispatched = true;
  }

  /** The oldest queued event, taken from the queue, or null. */
  next(): WatchEvent | null {
    return this.count != 0 ? this.take(0) : null;
  }

  /** The oldest queued event of a watch with a handler, taken from the queue, or null. */
  nextWithHandler(): WatchEvent | null {
    for (let at: u32 = 0; at < this.used; at += this.sizeAt(at)) {
      if (this.watchAt(at).handler !== null) return this.take(at);
    }
    return null;
  }

  /** The registered watch whose token is the `length` bytes at `token`, or null. */
  private watchOfBytes(token: usize, length: u32): XsWatch | null {
    const hash = hashBytes(token, length);
    let watch = this.byTokenHash.has(hash) ? this.byTokenHash.get(hash) : null;
    while (watch !== null) {
      const bytes = watch.tokenBytes;
      if (sameBytes(changetype<usize>(bytes), u32(bytes.byteLength), token, length)) return watch;
      watch = watch.sameHash;
    }
    return null;
  }

  /** Takes `watch` out of byTokenHash's chain for its hash. */
  private unhash(watch: XsWatch): void {
    const hash = watch.tokenHash;
    const first = this.byTokenHash.get(hash);
    if (first === watch) {
      const next = watch.sameHash;
      if (next === null) this.byTokenHash.delete(hash);
      else this.byTokenHash.set(hash, next);
    } else {
      let before = first;
      while (before.sameHash !== watch) before = before.sameHash!;
      before.sameHash = watch.sameHash;
    }
    watch.sameHash = null;
  }

  // The event at offset `at` of the buffer.
  private watchAt(at: u32): XsWatch {
    return changetype<XsWatch>(load<usize>(this.buffer + at));
  }

  private pathLengthAt(at: u32): u32 {
    return load<u32>(this.buffer + at, sizeof<usize>());
  }

  private pathAt(at: u32): usize {
    return this.buffer + at + EVENT_HEADER;
  }

  private sizeAt(at: u32): u32 {
    return eventSize(this.pathLengthAt(at));
  }

  /**
   * Makes room at offset `at` for an event of `watch` with a path of
   * `pathLength` bytes, moving the events from there up, and counts it for
   * its watch: where its path's bytes go.
   */
  private insert(at: u32, watch: XsWatch, pathLength: u32): usize {
    const size = eventSize(pathLength);
    if (this.used + size > this.capacity) {
      let capacity = max(this.capacity, EVENT_BUFFER_START);
      while (this.used + size > capacity) capacity <<= 1;
      this.buffer = this.buffer == 0 ? heap.alloc(capacity) : heap.realloc(this.buffer, capacity);
      this.capacity = capacity;
    }
    const event = this.buffer + at;
    memory.copy(event + size, event, this.used - at);
    store<usize>(event, changetype<usize>(watch));
    store<u32>(event, pathLength, sizeof<usize>());
    this.used += size;
    this.count++;
    watch.pending++;
    return event + EVENT_HEADER;
  }

  /** Removes the event at offset `at`, moving those behind it down, and uncounts it for its watch: its watch. */
  private remove(at: u32): XsWatch {
    const watch = this.watchAt(at);
    const size = this.sizeAt(at);
    const event = this.buffer + at;
    memory.copy(event, event + size, this.used - at - size);
    this.used -= size;
    this.count--;
    watch.pending--;
    watch.collapsedQueued = false;
    return watch;
  }

  /** Removes every event of `watch` from offset `from` on. */
  private removeEventsOf(watch: XsWatch, from: u32): void {
    for (let at = from; at < this.used; ) {
      if (this.watchAt(at) === watch) this.remove(at);
      else at += this.sizeAt(at);
    }
  }

  private isQueued(watch: XsWatch, path: usize, pathLength: u32): bool {
    for (let at: u32 = 0; at < this.used; at += this.sizeAt(at)) {
      if (this.watchAt(at) === watch && sameBytes(this.pathAt(at), this.pathLengthAt(at), path, pathLength))
        return true;
    }
    return false;
  }

  /**
   * Replaces an unbounded watch's queued events by one on its own path, where
   * the oldest was: handlers take an event there as "anything below may have
   * changed" (the bus rescans), so none of what the events said is lost.
   */
  private collapse(watch: XsWatch): void {
    const first = this.oldestOf(watch);
    this.removeEventsOf(watch, first);
    const path = watch.path;
    String.UTF8.encodeUnsafe(
      changetype<usize>(path),
      path.length,
      this.insert(first, watch, String.UTF8.byteLength(path)),
    );
    watch.collapsedQueued = true;
    watch.collapsed++;
  }

  /** The offset of `watch`'s oldest queued event (it has one). */
  private oldestOf(watch: XsWatch): u32 {
    let at: u32 = 0;
    while (this.watchAt(at) !== watch) at += this.sizeAt(at);
    return at;
  }

  /** Takes the event at offset `at` out of the queue, as a WatchEvent. */
  private take(at: u32): WatchEvent {
    const path = String.UTF8.decodeUnsafe(this.pathAt(at), this.pathLengthAt(at));
    return new WatchEvent(path, this.remove(at).token);
  }

  private drop(at: u32): void {
    // A local, not `remove(...).dropped++`: asc evaluates an increment's target twice.
    const watch = this.remove(at);
    watch.dropped++;
    this.droppedEvents++;
  }
}

/** A queued event's watch and its path's length, before the path. */
const EVENT_HEADER: u32 = sizeof<usize>() + 4;

/** Bytes a queued event with a path of `pathLength` bytes takes in the buffer. */
function eventSize(pathLength: u32): u32 {
  return (EVENT_HEADER + pathLength + 3) & ~3;
}

/** FNV-1a of the `length` bytes at `at`. */
function hashBytes(at: usize, length: u32): u32 {
  let hash: u32 = 0x811c9dc5;
  for (let i: u32 = 0; i < length; i++) hash = (hash ^ load<u8>(at + i)) * 0x01000193;
  return hash;
}

function sameBytes(a: usize, aLength: u32, b: usize, bLength: u32): bool {
  return aLength == bLength && memory.compare(a, b, aLength) == 0;
}
