// `npm run bench [-- NAME...]`: ring workloads run by the Wasm harness and by a
// native C baseline (gcc -O2 over Xen's own io/ring.h); Debian's libxenstore
// reading through the simulated xenstored's socket, and the XenStore client
// component (in Node) in the same loop beside it; the guest's XenStore
// client through its store ring (round trips, and its memory under a long
// mixed load); block requests through blkfront, the hypervisor and a Wasm
// blkback, and how long guests take from creation to a Connected disk (1,
// 100 and 1000 guests on one backend domain, with the boot's CPU time, the
// guests' and the backend's memory and the process's RSS); each fuzz
// target's cases per CPU second (bench/fuzz.ts, what `npm run fuzz` runs); the
// size of xenbus.wasm; and on real Xen in QEMU (bench/xen.ts), the
// unikernel's PVH ELF size and how long guests take to greet and connect
// their disks. The ring workloads, the XenStore round trips, 4 KiB
// block reads and the 100 guests' boot also run with the guests in wasmtime
// (runtime/wasmtime.ts), as NAME_wasmtime, the ring workloads with their
// ratios to the same native baseline; they are skipped, saying so, where
// wasmtime cannot be had. The ring workloads run a third way as NAME_wasm2c:
// the harness turned into C by wasm2c and compiled by gcc -O2, natively, as
// the PVH host runs a module (bench/harness-wasm2c.ts), with its ratio too.
// One JSON object per line on stdout; progress on stderr, and before it the
// modules the chosen workloads run, built if stale (tools/build.ts).
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { promisify } from "node:util";
import { XenStored } from "../host/dom0/xenstored/server.js";
import { listenUnix } from "../host/dom0/xenstored/socket.js";
import { exitWithUsageError, parseCommandLine } from "../runtime/command-line.js";
import type { Engine } from "../runtime/engine.js";
import { wasmtimeEngine } from "../runtime/wasmtime.js";
import { buildStale, type TargetName } from "../tools/build.js";
import { compileC, debianPackage } from "../tools/debian.js";
import { wasmtimeLibrary } from "../tools/wasmtime.js";
import type { BlockGuest, BootFigures } from "./blk.js";
import { FUZZ_LANES, FUZZ_MODULES, fuzzCasesPerSecond } from "./fuzz.js";
import { harnessIn, loadHarness } from "./harness.js";
import { harnessWasm2c } from "./harness-wasm2c.js";
import { rigFigures, unikernelElfSize, XEN_ELF_SIZE, XEN_TIMES, xenTime } from "./xen.js";
import type { XenstoreGuest } from "./xenstore.js";
import {
  children60kMs,
  readLatencyUnderFloodMs,
  removeChildren60kMs,
  transactionWrites50kMs,
  watches60kMs,
} from "./xenstored.js";

/** Workload name → the harness export that runs it `n` times and returns the ops done (0 on a failed self-check). */
const WORKLOADS: Record<string, string> = {
  blkif_ring_roundtrip: "bench_blkif_roundtrip",
  xenstore_ring_msg: "bench_xenstore_msg",
};
const SIZE = "xenbus_wasm_size";
/** libxenstore (Debian's, linked statically) reading one node in a loop through the simulated xenstored's socket. */
const SOCKET_READ = "xenstored_socket_read";
/** The XenStore client component (in Node, over connectXenstored) in the same loop, same xenstored, same socket; and its ratio to libxenstore. */
const COMPONENT_READ = "component_socket_read";
const COMPONENT_READ_RATIO = "component_socket_read_ratio";
/** The same, with the component in wasmtime (runtime/wasmtime-component.ts). */
const COMPONENT_READ_RATIO_WASMTIME = "component_socket_read_wasmtime_ratio";

