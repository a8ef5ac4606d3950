// Builds the guest modules: asc (release) → wasm-opt -Oz → build/<name>.wasm,
// and a debug build with a source map → build/<name>.debug.wasm. Then the
// XenStore client component (assembly/component, wit/xenstore.wit):
// build/xenstore-client.wasm, and build/component/ for Node. (The package's
// dist/ is made by `npm run dist` when packing: tools/dist.ts.)
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import binaryen from "binaryen";

/** Wasm features asc emits by default; wasm-opt must be told each one explicitly. */
const FEATURES = ["bulk-memory", "sign-ext", "mutable-globals", "nontrapping-float-to-int"];
/** The guests' atomics on shared rings need threads too; the component has no shared memory. */
const GUEST_FEATURES = ["threads", ...FEATURES];

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
  run("wasm-opt", [`build/${name}.asc.wasm`, "-Oz", ...GUEST_FEATURES.map((f) => `--enable-${f}`), "-o", `build/${name}.wasm`]);
  run("asc", [entry, "--config", "asconfig.json", "--target", "debug", "-o", `build/${name}.debug.wasm`]);
}

/** The interface the component exports; its functions' core export names start with it. */
const CLIENT_INTERFACE = "xenbus-wasm:xenstore/client@0.1.0";

/**
 * The canonical ABI's name for an export of assembly/component/index.ts:
 * `get_perms` → "<interface>#get-perms", `post_read` → "cabi_post_<interface>#read".
 * memory and cabi_realloc keep theirs.
 */
function canonicalName(name: string): string {
  if (name === "memory" || name === "cabi_realloc") return name;
  const post = name.startsWith("post_");
  const qualified = `${CLIENT_INTERFACE}#${(post ? name.slice("post_".length) : name).replaceAll("_", "-")}`;
  return post ? `cabi_post_${qualified}` : qualified;
}

/** Renames the function exports of the core module at `path` to their canonical names, in place. */
function giveCanonicalNames(path: string): void {
  const module = binaryen.readBinary(readFileSync(path));
  const exports = Array.from({ length: module.getNumExports() }, (_, i) => binaryen.getExportInfo(module.getExportByIndex(i)));
  for (const info of exports) {
    if (info.kind !== binaryen.ExternalFunction || canonicalName(info.name) === info.name) continue;
    module.removeExport(info.name);
    module.addFunctionExport(info.value, canonicalName(info.name));
  }
  writeFileSync(path, module.emitBinary());
  module.dispose();
}

/**
 * jco 1.34's bindings look process.env.JCO_DEBUG up in each of the dozen
 * debug-log calls a client call makes, which is half the bindings' cost
 * (45 → 21 us a read in-process): look it up once, when the bindings load.
 * A jco whose bindings do not have that check fails the build, to be looked at.
 */
function readJcoDebugOnce(path: string): void {
  const check = "if (!globalThis?.process?.env?.JCO_DEBUG) { return; }";
  const bindings = readFileSync(path, "utf8");
  if (!bindings.includes(check)) {
    console.error(`build failed: ${path} has no "${check}" to hoist (a new jco?)`);
    process.exit(1);
  }
  const hoisted = "const JCO_DEBUG = globalThis?.process?.env?.JCO_DEBUG;\n";
  writeFileSync(path, hoisted + bindings.replaceAll(check, "if (!JCO_DEBUG) { return; }"));
}

// The component: a core module whose exports carry canonical names, the WIT
// embedded (jco embed), wrapped as a component (jco new), and transpiled to
// JavaScript with synchronous instantiation (jco transpile) for runtime/component.ts.
// Its own asconfig: no threads, no runtime exports, and an abort that traps
// instead of the guest's, which calls Xen.
const core = "build/xenstore-client.core.wasm";
run("asc", ["assembly/component/index.ts", "--config", "assembly/component/asconfig.json", "--target", "release", "-o", "build/xenstore-client.asc.wasm"]);
run("wasm-opt", ["build/xenstore-client.asc.wasm", "-Oz", ...FEATURES.map((f) => `--enable-${f}`), "-o", core]);
giveCanonicalNames(core);
run("jco", ["embed", core, "--wit", "wit/xenstore.wit", "--world-name", "xenstore-client", "-o", "build/xenstore-client.embedded.wasm"]);
run("jco", ["new", "build/xenstore-client.embedded.wasm", "-o", "build/xenstore-client.wasm"]);
rmSync("build/component", { recursive: true, force: true });
run("jco", ["transpile", "build/xenstore-client.wasm", "--instantiation", "sync", "--no-wasi-shim", "--quiet", "-o", "build/component"]);
readJcoDebugOnce("build/component/xenstore-client.js");
