// `npm start`: boots a simulated Xen with dom0's services (xenstored, the
// toolstack, a console backend per domain), a Wasm block-backend driver
// domain holding one disk image per guest, Wasm guests, and a Wasm network
// driver domain, all built from this repository (build/xenbus.wasm,
// build/netback.wasm). Each guest greets dom0 through its PV console, gets a
// disk plugged in by the toolstack, writes a pattern over the whole disk
// through blkfront and reads it back; then the disk is hot-unplugged and
// plugged in again, and its data read back once more. Then each guest gets a
// vif on the network driver domain's bridge, and the first guest pings the
// others (ARP, then ICMP echo: ping.ts, the guests' tiny IPv4 application).
// Every device's XenBus state transitions are printed as they happen, then a
// summary.

import { DeviceStateMonitor, describeTransition, stateName } from "../../host/dom0/device-monitor.js";
import { type DeviceId, devicePaths, type UnplugOutcome } from "../../host/dom0/devices.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import type { GuestDomain } from "../../host/system/guest-domain.js";
import type { NetbackExports } from "../../host/system/netback-domain.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkBack, BlkFront, type Disk } from "../../runtime/blk.js";
import { exitWithError, exitWithUsageError, parseCommandLine } from "../../runtime/command-line.js";
import { guestConsole } from "../../runtime/console.js";
import type { Engine } from "../../runtime/engine.js";
import { NetFront } from "../../runtime/net.js";
import { v8Engine } from "../../runtime/v8.js";
import { wasmtimeEngine } from "../../runtime/wasmtime.js";
import type { XenbusExports } from "../../runtime/xenbus.js";
import { xenstore } from "../../runtime/xenstore.js";
import { buildStale } from "../../tools/build.js";
import { wasmtimeLibrary } from "../../tools/wasmtime.js";
import { answer, arpReplyFrom, arpRequest, echoReplyFrom, echoRequest, type Host } from "./ping.js";

const COMMAND = "npm start";
const TRACE_LEVELS = ["summary", "steps", "states"] as const;
type TraceLevel = (typeof TRACE_LEVELS)[number];
const ENGINES = ["v8", "wasmtime"] as const;

/** xvda's devid (Xen's vbd numbering: major 202, minor 0). */
const XVDA = 51712;
const KiB = 1024;
const MiB = 1024 * KiB;
/** One disk per guest, and a backend domain serves at most 16. */
const MAX_GUESTS = 16;
const MAX_DISK = 256 * MiB;
/** The disks live in blkback's linear memory, which a 32-bit Wasm module keeps under 4 GiB. */
const MAX_TOTAL_DISK = 1024 * MiB;
/** What one read or write through blkfront moves: its buffer of 16 pages. */
const CHUNK = 64 * KiB;
/** Echo requests the first guest sends each other guest, as `ping -c 4`. */
const PINGS = 4;
/** How long (Xen's time) a guest waits for a frame before it calls it lost. */
const FRAME_TIMEOUT_MS = 1000;

const HELP = `npm start [-- options]

Boots a simulated Xen and shows Xen's paravirtual drivers, compiled to
WebAssembly (build/xenbus.wasm), at work:

  dom0      native TypeScript services: xenstored (the configuration store
            every driver talks to), the toolstack (creates domains, plugs
            and unplugs their devices) and a console backend per domain
  blkback   a Wasm driver domain: the block backend, serving one in-memory
            disk image per guest
  guestN    Wasm guests: each greets dom0 on its PV console and echoes the
            line dom0 types back (so does blkback), then writes a
            pattern over its whole disk through its block frontend and
            reads it back; the disk is hot-unplugged, plugged in again and
            read back once more
  netback   a Wasm network driver domain: the network backend, and the
            Ethernet bridge between the guests' vifs; guest1 pings the
            other guests through it (ARP, then ICMP echo)

Each device's XenBus states (Initialising → InitWait → Connected → ...)
are printed as they change, then a summary: devices, states, bytes moved,
throughput and time.

Options:
  --guests N        number of guest domains, 1 to ${MAX_GUESTS} (default 2; with 1
                    there is nobody to ping)
  --disk-size SIZE  each guest's disk, e.g. 512K, 4M, 64M: a multiple of 4K
                    up to 256M (default 4M)
  --trace LEVEL     what is printed as it happens (default states):
                      summary  only the summary
                      steps    progress and timings
                      states   progress, timings, console lines and every
                               device state transition
  --engine ENGINE   the Wasm engine the domains run in (default v8):
                      v8        this Node process's WebAssembly
                      wasmtime  wasmtime 49 in this process, through its C API
                                (.cache/venv, made on first use)
  -h, --help        this text

Before it starts, it builds build/xenbus.wasm and build/netback.wasm if a
source is newer (and says so).`;

