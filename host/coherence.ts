// Page sharing between separate memories. A grant mapped by a Wasm guest is
// a copy of the granter's page at the mapper's host_addr; native services get
// live views instead. Because the simulation runs one domain at a time, keeping
// every copy equal to the granter's page whenever control changes hands is
// exactly what shared memory looks like under a sequential interleaving.
import type { Domain } from "./domain.js";
import { PAGE_SIZE } from "./xen/abi.js";

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

/** The mappings of one granted page: the granter, its frame, and every copy or live view of it. */
interface SharedPage {
  readonly granter: Domain;
  readonly frame: number;
  readonly mappings: Set<GrantMapping>;
}

/**
 * Indexed both ways, so that a domain switch touches only the mappings of the
 * domain that stopped running (as mapper or granter), not every mapping there is.
 */
export class PageCoherence {
  /** Mappings by the domain holding them. */
  private readonly held = new Map<Domain, Set<GrantMapping>>();
  /** Granted pages that have mappings, by granter, then by frame. */
  private readonly granted = new Map<Domain, Map<number, SharedPage>>();

  /** A new mapping starts as the granter's page. */
  add(mapping: GrantMapping): void {
    let held = this.held.get(mapping.mapper);
    if (!held) this.held.set(mapping.mapper, (held = new Set()));
    held.add(mapping);
    let pages = this.granted.get(mapping.granter);
    if (!pages) this.granted.set(mapping.granter, (pages = new Map()));
    let page = pages.get(mapping.frame);
    if (!page) pages.set(mapping.frame, (page = { granter: mapping.granter, frame: mapping.frame, mappings: new Set() }));
    page.mappings.add(mapping);
    copyPage(mapping)?.set(granterPage(mapping));
  }

  /** Unmapping: the mapper's last writes reach the granter (and its other mappers), and its copy is zeroed. */
  remove(mapping: GrantMapping): void {
    const held = this.held.get(mapping.mapper);
    held?.delete(mapping);
    if (held?.size === 0) this.held.delete(mapping.mapper);
    const pages = this.granted.get(mapping.granter);
    const page = pages?.get(mapping.frame);
    page?.mappings.delete(mapping);
    if (page?.mappings.size === 0) pages!.delete(mapping.frame);
    if (pages?.size === 0) this.granted.delete(mapping.granter);
    const copy = copyPage(mapping);
    if (mapping.writable) {
      if (copy) granterPage(mapping).set(copy);
      this.propagate(mapping.granter, mapping.frame);
    }
    copy?.fill(0);
  }

  /** Every mapping `domain` holds. */
  heldBy(domain: Domain): GrantMapping[] {
    return [...(this.held.get(domain) ?? [])];
  }

  /** Whether `domain` holds a mapping at `hostAddr` of its memory. */
  holdsAt(domain: Domain, hostAddr: number): boolean {
    for (const mapping of this.held.get(domain) ?? []) if (mapping.hostAddr === hostAddr) return true;
    return false;
  }

  /**
   * `domain` stops running: push its writable copies to the granters' pages,
   * then refresh every other copy of each page it may have written (through a
   * copy, a live view, or as the granter itself).
   */
  flush(domain: Domain): void {
    const touched = new Set<SharedPage>();
    for (const mapping of this.held.get(domain) ?? []) {
      if (!mapping.writable) continue;
      const copy = copyPage(mapping);
      if (copy) granterPage(mapping).set(copy);
      touched.add(this.granted.get(mapping.granter)!.get(mapping.frame)!);
    }
    for (const page of this.granted.get(domain)?.values() ?? []) touched.add(page);
    for (const page of touched) {
      for (const mapping of page.mappings) {
        if (mapping.mapper !== domain) copyPage(mapping)?.set(granterPage(mapping));
      }
    }
  }

  /** The hypervisor wrote `granter`'s page `frame` (GNTTABOP_copy): refresh every copy of it. */
  propagate(granter: Domain, frame: number): void {
    for (const mapping of this.granted.get(granter)?.get(frame)?.mappings ?? []) copyPage(mapping)?.set(granterPage(mapping));
  }
}
