// XENMEM_add_to_physmap: where the guest places Xen's own pages (shared_info,
// grant-table frames) in its physical address space.

import { DOMID_SELF, XENMEM_add_to_physmap } from "./abi";
import { memory_op } from "./hypercall";
import { xen_add_to_physmap } from "./layout";
import { PAGE_SHIFT } from "./pages";

/** Places Xen's page `index` of `space` (XENMAPSPACE_*) at our page `page`. 0 or -errno. */
export function addToPhysmap(space: u32, index: u64, page: usize): i32 {
  const arg = memory.data(xen_add_to_physmap.SIZE, 8);
  memory.fill(arg, 0, xen_add_to_physmap.SIZE);
  store<u16>(arg + xen_add_to_physmap.domid, DOMID_SELF);
  store<u32>(arg + xen_add_to_physmap.space, space);
  store<u64>(arg + xen_add_to_physmap.idx, index);
  store<u64>(arg + xen_add_to_physmap.gpfn, page >> PAGE_SHIFT);
  return memory_op(XENMEM_add_to_physmap, arg);
}
