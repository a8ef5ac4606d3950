// Standalone xenstored: `tsx host/xenstored/main.ts --socket PATH` serves a
// fresh store on PATH until interrupted, so Xen's tools can be pointed at it
// with XENSTORED_PATH=PATH.
import { parseArgs } from "node:util";
import { XenStored } from "./server.js";
import { listenUnix } from "./socket.js";

const { values } = parseArgs({ options: { socket: { type: "string" } } });
if (!values.socket) {
  console.error("usage: xenstored --socket PATH");
  process.exit(2);
}
const listener = await listenUnix(new XenStored(), values.socket);
console.log(`xenstored listening on ${values.socket}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void listener.close().then(() => process.exit(0)));
}
