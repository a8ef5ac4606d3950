// `npm run fuzz [-- --cases N] [--seed S] [--path P] [TARGET...]`: the
// property tests' hostile-input properties (test/support/properties/) run
// for as many cases as asked, in chunks of CHUNK cases, chunk i with seed
// S + i, so that any failure replays from the seed and path printed beside
// it. Progress on stderr after each chunk; a summary on stdout (cases, cases
// per CPU second, wall time, failures per target); exit status 1 if any
// property failed.
import fc from "fast-check";
import { exitWithUsageError, parseCommandLine } from "../runtime/command-line.js";
import { FUZZ_MODULES, FUZZ_TARGETS } from "../test/support/properties/index.js";
import { checkProperty, type FuzzTarget } from "../test/support/properties/target.js";
import { buildStale } from "./build.js";

const COMMAND = "npm run fuzz";
const CHUNK = 1000;
/** A counterexample longer than this is cut in the report; the replay command prints it whole. */
const SHOWN = 4000;

const HELP = `Usage: ${COMMAND} [-- --cases N] [--seed S] [--path P] [TARGET...]

Runs each chosen property (all by default) for N cases (default 10000), in
chunks of ${CHUNK} cases; chunk i runs with seed S + i (default S: random).
A failure prints its seed, path and shrunk counterexample and the command
that replays it (--path goes straight to the counterexample). A TARGET is a
property's name or its interface (the part before the dot).

Targets:
${FUZZ_TARGETS.map((target) => `  ${target.name}`).join("\n")}`;

interface Outcome {
  name: string;
  cases: number;
  cpuSeconds: number;
  wallSeconds: number;
  failed: boolean;
}

function integerOption(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) exitWithUsageError(COMMAND, `--${name} wants an integer ≥ ${min}`);
  return value;
}

function chosenTargets(names: string[]): FuzzTarget[] {
  if (names.length === 0) return FUZZ_TARGETS;
  const matches = (target: FuzzTarget, name: string) => target.name === name || target.name.startsWith(`${name}.`);
  const unknown = names.filter((name) => !FUZZ_TARGETS.some((target) => matches(target, name)));
  if (unknown.length > 0) exitWithUsageError(COMMAND, `unknown target ${unknown.join(", ")}`);
  return FUZZ_TARGETS.filter((target) => names.some((name) => matches(target, name)));
}

function reportFailure(target: FuzzTarget, details: fc.RunDetails<unknown>, chunkCases: number): void {
  const shown = fc.stringify(details.counterexample);
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  console.log(`FAILED ${target.name}: seed ${details.seed}, path ${details.counterexamplePath}`);
  console.log(`  error: ${error.split("\n")[0]}`);
  console.log(
    `  counterexample: ${shown.length > SHOWN ? `${shown.slice(0, SHOWN)}… (${shown.length} characters)` : shown}`,
  );
  console.log(
    `  replay: ${COMMAND} -- --cases ${chunkCases} --seed ${details.seed} --path ${details.counterexamplePath} ${target.name}`,
  );
}

/** Runs `target` for `cases` cases from seed `seed`, a chunk at a time; stops at its first failure. */
async function fuzz(target: FuzzTarget, cases: number, seed: number, path: string | undefined): Promise<Outcome> {
  // One property for every chunk: its world is booted by the first case and restored for each later one.
  const property = (await target.load())();
  const outcome: Outcome = { name: target.name, cases: 0, cpuSeconds: 0, wallSeconds: 0, failed: false };
  for (let chunk = 0; outcome.cases < cases && !outcome.failed; chunk++) {
    const numRuns = Math.min(CHUNK, cases - outcome.cases);
    const { details, cpuSeconds, wallSeconds } = checkProperty(property, numRuns, (seed + chunk) | 0, path);
    outcome.cases += details.numRuns;
    outcome.cpuSeconds += cpuSeconds;
    outcome.wallSeconds += wallSeconds;
    console.error(`${target.name}: ${outcome.cases}/${cases} cases, ${rate(outcome)}`);
    if (details.failed) {
      reportFailure(target, details, numRuns);
      outcome.failed = true;
    }
  }
  return outcome;
}

/** Cases per CPU second (what one core does, whatever else shares the machine) and the wall-clock time. */
function rate({ cases, cpuSeconds, wallSeconds }: Outcome): string {
  return `${Math.round(cases / cpuSeconds)} cases/s of CPU time, ${wallSeconds.toFixed(1)} s wall`;
}

const { values, positionals } = parseCommandLine(COMMAND, HELP, {
  allowPositionals: true,
  options: { cases: { type: "string" }, seed: { type: "string" }, path: { type: "string" } },
});
const cases = integerOption("cases", values.cases, 10_000, 1);
const seed = integerOption("seed", values.seed, Math.floor(Math.random() * 0x7fffffff), -0x80000000);
const targets = chosenTargets(positionals);
if (values.path !== undefined && targets.length !== 1)
  exitWithUsageError(COMMAND, "--path replays one target: name it");

console.error(`${COMMAND}: ${cases} cases per target, seed ${seed}`);
await buildStale(FUZZ_MODULES);
const outcomes: Outcome[] = [];
for (const target of targets) outcomes.push(await fuzz(target, cases, seed, values.path));
for (const outcome of outcomes)
  console.log(`${outcome.name}: ${outcome.cases} cases, ${rate(outcome)}, ${outcome.failed ? 1 : 0} failures`);
const failures = outcomes.filter((outcome) => outcome.failed).length;
console.log(`${failures === 0 ? "ok" : "FAILED"}: ${outcomes.length} targets, ${failures} failures, seed ${seed}`);
process.exitCode = failures === 0 ? 0 : 1;
