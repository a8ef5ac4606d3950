// wasmtime for the tests and the bench: the `wasmtime` wheel (49.x) in a
// virtual environment at .cache/venv (see tools/cache.ts), made on first use
// with `python3 -m venv` and pip (the machine's configured index). The wheel
// carries wasmtime's C API library, which wasmtimeEngine and
// openXenstoreComponentInWasmtime load.
//   tsx tools/wasmtime.ts   makes it if missing and prints the library's path
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cachePath, slowStep } from "./cache.js";
import { PeerUnavailable } from "./debian.js";

const WHEEL = "wasmtime==49.*";

function works(python: string): boolean {
  try {
    execFileSync(python, ["-c", "import wasmtime"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The Python interpreter of .cache/venv, with wasmtime installed (made if missing). */
export function wasmtimePython(): string {
  const venv = cachePath("venv");
  const python = join(venv, "bin", "python");
  if (works(python)) return python;
  return slowStep(`making ${venv}: python3 -m venv, pip install ${WHEEL}`, "about 20 s", () => makeVenv(venv, python));
}

/** The C API library (_libwasmtime.so) of the wheel in .cache/venv (made if missing), for wasmtimeEngine. */
export function wasmtimeLibrary(): string {
  return execFileSync(wasmtimePython(), ["-c", "import wasmtime._ffi as f; print(f.dll._name)"]).toString().trim();
}

function makeVenv(venv: string, python: string): string {
  // Built aside and renamed into place, so concurrent test workers never see half an environment.
  mkdirSync(cachePath(), { recursive: true });
  const scratch = mkdtempSync(cachePath(".venv-"));
  try {
    try {
      execFileSync("python3", ["-m", "venv", scratch], { stdio: "pipe" });
      execFileSync(join(scratch, "bin", "pip"), ["install", "-q", "--retries", "1", WHEEL], { stdio: "pipe" });
    } catch (error) {
      const output = (error as { stderr?: Buffer }).stderr?.toString().trim().split("\n").pop();
      throw new PeerUnavailable(`wasmtime (pip install ${WHEEL} into ${venv}): ${output || (error as Error).message}`);
    }
    // Another worker may have got there first; a broken environment in the way is replaced.
    if (!works(python)) {
      rmSync(venv, { recursive: true, force: true });
      renameSync(scratch, venv);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  if (!works(python)) throw new PeerUnavailable(`wasmtime: ${python} cannot import wasmtime`);
  return python;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(wasmtimeLibrary());
