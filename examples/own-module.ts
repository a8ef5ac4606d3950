import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadGuest, type XenbusExports, xenstore } from "xenbus-wasm";
import { Hypervisor, startXenstore } from "xenbus-wasm/host";

const hv = new Hypervisor(); // dom0 is hv.dom0, native and privileged
const service = startXenstore(hv); // dom0's xenstored and toolstack: introduces each new domain
// Your unikernel's module; here the packaged xenbus.wasm, found through the package's exports.
const wasm = readFileSync(fileURLToPath(import.meta.resolve("xenbus-wasm/xenbus.wasm")));
// The type argument names the module's exports; the typed wrappers (xenstore, BlkFront, ...) want xenbus.wasm's.
const guest = loadGuest<XenbusExports>(hv, wasm, { name: "unikernel" });
guest.exports.xen_boot(); // whatever your module exports; here xenbus.wasm's boot
const store = xenstore(guest); // connects to xenstored (xs_init): typed XenStore through the xs_* exports
store.write("data/hello", "world"); // relative to the domain's home, /local/domain/<domid>
console.log(service.tools.read(`/local/domain/${guest.domid}/data/hello`)); // world, read by dom0's tools
hv.runUntilIdle(); // delivers upcalls until nothing is pending