/** xenstored's costs at scale (bench/xenstored.ts), each in ms. */
const XENSTORED_SCALE: Record<string, () => number | Promise<number>> = {
  xenstored_children_60k_ms: () => children60kMs(),
  xenstored_rm_children_60k_ms: () => removeChildren60kMs(),
  xenstored_watches_60k_ms: () => watches60kMs(),
  xenstored_tx_writes_50k_ms: () => transactionWrites50kMs(),
  xenstored_read_latency_under_flood_ms: () => readLatencyUnderFloodMs(),
};

/** Suffix of a workload run with its guest in wasmtime instead of V8. */
const WASMTIME = "_wasmtime";
/** Suffix of a ring workload run as wasm2c's C, natively. */
const WASM2C = "_wasm2c";

/** The guest's xs_read / xs_write of one node, each a round trip through the store ring to the simulated xenstored. */
const XENSTORE_ROUNDTRIPS: Record<string, (guest: XenstoreGuest, n: number) => boolean> = {
  xenstore_read_roundtrip: (guest, n) => guest.readRoundtrips(n),
  xenstore_write_roundtrip: (guest, n) => guest.writeRoundtrips(n),
};
/** The round trips also measured under wasmtime. */
const XENSTORE_ROUNDTRIPS_WASMTIME = ["xenstore_read_roundtrip", "xenstore_write_roundtrip"];
/** A guest's 4 KiB block requests, each a round trip through blkfront, the ring and the Wasm blkback domain. */
const BLOCK_REQUESTS: Record<string, (guest: BlockGuest, n: number) => number> = {
  blk_read_4k: (guest, n) => guest.reads(n),
  blk_write_4k: (guest, n) => guest.writes(n),
};
/** The block requests also measured under wasmtime (both domains in it). */
const BLOCK_REQUESTS_WASMTIME = ["blk_read_4k"];
/**
 * Frames between two Wasm guests through the Wasm netback (bench/net.ts),
 * each lane with the frame size and what it times: the sender's net_send
 * calls with the netback's work they wait for (tx), the receiver's net_recv
 * calls (rx), or both (the throughput, in Mbit/s of Ethernet frames).
 */
const NET_LANES: Record<string, { length: number; timed: "send" | "receive" | "both" }> = {
  net_tx_pps_64: { length: 64, timed: "send" },
  net_tx_pps_1500: { length: 1500, timed: "send" },
  net_rx_pps_64: { length: 64, timed: "receive" },
  net_rx_pps_1500: { length: 1500, timed: "receive" },
  net_throughput_mbps: { length: 1514, timed: "both" },
};
/** Guests created at once → the workload timing them from creation until every disk is Connected. */
const BOOT_TO_CONNECTED: Record<string, number> = {
  boot_to_connected_ms: 1,
  boot_to_connected_ms_100_guests: 100,
  boot_to_connected_ms_1000_guests: 1000,
};
/** Boots timed once (a minute or two), not best of BOOT_RUNS. */
const BOOT_TO_CONNECTED_ONCE = ["boot_to_connected_ms_1000_guests"];
/** The boots also timed under wasmtime (every Wasm domain in it). */
const BOOT_TO_CONNECTED_WASMTIME = ["boot_to_connected_ms_100_guests"];
/** Boots are timed this many times, the best reported (the first pays for compiling the module). */
const BOOT_RUNS = 3;

/**
 * The guest's memory after a warm-up of mixed XenStore operations and after
 * MEMORY_OPERATIONS more: linear memory, and how far the heap reached (which
 * moves long before linear memory must grow). A steady state allocates
 * nothing it does not free, so both growths should be 0.
 */
const MEMORY_BEFORE = "xenstore_guest_memory_before";
const MEMORY_AFTER = "xenstore_guest_memory_after";
const MEMORY_GROWTH = "xenstore_guest_memory_growth";
const HEAP_GROWTH = "xenstore_guest_heap_high_water_growth";
const MEMORY_RESULTS = [MEMORY_BEFORE, MEMORY_AFTER, MEMORY_GROWTH, HEAP_GROWTH];
const MEMORY_OPERATIONS = 100_000;

