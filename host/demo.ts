// `npm start`: boots a simulated Xen with dom0's services (xenstored, the
// toolstack, a console backend per domain), a Wasm block-backend domain and
// Wasm guests built from this repository (build/xenbus.wasm), then shows the
// PV drivers at work: each guest greets dom0 through its PV console, and
// every device's XenBus state transitions are printed as they happen.
import { parseArgs } from "node:util";
import { guestConsole } from "../runtime/console.js";
import { xenstore } from "../runtime/xenstore.js";
import { DeviceStateMonitor, describeTransition } from "./device-monitor.js";
import { createGuestDomain, type GuestDomain } from "./guest-domain.js";
import { Hypervisor } from "./hypervisor.js";
import { startXenstore } from "./toolstack.js";

const TRACE_LEVELS = ["summary", "steps", "states"] as const;
type TraceLevel = (typeof TRACE_LEVELS)[number];

const HELP = `npm start [-- options]

Boots a simulated Xen and shows Xen's paravirtual drivers, compiled to
WebAssembly (build/xenbus.wasm), at work:

  dom0      native TypeScript services: xenstored (the configuration store
            every driver talks to), the toolstack (creates domains, writes
            their device entries) and a console backend for each domain
  blkback   a Wasm driver domain that will serve the guests' disks
  guestN    Wasm guests; each connects its PV console and greets dom0

Each device's XenBus states (Initialising → InitWait → Connected → ...)
are printed as they change, then a summary.

Options:
  --guests N        number of guest domains (default 1)
  --trace LEVEL     what is printed as it happens (default states):
                      summary  only the summary
                      steps    progress and timings
                      states   progress, timings, console lines and every device state transition
  -h, --help        this text`;

interface Options {
  guests: number;
  trace: TraceLevel;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      guests: { type: "string", default: "1" },
      trace: { type: "string", default: "states" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const guests = Number(values.guests);
  if (!Number.isInteger(guests) || guests < 1 || guests > 100) fail(`--guests wants a whole number from 1 to 100, not ${values.guests}`);
  if (!TRACE_LEVELS.includes(values.trace as TraceLevel)) fail(`--trace wants one of ${TRACE_LEVELS.join(", ")}, not ${values.trace}`);
  return { guests, trace: values.trace as TraceLevel };
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const options = parseOptions();
const started = performance.now();
const elapsed = (): number => performance.now() - started;
const show = (level: TraceLevel, who: string, what: string): void => {
  if (TRACE_LEVELS.indexOf(options.trace) >= TRACE_LEVELS.indexOf(level)) {
    console.log(`${elapsed().toFixed(1).padStart(8)} ms  ${who.padEnd(8)} ${what}`);
  }
};
const step = (who: string, what: string): void => show("steps", who, what);

// dom0 and its services.
const hv = new Hypervisor();
const toolstack = startXenstore(hv);
const monitor = new DeviceStateMonitor(toolstack, {
  clock: elapsed,
  onTransition: (transition) => show("states", "xenbus", describeTransition(transition)),
});
hv.onExit((domain) => step(`dom${domain.domid}`, `exited (${domain.exit?.reason}) ${domain.exit?.message ?? ""}`));
step("dom0", "xenstored, the toolstack and the console backends are up; watching every device's state");

/** A domain made by the toolstack, its console lines shown as they arrive. */
function createDomain(name: string): GuestDomain {
  const domain = createGuestDomain(toolstack, name);
  const { guest, console } = domain;
  const who = `dom${guest.domid}`;
  console.log.listener = (line) => show("states", who, `console: ${line}`);
  // What the guest prints through Xen's own console (CONSOLEIO_write): driver errors, for instance.
  guest.domain.console.listener = (line) => show("states", who, `xen console: ${line}`);
  const store = xenstore(guest);
  step(who, `"${name}" booted and introduced to xenstored as ${store.getDomainPath(guest.domid)}`);
  guestConsole(guest).write(`hello dom0, this is ${name} (${who}), a Wasm unikernel on a PV console\n`);
  return domain;
}

const backend = createDomain("blkback");
const guests = Array.from({ length: options.guests }, (_, index) => createDomain(`guest${index + 1}`));
hv.runUntilIdle();

const domains = [backend, ...guests];
const greeted = domains.filter(({ guest, console }) => console.log.lines().some((line) => line.startsWith(`hello dom0, this is ${guest.name} `)));
const alive = domains.filter(({ guest }) => guest.exit === null);
const ok = greeted.length === domains.length && alive.length === domains.length;
monitor.stop();

console.log(`
Summary
  domains        dom0 (native: xenstored, toolstack, console backends), ${domains.map(({ guest }) => `dom${guest.domid} "${guest.name}"`).join(", ")} (Wasm)
  consoles       ${greeted.length} of ${domains.length} greetings reached dom0's console backends
  transitions    ${monitor.transitions.length} device state transitions seen
  total time     ${elapsed().toFixed(1)} ms
  result         ${ok ? "everything checked out" : "MISMATCH: see above"}`);
process.exit(ok ? 0 : 1);
