// harness.wasm: xenbus.wasm with the tests' exports and the benchmark loops
// (`npm run bench`). It is built from the same sources and never shipped.
//
// Everything xenbus.wasm exports comes first, so the harness boots as a guest
// too; then, from assembly/testing/, the test-only drivers registered on its
// buses (bus-drivers, backend-ops), the tests' hooks, the ABI tables
// (`npm run layouts`), compiled from the same declarations, the tests'
// exports, one file per part of the stack they reach, and the benchmark loops.
// The order is kept: it decides where static data and the heap lie, and a
// heap-settling check (test/xenbus-backend.test.ts, the directory flood) counts
// on that layout.
// biome-ignore-all assist/source/organizeImports: this order places static data and the heap as before the split
import "./xen/panic"; // the abort handler named in asconfig.json

export * from "./index";
export * from "./testing/bus-drivers";
export * from "./testing/evtchn-hooks";
export * from "./testing/xenbus-exports";
export { xen_abi_constants, xen_abi_layouts } from "./xen/describe";

import "./testing/backend-ops";
export * from "./testing/scratch";
export * from "./testing/byte-ring-exports";
export * from "./testing/shared-ring-exports";
export * from "./testing/blkif-exports";
export * from "./testing/bench";
export * from "./testing/xenstore-wire-exports";
export * from "./testing/xenstore-client-exports";
export * from "./testing/netif-exports";
export * from "./testing/ping-exports";