/** Each measurement runs at least this long; the best of RUNS is reported (as bench/native/rings.c does). */
const MIN_SECONDS = 0.5;
const RUNS = 5;

function emit(name: string, value: number, unit: string): void {
  console.log(JSON.stringify({ name, value, unit }));
}

/**
 * Ops/s of `run(n)`, which does `n` operations and returns how many it did (0
 * when its self-check failed). Calibration starts at `n = 2^14`.
 */
function opsPerSecond(run: (n: number) => number | { ops: number; seconds: number }, name: string): number {
  const timed = (n: number): { ops: number; seconds: number } => {
    const start = performance.now();
    const result = run(n);
    // A run that times only part of its work says how long that part took.
    const ops = typeof result === "number" ? result >>> 0 : result.ops;
    const seconds = typeof result === "number" ? (performance.now() - start) / 1000 : result.seconds;
    if (ops === 0) throw new Error(`${name}: the workload's self-check failed`);
    return { ops, seconds };
  };
  // Calibrating also warms the engine up to its optimising tier.
  let n = 1 << 14;
  let probe = timed(n);
  while (probe.seconds < 0.1) {
    n *= 4;
    probe = timed(n);
  }
  n = Math.min(0xffffffff, Math.ceil((n * MIN_SECONDS) / probe.seconds));
  let best = 0;
  for (let i = 0; i < RUNS; i++) {
    const { ops, seconds } = timed(n);
    best = Math.max(best, ops / seconds);
  }
  return best;
}

