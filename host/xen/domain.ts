// A domain: what the hypervisor keeps for each guest or native service.
import type { DomainExitInfo, HostedDomain } from "../../runtime/hypervisor.js";

import { shared_info, vcpu_info, vcpu_time_info } from "./abi.js";
import { ConsoleLog } from "./console.js";
import { EventChannelTable, SharedInfoEvents } from "./evtchn.js";
import { GrantTable } from "./gnttab.js";
import { type Frame, type GuestMemory, MemoryFrame, XenPage } from "./memory.js";

export interface DomainLimits {
  /** Port numbers are below this (Xen's max_evtchn_port + 1; at most EVTCHN_2L_NR_CHANNELS). */
  maxPorts: number;
  /** Grant-table frames a domain may have (GNTTABOP_query_size's max_nr_frames). */
  maxGrantFrames: number;
  /** Grant mappings a domain may hold at once (its maptrack size). */
  maxMappings: number;
}

/** Domain.pageAccounting. */
export interface PageAccounting {
  /** Gfns of the memory with no page behind them. */
  holes: number[];
  /** Pages counted to the domain that no gfn reaches, never freed until it dies. */
  orphanedPages: number;
}

export interface DomainDirectory {
  domain(domid: number): Domain | undefined;
}

export abstract class Domain implements HostedDomain {
  abstract readonly kind: "wasm" | "native";
  readonly sharedInfo = new XenPage();
  readonly ports: EventChannelTable;
  readonly grantTable: GrantTable;
  /**
   * Pages the toolstack populated beyond the memory (the store and console
   * pages), by the gfn they were populated at; the guest moves them into its
   * memory with XENMAPSPACE_gmfn.
   */
  readonly specialPages = new Map<number, XenPage>();
  /** HVM params (HVMOP_get_param / set_param), by index. */
  readonly params = new Map<number, bigint>();
  readonly console = new ConsoleLog();
  /**
   * Gfns of the memory with no page behind them, as Xen's p2m leaves them
   * after a decrease_reservation, a grant unmap or a page moved away. A Wasm
   * memory cannot lose a page, so a hole is the memory's page kept zeroed.
   */
  private readonly holes = new Set<number>();
  /**
   * RAM pages Xen still counts for the domain (tot_pages) that no gfn
   * reaches: a grant mapped, or a page populated, over a populated gfn drops
   * the page from the p2m without freeing it, until the domain dies.
   */
  private orphaned = 0;
  /** Calls into this domain currently on the host stack; an upcall is only delivered at depth 0. */
  depth = 0;
  exit: DomainExitInfo | null = null;

  constructor(
    readonly domid: number,
    readonly name: string,
    readonly privileged: boolean,
    readonly memory: GuestMemory,
    limits: DomainLimits,
  ) {
    this.ports = new EventChannelTable(limits.maxPorts, new SharedInfoEvents(this.sharedInfo));
    this.grantTable = new GrantTable(limits.maxGrantFrames, limits.maxMappings);
  }

  get alive(): boolean {
    return this.exit === null;
  }

  /** Whether the scheduler has something for this domain to do (an upcall, a pending handler). */
  abstract hasWork(): boolean;
  /** Runs that work once; called by the scheduler only when the domain is alive, idle and hasWork(). */
  abstract deliver(): void;

  /**
   * Publishes the virtual clock (ns) as vcpu0's system_time, as Xen does:
   * `version` odd while the fields change, even again after, so a guest
   * that read an odd or changed version reads again.
   */
  publishTime(now: number): void {
    const view = this.sharedInfo.view;
    const at = shared_info.fields.vcpu_info + vcpu_info.fields.time;
    const version = view.getUint32(at + vcpu_time_info.fields.version, true);
    view.setUint32(at + vcpu_time_info.fields.version, (version + 1) >>> 0, true);
    view.setBigUint64(at + vcpu_time_info.fields.system_time, BigInt(now), true);
    view.setUint32(at + vcpu_time_info.fields.version, (version + 2) >>> 0, true);
  }

