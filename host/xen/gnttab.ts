// Grant tables, version 1. A domain's table is an array of grant_entry_v1 in
// Xen-owned frames that the guest places in its memory, so entries are read
// from (and GTF_reading/GTF_writing written to) the granter's own memory.
// Like Xen, each granted entry has an active record with per-mode pin counts
// while it is mapped; the flags are cleared when the last pin goes.
//
// A mapping at host_addr goes into the mapper's p2m as Xen's
// create_grant_p2m_mapping puts it (p2m_add_page): a hole there is filled, a
// RAM page there is orphaned; unmapping (replace_grant_p2m_mapping, that is
// p2m_remove_page) leaves a hole, not the RAM that was there before.

import { DOMID, GNTCOPY, GNTMAP, GNTST, GTF, grant_entry_v1, PAGE_SHIFT, PAGE_SIZE } from "./abi.js";
import type { GrantMapping, PageCoherence } from "./coherence.js";
import type { Domain, DomainDirectory } from "./domain.js";
import { StructView, XenPage } from "./memory.js";

export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / grant_entry_v1.sizeof;
/** xen_pfn_t for "not in the guest's physical memory" (INVALID_GFN). */
export const INVALID_GFN = (1n << 64n) - 1n;

/** The granter's record of one entry while it is mapped (Xen's active_grant_entry). */
interface ActiveGrant {
  mapper: number;
  frame: number;
  readers: number;
  writers: number;
}

type GrantEntry = StructView<keyof typeof grant_entry_v1.fields>;

export class GrantTable {
  /** Xen gives a table one frame at creation; setup_table and add_to_physmap grow it. */
  readonly frames: XenPage[] = [new XenPage()];
  readonly active = new Map<number, ActiveGrant>();
  /** Mappings this domain holds, by handle (Xen's maptrack). */
  private readonly maptrack: (GrantMapping | undefined)[] = [];

  constructor(
    readonly maxFrames: number,
    readonly maxMappings: number,
  ) {}

  get nrEntries(): number {
    return this.frames.length * GRANT_ENTRIES_PER_FRAME;
  }

  /** Grows the table to `nrFrames` frames; the caller checked nrFrames <= maxFrames. */
  grow(nrFrames: number): void {
    while (this.frames.length < nrFrames) this.frames.push(new XenPage());
  }

  /** A restored domain's table is a new one: every entry empty. */
  clearEntries(): void {
    for (const frame of this.frames) frame.bytes().fill(0);
  }

  /** Entry `ref`, which the caller checked is below nrEntries. */
  entry(ref: number): GrantEntry {
    const bytes = this.frames[Math.floor(ref / GRANT_ENTRIES_PER_FRAME)]!.bytes();
    const offset = (ref % GRANT_ENTRIES_PER_FRAME) * grant_entry_v1.sizeof;
    return new StructView(
      new DataView(bytes.buffer, bytes.byteOffset + offset, grant_entry_v1.sizeof),
      grant_entry_v1.fields,
    );
  }

  freeHandle(): number | null {
    for (let handle = 0; handle < this.maxMappings; handle++) if (!this.maptrack[handle]) return handle;
    return null;
  }

  mapping(handle: number): GrantMapping | undefined {
    return Number.isInteger(handle) && handle >= 0 ? this.maptrack[handle] : undefined;
  }

  track(mapping: GrantMapping): void {
    this.maptrack[mapping.handle] = mapping;
  }

  untrack(mapping: GrantMapping): void {
    this.maptrack[mapping.handle] = undefined;
  }
}

export interface MapRequest {
  dom: number;
  ref: number;
  flags: number;
  /** Page-aligned offset in the mapper's memory, or null for a native live view. */
  hostAddr: number | null;
}

export interface CopySide {
  /** A grant ref (with GNTCOPY_*_gref) or a frame of the caller's own memory. */
  refOrFrame: number;
  domid: number;
  offset: number;
}

export interface CopyRequest {
  source: CopySide;
  dest: CopySide;
  len: number;
  flags: number;
}

/** Grant operations with Xen's checks, in Xen's order; results are GNTST_* codes. */
export class GrantTables {
  /** Faults to inject, by caller domid: after `skip` more maps or copies, one answers `status` undone. */
  private readonly faults = new Map<number, { skip: number; status: number }>();

  constructor(
    private readonly directory: DomainDirectory,
    private readonly coherence: PageCoherence,
  ) {}

  /** rcu_lock_domain_by_any_id: DOMID_SELF names the caller. */
  private anyDomain(caller: Domain, domid: number): Domain | undefined {
    return domid === DOMID.SELF ? caller : this.directory.domain(domid);
  }

  /**
   * Fault injection for tests: `domid`'s map or copy after the next `skip`
   * ones fails with `status` (a GNTST_* code) and changes nothing, as when
   * Xen refuses it half-way through a batch.
   */
  failGrantOp(domid: number, status: number, skip = 0): void {
    this.faults.set(domid, { skip, status });
  }

