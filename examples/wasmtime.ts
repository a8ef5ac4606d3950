import { bootXenbus, openXenstoreComponentInWasmtime, wasmtimeEngine, xenstore } from "xenbus-wasm";
import { Hypervisor, startXenstore, xenstoredStream } from "xenbus-wasm/host";

// wasmtime 49's C API library: the argument, else XENBUS_WASM_WASMTIME, else the wasmtime wheel python3 imports.
const engine = wasmtimeEngine(); // or wasmtimeEngine("/path/to/site-packages/wasmtime/linux-x86_64/_libwasmtime.so")
const hv = new Hypervisor();
const service = startXenstore(hv);
const guest = bootXenbus(hv, "unikernel", engine); // loadGuest(hv, wasm, { engine }) for your own module
xenstore(guest).write("data/engine", engine.name);
console.log(service.tools.read(`/local/domain/${guest.domid}/data/engine`)); // wasmtime
// The XenStore client component in wasmtime's component model, over any ByteStream (the same library; { library } to name one):
const xs = openXenstoreComponentInWasmtime(xenstoredStream(service.xenstored));
console.log(xs.read(`/local/domain/${guest.domid}/data/engine`)); // wasmtime
xs.close(); // frees the component's store
service.destroyDomain(guest.domid); // frees the guest's store (its linear memory)
console.log(`guests left in wasmtime: ${engine.guestCount}`); // 0
