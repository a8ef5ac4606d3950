// What libxenguest's PVH builder leaves in a domain before it runs: its
// store and console pages, and the HVM params that point at them. The guest
// moves the pages into its memory itself (XENMAPSPACE_gmfn).

import { HVM_PARAM } from "./abi.js";
import type { Domain } from "./domain.js";

/**
 * Where libxenguest puts a PVH guest's store and console pages: special
 * pages at the top of the 4 GiB hole (0xfeff8000-0xfeffffff), outside RAM
 * and so outside any Wasm memory (Xen 4.17 gave a 512 MiB PVH guest these).
 */
export const STORE_GFN = 0xfeffc;
export const CONSOLE_GFN = 0xfefff;

/** Gives the domain its store and console pages and points its HVM params at them. */
export function placeSpecialPages(domain: Domain): void {
  domain.populateSpecialPage(STORE_GFN);
  domain.populateSpecialPage(CONSOLE_GFN);
  domain.params.set(HVM_PARAM.STORE_PFN, BigInt(STORE_GFN));
  domain.params.set(HVM_PARAM.CONSOLE_PFN, BigInt(CONSOLE_GFN));
}