interface Options {
  guests: number;
  diskBytes: number;
  trace: TraceLevel;
  engine: Engine;
}

function parseOptions(): Options {
  const { values } = parseCommandLine(COMMAND, HELP, {
    options: {
      guests: { type: "string", default: "2" },
      "disk-size": { type: "string", default: "4M" },
      trace: { type: "string", default: "states" },
      engine: { type: "string", default: "v8" },
    },
  });
  const guests = Number(values.guests);
  if (!Number.isInteger(guests) || guests < 1 || guests > MAX_GUESTS) {
    exitWithUsageError(COMMAND, `--guests wants a whole number from 1 to ${MAX_GUESTS}, not ${values.guests}`);
  }
  const diskBytes = parseSize(values["disk-size"]);
  if (diskBytes === null || diskBytes === 0 || diskBytes % (4 * KiB) !== 0 || diskBytes > MAX_DISK) {
    exitWithUsageError(
      COMMAND,
      `--disk-size wants a multiple of 4K up to 256M, such as 512K or 4M, not ${values["disk-size"]}`,
    );
  }
  if (guests * diskBytes > MAX_TOTAL_DISK)
    exitWithUsageError(
      COMMAND,
      `--guests × --disk-size must stay within 1G in all: the disks live in blkback's memory`,
    );
  if (!TRACE_LEVELS.includes(values.trace as TraceLevel))
    exitWithUsageError(COMMAND, `--trace wants one of ${TRACE_LEVELS.join(", ")}, not ${values.trace}`);
  if (!ENGINES.includes(values.engine as (typeof ENGINES)[number]))
    exitWithUsageError(COMMAND, `--engine wants one of ${ENGINES.join(", ")}, not ${values.engine}`);
  return {
    guests,
    diskBytes,
    trace: values.trace as TraceLevel,
    engine: values.engine === "wasmtime" ? wasmtime() : v8Engine,
  };
}

