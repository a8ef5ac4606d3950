// Every fuzz target, cheapest first: what `npm run fuzz` and the bench's
// fuzz_* lanes run.

import type { FuzzTarget } from "./target.js";
import { xenstoredTargets } from "./xenstored.js";

export const FUZZ_TARGETS: FuzzTarget[] = [...xenstoredTargets];
