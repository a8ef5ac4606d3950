// Page sharing between separate memories. A grant mapped by a Wasm guest is
// a copy of the granter's page at the mapper's host_addr; native services get
// live views instead. Because the simulation runs one domain at a time, keeping
// every copy equal to the granter's page whenever control changes hands is
// exactly what shared memory looks like under a sequential interleaving.
//
// Done lazily, but never observably so, and at a cost that does not grow with
// the number of pages a domain shares (a driver domain maps one ring per
// guest). Every place a page lives (the granter's page, each copy) records
// when it was last made equal to the newest content; a domain that stops
// running only records that it ran (an epoch in a run log), so the places it
// can write are as new as that run. The newest content of a page is therefore
// in the place whose writer ran last. A domain about to run updates only the
// pages it shares with domains that ran since it last did (found through
// whichever is shorter: its sharing partners, or the run log since then).
// Control returning to the host costs nothing: host code that looks at a
// domain's memory brings that domain up to date the same way first
// (Hypervisor.memoryOf; a native service's live view brings its one page), so
// it sees what eager copying would have shown, at the cost of what changed
// since it last looked rather than of every page the domains that ran share.

import { PAGE_SIZE } from "./abi.js";
import type { Domain } from "./domain.js";

export interface GrantMapping {
  readonly handle: number;
  readonly mapper: Domain;
  readonly granter: Domain;
  readonly ref: number;
  /** The granter's frame (gfn) the grant names. */
  readonly frame: number;
  readonly writable: boolean;
  /** Where the copy sits in the mapper's memory; null for a native live view. */
  readonly hostAddr: number | null;
}

/** How much work keeping pages coherent took, for tests that check how it grows with the number of pages. */
export interface CoherenceWork {
  /** Shared pages looked at bringing a domain about to run up to date. */
  switchVisits: number;
  /** Shared pages looked at bringing a domain up to date for host code about to look at its memory. */
  hostVisits: number;
}

/** Where the page itself lives: the granter's frame, or its own bytes once detached. */
function granterPage(page: SharedPage): Uint8Array {
  // The frame was checked at map time, and memories never shrink.
  return page.detached ?? page.granter.memory.page(page.frame)!;
}

function copyPage(mapping: GrantMapping): Uint8Array | null {
  return mapping.hostAddr === null ? null : mapping.mapper.memory.page(mapping.hostAddr / PAGE_SIZE);
}

/** One granted page that has mappings. */
interface SharedPage {
  readonly granter: Domain;
  readonly frame: number;
  /**
   * Null while the page is the granter's frame. Once the granter gives the
   * frame up while it is mapped (decrease_reservation, or RAM replaced in its
   * p2m), Xen keeps the page alive for its mappers until the last unmaps; here
   * its content moves into these bytes, which only the mappers reach.
   */
  detached: Uint8Array | null;
  /** Every mapping of the page, with the epoch its copy was last made current (live views: unused). */
  readonly mappings: Map<GrantMapping, number>;
  /** The epoch the granter's page was last made current. */
  granterAt: number;
  /** The domains with a place on the page (the granter, the mappers), with how many places each has. */
  readonly present: Map<Domain, number>;
}

/** What coherence knows of one domain. */
interface DomainRecord {
  /** The epoch its last run ended (-1: never ran). */
  ranAt: number;
  /** The epoch every page it can see was last made current. */
  updatedAt: number;
  /** Mappings it holds, each with its page. */
  readonly held: Map<GrantMapping, SharedPage>;
  /** Its own pages that have mappings, by frame. */
  readonly granted: Map<number, SharedPage>;
  /** Its pages detached while mapped, by the grant refs whose mappings pin them (while any does). */
  readonly detached: Map<number, SharedPage>;
  /** Mappings it holds with a copy, by host page address: how many (a hole may be mapped more than once). */
  readonly copiesAt: Map<number, number>;
  /** Domains it shares pages with, and those pages. */
  readonly partners: Map<Domain, Set<SharedPage>>;
  /** Marks the record as already visited in one pass (the pass's number). */
  pass: number;
}

