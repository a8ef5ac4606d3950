// Event-channel hooks for the tests (build/harness.wasm only): a port that
// answers every event, and a wait for a port's event count.
import * as evtchn from "../evtchn/evtchn";
import { EINVAL } from "../xen/abi";

function echo(port: u32): void {
  evtchn.send(port);
}

/** Every event on `port` is answered with an event back on the same port. */
export function evtchn_bind_echo(port: u32): i32 {
  return evtchn.setHandler(port, echo);
}

let waitPort: u32 = 0;
let waitCount: u32 = 0;

function waitReached(): bool {
  return evtchn.eventCount(waitPort) >= waitCount;
}

/** Blocks (SCHEDOP_block) until `port` has seen `count` events in all. 0 or -errno. */
export function evtchn_wait(port: u32, count: u32): i32 {
  if (port >= evtchn.NR_PORTS) return -EINVAL;
  waitPort = port;
  waitCount = count;
  return evtchn.waitUntil(waitReached);
}
