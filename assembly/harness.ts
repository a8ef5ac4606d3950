// harness.wasm: ring math and benchmark loops exposed to tests and `npm run bench`.
// It is built from the same sources as xenbus.wasm and never shipped.
import "./xen/panic"; // the abort handler named in asconfig.json
