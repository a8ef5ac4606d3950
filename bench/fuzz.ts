// The fuzz targets' speed (test/support/properties/, what `npm run fuzz`
// runs): cases per CPU second over a fixed few cases from a fixed seed, after
// a short warm-up (the first cases pay for compiling modules and warming the
// JIT). CPU time, not wall time: that is what one core does, whatever else
// shares the machine, and 1,000,000 cases in an hour on one core is 278/s.
import { FUZZ_MODULES, FUZZ_TARGETS } from "../test/support/properties/index.js";

export { FUZZ_MODULES };

import { checkProperty, type FuzzTarget } from "../test/support/properties/target.js";

const WARM_UP = 20;
const CASES = 300;
const SEED = 1;

/** The lane of a target: fuzz_cases_per_s_ and its name with dots and dashes as underscores. */
export const FUZZ_LANES: Map<string, FuzzTarget> = new Map(
  FUZZ_TARGETS.map((target) => [`fuzz_cases_per_s_${target.name.replace(/[.-]/g, "_")}`, target]),
);

/** Cases per CPU second of `target`; throws if a case fails (a failure is `npm run fuzz`'s to report). */
export async function fuzzCasesPerSecond(target: FuzzTarget): Promise<number> {
  // One property for both runs: the warm-up boots the world its cases share (test/support/world-snapshot.ts).
  const property = (await target.load())();
  checkProperty(property, WARM_UP, SEED);
  const { details, cpuSeconds } = checkProperty(property, CASES, SEED);
  if (details.failed)
    throw new Error(`${target.name} failed from seed ${SEED}: npm run fuzz -- --seed ${SEED} ${target.name}`);
  return details.numRuns / cpuSeconds;
}
