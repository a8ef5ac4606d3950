import { openXenstoreComponent } from "xenbus-wasm";
import { XenStored, xenstoredStream } from "xenbus-wasm/host";

const xs = openXenstoreComponent(xenstoredStream(new XenStored())); // any ByteStream
xs.write("/data/greeting", "hello");
console.log(xs.read("/data/greeting")); // hello; xs.readBytes gives the bytes
xs.watch("/data", "token");
console.log(xs.nextEvent()); // { path: '/data', token: 'token' }: a watch fires once when set