  /** The injected status for this op of `caller`, or okay. */
  private injectedFault(caller: Domain): number {
    const fault = this.faults.get(caller.domid);
    if (!fault) return GNTST.okay;
    if (fault.skip-- > 0) return GNTST.okay;
    this.faults.delete(caller.domid);
    return fault.status;
  }

  map(caller: Domain, request: MapRequest): { status: number; mapping?: GrantMapping } {
    const injected = this.injectedFault(caller);
    if (injected !== GNTST.okay) return { status: injected };
    const { flags } = request;
    if ((flags & (GNTMAP.device_map | GNTMAP.host_map)) === 0) return { status: GNTST.bad_gntref };
    // Every domain here is translated (HVM-like): no device or page-table mappings, as Xen refuses them.
    if (flags & (GNTMAP.device_map | GNTMAP.application_map | GNTMAP.contains_pte))
      return { status: GNTST.general_error };
    const granter = this.directory.domain(request.dom);
    if (!granter) return { status: GNTST.bad_domain };
    // A page aliased twice inside one memory cannot be emulated by copying.
    if (granter === caller) return { status: GNTST.general_error };
    const handle = caller.grantTable.freeHandle();
    if (handle === null) return { status: GNTST.no_device_space };
    const readonly = (flags & GNTMAP.readonly) !== 0;
    const pinned = this.pin(caller, granter, request.ref, !readonly);
    if (typeof pinned === "number") return { status: pinned };
    if (request.hostAddr !== null && !this.isFreeHostPage(caller, request.hostAddr))
      return { status: GNTST.bad_virt_addr };

    const table = granter.grantTable;
    let active = table.active.get(request.ref);
    if (!active) {
      active = { mapper: caller.domid, frame: pinned.frame, readers: 0, writers: 0 };
      table.active.set(request.ref, active);
    }
    if (readonly) active.readers++;
    else active.writers++;
    this.updateFlags(granter, request.ref, active);
    const mapping: GrantMapping = {
      handle,
      mapper: caller,
      granter,
      ref: request.ref,
      frame: active.frame,
      writable: !readonly,
      hostAddr: request.hostAddr,
    };
    caller.grantTable.track(mapping);
    if (request.hostAddr !== null) caller.addPage(request.hostAddr / PAGE_SIZE);
    this.coherence.add(mapping);
    return { status: GNTST.okay, mapping };
  }

  /** The granter's page a live view (`hostAddr` null) shows, brought up to date first: the view may be read outside the mapper's runs. */
  livePage(mapping: GrantMapping): Uint8Array {
    return this.coherence.prepare(mapping.granter, mapping.frame, mapping.ref);
  }

  /** `devBusAddr` (if not 0) and `hostAddr` must name the mapping, as Xen checks them. */
  unmap(caller: Domain, handle: number, hostAddr: number | null, devBusAddr: bigint): number {
    const mapping = caller.grantTable.mapping(handle);
    if (!mapping) return GNTST.bad_handle;
    if (devBusAddr !== 0n && devBusAddr !== busAddress(mapping.frame)) return GNTST.general_error;
    if (hostAddr !== mapping.hostAddr) return GNTST.general_error;
    this.release(mapping);
    return GNTST.okay;
  }

  /** Drops a mapping: the copy is synced back and leaves a hole, the pins and flags come off. */
  release(mapping: GrantMapping): void {
    this.coherence.remove(mapping);
    if (mapping.hostAddr !== null) mapping.mapper.punchHole(mapping.hostAddr / PAGE_SIZE);
    mapping.mapper.grantTable.untrack(mapping);
    const active = mapping.granter.grantTable.active.get(mapping.ref)!;
    if (mapping.writable) active.writers--;
    else active.readers--;
    this.updateFlags(mapping.granter, mapping.ref, active);
    if (active.readers + active.writers === 0) mapping.granter.grantTable.active.delete(mapping.ref);
  }

  copy(caller: Domain, request: CopyRequest): number {
    const injected = this.injectedFault(caller);
    if (injected !== GNTST.okay) return injected;
    const { source, dest, len, flags } = request;
    if (source.offset + len > PAGE_SIZE || dest.offset + len > PAGE_SIZE) return GNTST.bad_copy_arg;
    // Copy by frame only works on the caller's own memory.
    if (!(flags & GNTCOPY.source_gref) && source.domid !== DOMID.SELF) return GNTST.permission_denied;
    if (!(flags & GNTCOPY.dest_gref) && dest.domid !== DOMID.SELF) return GNTST.permission_denied;
    const from = this.copyPage(caller, source, (flags & GNTCOPY.source_gref) !== 0, false);
    if (typeof from === "number") return from;
    const to = this.copyPage(caller, dest, (flags & GNTCOPY.dest_gref) !== 0, true);
    if (typeof to === "number") return to;

    this.coherence.flush(caller); // the caller's own mapped copies may be newer than the pages
    const fromBytes = this.coherence.prepare(from.domain, from.frame, from.ref);
    const toBytes = this.coherence.prepare(to.domain, to.frame, to.ref);
    toBytes.set(fromBytes.slice(source.offset, source.offset + len), dest.offset);
    this.coherence.propagate(to.domain, to.frame, to.ref);
    this.coherence.flush(caller); // in case the destination was one of the caller's copies
    return GNTST.okay;
  }

