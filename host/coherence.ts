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

function pageKey(domain: Domain, frame: number): string {
  return `${domain.domid}:${frame}`;
}

export class PageCoherence {
  private readonly mappings = new Set<GrantMapping>();

  /** A new mapping starts as the granter's page. */
  add(mapping: GrantMapping): void {
    this.mappings.add(mapping);
    copyPage(mapping)?.set(granterPage(mapping));
  }

  /** Unmapping: the mapper's last writes reach the granter (and its other mappers), and its copy is zeroed. */
  remove(mapping: GrantMapping): void {
    this.mappings.delete(mapping);
    const copy = copyPage(mapping);
    if (mapping.writable) {
      if (copy) granterPage(mapping).set(copy);
      this.propagate(mapping.granter, mapping.frame);
    }
    copy?.fill(0);
  }

  /** Every mapping `domain` holds. */
  heldBy(domain: Domain): GrantMapping[] {
    return [...this.mappings].filter((mapping) => mapping.mapper === domain);
  }

  /**
   * `domain` stops running: push its writable copies to the granters' pages,
   * then refresh every other copy of each page it may have written (through a
   * copy, a live view, or as the granter itself).
   */
  flush(domain: Domain): void {
    const touched = new Set<string>();
    for (const mapping of this.mappings) {
      if (mapping.mapper === domain && mapping.writable) {
        const copy = copyPage(mapping);
        if (copy) granterPage(mapping).set(copy);
        touched.add(pageKey(mapping.granter, mapping.frame));
      } else if (mapping.granter === domain) {
        touched.add(pageKey(domain, mapping.frame));
      }
    }
    if (touched.size === 0) return;
    for (const mapping of this.mappings) {
      if (mapping.mapper !== domain && touched.has(pageKey(mapping.granter, mapping.frame))) {
        copyPage(mapping)?.set(granterPage(mapping));
      }
    }
  }

  /** The hypervisor wrote `granter`'s page `frame` (GNTTABOP_copy): refresh every copy of it. */
  propagate(granter: Domain, frame: number): void {
    for (const mapping of this.mappings) {
      if (mapping.granter === granter && mapping.frame === frame) copyPage(mapping)?.set(granterPage(mapping));
    }
  }
}
