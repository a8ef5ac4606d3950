// XENMEM_decrease_reservation and XENMEM_populate_physmap for a translated
// (PVH) domain, as Xen 4.17's common/memory.c does them: the guest gives the
// RAM behind some of its gfns back to Xen (each becomes a hole), or has Xen
// put fresh RAM there again. The result is the number of extents done, never
// an errno: do_memory_op answers a reservation it cannot read, an unknown
// domain, a caller that may not touch it, or bad flags with the extent it was
// asked to start from, and each operation stops at the first extent it
// cannot do.

import { DOMID, PAGE_SHIFT, PAGE_SIZE, XENMEM } from "./abi.js";
import type { PageCoherence } from "./coherence.js";
import type { Domain, DomainDirectory } from "./domain.js";

/**
 * xen_memory_reservation.mem_flags (XENMEMF_*, public/memory.h). Not in
 * xen/abi.ts: Debian's headers define them only for interface versions
 * newer than the one test/native/layouts.c compiles against.
 */
const XENMEMF = { populate_on_demand: 1 << 16, exact_node_request: 1 << 17, vnode: 1 << 18 } as const;
/** The largest extent a domU may name: 2^9 pages (x86's PAGETABLE_ORDER, Xen's CONFIG_DOMU_MAX_ORDER). */
const MAX_EXTENT_ORDER = 9;
/** Xen encodes a continuation's next extent in the command's bits above these (MEMOP_EXTENT_SHIFT), so counts are below 2^26. */
const MAX_EXTENTS = 0xffffffff >>> 6;
const NUMA_NO_NODE = 0xff;
/** MAX_NUMNODES on x86 (NODES_SHIFT 6). */
const MAX_NUMNODES = 64;

export interface ReservationRequest {
  /** XENMEM_decrease_reservation or XENMEM_populate_physmap. */
  op: number;
  domid: number;
  /** The caller's address of `nrExtents` u64 gfns. */
  extentStart: number;
  nrExtents: number;
  extentOrder: number;
  memFlags: number;
  /** Where a continuation starts (the command's bits above MEMOP_EXTENT_SHIFT). */
  startExtent: number;
}

/** Crashes `domain` as Xen's domain_crash does (the running caller unwinds). */
export type CrashDomain = (domain: Domain, message: string) => void;

export class Reservations {
  constructor(
    private readonly directory: DomainDirectory,
    private readonly coherence: PageCoherence,
    private readonly crash: CrashDomain,
  ) {}

  /** The number of extents done (from request.startExtent on). */
  change(caller: Domain, request: ReservationRequest): number {
    const { op, startExtent, nrExtents, extentOrder } = request;
    if (nrExtents > MAX_EXTENTS || startExtent >= nrExtents) return startExtent;
    const domain = request.domid === DOMID.SELF ? caller : this.directory.domain(request.domid);
    // XSM's default policy (XSM_TARGET): a domain itself, or the control domain.
    if (!domain || (domain !== caller && !caller.privileged)) return startExtent;
    if (!this.flagsAccepted(caller, request.memFlags)) return startExtent;
    // guest_handle_subrange_okay: the rest of the list must lie in the caller's memory.
    const list = caller.memory.array(request.extentStart + startExtent * 8, nrExtents - startExtent, 8);
    if (!list || extentOrder > MAX_EXTENT_ORDER) return startExtent;
    if (op === XENMEM.populate_physmap && request.memFlags & XENMEMF.populate_on_demand) {
      // Xen refuses populate-on-demand on oneself; for another domain this simulation has no PoD.
      return startExtent;
    }
    const pages = 1 << extentOrder;
    for (let i = startExtent; i < nrExtents; i++) {
      const first = list.getBigUint64((i - startExtent) * 8, true);
      if (first > BigInt(Number.MAX_SAFE_INTEGER)) return i;
      const gfn = Number(first);
      const done =
        op === XENMEM.decrease_reservation
          ? this.decrease(caller, domain, gfn, pages)
          : this.populate(caller, domain, gfn, pages);
      if (!done) return i;
    }
    return nrExtents;
  }

  /** construct_memop_from_reservation and propagate_node: address bits and NUMA node requests Xen refuses. */
  private flagsAccepted(caller: Domain, memFlags: number): boolean {
    const addressBits = memFlags & 0xff;
    if (addressBits !== 0 && addressBits <= PAGE_SHIFT) return false;
    // A virtual node names none here (no vNUMA), which Xen ignores.
    if (memFlags & XENMEMF.vnode) return true;
    const node = ((memFlags >>> 8) - 1) & 0xff;
    if (node === NUMA_NO_NODE) return true;
    if (caller.privileged) return node < MAX_NUMNODES;
    return (memFlags & XENMEMF.exact_node_request) === 0;
  }

  /**
   * guest_remove_page for each page of the extent, stopping at the first it
   * cannot remove (the pages before it stay removed, as in Xen).
   */
  private decrease(caller: Domain, domain: Domain, gfn: number, pages: number): boolean {
    for (let page = gfn; page < gfn + pages; page++) {
      // A grant mapped there is the granter's page: Xen cannot take a reference for this domain (-ENXIO).
      if (this.coherence.holdsAt(domain, page * PAGE_SIZE)) return false;
      const xenPage = domain.xenPageAt(page);
      if (xenPage) {
        // Xen unhooks its own page from the slot, which it then keeps.
        xenPage.unplace();
        if (domain.memory.page(page)) domain.punchHole(page);
        continue;
      }
      // Nothing there: p2m_invalid is -ENOENT.
      if (!domain.memory.page(page) || domain.isHole(page)) return false;
      // A page a peer maps stays allocated in Xen until the peer unmaps it.
      this.coherence.detach(caller, domain, page);
      domain.punchHole(page);
    }
    return true;
  }

  /** Fresh zeroed RAM at each page of the extent (alloc_domheap_pages, then guest_physmap_add_page). */
  private populate(caller: Domain, domain: Domain, gfn: number, pages: number): boolean {
    for (let page = gfn; page < gfn + pages; page++) {
      // Xen would allocate a page beyond the memory too; a Wasm memory has none there (it grows with memory.grow).
      if (!domain.memory.page(page)) return false;
      if (this.coherence.holdsAt(domain, page * PAGE_SIZE)) {
        // p2m_add_page over a grant mapping: "not permitted", and Xen crashes the domain.
        this.crash(domain, `${domain}: populate_physmap over the grant mapped at gfn ${page}`);
        return false;
      }
    }
    for (let page = gfn; page < gfn + pages; page++) {
      const xenPage = domain.xenPageAt(page);
      if (xenPage) {
        // Xen's own page only loses its place; it was never the domain's RAM.
        xenPage.unplace();
        domain.fillHole(page);
      } else {
        // RAM there leaves the p2m (orphaned); a peer mapping it keeps the old page.
        this.coherence.detach(caller, domain, page);
        domain.addPage(page);
      }
      domain.memory.page(page)!.fill(0);
    }
    return true;
  }
}
