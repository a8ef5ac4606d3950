// wasmtime for the tests and the bench: its official Python embedding (the
// `wasmtime` wheel, 49.x) in a virtual environment at .cache/venv, made on
// first use with `python3 -m venv` and pip (the machine's configured index).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { PeerUnavailable } from "./debian.js";

export const VENV = resolve(".cache/venv");
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
  const python = join(VENV, "bin", "python");
  if (works(python)) return python;
  // Built aside and renamed into place, so concurrent test workers never see half an environment.
  mkdirSync(resolve(".cache"), { recursive: true });
  const scratch = mkdtempSync(join(resolve(".cache"), ".venv-"));
  try {
    try {
      execFileSync("python3", ["-m", "venv", scratch], { stdio: "pipe" });
      execFileSync(join(scratch, "bin", "pip"), ["install", "-q", "--retries", "1", WHEEL], { stdio: "pipe" });
    } catch (error) {
      const output = (error as { stderr?: Buffer }).stderr?.toString().trim().split("\n").pop();
      throw new PeerUnavailable(`wasmtime (pip install ${WHEEL} into ${VENV}): ${output || (error as Error).message}`);
    }
    // Another worker may have got there first; a broken environment in the way is replaced.
    if (!works(python)) {
      rmSync(VENV, { recursive: true, force: true });
      renameSync(scratch, VENV);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  if (!works(python)) throw new PeerUnavailable(`wasmtime: ${python} cannot import wasmtime`);
  return python;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(wasmtimePython());
