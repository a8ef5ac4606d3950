// `npm run pvh [-- NAME...]`: build/<NAME>.pvh.elf, a Xen PVH kernel that
// runs build/<NAME>.wasm (default: unikernel) in the native host of
// runtime/pvh/. wasm2c turns the module into C (.cache/pvh/<NAME>/), gcc
// compiles it with the host, and ld links them at 256 MiB (runtime/pvh/link.ld).
// The module is built first if it is stale (tools/build.ts); an ELF newer
// than the module, the host's sources and these tools is kept.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { exitWithError, exitWithUsageError, parseCommandLine } from "../runtime/command-line.js";
import { HYPERCALLS } from "./abi.js";
import { buildStale, isTargetName } from "./build.js";
import { cachePath, upToDate } from "./cache.js";
import { debianPackage, PeerUnavailable } from "./debian.js";
import { wasm2c } from "./wasm2c.js";

const HOST = resolve("runtime/pvh");
const TOOLS = ["tools/pvh.ts", "tools/wasm2c.ts"].map((path) => resolve(path));

/** The module cannot run in the host (its exports or imports say so). */
export class NotAUnikernel extends Error {}

/** A freestanding kernel: no libc, no red zone (interrupts use the same stack), code below 2 GiB. */
const KERNEL_FLAGS = [
  "-O2",
  "-std=gnu11",
  "-ffreestanding",
  "-fno-pic",
  "-fno-pie",
  "-mno-red-zone",
  "-mcmodel=small",
  "-fno-stack-protector",
  "-fno-asynchronous-unwind-tables",
  "-fno-tree-loop-distribute-patterns",
  "-fno-math-errno",
  // wasm2c's runtime header: bounds checks instead of guard pages (no mmap, no signals), and its
  // call-depth counter a plain global (a kernel thread has no TLS).
  "-D_Thread_local=",
  "-DWASM_RT_USE_MMAP=0",
  "-DWASM_RT_MEMCHECK_BOUNDS_CHECK=1",
  "-DWASM_RT_SKIP_SIGNAL_RECOVERY=1",
  // Xen's headers default to the oldest interface, whose event_channel_op and sched_op numbers
  // are the compat hypercalls an HVM guest does not have (-ENOSYS).
  "-D__XEN_INTERFACE_VERSION__=__XEN_LATEST_INTERFACE_VERSION__",
];
const LINK_FLAGS = [
  "-nostdlib",
  "-static",
  "-no-pie",
  "-Wl,--build-id=none,--no-warn-rwx-segments",
  "-z",
  "max-page-size=4096",
];

function checkModule(wasm: string): void {
  const file = relative(".", wasm);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(readFileSync(wasm));
  } catch {
    throw new NotAUnikernel(`${file} is not a core Wasm module`);
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((entry) => [entry.name, entry.kind]));
  if (exports.get("main") !== "function") throw new NotAUnikernel(`${file} exports no main() for the PVH host to call`);
  if (exports.get("memory") !== "memory") throw new NotAUnikernel(`${file} exports no memory`);
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.module !== "xen" || !HYPERCALLS.includes(entry.name)) {
      throw new NotAUnikernel(`${file} imports ${entry.module}.${entry.name}, which the PVH host does not provide`);
    }
  }
}

/** What an ELF is made from: the module, the host's sources and these tools. */
function elfInputs(wasm: string): string[] {
  return [wasm, ...readdirSync(HOST).map((file) => join(HOST, file)), ...TOOLS];
}

function gcc(args: string[]): void {
  try {
    execFileSync("gcc", args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? "").trim();
    throw new Error(`gcc failed: ${stderr.split("\n").slice(0, 20).join("\n")}`);
  }
}

export interface PvhBuild {
  elf: string;
  /** False when the ELF was up to date. */
  built: boolean;
}

/**
 * Makes the kernel `elf` from the module `wasm` when it is stale (older than
 * the module, the host's sources or these tools); `say` gets each step.
 */
export function buildPvhElf(wasm: string, elf: string, say: (line: string) => void = () => {}): PvhBuild {
  const name = basename(wasm, ".wasm");
  if (!existsSync(wasm)) throw new NotAUnikernel(`${relative(".", wasm)} does not exist (npm run build makes it)`);
  if (upToDate(elf, elfInputs(wasm))) return { elf, built: false };
  checkModule(wasm);

  const work = cachePath("pvh", name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const converter = wasm2c();
  say(`wasm2c ${relative(".", wasm)} → ${relative(".", work)}/module.c`);
  converter.convert(wasm, join(work, "module.c"), "module");

  const xenHeaders = join(debianPackage("libxen-dev"), "usr/include");
  const includes = ["-I", converter.include, "-I", xenHeaders, "-I", HOST, "-I", work];
  const sources = readdirSync(HOST).filter((file) => file.endsWith(".c") || file.endsWith(".S"));
  say(`gcc runtime/pvh/{${sources.join(",")}}`);
  const objects: string[] = [];
  for (const source of sources) {
    const object = join(work, `${source}.o`);
    gcc([
      ...KERNEL_FLAGS,
      "-Wall",
      "-Wextra",
      "-Werror",
      `-DMODULE_NAME="${name}.wasm"`,
      ...includes,
      "-c",
      join(HOST, source),
      "-o",
      object,
    ]);
    objects.push(object);
  }
  say(`gcc ${relative(".", work)}/module.c (the module: takes a while)`);
  const module = join(work, "module.o");
  gcc([...KERNEL_FLAGS, "-w", ...includes, "-c", join(work, "module.c"), "-o", module]);
  say(`ld → ${relative(".", elf)}`);
  gcc([...LINK_FLAGS, "-T", join(HOST, "link.ld"), ...objects, module, "-lgcc", "-o", elf]);
  return { elf, built: true };
}

const HELP = `npm run pvh [-- NAME...]

Builds build/NAME.pvh.elf, a Xen PVH kernel that runs build/NAME.wasm in the
native host of runtime/pvh/ (default NAME: unikernel). The module must export
memory and main(), and import only the host's xen hypercalls. wasm2c (Debian
trixie's wabt) turns it into C, gcc compiles it with the host. The module is
built first if it is stale; an ELF newer than the module, the host's sources
and these tools is kept.

Options:
  -h, --help   this text`;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { positionals: names } = parseCommandLine("npm run pvh", HELP, { allowPositionals: true });
  const badName = names.find((name) => !/^[\w.-]+$/.test(name));
  if (badName !== undefined) exitWithUsageError("npm run pvh", `${badName} is not a module name (build/NAME.wasm)`);
  const chosen = names.length > 0 ? names : ["unikernel"];
  await buildStale(chosen.filter(isTargetName));
  for (const name of chosen) {
    const start = performance.now();
    try {
      const { elf, built } = buildPvhElf(
        resolve("build", `${name}.wasm`),
        resolve("build", `${name}.pvh.elf`),
        (line) => console.log(`  ${line}`),
      );
      const size = statSync(elf).size;
      const took = ((performance.now() - start) / 1000).toFixed(1);
      console.log(
        built ? `build/${basename(elf)}: ${size} bytes, built in ${took} s` : `build/${basename(elf)} is up to date`,
      );
    } catch (error) {
      if (
        !(
          error instanceof NotAUnikernel ||
          error instanceof PeerUnavailable ||
          (error as Error).message.startsWith("gcc failed")
        )
      )
        throw error;
      exitWithError("npm run pvh", (error as Error).message);
    }
  }
}
