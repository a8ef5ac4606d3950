// Page-aligned scratch memory in build/harness.wasm, where tests and the
// benchmarks lay out rings and pages.
import { PAGE_SIZE } from "../xen/pages";

/** Page-aligned memory the tests lay rings out in (with guard bytes around them). */
export const harness_scratch_pages: u32 = 8;
export const harness_scratch: usize = memory.data(harness_scratch_pages * PAGE_SIZE, PAGE_SIZE);
