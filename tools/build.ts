// Builds the guest modules from assembly/, each target only when it is stale:
// when one of its outputs is missing or older than one of its inputs (the
// files its entry imports from assembly/, its asconfig, wit/ for the
// component, this file, and the installed compilers' package.json, which an
// install rewrites). Each target built is said on stderr, with its time.
//   xenbus, unikernel, checks,   asc (release) → wasm-opt -Oz → build/<name>.wasm
//   blkback, netback, harness
//   <name>.debug                 asc (debug) → build/<name>.debug.wasm and its source map
//   xenstore-client              the XenStore client component (assembly/component,
//                                wit/xenstore.wit): build/xenstore-client.wasm, and
//                                build/component/ for Node
// `npm run build [-- TARGET...]` builds the stale targets (all by default);
// the commands that run guests (npm start, bench, layouts) call buildStale
// with the targets they use. (The package's dist/ is made by `npm run dist`
// when packing: tools/dist.ts.)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { exitWithError, exitWithUsageError, parseCommandLine } from "../runtime/command-line.js";
import { DECLARATION, writeGeneratedAbi } from "./abi-generate.js";

/** The repository: every path below is relative to it. */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const at = (path: string): string => join(ROOT, path);

/** Wasm features asc emits by default; wasm-opt must be told each one explicitly. */
const FEATURES = ["bulk-memory", "sign-ext", "mutable-globals", "nontrapping-float-to-int"];
/** The guests' atomics on shared rings need threads too; the component has no shared memory. */
const GUEST_FEATURES = ["threads", ...FEATURES];

/** The installed compilers: a new version is a new install, which rewrites these. */
const ASC = "node_modules/assemblyscript/package.json";
const WASM_OPT = "node_modules/binaryen/package.json";
const JCO = "node_modules/@bytecodealliance/jco/package.json";
const THIS_TOOL = relative(ROOT, fileURLToPath(import.meta.url));

interface Target {
  /** The AssemblyScript entry: it and what it imports from assembly/, transitively, are inputs. */
  entry: string;
  /** Inputs besides the entry's sources and this tool. */
  inputs: string[];
  /** What it makes; it is stale when one is missing or older than an input. */
  outputs: string[];
  make(): Promise<void>;
}

/**
 * AssemblyScript's garbage collectors. `incremental` (asconfig.json's) collects
 * by itself as the module allocates, at the cost of spilling every managed
 * reference to a shadow stack around each call (40 KB of xenbus.wasm's code).
 * `minimal` keeps no shadow stack and never collects by itself: its host calls
 * `__collect` once the outermost call into the module has returned, when no
 * reference lives on the Wasm stack (runtime/guest.ts does). Only a module
 * whose every run is such a call can have it: a unikernel's main() never
 * returns, so its modules keep `incremental`.
 */
type Collector = "incremental" | "minimal";

/** A guest module's release and debug targets: `name` and `name.debug`, collected by `collector`. */
function guestTargets<N extends string>(
  name: N,
  entry: string,
  collector: Collector = "incremental",
): Record<N | `${N}.debug`, Target> {
  const release = `build/${name}.asc.wasm`;
  const debug = `build/${name}.debug.wasm`;
  const asc = (target: string, output: string) =>
    run("asc", [entry, "--config", "asconfig.json", "--target", target, "--runtime", collector, "-o", output]);
  return {
    [name]: {
      entry,
      inputs: ["asconfig.json", ASC, WASM_OPT],
      outputs: [`build/${name}.wasm`],
      make: async () => {
        asc("release", release);
        run("wasm-opt", [release, "-Oz", ...GUEST_FEATURES.map((f) => `--enable-${f}`), "-o", `build/${name}.wasm`]);
      },
    },
    [`${name}.debug`]: {
      entry,
      inputs: ["asconfig.json", ASC],
      outputs: [debug, `${debug}.map`],
      make: async () => asc("debug", debug),
    },
  } as Record<N | `${N}.debug`, Target>;
}

