import { connectXenstored, openXenstoreComponent } from "xenbus-wasm";

// xenstored where libxenstore finds it: XENSTORED_PATH, else /var/run/xenstored/socket, else /dev/xen/xenbus.
const xs = openXenstoreComponent(connectXenstored());
console.log(xs.getDomainPath(0)); // /local/domain/0
xs.write("/data/example", "through the component");
console.log(xs.directory("/data"), xs.read("/data/example"));
xs.close();