/** The run log keeps at most this many runs; a domain that last ran before them is updated through its partners. */
const RUN_LOG_LIMIT = 4096;

export class PageCoherence {
  private readonly records = new Map<Domain, DomainRecord>();
  /** Bumped at the end of every run. */
  private epoch = 0;
  /** runLog[i] ended its run at epoch logStart + i + 1. */
  private runLog: Domain[] = [];
  private logStart = 0;
  private passes = 0;
  readonly work: CoherenceWork = { switchVisits: 0, hostVisits: 0 };
  private visits = 0;

  private record(domain: Domain): DomainRecord {
    let record = this.records.get(domain);
    if (!record) {
      record = {
        ranAt: -1,
        updatedAt: this.epoch,
        held: new Map(),
        granted: new Map(),
        detached: new Map(),
        copiesAt: new Map(),
        partners: new Map(),
        pass: 0,
      };
      this.records.set(domain, record);
    }
    return record;
  }

  /** A new mapping starts as the granter's page. */
  add(mapping: GrantMapping): void {
    const granter = this.record(mapping.granter);
    const mapper = this.record(mapping.mapper);
    // A ref already mapped pins its page, which may be detached by now (Xen maps the active entry's frame).
    let page = granter.detached.get(mapping.ref) ?? granter.granted.get(mapping.frame);
    if (!page) {
      page = {
        granter: mapping.granter,
        frame: mapping.frame,
        detached: null,
        mappings: new Map(),
        granterAt: this.epoch,
        present: new Map(),
      };
      granter.granted.set(mapping.frame, page);
      this.join(page, mapping.granter);
    }
    this.updateGranter(page);
    mapper.held.set(mapping, page);
    if (mapping.hostAddr !== null)
      mapper.copiesAt.set(mapping.hostAddr, (mapper.copiesAt.get(mapping.hostAddr) ?? 0) + 1);
    page.mappings.set(mapping, this.epoch);
    this.join(page, mapping.mapper);
    copyPage(mapping)?.set(granterPage(page));
  }

  /** Unmapping: the mapper's last writes reach the granter (and its other mappers), and its copy is zeroed. */
  remove(mapping: GrantMapping): void {
    const mapper = this.record(mapping.mapper);
    const page = mapper.held.get(mapping)!;
    if (mapping.writable) {
      // The mapper may be running: a copy that is not behind holds writes no flush has recorded yet.
      this.updateGranter(page, mapping);
      this.propagatePage(page);
    }
    copyPage(mapping)?.fill(0);

    mapper.held.delete(mapping);
    if (mapping.hostAddr !== null) {
      const count = mapper.copiesAt.get(mapping.hostAddr)! - 1;
      if (count === 0) mapper.copiesAt.delete(mapping.hostAddr);
      else mapper.copiesAt.set(mapping.hostAddr, count);
    }
    page.mappings.delete(mapping);
    this.leave(page, mapping.mapper);
    const granter = this.record(mapping.granter);
    if (page.detached) {
      // The last mapping through this ref unpins the page from it; the page goes with its last mapping.
      for (const other of page.mappings.keys()) if (other.ref === mapping.ref) return;
      granter.detached.delete(mapping.ref);
      this.forgetIfIdle(mapping.granter, granter);
    } else if (page.mappings.size === 0) {
      granter.granted.delete(mapping.frame);
      this.leave(page, mapping.granter);
    }
  }

  /**
   * `granter` gives up its frame `frame` while peers map it (done by
   * `caller`, who may be writing the page right now): the page keeps its
   * newest content and its mappings, no longer at the granter's gfn.
   */
  detach(caller: Domain, granter: Domain, frame: number): void {
    const record = this.records.get(granter);
    const page = record?.granted.get(frame);
    if (!record || !page) return;
    this.flush(caller);
    this.updateGranter(page);
    page.detached = granterPage(page).slice();
    record.granted.delete(frame);
    for (const mapping of page.mappings.keys()) {
      record.detached.set(mapping.ref, page);
      // Copies behind the granter's writes were to catch up when the granter next ran; it no longer writes here.
      this.updateMapping(page, mapping);
    }
    this.leave(page, granter);
  }