// The component: a core module whose exports carry canonical names, the WIT
// embedded (jco embed), wrapped as a component (jco new), and transpiled to
// JavaScript with synchronous instantiation (jco transpile) for runtime/component.ts.
// Its own asconfig: no threads, no runtime exports, and an abort that traps
// instead of the guest's, which calls Xen.
const component: Target = {
  entry: "assembly/component/index.ts",
  inputs: [
    "assembly/component/asconfig.json",
    ...readdirSync(at("wit")).map((file) => `wit/${file}`),
    ASC,
    WASM_OPT,
    JCO,
  ],
  outputs: ["build/xenstore-client.wasm", "build/component/xenstore-client.js"],
  make: async () => {
    const core = "build/xenstore-client.core.wasm";
    run("asc", [
      "assembly/component/index.ts",
      "--config",
      "assembly/component/asconfig.json",
      "--target",
      "release",
      "-o",
      "build/xenstore-client.asc.wasm",
    ]);
    run("wasm-opt", ["build/xenstore-client.asc.wasm", "-Oz", ...FEATURES.map((f) => `--enable-${f}`), "-o", core]);
    await giveCanonicalNames(core);
    run("jco", [
      "embed",
      core,
      "--wit",
      "wit/xenstore.wit",
      "--world-name",
      "xenstore-client",
      "-o",
      "build/xenstore-client.embedded.wasm",
    ]);
    run("jco", ["new", "build/xenstore-client.embedded.wasm", "-o", "build/xenstore-client.wasm"]);
    rmSync(at("build/component"), { recursive: true, force: true });
    run("jco", [
      "transpile",
      "build/xenstore-client.wasm",
      "--instantiation",
      "sync",
      "--no-wasi-shim",
      "--quiet",
      "-o",
      "build/component",
    ]);
    readJcoDebugOnce("build/component/xenstore-client.js");
    tryJspiCheaply("build/component/xenstore-client.js");
  },
};

const TARGETS = {
  // Its hosts call each export from outside and collect after it.
  ...guestTargets("xenbus", "assembly/index.ts", "minimal"),
  ...guestTargets("unikernel", "assembly/apps/unikernel.ts"),
  ...guestTargets("checks", "assembly/apps/checks.ts"),
  ...guestTargets("blkback", "assembly/apps/blkback.ts"),
  ...guestTargets("netback", "assembly/apps/netback.ts"),
  ...guestTargets("harness", "assembly/harness.ts"),
  "xenstore-client": component,
};
export type TargetName = keyof typeof TARGETS;
const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

/** `name` is one of the targets (tools/pvh.ts builds the module of that name first). */
export function isTargetName(name: string): name is TargetName {
  return (TARGET_NAMES as string[]).includes(name);
}

/** Runs a build tool in the repository; its output goes to stderr so `npm run layouts` keeps stdout for JSON. */
function run(tool: string, args: string[]): void {
  try {
    execFileSync(at(`node_modules/.bin/${tool}`), args, {
      cwd: ROOT,
      stdio: ["ignore", process.stderr, process.stderr],
    });
  } catch {
    exitWithError("build", `${tool} ${args.join(" ")} failed`);
  }
}

/** `import ... from "./x"`, `export ... from "../y"`, `import "./z"`: the relative imports asc follows. */
const RELATIVE_IMPORT = /\b(?:from|import)\s+"(\.\.?\/[^"]+)"/g;

/** `entry` and the files of assembly/ it imports, transitively (asc's own ~lib comes with the compiler). */
function sources(entry: string): string[] {
  const found = new Set<string>();
  const visit = (file: string): void => {
    if (found.has(file) || !existsSync(at(file))) return;
    found.add(file);
    for (const [, specifier] of readFileSync(at(file), "utf8").matchAll(RELATIVE_IMPORT)) {
      const path = join(dirname(file), specifier!);
      visit(existsSync(at(`${path}.ts`)) ? `${path}.ts` : join(path, "index.ts"));
    }
  };
  visit(entry);
  return [...found];
}

const modified = (path: string): number | null => (existsSync(at(path)) ? statSync(at(path)).mtimeMs : null);

/** Why `target` must be built ("not built yet", "<input> changed"), or null when it is up to date. */
function staleness(target: Target): string | null {
  const built = target.outputs.map(modified);
  if (built.includes(null)) return "not built yet";
  const oldest = Math.min(...(built as number[]));
  const changed = [...sources(target.entry), ...target.inputs, THIS_TOOL].find(
    (input) => (modified(input) ?? Infinity) > oldest,
  );
  return changed === undefined ? null : `${changed} changed`;
}

