// XENMEM_decrease_reservation / XENMEM_populate_physmap for one page of ours:
// the RAM behind it goes back to Xen (its gfn becomes a hole), or fresh RAM
// comes back at its gfn. Xen answers with the number of extents it did, so
// "not done" is 0, not an errno.

import { DOMID_SELF, XENMEM_decrease_reservation, XENMEM_populate_physmap } from "./abi";
import { memory_op } from "./hypercall";
import { xen_memory_reservation } from "./layout";
import { PAGE_SHIFT } from "./pages";

/** Gives the RAM at our page `page` back to Xen. True once it is a hole. */
export function releasePage(page: usize): bool {
  return reserve(XENMEM_decrease_reservation, page);
}

/** Has Xen put fresh RAM at our page `page` (a hole). True once it is RAM again. */
export function populatePage(page: usize): bool {
  return reserve(XENMEM_populate_physmap, page);
}

/** One extent of order 0 at `page`'s gfn; whether Xen did it. */
function reserve(cmd: i32, page: usize): bool {
  const gfn = memory.data(8, 8);
  store<u64>(gfn, page >> PAGE_SHIFT);
  const arg = memory.data(xen_memory_reservation.SIZE, 8);
  memory.fill(arg, 0, xen_memory_reservation.SIZE);
  store<u64>(arg + xen_memory_reservation.extent_start, gfn);
  store<u64>(arg + xen_memory_reservation.nr_extents, 1);
  store<u16>(arg + xen_memory_reservation.domid, DOMID_SELF);
  return memory_op(cmd, arg) == 1;
}
