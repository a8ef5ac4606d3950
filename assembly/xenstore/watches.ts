// The XenStore client's watches: the registry of watches by token and the
// queue of their events waiting to be taken or dispatched. Bounded however
// fast xenstored sends: a bounded watch keeps its newest events, an unbounded
// one collapses them into one on its own path (Linux keeps its events in
// drivers/xen/xenbus/xenbus_xs.c's watch_events list, unbounded).
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
  ) {}
}

export class WatchQueue {
  /** Events lost: malformed, for no watch of ours, or pushed out of a bounded watch's queue. */
  droppedEvents: u32 = 0;
  /** Events with handlers were queued since this was last cleared (by the dispatcher). */
  undispatched: bool = false;

  private readonly events: WatchEvent[] = [];
  private readonly watches: Map<string, XsWatch> = new Map<string, XsWatch>();
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
    return true;
  }

  /** Unregisters `token` and cancels its queued events, so none is dispatched after this. */
  forget(token: string): void {
    this.watches.delete(token);
    let kept = 0;
    for (let i = 0; i < this.events.length; i++) {
      const event = this.events[i];
      if (event.token != token) this.events[kept++] = event;
    }
    this.events.length = kept;
  }

  /** Forgets every watch and queued event. */
  clear(): void {
    this.watches.clear();
    this.events.length = 0;
  }

  /** Events queued now. */
  get length(): i32 {
    return this.events.length;
  }

  /** Queues the WATCH_EVENT whose payload is at [payload, payload + length), or drops and counts it. */
  queue(payload: usize, length: u32): void {
    const fields = this.fields;
    if (parseWatchEvent(payload, length, fields) < 0 || !isUtf8(payload, length)) {
      this.droppedEvents++;
      return;
    }
    const token = String.UTF8.decodeUnsafe(payload + fields.tokenStart, fields.tokenLength);
    if (!this.watches.has(token)) {
      this.droppedEvents++;
      return;
    }
    const watch = this.watches.get(token);
    const path = String.UTF8.decodeUnsafe(payload + fields.pathStart, fields.pathLength);
    if (watch.maxPending > 0) {
      if (watch.pending >= watch.maxPending) this.drop(this.oldestOf(token));
    } else {
      // Handlers read state afresh, so an event already queued covers its like.
      if (watch.collapsedQueued || this.isQueued(path, token)) return;
      if (watch.pending >= UNBOUNDED_EVENTS_MAX) {
        this.collapse(watch);
        return;
      }
    }
    this.events.push(new WatchEvent(path, token));
    watch.pending++;
    if (watch.handler !== null) this.undispatched = true;
  }

  /** The oldest queued event, taken from the queue, or null. */
  next(): WatchEvent | null {
    return this.events.length != 0 ? this.take(0) : null;
  }

  /** The oldest queued event of a watch with a handler, taken from the queue, or null. */
  nextWithHandler(): WatchEvent | null {
    for (let i = 0; i < this.events.length; i++) {
      if (this.watches.get(this.events[i].token).handler !== null) return this.take(i);
    }
    return null;
  }

  private isQueued(path: string, token: string): bool {
    const events = this.events;
    for (let i = 0; i < events.length; i++) if (events[i].token == token && events[i].path == path) return true;
    return false;
  }

  /**
   * Replaces an unbounded watch's queued events by one on its own path, where
   * the oldest was: handlers take an event there as "anything below may have
   * changed" (the bus rescans), so none of what the events said is lost.
   */
  private collapse(watch: XsWatch): void {
    const events = this.events;
    const first = this.oldestOf(watch.token);
    events[first] = new WatchEvent(watch.path, watch.token);
    let kept = first + 1;
    for (let i = first + 1; i < events.length; i++) {
      const event = events[i];
      if (event.token != watch.token) events[kept++] = event;
    }
    events.length = kept;
    watch.pending = 1;
    watch.collapsedQueued = true;
    watch.collapsed++;
  }

  private oldestOf(token: string): i32 {
    let index = 0;
    while (this.events[index].token != token) index++;
    return index;
  }

  /** Removes the queued event at `index` from the queue and from its watch's count. */
  private take(index: i32): WatchEvent {
    const event = this.events[index];
    this.events.splice(index, 1);
    const watch = this.watches.get(event.token);
    watch.pending--;
    watch.collapsedQueued = false;
    return event;
  }

  private drop(index: i32): void {
    // A local, not `get(take(...).token).dropped++`: asc evaluates an increment's target twice.
    const watch = this.watches.get(this.take(index).token);
    watch.dropped++;
    this.droppedEvents++;
  }
}