  /** Every mapping `domain` holds. */
  heldBy(domain: Domain): GrantMapping[] {
    return [...(this.records.get(domain)?.held.keys() ?? [])];
  }

  /** Whether `domain` holds a mapping at `hostAddr` of its memory. */
  holdsAt(domain: Domain, hostAddr: number): boolean {
    return this.records.get(domain)?.copiesAt.has(hostAddr) ?? false;
  }

  /**
   * `domain` stops running (or the hypervisor is about to read what it wrote):
   * every page it may have written, through a writable copy, a live view or as
   * the granter itself, now has its newest content where `domain` sees it.
   * Only recorded: the places are as new as this run.
   */
  flush(domain: Domain): void {
    const record = this.records.get(domain);
    if (!record) return;
    record.ranAt = ++this.epoch;
    this.runLog.push(domain);
    if (this.runLog.length > RUN_LOG_LIMIT) {
      const dropped = this.runLog.length - RUN_LOG_LIMIT / 2;
      this.runLog = this.runLog.slice(dropped);
      this.logStart += dropped;
    }
  }

  /** `domain` is about to run: every page it can see (its copies, its live views, its own granted pages) gets the newest content. */
  update(domain: Domain): void {
    this.work.switchVisits += this.bringUpToDate(domain);
  }

  /** Host code is about to look at `domain`'s memory: every page of it gets the newest content, as for a run. */
  updateForHost(domain: Domain): void {
    this.work.hostVisits += this.bringUpToDate(domain);
  }

  /**
   * The hypervisor is about to read or write `granter`'s page `frame`, named
   * through grant `ref` if one: the page it is (a detached one if `ref` pins
   * one), with the newest content.
   */
  prepare(granter: Domain, frame: number, ref: number | null = null): Uint8Array {
    const page = this.pageOf(granter, frame, ref);
    if (!page) return granter.memory.page(frame)!;
    this.updateGranter(page);
    return granterPage(page);
  }

  /** The hypervisor wrote the page prepare gave it (GNTTABOP_copy): refresh every copy of it. */
  propagate(granter: Domain, frame: number, ref: number | null = null): void {
    const page = this.pageOf(granter, frame, ref);
    if (page) this.propagatePage(page);
  }

  private pageOf(granter: Domain, frame: number, ref: number | null): SharedPage | undefined {
    const record = this.records.get(granter);
    return (ref === null ? undefined : record?.detached.get(ref)) ?? record?.granted.get(frame);
  }

  private propagatePage(page: SharedPage): void {
    // The granter's page is now the newest; stamped after every run so far.
    page.granterAt = this.epoch;
    for (const mapping of page.mappings.keys()) this.copyToMapping(page, mapping);
  }

  /** Brings every place `domain` has up to date with the domains that ran since it last was; the pages looked at. */
  private bringUpToDate(domain: Domain): number {
    const record = this.records.get(domain);
    if (!record) return 0;
    const visits = this.visits;
    this.forEachRanSince(record.updatedAt, record.partners.keys(), record.partners.size, (other) => {
      const pages = record.partners.get(other);
      if (pages) for (const page of pages) this.updatePlaces(page, domain);
    });
    record.updatedAt = this.epoch;
    return this.visits - visits;
  }

  /**
   * Calls `visit` once for every domain of `domains` (`count` of them) whose
   * last run ended after `since`: through the run log when it reaches back
   * that far and is shorter than `count`, else through `domains`.
   */
  private forEachRanSince(
    since: number,
    domains: Iterable<Domain>,
    count: number,
    visit: (domain: Domain) => void,
  ): void {
    const pass = ++this.passes;
    const runs = this.epoch - since;
    if (since >= this.logStart && runs <= count) {
      for (let i = since - this.logStart; i < this.runLog.length; i++) {
        const domain = this.runLog[i]!;
        const record = this.records.get(domain);
        if (!record || record.pass === pass) continue;
        record.pass = pass;
        visit(domain);
      }
      return;
    }
    for (const domain of domains) if ((this.records.get(domain)?.ranAt ?? -1) > since) visit(domain);
  }