/** wasmtime, or a clear exit when it cannot be had. */
function wasmtime(): Engine {
  try {
    return wasmtimeEngine(wasmtimeLibrary());
  } catch (error) {
    exitWithError(COMMAND, `--engine wasmtime: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** "4M" → 4 MiB, "512K" → 512 KiB, "8192" → 8192 bytes; null when it is none of these. */
function parseSize(text: string): number | null {
  const match = /^(\d+)([KM]?)$/i.exec(text);
  if (!match) return null;
  const unit = { "": 1, K: KiB, M: MiB }[match[2]!.toUpperCase() as "" | "K" | "M"];
  return Number(match[1]) * unit;
}

function size(bytes: number): string {
  return bytes >= MiB ? `${+(bytes / MiB).toFixed(1)} MiB` : `${+(bytes / KiB).toFixed(1)} KiB`;
}

/** The same bytes for the same guest and offset: what a guest writes and later expects to read. */
function pattern(guest: number, offset: number, length: number): Uint8Array {
  const words = new Uint32Array(length / 4);
  for (let i = 0; i < words.length; i++) {
    let x = Math.imul((offset / 4 + i) ^ (guest << 24), 0x9e3779b1);
    x ^= x >>> 15;
    words[i] = Math.imul(x, 0x85ebca77) ^ (x >>> 13);
  }
  return new Uint8Array(words.buffer);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

const options = parseOptions();
await buildStale(["xenbus", "netback"]);
// Imported once built: loading it reads build/xenbus.wasm.
const { createGuestDomain } = await import("../../host/system/guest-domain.js");
const { NetBack, netbackModule } = await import("../../host/system/netback-domain.js");
const started = performance.now();
const elapsed = (): number => performance.now() - started;
const show = (level: TraceLevel, who: string, what: string): void => {
  if (TRACE_LEVELS.indexOf(options.trace) >= TRACE_LEVELS.indexOf(level)) {
    console.log(`${elapsed().toFixed(1).padStart(8)} ms  ${who.padEnd(7)} ${what}`);
  }
};
const step = (who: string, what: string): void => show("steps", who, what);

// dom0 and its services, and a watch on every device's state.
const hv = new Hypervisor();
const toolstack = startXenstore(hv);
const monitor = new DeviceStateMonitor(toolstack, {
  clock: elapsed,
  onTransition: (transition) => show("states", "xenbus", describeTransition(transition)),
});
hv.onExit((domain) => step(`dom${domain.domid}`, `exited (${domain.exit?.reason}) ${domain.exit?.message ?? ""}`));
step(
  "dom0",
  `xenstored, the toolstack and the console backends are up; watching every device's state; Wasm domains run in ${options.engine.name}`,
);

/** A domain the toolstack made, connected to xenstored, its console lines shown as they arrive. */
function createDomain<E extends XenbusExports = XenbusExports>(
  name: string,
  role: string,
  wasm?: Uint8Array,
): GuestDomain<E> {
  const domain = createGuestDomain<E>(toolstack, name, options.engine, wasm);
  const { guest, console } = domain;
  const who = `dom${guest.domid}`;
  console.log.listener = (line) => show("states", who, `console: ${line}`);
  // What the guest prints through Xen's own console (CONSOLEIO_write): driver errors, for instance.
  guest.domain.console.listener = (line) => show("states", who, `xen console: ${line}`);
  const store = xenstore(guest);
  step(who, `"${name}" booted (${role}), introduced to xenstored as ${store.getDomainPath(guest.domid)}`);
  const pv = guestConsole(guest);
  pv.write(`hello dom0, this is ${name} (${who}), a Wasm unikernel on a PV console\n`);
  // And the other way: dom0 types a line, the guest reads it and answers.
  console.send(`welcome, ${name}\n`);
  hv.runUntilIdle();
  pv.write(`dom0 said: ${pv.read().trim()}\n`);
  return domain;
}

/** One guest and its disk, and what was measured on it. */
interface Machine {
  domain: GuestDomain;
  front: BlkFront;
  disk: Disk;
  vbd: DeviceId;
  ringPages: number;
  /** Milliseconds from plugging the disk in to its vbd Connected, for each plug. */
  connectMs: number[];
  requests: bigint;
  verified: { written: boolean; image: boolean; replugged: boolean };
  unplugged: UnplugOutcome | null;
}

const backendDomain = createDomain("blkback", "block backend");
const blkback = new BlkBack(backendDomain.guest).start();
const machines: Machine[] = [];

/** Guest `index` with its block frontend started, and a disk for it in blkback. */
function createMachine(index: number): Machine {
  const domain = createDomain(`guest${index}`, "block frontend");
  const disk = blkback.createDisk(options.diskBytes / 512);
  step(
    `dom${backendDomain.guest.domid}`,
    `disk ${disk.number}: ${size(options.diskBytes)} image in blkback's memory, for dom${domain.guest.domid}`,
  );
  return {
    domain,
    front: new BlkFront(domain.guest).start(),
    disk,
    vbd: { type: "vbd", devid: XVDA, frontend: domain.guest.domid, backend: backendDomain.guest.domid },
    ringPages: 0,
    connectMs: [],
    requests: 0n,
    verified: { written: false, image: false, replugged: false },
    unplugged: null,
  };
}

/** The toolstack plugs the disk in; the guest waits (SCHEDOP_block) until its vbd is Connected. */
function plug(machine: Machine): void {
  const who = `dom${machine.vbd.frontend}`;
  step("dom0", `plugs disk ${machine.disk.number} of dom${machine.vbd.backend} into ${who} as vbd ${XVDA} (xvda)`);
  const pluggedAt = elapsed();
  toolstack.devices.add({ ...machine.vbd, backendParams: machine.disk.params });
  machine.front.open(XVDA);
  machine.connectMs.push(elapsed() - pluggedAt);
  const info = machine.front.info(XVDA);
  machine.ringPages = info.ringPages;
  step(
    who,
    `xvda Connected ${machine.connectMs.at(-1)!.toFixed(1)} ms after the plug: ${size(Number(info.sectors) * 512)}, ` +
      `${info.ringPages}-page ring, flush ${info.flush ? "offered" : "not offered"}`,
  );
}

const io = { written: 0, read: 0, writeMs: 0, readMs: 0 };

/** Writes `data` over the whole disk through blkfront, a chunk at a time, timing only the I/O. */
function writeDisk(machine: Machine, data: Uint8Array): number {
  const start = performance.now();
  for (let offset = 0; offset < data.length; offset += CHUNK)
    machine.front.write(XVDA, offset / 512, data.subarray(offset, offset + CHUNK));
  const ms = performance.now() - start;
  io.written += data.length;
  io.writeMs += ms;
  return ms;
}

/** Reads the whole disk through blkfront, a chunk at a time, timing only the I/O. */
function readDisk(machine: Machine): { data: Uint8Array; ms: number } {
  const data = new Uint8Array(options.diskBytes);
  const start = performance.now();
  for (let offset = 0; offset < data.length; offset += CHUNK) {
    const length = Math.min(CHUNK, data.length - offset);
    data.set(machine.front.read(XVDA, offset / 512, length / 512), offset);
  }
  const ms = performance.now() - start;
  io.read += data.length;
  io.readMs += ms;
  return { data, ms };
}

function writeAndVerify(machine: Machine): void {
  const who = `dom${machine.vbd.frontend}`;
  const expected = pattern(machine.vbd.frontend, 0, options.diskBytes);
  const writeMs = writeDisk(machine, expected);
  machine.front.flush(XVDA);
  step(who, `wrote a pattern over all of xvda (${size(options.diskBytes)} in ${writeMs.toFixed(1)} ms) and flushed it`);
  const { data, ms } = readDisk(machine);
  machine.verified.written = equal(data, expected);
  // The bytes are in the backend's image, not just somewhere in the guest.
  machine.verified.image = equal(machine.disk.image(), expected);
  step(
    who,
    `read it back (${ms.toFixed(1)} ms): ${machine.verified.written ? "every byte as written" : "MISMATCH"}; ` +
      `blkback's image ${machine.verified.image ? "holds the same bytes" : "DIFFERS"}`,
  );
}

function unplugAndReplug(machine: Machine): void {
  const who = `dom${machine.vbd.frontend}`;
  // The device's counters go with it.
  machine.requests += machine.front.info(XVDA).requests;
  step("dom0", `hot-unplugs ${who}'s xvda: online 0 and Closing for the backend, then the device entries go`);
  machine.unplugged = toolstack.devices.unplug(machine.vbd);
  hv.runUntilIdle();
  step(
    "dom0",
    `${who}'s xvda is gone (${machine.unplugged === "closed" ? "the backend closed it" : "removed without the backend closing it"})`,
  );
  plug(machine);
  const { data, ms } = readDisk(machine);
  machine.verified.replugged = equal(data, pattern(machine.vbd.frontend, 0, options.diskBytes));
  step(
    who,
    `read xvda back after the re-plug (${ms.toFixed(1)} ms): ${machine.verified.replugged ? "the data survived" : "MISMATCH"}`,
  );
  machine.requests += machine.front.info(XVDA).requests;
}

// The network: a driver domain whose netback serves a vif per guest and switches frames between them.

/** A guest's vif and what its pings found. */
interface Vif {
  machine: Machine;
  front: NetFront;
  host: Host;
  connected: boolean;
  /** Round-trip times of the echo requests answered (the first guest pings each other guest). */
  rtts: number[];
}

const VIF = 0;
let netbackDomain = null as GuestDomain<NetbackExports> | null;
const vifs: Vif[] = [];

function plugVifs(): void {
  netbackDomain = createDomain<NetbackExports>("netback", "network backend and bridge", netbackModule());
  const netId = netbackDomain.guest.domid;
  new NetBack(netbackDomain.guest).start();
  step(`dom${netId}`, "serving vifs and bridging the frames between them");
  machines.forEach((machine, i) => {
    const who = `dom${machine.vbd.frontend}`;
    step("dom0", `plugs vif ${VIF} of dom${netId} into ${who}`);
    const paths = toolstack.devices.add({ type: "vif", devid: VIF, frontend: machine.vbd.frontend, backend: netId });
    const front = new NetFront(machine.domain.guest).start();
    front.open(VIF);
    const info = front.info(VIF);
    const host = { mac: info.mac, ip: `10.0.0.${i + 2}` };
    vifs.push({ machine, front, host, connected: false, rtts: [] });
    step(
      who,
      `vif ${VIF} Connected: MAC ${info.mac} (the toolstack's, in ${paths.frontend}/mac), MTU ${info.mtu}; ` +
        `this guest is ${host.ip}`,
    );
  });
}

/** `from` sends `frame`; `to` takes what comes and its responder answers; `from` gets the answer (or null). */
function exchange(from: Vif, to: Vif, frame: Uint8Array): Uint8Array | null {
  from.front.send(VIF, frame);
  const request = to.front.receive(VIF, FRAME_TIMEOUT_MS);
  const reply = request && answer(to.host, request.data);
  if (!reply) return null;
  to.front.send(VIF, reply);
  return from.front.receive(VIF, FRAME_TIMEOUT_MS)?.data ?? null;
}

/** The first guest pings `to`: ARP for its MAC, then PINGS echo requests, each timed from send to reply. */
function ping(from: Vif, to: Vif): void {
  const who = `dom${from.machine.vbd.frontend}`;
  const arp = exchange(from, to, arpRequest(from.host, to.host.ip));
  const mac = arp && arpReplyFrom(arp, to.host.ip);
  if (!mac) throw new Error(`${from.host.ip} got no ARP reply from ${to.host.ip}`);
  step(who, `ARP: ${to.host.ip} is at ${mac}`);
  const peer = { mac, ip: to.host.ip };
  show("steps", who, `PING ${to.host.ip}: 56 data bytes`);
  for (let seq = 1; seq <= PINGS; seq++) {
    const start = performance.now();
    const reply = exchange(from, to, echoRequest(from.host, peer, from.machine.vbd.frontend, seq));
    const rtt = performance.now() - start;
    const echo = reply && echoReplyFrom(reply, peer, from.machine.vbd.frontend, seq);
    if (!echo) {
      step(who, `icmp_seq=${seq}: no reply`);
      continue;
    }
    from.rtts.push(rtt);
    show(
      "steps",
      who,
      `${echo.bytes} bytes from ${to.host.ip}: icmp_seq=${seq} ttl=${echo.ttl} time=${rtt.toFixed(2)} ms`,
    );
  }
}

let failure: Error | null = null;
try {
  for (let index = 1; index <= options.guests; index++) machines.push(createMachine(index));
  hv.runUntilIdle();
  for (const machine of machines) plug(machine);
  for (const machine of machines) writeAndVerify(machine);
  for (const machine of machines) unplugAndReplug(machine);
  plugVifs();
  for (const to of vifs.slice(1)) ping(vifs[0]!, to);
} catch (error) {
  failure = error instanceof Error ? error : new Error(String(error));
  show("summary", "demo", `stopped: ${failure.message}`);
}
hv.runUntilIdle();
monitor.stop();

/** The states one end of a vbd went through, from the monitor's record. */
function history(domid: number, device: string): string {
  const states = monitor.transitions
    .filter((t) => t.domid === domid && t.device === device)
    .map((t) => stateName(t.to));
  return states.join(" → ");
}

const domains = [
  backendDomain,
  ...machines.map((machine) => machine.domain),
  ...(netbackDomain ? [netbackDomain] : []),
];
const greeted = domains.filter(({ guest, console }) =>
  console.log.lines().some((line) => line.startsWith(`hello dom0, this is ${guest.name} `)),
);
const answered = domains.filter(({ guest, console }) =>
  console.log.lines().includes(`dom0 said: welcome, ${guest.name}`),
);
const connected = (machine: Machine): boolean => {
  const { frontend, backend } = devicePaths(machine.vbd);
  const front = monitor.state(`${frontend}/state`);
  const back = monitor.state(`${backend}/state`);
  return stateName(front) === "Connected" && stateName(back) === "Connected";
};
const allVerified = machines.every((m) => m.verified.written && m.verified.image && m.verified.replugged);
const netId = netbackDomain?.guest.domid;
const vifConnected = (vif: Vif): boolean => {
  const { frontend, backend } = devicePaths({
    type: "vif",
    devid: VIF,
    frontend: vif.machine.vbd.frontend,
    backend: netId!,
  });
  return (
    stateName(monitor.state(`${frontend}/state`)) === "Connected" &&
    stateName(monitor.state(`${backend}/state`)) === "Connected"
  );
};
const pinged = vifs.slice(1);
const replies = vifs[0]?.rtts ?? [];
const pingOk = vifs.length === machines.length && vifs.every(vifConnected) && replies.length === pinged.length * PINGS;
const ok =
  failure === null &&
  greeted.length === domains.length &&
  answered.length === domains.length &&
  machines.every(connected) &&
  allVerified &&
  pingOk &&
  domains.every(({ guest }) => guest.exit === null);
const rate = (bytes: number, ms: number): string =>
  ms > 0 ? `${(bytes / MiB / (ms / 1000)).toFixed(1)} MiB/s` : "n/a";
const requests = machines.reduce((sum, machine) => sum + machine.requests, 0n);
const backendId = backendDomain.guest.domid;

const summary = [
  "",
  "Summary",
  `  domains        dom0 (native: xenstored, toolstack, console backends), dom${backendId} "blkback" (Wasm block backend), ` +
    (machines.length === 1
      ? `dom${machines[0]!.vbd.frontend} "guest1" (Wasm)`
      : `${machines.length} Wasm guests dom${machines[0]?.vbd.frontend}–dom${machines.at(-1)?.vbd.frontend}`) +
    (netId === undefined ? "" : `, dom${netId} "netback" (Wasm network backend and bridge)`),
  `  engine         the Wasm domains ran in ${options.engine.name}`,
  `  consoles       ${greeted.length} of ${domains.length} greetings reached dom0's console backends; ${answered.length} of ${domains.length} domains read dom0's reply and echoed it`,
  ...machines.flatMap((m) => [
    `  device         dom${m.vbd.frontend} xvda (vbd ${XVDA}) ↔ dom${backendId} disk ${m.disk.number}, ${size(options.diskBytes)}, ${m.ringPages}-page ring: ` +
      `${connected(m) ? "Connected at both ends" : "NOT Connected"}`,
    `                 unplugged (${m.unplugged ?? "not reached"}) and re-plugged; plug to Connected in ${m.connectMs.map((ms) => `${ms.toFixed(1)} ms`).join(", then ")}`,
  ]),
  ...machines.flatMap((m) => [
    `  states         dom${m.vbd.frontend} frontend: ${history(m.vbd.frontend, `vbd/${XVDA}`)}`,
    `                 dom${backendId} backend:  ${history(backendId, `vbd/${m.vbd.frontend}/${XVDA}`)}`,
  ]),
  `  pattern        ${machines.filter((m) => m.verified.written && m.verified.image).length} of ${machines.length} disks written and read back verified, ` +
    `${machines.filter((m) => m.verified.replugged).length} of ${machines.length} verified again after the re-plug`,
  `  bytes moved    ${size(io.written)} written, ${size(io.read)} read, in ${requests} blkif requests`,
  `  network        ${netId === undefined ? "not reached" : `dom${netId} "netback" (Wasm network backend and bridge): ${vifs.filter(vifConnected).length} of ${machines.length} vifs Connected at both ends`}`,
  `  ping           ${
    pinged.length === 0
      ? "nobody to ping with one guest"
      : `${vifs[0]!.host.ip} → ${pinged.map((vif) => vif.host.ip).join(", ")}: ${replies.length} of ${pinged.length * PINGS} echo requests answered` +
        (
          replies.length > 0
            ? `, rtt min/avg/max ${Math.min(...replies).toFixed(2)}/${(replies.reduce((a, b) => a + b, 0) / replies.length).toFixed(2)}/${Math.max(...replies).toFixed(2)} ms`
            : ""
        )
  }`,
  `  throughput     write ${rate(io.written, io.writeMs)}, read ${rate(io.read, io.readMs)} (through blkfront, the rings and blkback)`,
  `  time           ${elapsed().toFixed(1)} ms in all`,
  `  result         ${ok ? "everything checked out" : `MISMATCH: ${failure?.message ?? "see above"}`}`,
];
console.log(summary.join("\n"));
process.exit(ok ? 0 : 1);
