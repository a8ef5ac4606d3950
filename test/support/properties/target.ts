// A property under test with a name: the vitest suites run it a few hundred
// times in CI, `npm run fuzz` (tools/fuzz.ts) as many times as asked.
import type fc from "fast-check";

export interface FuzzTarget {
  /** "interface.property", as `npm run fuzz` names it. */
  name: string;
  /** A fresh property (its arbitraries and its check) each call. */
  property: () => fc.IProperty<unknown>;
}
