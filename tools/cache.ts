// Where the slow first-time things the tests, the bench and the demo need are
// kept (Debian's packages, the wasmtime environment, compiled C peers):
// .cache, or the directory XENBUS_WASM_CACHE names; and how filling it is
// reported, since a first run waits on downloads with nothing else to show.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";

/** `parts` inside the cache directory. */
export function cachePath(...parts: string[]): string {
  return resolve(process.env.XENBUS_WASM_CACHE ?? ".cache", ...parts);
}

/** `output` exists and is newer than every one of `inputs`: there is nothing to make again. */
export function upToDate(output: string, inputs: readonly string[]): boolean {
  return existsSync(output) && statSync(output).mtimeMs > Math.max(...inputs.map((path) => statSync(path).mtimeMs));
}

/**
 * Runs a slow step, saying on stderr what it is and roughly how long it takes
 * (`about`) when it starts, and the time it took when it ends.
 */
export function slowStep<T>(what: string, about: string, step: () => T): T {
  process.stderr.write(`${what} (${about})...\n`);
  const started = performance.now();
  const took = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  try {
    const result = step();
    process.stderr.write(`${what}: done in ${took()}\n`);
    return result;
  } catch (error) {
    process.stderr.write(`${what}: failed after ${took()}\n`);
    throw error;
  }
}