  /** `domain` gains a place on `page`: it now shares the page with everyone present. */
  private join(page: SharedPage, domain: Domain): void {
    const count = page.present.get(domain) ?? 0;
    page.present.set(domain, count + 1);
    if (count > 0) return;
    const record = this.record(domain);
    for (const other of page.present.keys()) {
      if (other === domain) continue;
      this.share(record, other, page);
      this.share(this.record(other), domain, page);
    }
  }

  /** `domain` loses a place on `page`. */
  private leave(page: SharedPage, domain: Domain): void {
    const count = page.present.get(domain)! - 1;
    if (count > 0) {
      page.present.set(domain, count);
      return;
    }
    page.present.delete(domain);
    const record = this.record(domain);
    for (const other of page.present.keys()) {
      this.unshare(record, other, page);
      this.unshare(this.record(other), domain, page);
    }
    this.forgetIfIdle(domain, record);
  }

  private forgetIfIdle(domain: Domain, record: DomainRecord): void {
    if (record.held.size === 0 && record.granted.size === 0 && record.detached.size === 0) this.records.delete(domain);
  }

  private share(record: DomainRecord, other: Domain, page: SharedPage): void {
    let pages = record.partners.get(other);
    if (!pages) record.partners.set(other, (pages = new Set()));
    pages.add(page);
  }

  private unshare(record: DomainRecord, other: Domain, page: SharedPage): void {
    const pages = record.partners.get(other)!;
    pages.delete(page);
    if (pages.size === 0) record.partners.delete(other);
  }

  /** When a place written by `writer` (null: none) and made current at `at` last held the newest content. */
  private newness(at: number, writer: Domain | null): number {
    const ranAt = writer ? (this.records.get(writer)?.ranAt ?? -1) : -1;
    return Math.max(at, ranAt);
  }

  /** The granter's page: written by the granter (until detached) and by writable live views. */
  private granterNewness(page: SharedPage): number {
    let newest = this.newness(page.granterAt, page.detached ? null : page.granter);
    for (const mapping of page.mappings.keys()) {
      if (mapping.hostAddr === null && mapping.writable) newest = Math.max(newest, this.newness(-1, mapping.mapper));
    }
    return newest;
  }

  private mappingNewness(page: SharedPage, mapping: GrantMapping): number {
    return this.newness(page.mappings.get(mapping)!, mapping.writable ? mapping.mapper : null);
  }

  /**
   * The granter's page gets the newest content: from the copy whose writer
   * ran last, if that is newer, or from `preferred` if no place is newer.
   */
  private updateGranter(page: SharedPage, preferred: GrantMapping | null = null): void {
    this.visits++;
    let newest = this.granterNewness(page);
    let holder: GrantMapping | null = null;
    for (const mapping of page.mappings.keys()) {
      if (mapping.hostAddr === null) continue;
      const newness = this.mappingNewness(page, mapping);
      if (newness > newest || (mapping === preferred && newness === newest)) {
        newest = newness;
        holder = mapping;
      }
    }
    if (holder) granterPage(page).set(copyPage(holder)!);
    page.granterAt = newest;
  }

  /** Every place `domain` has on `page` gets the newest content. */
  private updatePlaces(page: SharedPage, domain: Domain): void {
    this.updateGranter(page);
    for (const mapping of page.mappings.keys()) if (mapping.mapper === domain) this.updateMapping(page, mapping);
  }

  /** A copy behind the granter's page (which is current) gets its content. */
  private updateMapping(page: SharedPage, mapping: GrantMapping): void {
    if (mapping.hostAddr !== null && this.mappingNewness(page, mapping) < page.granterAt)
      this.copyToMapping(page, mapping);
  }

  private copyToMapping(page: SharedPage, mapping: GrantMapping): void {
    copyPage(mapping)?.set(granterPage(page));
    page.mappings.set(mapping, page.granterAt);
  }
}
