// The XenStore client component's read loop, for `npm run bench`
// (component_socket_read): the loop of bench/native/xenstore_read.c with the
// component over connectXenstored in place of libxenstore. Connects as Xen's
// tools do (XENSTORED_PATH, else the standard socket), writes one node, reads
// it back in a loop calibrated to >= 0.5 s, and prints the best reads/s of 5
// runs. With --wasmtime the component runs in wasmtime
// (component_socket_read_wasmtime; the library from $XENBUS_WASM_WASMTIME).
// A child process of bench/run.ts, whose event loop serves xenstored.
//   tsx bench/component-read.ts [--wasmtime] PATH
import { type ComponentXenstore, openXenstoreComponent } from "../runtime/component.js";
import { connectXenstored } from "../runtime/socket-stream.js";
import { openXenstoreComponentInWasmtime } from "../runtime/wasmtime-component.js";

const VALUE = "a value of some thirty-two bytes";

/** Reads `path` `n` times; false if any read returns the wrong value. */
function reads(xs: ComponentXenstore, path: string, n: number): boolean {
  for (let i = 0; i < n; i++) if (xs.read(path) !== VALUE) return false;
  return true;
}

/** Seconds `n` reads take; throws when one returned the wrong value. */
function timed(xs: ComponentXenstore, path: string, n: number): number {
  const start = performance.now();
  if (!reads(xs, path, n)) throw new Error(`a read of ${path} returned something other than what was written`);
  return (performance.now() - start) / 1000;
}

const inWasmtime = process.argv[2] === "--wasmtime";
const path = process.argv[inWasmtime ? 3 : 2];
if (path === undefined) {
  console.error("usage: component-read [--wasmtime] PATH");
  process.exit(2);
}
const xs = (inWasmtime ? openXenstoreComponentInWasmtime : openXenstoreComponent)(connectXenstored());
xs.write(path, VALUE);
let n = 64;
let seconds: number;
do {
  n *= 2;
  seconds = timed(xs, path, n);
} while (seconds < 0.1);
n = Math.floor((n * 0.5) / seconds) + 1;
let best = 0;
for (let run = 0; run < 5; run++) best = Math.max(best, n / timed(xs, path, n));
console.log(Math.round(best));
xs.close();
