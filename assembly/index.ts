// xenbus.wasm: the guest-side Xen driver stack. Everything exported here is the
// module's interface to the unikernel and to the host runtime.
import "./xen/panic"; // the abort handler named in asconfig.json
export { xen_abi_layouts, xen_abi_constants } from "./xen/describe";
import { SPECIAL_BASE, SPECIAL_PAGES } from "./xen/pages";

/** Where the toolstack puts the xenstore and console rings (store first). */
export const xen_special_base: usize = SPECIAL_BASE;
export const xen_special_pages: u32 = SPECIAL_PAGES;
