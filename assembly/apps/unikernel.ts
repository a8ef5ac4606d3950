// unikernel.wasm: the default application, and the shape of one. It boots,
// says hello on its PV console, connects every disk and vif the toolstack
// gives it (saying so, with the size, or the MAC and address), answers pings
// on its vifs, and stays up until the toolstack asks it to stop (`xl
// shutdown` / `xl reboot`); then it closes its devices and returns.
//
// A host calls `main` once (README: what a host must provide). Your own
// application does its work between start() and serve(), or in watch
// handlers and drivers that serve() keeps running (see basics.ts).
import { serve, start } from "./basics";
import "./network"; // its vifs: announced, answering pings, closed at shutdown

/**
 * Boots, runs until the toolstack asks for a shutdown, closes the disks.
 * Returns the SHUTDOWN_* reason for the host to pass to SCHEDOP_shutdown,
 * or the -errno of the step that failed.
 */
export function main(): i32 {
  const rc = start();
  return rc < 0 ? rc : serve();
}
