// The toolstack's part in building a domain (libxl's job before boot).
import type { Hypervisor } from "./hypervisor.js";
import { HVM_PARAM, PAGE_SHIFT, PAGE_SIZE } from "./xen/abi.js";

/** Special pages a module reserves (exported `xen_special_base` / `xen_special_pages`): store ring, then console ring. */
export interface SpecialPages {
  base: number;
  pages: number;
}

/** Points the guest's HVM params at its xenstore and console pages, as a PVH builder does. */
export function placeSpecialPages(hv: Hypervisor, domid: number, special: SpecialPages): void {
  const domain = hv.domain(domid);
  if (!domain) throw new Error(`no domain ${domid}`);
  if (special.base % PAGE_SIZE !== 0 || special.pages < 2) {
    throw new Error(`${domain}: special pages must be page-aligned and at least 2 (got base ${special.base}, ${special.pages} pages)`);
  }
  const storePfn = BigInt(special.base >>> PAGE_SHIFT);
  domain.params.set(HVM_PARAM.STORE_PFN, storePfn);
  domain.params.set(HVM_PARAM.CONSOLE_PFN, storePfn + 1n);
}