  /**
   * Puts a Xen page at `gfn` (XENMEM_add_to_physmap). Whatever Xen page was
   * there before is displaced back into its buffer, as the old p2m entry is
   * replaced in Xen.
   */
  placeXenPage(page: XenPage, gfn: number): void {
    for (const other of this.xenPages()) {
      if (other !== page && other.gfn === gfn) other.unplace();
    }
    page.place(this.memory, gfn);
  }

  /** The toolstack gives the domain a page at `gfn`, beyond its memory (as libxenguest populates a special page). */
  populateSpecialPage(gfn: number): XenPage {
    const page = new XenPage();
    this.specialPages.set(gfn, page);
    this.placeXenPage(page, gfn);
    return page;
  }

  /**
   * The domain's pages as a restore leaves them, the restored domain being a
   * new one to Xen: each special page back at the gfn it was populated at,
   * wherever the guest had moved it, and shared_info and the grant frames
   * out of its memory until the guest places them again (the toolstack
   * closes its channels and empties its grant table, XenstoreService.restore).
   */
  restorePages(): void {
    for (const [gfn, page] of this.specialPages) this.placeXenPage(page, gfn);
    for (const page of [this.sharedInfo, ...this.grantTable.frames]) page.unplace();
  }

  /** What Xen's p2m and page counts would show of the memory: its holes (by gfn, ascending) and orphaned pages. */
  get pageAccounting(): PageAccounting {
    return { holes: [...this.holes].sort((a, b) => a - b), orphanedPages: this.orphaned };
  }

  /** Whether `gfn` of the memory has no page behind it. */
  isHole(gfn: number): boolean {
    return this.holes.has(gfn);
  }

  /** Takes the page at `gfn` (inside the memory) out of the p2m: a zeroed hole from now on. */
  punchHole(gfn: number): void {
    this.memory.page(gfn)!.fill(0);
    this.holes.add(gfn);
  }

  /** A page Xen owns is placed at `gfn` (add_to_physmap, which frees any RAM that was there): no hole now. */
  fillHole(gfn: number): void {
    this.holes.delete(gfn);
  }

  /**
   * A grant mapping or fresh RAM is put at `gfn`, as Xen's p2m_add_page does
   * it: a hole is filled, and a RAM page there leaves the p2m but stays the
   * domain's (orphaned).
   */
  addPage(gfn: number): void {
    if (!this.holes.delete(gfn)) this.orphaned++;
  }

  /** The page that is not the memory's own placed at `gfn`, if any: the only kind XENMAPSPACE_gmfn can move here. */
  xenPageAt(gfn: number): XenPage | undefined {
    return this.xenPages().find((page) => page.gfn === gfn);
  }

  /**
   * What a mapping of `gfn` takes hold of: a frame, which it keeps seeing
   * wherever the guest moves it later (as a dom0 service's foreign mapping
   * does); null for a hole.
   */
  frame(gfn: number): Frame | null {
    const placed = this.xenPageAt(gfn);
    if (placed) return placed;
    return this.memory.page(gfn) && !this.holes.has(gfn) ? new MemoryFrame(this.memory, gfn) : null;
  }

  private xenPages(): XenPage[] {
    return [this.sharedInfo, ...this.grantTable.frames, ...this.specialPages.values()];
  }

  toString(): string {
    return `dom${this.domid} (${this.name})`;
  }
}

/** A guest running as a Wasm module; the runtime supplies its memory and its upcall. */
export class WasmDomain extends Domain {
  readonly kind = "wasm";
  /** The guest's `xen_upcall` export, wrapped by the runtime; null if the module has none. */
  upcall: (() => void) | null = null;
  /** Frees the guest's engine instance (set by the runtime); the hypervisor calls it when it destroys the domain. */
  release: (() => void) | null = null;

  hasWork(): boolean {
    const events = this.ports.events;
    // Before shared_info is placed the guest has no event handling set up to call into.
    return this.upcall !== null && this.sharedInfo.gfn !== null && events.upcallPending && !events.upcallMasked;
  }

  deliver(): void {
    this.upcall?.();
  }
}