/** The native baseline's binary, or undefined (with the reason on stderr) when it cannot be built here. */
function nativeBaseline(): string | undefined {
  try {
    const include = join(debianPackage("libxen-dev"), "usr/include");
    return compileC("rings", ["bench/native/rings.c"], ["-I", include]);
  } catch (error) {
    console.error(`skipping native baselines: ${(error as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

/** libxenstore's read loop (bench/native/xenstore_read.c), built; undefined (said on stderr) where it cannot be. */
function libxenstoreClient(): string[] | undefined {
  try {
    const lib = join(debianPackage("libxen-dev"), "usr/lib/x86_64-linux-gnu");
    const include = join(debianPackage("libxen-dev"), "usr/include");
    return [
      compileC(
        "xenstore_read",
        ["bench/native/xenstore_read.c", join(lib, "libxenstore.a"), join(lib, "libxentoolcore.a")],
        ["-I", include],
      ),
    ];
  } catch (error) {
    console.error(`skipping ${SOCKET_READ}: ${(error as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

/** The component's read loop (bench/component-read.ts), in a Node child; with --wasmtime, the component in wasmtime. */
const COMPONENT_CLIENT = [process.execPath, "--import", "tsx", "bench/component-read.ts"];

/**
 * Reads/s of a client's loop (the command `client`, given the node's path)
 * against a fresh simulated xenstored on a Unix socket. xenstored runs in
 * this process's event loop, so the client runs as an asynchronous child.
 */
async function socketReadsPerSecond(client: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), "xenstored-bench-"));
  const socket = join(directory, "socket");
  const listener = await listenUnix(new XenStored(), socket);
  try {
    const [command, ...args] = client;
    const { stdout } = await promisify(execFile)(command!, [...args, "/bench/node"], {
      env: { ...process.env, ...env, XENSTORED_PATH: socket },
    });
    return Number(stdout.trim());
  } finally {
    await listener.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

/** wasmtime's C API library, made on first use; undefined (said once on stderr) where it cannot be had. */
let wasmtime: string | undefined | null = null;
function wasmtimeLibraryOrSkip(): string | undefined {
  if (wasmtime === null) {
    try {
      wasmtime = wasmtimeLibrary();
    } catch (error) {
      console.error(`skipping the wasmtime workloads: ${(error as Error).message.split("\n")[0]}`);
      wasmtime = undefined;
    }
  }
  return wasmtime;
}

/** An engine running guests in wasmtime; undefined where wasmtime cannot be had. */
function wasmtimeOrSkip(): Engine | undefined {
  const library = wasmtimeLibraryOrSkip();
  return library === undefined ? undefined : wasmtimeEngine(library);
}

/** The module each result runs: a target of tools/build.ts, built when stale before anything runs. */
const RUNS_MODULE: Partial<Record<TargetName, string[]>> = {
  harness: Object.keys(WORKLOADS).flatMap((name) => [name, name + WASMTIME, name + WASM2C]),
  "xenstore-client": [COMPONENT_READ, COMPONENT_READ_RATIO, COMPONENT_READ + WASMTIME, COMPONENT_READ_RATIO_WASMTIME],
  xenbus: [
    ...Object.keys(XENSTORE_ROUNDTRIPS),
    ...XENSTORE_ROUNDTRIPS_WASMTIME.map((name) => name + WASMTIME),
    ...MEMORY_RESULTS,
    ...Object.keys(BLOCK_REQUESTS),
    ...BLOCK_REQUESTS_WASMTIME.map((name) => name + WASMTIME),
    ...Object.keys(BOOT_TO_CONNECTED),
    ...BOOT_TO_CONNECTED_WASMTIME.map((name) => name + WASMTIME),
    SIZE,
    ...Object.keys(NET_LANES).flatMap((name) => [name, name + WASMTIME]),
  ],
  // The network lanes run both: the guests' netfront and the driver domain's netback.
  netback: Object.keys(NET_LANES).flatMap((name) => [name, name + WASMTIME]),
  // The rig boots every unikernel (tools/xen/rig.ts).
  unikernel: [XEN_ELF_SIZE, ...Object.keys(XEN_TIMES)],
  checks: [XEN_ELF_SIZE, ...Object.keys(XEN_TIMES)],
  blkback: [XEN_ELF_SIZE, ...Object.keys(XEN_TIMES)],
};
// The fuzz targets' properties load these (test/support/properties/index.ts).
for (const module of FUZZ_MODULES) RUNS_MODULE[module] = [...(RUNS_MODULE[module] ?? []), ...FUZZ_LANES.keys()];
/** libxenstore's is native code alone. */
const known = [
  ...new Set([
    ...Object.values(RUNS_MODULE).flat(),
    SOCKET_READ,
    ...Object.keys(XENSTORED_SCALE),
    ...FUZZ_LANES.keys(),
  ]),
];

const HELP = `npm run bench [-- NAME...]

Runs the benchmarks (all, or the NAMEs given) and prints one JSON object per
line on stdout, {"name", "value", "unit"}; progress goes to stderr. Before
they run, the modules they use are built if a source is newer (saying so).

Names:
${known.map((name) => `  ${name}`).join("\n")}

Options:
  -h, --help   this text`;

const { positionals: selected } = parseCommandLine("npm run bench", HELP, { allowPositionals: true });
const unknown = selected.filter((name) => !known.includes(name));
if (unknown.length > 0) exitWithUsageError("npm run bench", `unknown workload ${unknown.join(", ")}`);
const wanted = (name: string): boolean => selected.length === 0 || selected.includes(name);

await buildStale(
  Object.entries(RUNS_MODULE)
    .filter(([, names]) => names.some(wanted))
    .map(([target]) => target as TargetName),
);

/** The wasm2c-compiled harness, built when stale; undefined (said on stderr) where it cannot be. */
function wasm2cHarnessOrSkip(): string | undefined {
  try {
    return harnessWasm2c();
  } catch (error) {
    console.error(`skipping the wasm2c workloads: ${(error as Error).message.split("\n")[0]}`);
    return undefined;
  }
}

const rings = Object.keys(WORKLOADS).filter((name) => wanted(name) || wanted(name + WASMTIME) || wanted(name + WASM2C));
if (rings.length > 0) {
  const native = nativeBaseline();
  const v8 = rings.some(wanted) ? loadHarness().harness : undefined;
  const inWasmtime = rings.some((name) => wanted(name + WASMTIME)) ? wasmtimeOrSkip() : undefined;
  const wasmtimeHarness = inWasmtime && harnessIn(inWasmtime);
  const wasm2cHarness = rings.some((name) => wanted(name + WASM2C)) ? wasm2cHarnessOrSkip() : undefined;
  for (const name of rings) {
    const results: [string, number][] = [];
    if (v8 && wanted(name)) {
      console.error(`${name}: wasm in V8…`);
      const run = v8[WORKLOADS[name]!]!;
      results.push([name, opsPerSecond((n) => run(n), name)]);
    }
    if (wasmtimeHarness && wanted(name + WASMTIME)) {
      console.error(`${name}${WASMTIME}: wasm in wasmtime…`);
      results.push([
        name + WASMTIME,
        opsPerSecond((n) => wasmtimeHarness.call(WORKLOADS[name]!, [n])!, name + WASMTIME),
      ]);
    }
    if (wasm2cHarness && wanted(name + WASM2C)) {
      console.error(`${name}${WASM2C}: wasm2c's C, native…`);
      results.push([name + WASM2C, Number(execFileSync(wasm2cHarness, [name], { encoding: "utf8" }).trim())]);
    }
    for (const [result, ops] of results) emit(result, Math.round(ops), "ops/s");
    if (native === undefined || results.length === 0) continue;
    console.error(`${name}: native…`);
    const nativeOps = Number(execFileSync(native, [name], { encoding: "utf8" }).trim());
    emit(`${name}_native`, Math.round(nativeOps), "ops/s");
    for (const [result, ops] of results) emit(`${result}_ratio`, Number((ops / nativeOps).toFixed(3)), "wasm/native");
  }
}
// The ratio needs libxenstore's figure, so asking for it or the component measures both.
const component = wanted(COMPONENT_READ) || wanted(COMPONENT_READ_RATIO);
const componentInWasmtime = wanted(COMPONENT_READ + WASMTIME) || wanted(COMPONENT_READ_RATIO_WASMTIME);
let libxenstoreReads: number | undefined;
if (wanted(SOCKET_READ) || component || componentInWasmtime) {
  const client = libxenstoreClient();
  if (client) {
    console.error(`${SOCKET_READ}: libxenstore through the socket…`);
    libxenstoreReads = await socketReadsPerSecond(client);
    if (wanted(SOCKET_READ)) emit(SOCKET_READ, Math.round(libxenstoreReads), "ops/s");
  }
}
if (component) {
  console.error(`${COMPONENT_READ}: the XenStore client component in Node through the same socket…`);
  const reads = await socketReadsPerSecond(COMPONENT_CLIENT);
  if (wanted(COMPONENT_READ)) emit(COMPONENT_READ, Math.round(reads), "ops/s");
  if (libxenstoreReads !== undefined)
    emit(COMPONENT_READ_RATIO, Number((reads / libxenstoreReads).toFixed(3)), "component/libxenstore");
}
const componentLibrary = componentInWasmtime ? wasmtimeLibraryOrSkip() : undefined;
if (componentLibrary !== undefined) {
  console.error(`${COMPONENT_READ}${WASMTIME}: the same component in wasmtime, in Node, through the same socket…`);
  const reads = await socketReadsPerSecond([...COMPONENT_CLIENT, "--wasmtime"], {
    XENBUS_WASM_WASMTIME: componentLibrary,
  });
  if (wanted(COMPONENT_READ + WASMTIME)) emit(COMPONENT_READ + WASMTIME, Math.round(reads), "ops/s");
  if (libxenstoreReads !== undefined)
    emit(COMPONENT_READ_RATIO_WASMTIME, Number((reads / libxenstoreReads).toFixed(3)), "component/libxenstore");
}
// bench/xenstore.ts and bench/blk.ts read build/xenbus.wasm as they load: each is imported where it is
// used, so that what needs no xenbus.wasm runs without it.
for (const [name, roundtrips] of Object.entries(XENSTORE_ROUNDTRIPS).filter(([name]) => wanted(name))) {
  const { XenstoreGuest } = await import("./xenstore.js");
  console.error(`${name}: the guest's client against the simulated xenstored…`);
  const guest = new XenstoreGuest();
  emit(name, Math.round(opsPerSecond((n) => (roundtrips(guest, n) ? n : 0), name)), "ops/s");
}
for (const name of XENSTORE_ROUNDTRIPS_WASMTIME.filter((name) => wanted(name + WASMTIME))) {
  const engine = wasmtimeOrSkip();
  if (!engine) break;
  const { XenstoreGuest } = await import("./xenstore.js");
  console.error(`${name}${WASMTIME}: the guest's client, in wasmtime, against the simulated xenstored…`);
  const guest = new XenstoreGuest(engine);
  const roundtrips = XENSTORE_ROUNDTRIPS[name]!;
  emit(name + WASMTIME, Math.round(opsPerSecond((n) => (roundtrips(guest, n) ? n : 0), name + WASMTIME)), "ops/s");
}
if (MEMORY_RESULTS.some(wanted)) {
  const { XenstoreGuest } = await import("./xenstore.js");
  const guest = new XenstoreGuest();
  const warmUp = guest.warmUp();
  console.error(`xenstore_guest_memory: ${warmUp} mixed XenStore operations to warm up, then ${MEMORY_OPERATIONS}…`);
  const [before, heapBefore] = [guest.memoryBytes(), guest.heapHighWater()];
  guest.mixed(MEMORY_OPERATIONS);
  const [after, heapAfter] = [guest.memoryBytes(), guest.heapHighWater()];
  const results: Record<string, number> = {
    [MEMORY_BEFORE]: before,
    [MEMORY_AFTER]: after,
    [MEMORY_GROWTH]: after - before,
    [HEAP_GROWTH]: heapAfter - heapBefore,
  };
  for (const name of MEMORY_RESULTS.filter(wanted)) emit(name, results[name]!, "bytes");
}
for (const [name, requests] of Object.entries(BLOCK_REQUESTS).filter(([name]) => wanted(name))) {
  const { BlockGuest } = await import("./blk.js");
  console.error(`${name}: blkfront → blkif ring → Wasm blkback, 4 KiB requests…`);
  const guest = new BlockGuest();
  emit(name, Math.round(opsPerSecond((n) => requests(guest, n), name)), "requests/s");
}
for (const name of BLOCK_REQUESTS_WASMTIME.filter((name) => wanted(name + WASMTIME))) {
  const engine = wasmtimeOrSkip();
  if (!engine) break;
  const { BlockGuest } = await import("./blk.js");
  console.error(`${name}${WASMTIME}: the same, both domains in wasmtime…`);
  const guest = new BlockGuest(engine);
  emit(
    name + WASMTIME,
    Math.round(opsPerSecond((n) => BLOCK_REQUESTS[name]!(guest, n), name + WASMTIME)),
    "requests/s",
  );
}
for (const [name, lane] of Object.entries(NET_LANES)) {
  for (const inWasmtime of [false, true]) {
    const result = name + (inWasmtime ? WASMTIME : "");
    if (!wanted(result)) continue;
    const engine = inWasmtime ? wasmtimeOrSkip() : undefined;
    if (inWasmtime && !engine) continue;
    const { NetPair } = await import("./net.js");
    console.error(
      `${result}: ${lane.length}-byte frames, netfront → Wasm netback and bridge → netfront, timing ${lane.timed}…`,
    );
    const pair = new NetPair(engine);
    const fps = opsPerSecond((n) => pair.frames(Math.min(n, 1 << 16), lane.length, lane.timed), result);
    if (lane.timed === "both") emit(result, Number(((fps * lane.length * 8) / 1e6).toFixed(1)), "Mbit/s");
    else emit(result, Math.round(fps), "frames/s");
  }
}
/** The main thread's garbage-collection pauses during some work, and how many were full (mark-compact) collections. */
interface GcPauses {
  gcMs: number;
  majorGcs: number;
}

/** Runs `work` and adds the collections it caused (perf_hooks delivers their entries after it returns). */
async function withGcPauses<T extends object>(work: () => T): Promise<T & GcPauses> {
  const pauses: GcPauses = { gcMs: 0, majorGcs: 0 };
  const count = (entries: PerformanceEntry[]) => {
    for (const entry of entries) {
      pauses.gcMs += entry.duration;
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
        pauses.majorGcs++;
    }
  };
  const observer = new PerformanceObserver((list) => count(list.getEntries()));
  observer.observe({ entryTypes: ["gc"] });
  const result = work();
  await new Promise((resolve) => setTimeout(resolve, 20));
  count(observer.takeRecords());
  observer.disconnect();
  return { ...result, ...pauses };
}

const boots = Object.entries(BOOT_TO_CONNECTED).flatMap(([name, guests]) => [
  { name, guests, inWasmtime: false },
  ...(BOOT_TO_CONNECTED_WASMTIME.includes(name) ? [{ name: name + WASMTIME, guests, inWasmtime: true }] : []),
]);
for (const { name, guests, inWasmtime } of boots.filter(({ name }) => wanted(name))) {
  const engine = inWasmtime ? wasmtimeOrSkip() : undefined;
  if (inWasmtime && !engine) continue;
  const { bootToConnected } = await import("./blk.js");
  const runs = BOOT_TO_CONNECTED_ONCE.includes(name) ? 1 : BOOT_RUNS;
  console.error(`${name}: ${guests} guest(s) from creation to a Connected disk, best of ${runs}…`);
  let best: (BootFigures & GcPauses) | undefined;
  for (let run = 0; run < runs; run++) {
    const figures = await withGcPauses(() => bootToConnected(guests, engine));
    if (!best || figures.ms < best.ms) best = figures;
  }
  emit(name, Number(best!.ms.toFixed(1)), "ms");
  // The same boot's CPU time and memory, under the boot's name with what each is.
  const figure = name.replace("_ms", "");
  emit(`${figure}_cpu_ms`, Math.round(best!.cpuMs), "ms");
  emit(`${figure}_guest_memory`, best!.guestMemory, "bytes");
  emit(`${figure}_backend_memory`, best!.backendMemory, "bytes");
  emit(`${figure}_rss`, best!.rss, "bytes");
  emit(`${figure}_gc_ms`, Math.round(best!.gcMs), "ms");
  emit(`${figure}_major_gcs`, best!.majorGcs, "count");
}
for (const [name, run] of Object.entries(XENSTORED_SCALE).filter(([name]) => wanted(name))) {
  console.error(`${name}…`);
  emit(name, Number((await run()).toFixed(1)), "ms");
}
for (const [name, target] of [...FUZZ_LANES].filter(([name]) => wanted(name))) {
  console.error(`${name}: ${target.name}'s cases per CPU second…`);
  emit(name, Math.round(await fuzzCasesPerSecond(target)), "cases/cpu-s");
}
if (wanted(SIZE)) emit(SIZE, statSync("build/xenbus.wasm").size, "bytes");
if ([XEN_ELF_SIZE, ...Object.keys(XEN_TIMES)].some(wanted)) {
  const figures = await rigFigures();
  const size = unikernelElfSize();
  if (figures && size !== undefined && wanted(XEN_ELF_SIZE)) emit(XEN_ELF_SIZE, size, "bytes");
  for (const name of Object.keys(XEN_TIMES).filter(wanted)) {
    const time = figures && xenTime(figures, name);
    if (time) emit(name, time.value, time.unit);
    else if (figures) console.error(`${name}: the rig's run has no such figure (a check before it failed?)`);
  }
}
