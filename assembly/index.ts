// xenbus.wasm: the guest-side Xen driver stack. Everything exported here is the
// module's interface to the unikernel and to the host runtime; what only the
// tests use (hooks, the ABI tables) is in build/harness.wasm (assembly/harness.ts).
import "./xen/panic"; // the abort handler named in asconfig.json

// The block frontend.
export * from "./drivers/blk-exports";
// The PV console frontend.
export * from "./drivers/console-exports";
// Boot, the event upcall, suspend.
export * from "./drivers/domain-exports";
// The network frontend.
export * from "./drivers/net-exports";
// Event channels.
export * from "./evtchn/evtchn-exports";
// Grants, and the pages to grant or map grants at.
export * from "./gnttab/gnttab-exports";
// The XenBus buses.
export * from "./xenbus/bus-exports";
// The XenStore client.
export * from "./xenstore/xs-exports";
