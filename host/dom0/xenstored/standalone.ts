// A simulated xenstored on its own: a fresh store served on a Unix socket
// until SIGINT or SIGTERM, for Xen's tools (XENSTORED_PATH=PATH) and
// xenbus-wasm (--socket PATH). Run by `npm run xenstored` (main.ts) and the
// package's `xenbus-wasm xenstored`.
import { exitWithError } from "../../../runtime/command-line.js";
import { XenStored } from "./server.js";
import { listenUnix, type SocketListener } from "./socket.js";

/** Serves a fresh XenStored on `path` until interrupted; a path it cannot listen on ends `command` with status 1. */
export async function serveXenstored(path: string, command: string): Promise<void> {
  let listener: SocketListener;
  try {
    listener = await listenUnix(new XenStored({ log: (line) => console.error(line) }), path);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    exitWithError(command, code === "EADDRINUSE" ? message : `cannot listen on ${path}: ${code ?? message}`);
  }
  console.log(`xenstored listening on ${path}`);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void listener.close().then(() => process.exit(0)));
  }
}
