// Page sharing between separate memories. A grant mapped by a Wasm guest is
// a copy of the granter's page at the mapper's host_addr; native services get
// live views instead. Because the simulation runs one domain at a time, keeping
// every copy equal to the granter's page whenever control changes hands is
// exactly what shared memory looks like under a sequential interleaving.
//
// Done lazily, but never observably so: when a domain stops running, each
// page it may have written records where its newest content now is (a
// version number, no copying); a domain about to run gets the newest content
// of every page it can see, and whenever control returns to the host (no
// domain running) every page is brought up to date, so host code sees what
// eager copying would have shown. A driver domain mapping many guests' rings
// then copies only the pages of the guest it talks to, not all of them at
// every switch.

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

function granterPage(mapping: GrantMapping): Uint8Array {
  // The frame was checked at map time, and memories never shrink.
  return mapping.granter.memory.page(mapping.frame)!;
}

function copyPage(mapping: GrantMapping): Uint8Array | null {
  return mapping.hostAddr === null ? null : mapping.mapper.memory.page(mapping.hostAddr / PAGE_SIZE);
}

/** One granted page that has mappings, and where its newest content is. */
interface SharedPage {
  readonly granter: Domain;
  readonly frame: number;
  /** Every mapping of the page, with the version its copy holds (live views: unused). */
  readonly mappings: Map<GrantMapping, number>;
  /** Bumped whenever a domain may have written the page. */
  version: number;
  /** The granter's page holds this version. */
  granterVersion: number;
  /** The copy holding the newest version when the granter's page does not. */
  holder: GrantMapping | null;
}

/** Indexed by mapper and by granted page, so a switch visits only the pages of the domains involved. */
export class PageCoherence {
  /** Mappings by the domain holding them, each with its page. */
  private readonly held = new Map<Domain, Map<GrantMapping, SharedPage>>();
  /** Granted pages that have mappings, by granter, then by frame. */
  private readonly granted = new Map<Domain, Map<number, SharedPage>>();
  /** Pages whose granter's page is behind a copy. */
  private readonly behind = new Set<SharedPage>();
  /** Pages some copy of which is behind. */
  private readonly stale = new Set<SharedPage>();

  /** A new mapping starts as the granter's page. */
  add(mapping: GrantMapping): void {
    let pages = this.granted.get(mapping.granter);
    if (!pages) this.granted.set(mapping.granter, (pages = new Map()));
    let page = pages.get(mapping.frame);
    if (!page) {
      page = {
        granter: mapping.granter,
        frame: mapping.frame,
        mappings: new Map(),
        version: 0,
        granterVersion: 0,
        holder: null,
      };
      pages.set(mapping.frame, page);
    }
    let held = this.held.get(mapping.mapper);
    if (!held) this.held.set(mapping.mapper, (held = new Map()));
    held.set(mapping, page);
    this.updateGranter(page);
    page.mappings.set(mapping, page.version);
    copyPage(mapping)?.set(granterPage(mapping));
  }

  /** Unmapping: the mapper's last writes reach the granter (and its other mappers), and its copy is zeroed. */
  remove(mapping: GrantMapping): void {
    const held = this.held.get(mapping.mapper)!;
    const page = held.get(mapping)!;
    const copy = copyPage(mapping);
    if (mapping.writable) {
      // A copy that is behind (its mapper has not run since another wrote the page) has nothing newer to give.
      if (copy && page.mappings.get(mapping) === page.version) {
        granterPage(mapping).set(copy);
        page.granterVersion = page.version;
        this.behind.delete(page);
      }
      this.updateGranter(page);
      this.propagate(mapping.granter, mapping.frame);
    }
    copy?.fill(0);

    held.delete(mapping);
    if (held.size === 0) this.held.delete(mapping.mapper);
    this.updateGranter(page);
    page.mappings.delete(mapping);
    if (page.mappings.size === 0) {
      const pages = this.granted.get(mapping.granter)!;
      pages.delete(mapping.frame);
      if (pages.size === 0) this.granted.delete(mapping.granter);
      this.behind.delete(page);
      this.stale.delete(page);
    }
  }

  /** Every mapping `domain` holds. */
  heldBy(domain: Domain): GrantMapping[] {
    return [...(this.held.get(domain)?.keys() ?? [])];
  }

  /** Whether `domain` holds a mapping at `hostAddr` of its memory. */
  holdsAt(domain: Domain, hostAddr: number): boolean {
    for (const mapping of this.held.get(domain)?.keys() ?? []) if (mapping.hostAddr === hostAddr) return true;
    return false;
  }

  /**
   * `domain` stops running (or the hypervisor is about to read what it wrote):
   * every page it may have written, through a writable copy, a live view or as
   * the granter itself, now has its newest content where `domain` sees it.
   */
  flush(domain: Domain): void {
    for (const [mapping, page] of this.held.get(domain) ?? []) {
      if (mapping.writable) this.wrote(page, mapping.hostAddr === null ? null : mapping);
    }
    for (const page of this.granted.get(domain)?.values() ?? []) this.wrote(page, null);
  }

  /** `domain` is about to run: every page it can see (its copies, its live views, its own granted pages) gets the newest content. */
  update(domain: Domain): void {
    for (const [mapping, page] of this.held.get(domain) ?? []) this.updateMapping(page, mapping);
    for (const page of this.granted.get(domain)?.values() ?? []) this.updateGranter(page);
  }

  /** No domain runs: every page and copy gets the newest content, as eager copying would have left them. */
  updateAll(): void {
    for (const page of this.behind) this.updateGranter(page);
    for (const page of this.stale) {
      for (const mapping of page.mappings.keys()) this.updateMapping(page, mapping);
    }
    this.stale.clear();
  }

  /** The hypervisor is about to read or write `granter`'s page `frame`: it gets the newest content. */
  prepare(granter: Domain, frame: number): void {
    const page = this.granted.get(granter)?.get(frame);
    if (page) this.updateGranter(page);
  }

  /** The hypervisor wrote `granter`'s page `frame` (GNTTABOP_copy, after prepare): refresh every copy of it. */
  propagate(granter: Domain, frame: number): void {
    const page = this.granted.get(granter)?.get(frame);
    if (!page) return;
    this.wrote(page, null);
    for (const mapping of page.mappings.keys()) this.updateMapping(page, mapping);
  }

  /** The page's newest content is now in `holder`'s copy, or in the granter's page (null). */
  private wrote(page: SharedPage, holder: GrantMapping | null): void {
    // Already the only newer place (nothing has been brought up to date from it since): nothing changes.
    if (holder && page.holder === holder && page.granterVersion !== page.version) return;
    page.version++;
    page.holder = holder;
    if (holder) {
      page.mappings.set(holder, page.version);
      this.behind.add(page);
    } else {
      page.granterVersion = page.version;
      this.behind.delete(page);
    }
    this.stale.add(page);
  }

  private updateGranter(page: SharedPage): void {
    if (page.granterVersion === page.version) return;
    page.granter.memory.page(page.frame)!.set(copyPage(page.holder!)!);
    page.granterVersion = page.version;
    this.behind.delete(page);
  }

  private updateMapping(page: SharedPage, mapping: GrantMapping): void {
    if (page.mappings.get(mapping) === page.version) return;
    this.updateGranter(page);
    copyPage(mapping)?.set(granterPage(mapping));
    page.mappings.set(mapping, page.version);
  }
}
