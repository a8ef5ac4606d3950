// A property under test with a name: the vitest suites run it a few hundred
// times in CI, `npm run fuzz` (tools/fuzz.ts) as many times as asked, and
// the bench's fuzz_cases_per_s_* lanes (bench/fuzz.ts) a fixed few.
import fc from "fast-check";
import { expect } from "vitest";

export interface FuzzTarget {
  /** "interface.property", as `npm run fuzz` names it. */
  name: string;
  /**
   * Loads the property's module: then each call gives a fresh property (its
   * arbitraries and its check), which may be checked again and again: under
   * V8 its world is booted by its first case and restored for every later one.
   */
  load(): Promise<() => fc.IProperty<unknown>>;
}

export interface CheckedRun {
  details: fc.RunDetails<unknown>;
  /** CPU time (user and system, all of the process's threads): what the cases cost on a shared machine. */
  cpuSeconds: number;
  wallSeconds: number;
}

/** Runs `property` for `numRuns` cases from `seed` (straight to `path`'s counterexample when given), timed. */
export function checkProperty(
  property: fc.IProperty<unknown>,
  numRuns: number,
  seed: number,
  path?: string,
): CheckedRun {
  const [cpu, wall] = [process.cpuUsage(), performance.now()];
  const details = fc.check(property, { numRuns, seed, path });
  const used = process.cpuUsage(cpu);
  return {
    details,
    cpuSeconds: (used.user + used.system) / 1e6,
    wallSeconds: (performance.now() - wall) / 1000,
  };
}

/**
 * expect(actual).toBe(expected), with expect() called only when it fails:
 * outside a vitest test each expect() call costs more than a step of most
 * cases, so the properties' per-step checks go through this.
 */
export function expectIs(actual: unknown, expected: unknown, message?: string): void {
  if (!Object.is(actual, expected)) expect(actual, message).toBe(expected);
}
