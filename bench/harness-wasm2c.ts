// build/harness.wasm turned into C by wasm2c and compiled with gcc -O2 into a
// native program (bench/native/harness_wasm2c.c) that runs the ring
// workloads: the module's code as a native unikernel runs it, without Xen.
// Rebuilt only when the module, the program or the tools are newer.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { cachePath, upToDate } from "../tools/cache.js";
import { compileC } from "../tools/debian.js";
import { wasm2c } from "../tools/wasm2c.js";
import { HARNESS_WASM } from "./harness.js";

const NAME = "harness_wasm2c";
const INPUTS = [
  HARNESS_WASM,
  "bench/native/harness_wasm2c.c",
  "bench/native/measure.h",
  "bench/harness-wasm2c.ts",
  "tools/wasm2c.ts",
];

/** The program's path, built if stale (PeerUnavailable where wasm2c or gcc cannot be had). */
export function harnessWasm2c(): string {
  const binary = cachePath("native", NAME);
  if (upToDate(binary, INPUTS)) return binary;
  const converter = wasm2c();
  mkdirSync(cachePath("native"), { recursive: true });
  const source = cachePath("native", "harness.c");
  converter.convert(HARNESS_WASM, source, "harness");
  const include = ["-I", converter.include, "-I", cachePath("native")];
  // wasm2c's output and runtime are not written for -Wall -Werror (thousands of unused values): objects built apart.
  const objects = [
    source,
    ...["wasm-rt-impl.c", "wasm-rt-mem-impl.c"].map((file) => join(converter.runtime, file)),
  ].map((file) => {
    const object = cachePath("native", `${basename(file, ".c")}.o`);
    execFileSync("gcc", ["-O2", "-w", ...include, "-c", file, "-o", object], { stdio: "pipe" });
    return object;
  });
  return compileC(NAME, ["bench/native/harness_wasm2c.c", ...objects], [...include, "-lm"]);
}