  setupTable(caller: Domain, dom: number, nrFrames: number): { status: number; frames: bigint[] } {
    const domain = this.anyDomain(caller, dom);
    if (!domain) return { status: GNTST.bad_domain, frames: [] };
    if (domain !== caller && !caller.privileged) return { status: GNTST.permission_denied, frames: [] };
    const table = domain.grantTable;
    if (nrFrames > table.maxFrames) return { status: GNTST.general_error, frames: [] };
    table.grow(nrFrames);
    // Where each frame sits in the guest's memory, or INVALID_GFN until it places it with add_to_physmap.
    const frames = table.frames.slice(0, nrFrames).map((page) => (page.gfn === null ? INVALID_GFN : BigInt(page.gfn)));
    return { status: GNTST.okay, frames };
  }

  querySize(caller: Domain, dom: number): { status: number; nrFrames: number; maxNrFrames: number } {
    const domain = this.anyDomain(caller, dom);
    if (!domain) return { status: GNTST.bad_domain, nrFrames: 0, maxNrFrames: 0 };
    if (domain !== caller && !caller.privileged)
      return { status: GNTST.permission_denied, nrFrames: 0, maxNrFrames: 0 };
    return { status: GNTST.okay, nrFrames: domain.grantTable.frames.length, maxNrFrames: domain.grantTable.maxFrames };
  }

  /**
   * Checks that `caller` may use `granter`'s entry `ref` (for writing if
   * `write`) and returns the granted frame, or a GNTST_* failure. As Xen: an
   * entry already pinned is checked against its active record, not re-read,
   * unless a first writer comes along, and its frame is the page it pinned
   * (which the granter may have given up since) without looking the gfn up.
   */
  private pin(caller: Domain, granter: Domain, ref: number, write: boolean): { frame: number } | number {
    const table = granter.grantTable;
    if (!(Number.isInteger(ref) && ref >= 0 && ref < table.nrEntries)) return GNTST.bad_gntref;
    const active = table.active.get(ref);
    if (active && active.mapper !== caller.domid) return GNTST.general_error;
    const entry = table.entry(ref);
    if (!active || (write && active.writers === 0)) {
      const flags = entry.u16("flags");
      const type = flags & (GTF.type_mask | GTF.sub_page);
      if (!active && (type !== GTF.permit_access || entry.u16("domid") !== caller.domid)) return GNTST.general_error;
      if (write && flags & GTF.readonly) return GNTST.general_error;
    }
    if (active) return { frame: active.frame };
    const frame = entry.u32("frame");
    if (!granter.memory.page(frame) || granter.isHole(frame)) return GNTST.bad_page;
    return { frame };
  }

  private copyPage(
    caller: Domain,
    side: CopySide,
    byRef: boolean,
    write: boolean,
  ): { domain: Domain; frame: number; ref: number | null } | number {
    const domain = this.anyDomain(caller, side.domid);
    if (!domain) return GNTST.bad_domain;
    if (!byRef) {
      const frame = side.refOrFrame;
      return caller.memory.page(frame) && !caller.isHole(frame) ? { domain: caller, frame, ref: null } : GNTST.bad_page;
    }
    const pinned = this.pin(caller, domain, side.refOrFrame, write);
    return typeof pinned === "number" ? pinned : { domain, frame: pinned.frame, ref: side.refOrFrame };
  }

  /** A page of the caller's memory that can take a mapping (a hole or RAM): aligned, inside, and not already a mapping or Xen page. */
  private isFreeHostPage(caller: Domain, hostAddr: number): boolean {
    if (!Number.isSafeInteger(hostAddr) || hostAddr % PAGE_SIZE !== 0 || !caller.memory.page(hostAddr / PAGE_SIZE))
      return false;
    const gfn = hostAddr / PAGE_SIZE;
    if (this.coherence.holdsAt(caller, hostAddr)) return false;
    return caller.xenPageAt(gfn) === undefined;
  }

  private updateFlags(granter: Domain, ref: number, active: ActiveGrant): void {
    const entry = granter.grantTable.entry(ref);
    let flags = entry.u16("flags") & ~(GTF.reading | GTF.writing);
    if (active.readers + active.writers > 0) flags |= GTF.reading;
    if (active.writers > 0) flags |= GTF.writing;
    entry.setU16("flags", flags);
  }
}

/** What map returns as dev_bus_addr: the granted frame's address (frames stand in for machine frames). */
export function busAddress(frame: number): bigint {
  return BigInt(frame) << BigInt(PAGE_SHIFT);
}
