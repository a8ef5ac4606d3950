// XENMEM_add_to_physmap: the guest chooses the frame of its memory where
// shared_info or a grant-table frame appears, or where a page the toolstack
// populated beyond its memory (the store or console page) moves to. As in
// Xen's xenmem_add_to_physmap_one, the page may go onto a hole (which it
// fills) or onto RAM (which Xen frees), and the gfn it leaves becomes a hole.

import { DOMID, ERRNO, PAGE_SIZE, XENMAPSPACE } from "./abi.js";
import type { PageCoherence } from "./coherence.js";
import type { Domain, DomainDirectory } from "./domain.js";
import type { XenPage } from "./memory.js";

export interface PhysmapRequest {
  domid: number;
  space: number;
  idx: number;
  gpfn: number;
}

/** The first gfn beyond a 48-bit guest-physical address space. */
const MAX_GFN = 2 ** 36;

export function addToPhysmap(
  directory: DomainDirectory,
  coherence: PageCoherence,
  caller: Domain,
  request: PhysmapRequest,
): number {
  const domain = request.domid === DOMID.SELF ? caller : directory.domain(request.domid);
  if (!domain) return -ERRNO.ESRCH;
  if (domain !== caller && !caller.privileged) return -ERRNO.EPERM;
  let page: XenPage;
  switch (request.space) {
    case XENMAPSPACE.shared_info:
      if (request.idx !== 0) return -ERRNO.EINVAL;
      page = domain.sharedInfo;
      break;
    case XENMAPSPACE.grant_table: {
      // v1 has no status frames (XENMAPIDX_grant_table_status), and the table cannot grow past its maximum.
      const table = domain.grantTable;
      if (request.idx >= table.maxFrames) return -ERRNO.EINVAL;
      table.grow(request.idx + 1);
      page = table.frames[request.idx]!;
      break;
    }
    case XENMAPSPACE.gmfn: {
      // Moves the page at gfn idx; its old gfn becomes a hole. Only pages that are
      // not the Wasm memory's own can move: a page of the memory, like a hole, is -EINVAL.
      const moved = domain.xenPageAt(request.idx);
      if (!moved) return -ERRNO.EINVAL;
      page = moved;
      break;
    }
    default:
      return -ERRNO.EINVAL;
  }
  // Beyond linear memory the page keeps its content in its own buffer (a guest parks the store
  // and console pages back at their HVM params' gfns before a suspend); Xen's p2m ends at 2^36 pages.
  if (!Number.isSafeInteger(request.gpfn) || request.gpfn < 0 || request.gpfn >= MAX_GFN) return -ERRNO.EINVAL;
  // A frame holding a grant mapping is taken; replacing it would tear the mapping apart.
  if (coherence.holdsAt(domain, request.gpfn * PAGE_SIZE)) return -ERRNO.EBUSY;
  // Xen frees RAM at the gfn, but a peer mapping it keeps the page.
  coherence.detach(caller, domain, request.gpfn);
  const left = page.gfn;
  domain.placeXenPage(page, request.gpfn);
  domain.fillHole(request.gpfn);
  if (left !== null && left !== request.gpfn && domain.memory.page(left)) domain.punchHole(left);
  return 0;
}
