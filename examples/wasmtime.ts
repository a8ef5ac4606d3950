import { bootXenbus, wasmtimeEngine, xenstore } from "xenbus-wasm";
import { Hypervisor, startXenstore } from "xenbus-wasm/host";

// A Python with wasmtime 49: the argument, else XENBUS_WASM_PYTHON, else python3.
const engine = wasmtimeEngine();          // or wasmtimeEngine("/path/to/venv/bin/python")
const hv = new Hypervisor();
const service = startXenstore(hv);
const guest = bootXenbus(hv, "unikernel", engine);  // loadGuest(hv, wasm, { engine }) for your own module
xenstore(guest).write("data/engine", engine.name);
console.log(service.tools.read(`/local/domain/${guest.domid}/data/engine`)); // wasmtime
service.destroyDomain(guest.domid);       // frees the guest's store in wasmtime's process
console.log(`guests left in wasmtime: ${engine.guestCount}`); // 0
