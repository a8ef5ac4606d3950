// Builds the guest modules: asc (release) → wasm-opt -Oz → build/<name>.wasm,
// and a debug build with a source map → build/<name>.debug.wasm. (The
// package's dist/ is made by `npm run dist` when packing: tools/dist.ts.)
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";

/** Wasm features the guest uses; wasm-opt must be told each one explicitly. */
const FEATURES = ["threads", "bulk-memory", "sign-ext", "mutable-globals", "nontrapping-float-to-int"];

/** name → entry file. `xenbus` is what ships; `harness` exposes ring math and bench loops to tests. */
const MODULES: Record<string, string> = {
  xenbus: "assembly/index.ts",
  harness: "assembly/harness.ts",
};

/** Runs a build tool; its output goes to stderr so `npm run layouts` keeps stdout for JSON. */
function run(tool: string, args: string[]): void {
  try {
    execFileSync(`node_modules/.bin/${tool}`, args, { stdio: ["ignore", process.stderr, process.stderr] });
  } catch {
    console.error(`build failed: ${tool} ${args.join(" ")}`);
    process.exit(1);
  }
}

mkdirSync("build", { recursive: true });
for (const [name, entry] of Object.entries(MODULES)) {
  run("asc", [entry, "--config", "asconfig.json", "--target", "release", "-o", `build/${name}.asc.wasm`]);
  run("wasm-opt", [`build/${name}.asc.wasm`, "-Oz", ...FEATURES.map((f) => `--enable-${f}`), "-o", `build/${name}.wasm`]);
  run("asc", [entry, "--config", "asconfig.json", "--target", "debug", "-o", `build/${name}.debug.wasm`]);
}
