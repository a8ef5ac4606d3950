// How the project's commands (npm start, npm run xenstored, bench, layouts and
// build, and the package's xenbus-wasm) read their command line and report
// what goes wrong: one line on stderr, never a stack trace; exit status 2 for
// a mistake in the command line, 1 for a failure to do what was asked.
import { type ParseArgsConfig, parseArgs } from "node:util";

/**
 * `config`'s options and positionals parsed from the command line, with
 * -h/--help added: help prints `help` and exits 0; an unknown option, a
 * missing value or an argument the command does not take exits 2.
 */
export function parseCommandLine<T extends ParseArgsConfig>(
  command: string,
  help: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>> & { values: { help?: boolean } };
  try {
    parsed = parseArgs({
      ...config,
      options: { ...config.options, help: { type: "boolean", short: "h" } },
    }) as typeof parsed;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!code?.startsWith("ERR_PARSE_ARGS")) throw error;
    exitWithUsageError(command, firstSentence((error as Error).message));
  }
  if (parsed.values.help) {
    console.log(help);
    process.exit(0);
  }
  return parsed;
}

/** Reports a mistake in `command`'s command line as one line and exits with status 2. */
export function exitWithUsageError(command: string, message: string): never {
  console.error(`${command}: ${message} (see --help)`);
  process.exit(2);
}

/** Reports that `command` could not do what was asked, as one line, and exits with status 1. */
export function exitWithError(command: string, message: string): never {
  console.error(`${command}: ${message}`);
  process.exit(1);
}

/** "Unknown option '--x'. To specify ..." → "unknown option '--x'": parseArgs's point without its advice. */
function firstSentence(message: string): string {
  const sentence = message.split(/\.(?:\s|$)/)[0]!;
  return sentence.charAt(0).toLowerCase() + sentence.slice(1);
}