/** Builds those of `names` that are stale, saying each on stderr with the time it took; the names built. */
export async function buildStale(names: readonly TargetName[] = TARGET_NAMES): Promise<TargetName[]> {
  for (const path of writeGeneratedAbi()) process.stderr.write(`generated ${path} from ${DECLARATION}\n`);
  const built: TargetName[] = [];
  for (const name of TARGET_NAMES.filter((name) => names.includes(name))) {
    const target = TARGETS[name];
    const reason = staleness(target);
    if (reason === null) continue;
    process.stderr.write(`building ${name} (${reason})… `);
    const started = Date.now();
    mkdirSync(at("build"), { recursive: true });
    await target.make();
    // Dated from the start: a source edited while it was being built stays newer than the outputs.
    for (const output of target.outputs) utimesSync(at(output), started / 1000, started / 1000);
    process.stderr.write(`${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    built.push(name);
  }
  return built;
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
async function giveCanonicalNames(path: string): Promise<void> {
  // Loaded only here: binaryen takes a while to load, and most builds do not need it.
  const { default: binaryen } = await import("binaryen");
  const module = binaryen.readBinary(readFileSync(at(path)));
  const exports = Array.from({ length: module.getNumExports() }, (_, i) =>
    binaryen.getExportInfo(module.getExportByIndex(i)),
  );
  for (const info of exports) {
    if (info.kind !== binaryen.ExternalFunction || canonicalName(info.name) === info.name) continue;
    module.removeExport(info.name);
    module.addFunctionExport(info.value, canonicalName(info.name));
  }
  writeFileSync(at(path), module.emitBinary());
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
  const bindings = readFileSync(at(path), "utf8");
  if (!bindings.includes(check)) exitWithError("build", `${path} has no "${check}" to hoist (a new jco?)`);
  const hoisted = "const JCO_DEBUG = globalThis?.process?.env?.JCO_DEBUG;\n";
  writeFileSync(at(path), hoisted + bindings.replaceAll(check, "if (!JCO_DEBUG) { return; }"));
}

/**
 * jco 1.34's bindings try WebAssembly.promising twice per instantiation and
 * fall back to the plain export when it throws. Where JSPI is missing (Node
 * 20) it is undefined, and V8's "is not a function" message re-parses the
 * whole instantiation generator to name the callee: half an instantiation's
 * cost (1.9 → 0.9 ms). The bindings call it through a hoisted function that
 * throws one premade error there instead; where JSPI exists, unchanged.
 */
function tryJspiCheaply(path: string): void {
  const call = "WebAssembly.promising(";
  const bindings = readFileSync(at(path), "utf8");
  if (!bindings.includes(call)) exitWithError("build", `${path} has no "${call}" to replace (a new jco?)`);
  const hoisted =
    "const NO_JSPI = new TypeError('WebAssembly.promising is not available');\n" +
    "const promisingIfAny = typeof WebAssembly.promising === 'function' ? (f) => WebAssembly.promising(f) : () => { throw NO_JSPI; };\n";
  writeFileSync(at(path), hoisted + bindings.replaceAll(call, "promisingIfAny("));
}

const HELP = `npm run build [-- TARGET...]

Builds the guest modules from assembly/ into build/, each only when it is
stale: missing, or older than one of its inputs (its sources, asconfig,
wit/, this tool, the installed compilers). Says each one it builds.

Targets (default: all):
  xenbus            build/xenbus.wasm, the release module (asc, wasm-opt -Oz)
  xenbus.debug      build/xenbus.debug.wasm, with a source map
  unikernel         build/unikernel.wasm, the default application (assembly/apps)
  unikernel.debug   build/unikernel.debug.wasm, with a source map
  checks            build/checks.wasm, the unikernel with the real-Xen rig's self-check
  checks.debug      build/checks.debug.wasm, with a source map
  blkback           build/blkback.wasm, a block-backend driver domain (assembly/apps)
  blkback.debug     build/blkback.debug.wasm, with a source map
  netback           build/netback.wasm, a network driver domain (assembly/apps)
  netback.debug     build/netback.debug.wasm, with a source map
  harness           build/harness.wasm, ring math and bench loops for the tests
  harness.debug     build/harness.debug.wasm, with a source map
  xenstore-client   build/xenstore-client.wasm, the XenStore client component,
                    and build/component/, its bindings for Node

Options:
  -h, --help        this text`;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { positionals } = parseCommandLine("build", HELP, { allowPositionals: true });
  const unknown = positionals.filter((name) => !(name in TARGETS));
  if (unknown.length > 0)
    exitWithUsageError("build", `unknown target ${unknown.join(", ")}; the targets are ${TARGET_NAMES.join(", ")}`);
  const built = await buildStale(positionals.length > 0 ? (positionals as TargetName[]) : TARGET_NAMES);
  if (built.length === 0) console.error("build: everything is up to date");
}
