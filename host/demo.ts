// `npm start`: boots the simulated Xen with a dom0 service and a Wasm
// unikernel (build/xenbus.wasm), then shows the guest's drivers at work: it
// places shared_info and its grant table, exchanges events with dom0 over an
// interdomain channel, and shares a page with dom0 through a grant.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadGuest } from "../runtime/index.js";
import type { XenbusExports } from "../runtime/xenbus.js";
import { Hypervisor } from "./hypervisor.js";
import { ERRNO, GNTST } from "./xen/abi.js";

const WASM = "build/xenbus.wasm";

const { values: options } = parseArgs({
  options: {
    "round-trips": { type: "string", default: "1000" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (options.help) {
  console.log(`npm start [-- options]

Boots a simulated Xen: dom0 (a native TypeScript service) and one Wasm
unikernel built from this repository (${WASM}). The unikernel maps
shared_info, sets up its grant table, binds an event channel to dom0 and
ping-pongs events over it, then grants dom0 a page that dom0 maps, reads
and answers. Every step is printed as it happens, then a summary.

Options:
  --round-trips N   event round trips between the unikernel and dom0 (default 1000)
  -h, --help        this text`);
  process.exit(0);
}

const roundTrips = Number(options["round-trips"]);
if (!Number.isInteger(roundTrips) || roundTrips < 1) {
  console.error(`--round-trips wants a positive integer, not ${options["round-trips"]}`);
  process.exit(2);
}

const started = performance.now();
const clock = (): string => `${(performance.now() - started).toFixed(1).padStart(7)} ms`;
const say = (who: string, what: string): void => console.log(`${clock()}  ${who.padEnd(6)} ${what}`);

/** A hypercall result as Xen would name it: errno for -errno results, GNTST_* for grant statuses. */
function errnoName(result: number): string {
  return Object.entries(ERRNO).find(([, value]) => value === -result)?.[0] ?? String(result);
}
function grantStatusName(status: number): string {
  return `GNTST_${Object.entries(GNTST).find(([, value]) => value === status)?.[0] ?? status}`;
}
function expectOk(what: string, result: number | undefined): number {
  if (result === undefined || result < 0) {
    console.error(`${what} failed: ${result === undefined ? "the guest died" : errnoName(result)}`);
    process.exit(1);
  }
  return result;
}

console.log("xenbus-wasm demo: a simulated Xen, a dom0 service and a Wasm unikernel\n");

const hv = new Hypervisor();
const dom0 = hv.dom0;
say("xen", `hypervisor up; dom${dom0.domid} "${dom0.name}" is native and privileged`);

const wasm = readFileSync(WASM);
const guest = loadGuest<XenbusExports>(hv, wasm, { name: "unikernel" });
const name = `dom${guest.domid}`;
hv.onExit((domain) => say(`dom${domain.domid}`, `exited: ${domain.exit?.reason} ${domain.exit?.message ?? ""}`));
say(name, `"${guest.name}" loaded: ${WASM}, ${wasm.length} bytes; the toolstack placed its store and console pages`);

expectOk("xen_boot", guest.exports.xen_boot());
say(name, `booted: shared_info placed, grant table up with ${guest.exports.gnttab_free_refs()} free refs`);

// Events: dom0 offers a port, the unikernel binds it, dom0 answers every event.
const dom0Port = dom0.evtchn.bindUnboundPort(guest.domid);
let dom0Events = 0;
dom0.evtchn.on(dom0Port, (port) => {
  dom0Events++;
  dom0.evtchn.notify(port);
});
say("dom0", `offers event channel port ${dom0Port} to ${name}`);
const port = expectOk("evtchn_bind_interdomain", guest.exports.evtchn_bind_interdomain(dom0.domid, dom0Port));
say(name, `bound port ${port} to dom0:${dom0Port}`);
hv.runUntilIdle(); // dom0 sees the bind-time event and answers it
const answersBefore = guest.exports.evtchn_event_count(port);

const pingStart = performance.now();
for (let i = 1; i <= roundTrips; i++) {
  expectOk("evtchn_send", guest.exports.evtchn_send(port));
  expectOk("evtchn_wait", guest.exports.evtchn_wait(port, answersBefore + i)); // SCHEDOP_block until dom0 answers
  if (i % Math.max(1, Math.floor(roundTrips / 4)) === 0) say(name, `${i}/${roundTrips} round trips`);
}
const pingMs = performance.now() - pingStart;
const answers = guest.exports.evtchn_event_count(port) - answersBefore;
say(name, `${roundTrips} events sent, ${answers} answers received (${Math.round((roundTrips / pingMs) * 1000)} round trips/s)`);

// Grants: the unikernel shares a page; dom0 maps it, reads, answers, unmaps.
const page = expectOk("page_alloc", guest.exports.page_alloc());
const greeting = `hello dom0, this is ${name}`;
new TextEncoder().encodeInto(greeting, guest.memory().subarray(page, page + 4096));
const ref = expectOk("gnttab_grant_access", guest.exports.gnttab_grant_access(dom0.domid, page >>> 12, false));
say(name, `wrote "${greeting}" into gfn 0x${(page >>> 12).toString(16)} and granted it to dom0 as ref ${ref}`);

const mapping = dom0.gnttab.mapGrantRef(guest.domid, ref, true);
const seen = new TextDecoder().decode(mapping.bytes().subarray(0, greeting.length));
say("dom0", `mapped ${name}'s ref ${ref} and read "${seen}"`);
const reply = `hello ${name}, dom0 here`;
mapping.bytes().fill(0, 0, 64);
new TextEncoder().encodeInto(reply, mapping.bytes());
const refused = guest.exports.gnttab_end_access(ref);
say(name, `end_access while dom0 still maps it: ${errnoName(refused)}, the grant stays valid`);
mapping.unmap();
say("dom0", "unmapped the page");
expectOk("gnttab_end_access", guest.exports.gnttab_end_access(ref));
const answer = new TextDecoder().decode(guest.memory().subarray(page, page + reply.length));
say(name, `revoked ref ${ref}; its page now reads "${answer}"`);

// Hostile arguments are refused with Xen's errors, and the guest carries on.
const badSend = guest.exports.evtchn_send(4095);
const badMap = guest.exports.gnttab_map(dom0.domid, 1 << 20, page, false);
say(name, `hostile calls: send on a closed port → ${errnoName(badSend)}, map of a bogus ref → ${grantStatusName(badMap!)}`);
expectOk("evtchn_close", guest.exports.evtchn_close(port));
say(name, `closed port ${port}; dom0's port ${dom0Port} is unbound again`);

const ok = answers === roundTrips && seen === greeting && answer === reply && refused === -ERRNO.EBUSY && guest.exit === null;
console.log(`
Summary
  domains        dom0 (native, privileged), ${name} "${guest.name}" (Wasm, ${guest.memory().length / 1024} KiB linear memory)
  events         ${roundTrips} sent by ${name}, ${dom0Events} handled by dom0, ${answers} answers delivered to ${name}
  event rate     ${Math.round((roundTrips / pingMs) * 1000)} round trips/s (${(pingMs * 1000 / roundTrips).toFixed(1)} µs each, blocking in SCHEDOP_block)
  grants         1 page shared both ways, end access refused while mapped, revoked after unmap
  total time     ${(performance.now() - started).toFixed(1)} ms
  result         ${ok ? "everything checked out" : "MISMATCH: see above"}`);
process.exit(ok ? 0 : 1);
