// `xenbus-wasm xs COMMAND`: XenStore from a shell through the XenStore client
// component (runtime/component.ts) over a blocking stream to any xenstored
// (runtime/socket-stream.ts), found as libxenstore finds it. Its commands do
// what Xen's xenstore-read, -write, -ls, -watch and -rm do, with their exit
// status for a failure: 1.
import { childPath } from "../host/dom0/xenstored/index.js";
import { exitWithError, exitWithUsageError } from "../runtime/command-line.js";
import { type ComponentXenstore, openXenstoreComponent, StreamError } from "../runtime/component.js";
import { connectXenstored, xenstoredPaths } from "../runtime/socket-stream.js";
import { XenStoreError } from "../runtime/xenstore-client.js";

const COMMAND = "xenbus-wasm";

/** A failure to report as `xenbus-wasm: <message>`, exit status 1. */
class Failure extends Error {}

/** Why `what` failed: the errno name for a XenStore error, the stream's own words otherwise. */
function failed(what: string, error: unknown): Failure {
  if (error instanceof XenStoreError) return new Failure(`${what}: ${error.code}`);
  if (error instanceof StreamError) return new Failure(`${what}: ${error.message}`);
  throw error;
}

/**
 * Runs `body` in a transaction and commits it, starting again on a conflict
 * (EAGAIN) for as long as it takes, as Xen's tools do. Returns what `body` returned.
 */
function inTransaction<T>(xs: ComponentXenstore, body: (tx: number) => T): T {
  try {
    return xs.transaction(body, Number.POSITIVE_INFINITY);
  } catch (error) {
    // The body reports its own failures; what is left is starting or committing the transaction.
    if (error instanceof Failure) throw error;
    throw failed("the transaction failed", error);
  }
}

/** A value as xenstore-ls shows it: printable ASCII as is, backslash and other bytes escaped in octal. */
function shown(value: Uint8Array): string {
  let text = "";
  for (const byte of value) {
    text +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\${byte.toString(8).padStart(3, "0")}`;
  }
  return text;
}

/** Prints the tree below `path`, one space of indent a level, as xenstore-ls does. */
function list(xs: ComponentXenstore, path: string, depth: number, print: (line: string) => void): void {
  let names: string[];
  try {
    names = xs.directory(path);
  } catch (error) {
    throw failed(`could not list ${path}`, error);
  }
  for (const name of names) {
    const child = childPath(path, name);
    let value: Uint8Array;
    try {
      value = xs.readBytes(child);
    } catch (error) {
      // Removed since it was listed: nothing to show.
      if (error instanceof XenStoreError && error.code === "ENOENT") continue;
      throw failed(`could not read ${child}`, error);
    }
    print(`${" ".repeat(depth)}${name} = "${shown(value)}"`);
    list(xs, child, depth + 1, print);
  }
}

/** Pairs of PATH VALUE. */
function pairs(args: string[]): Array<[string, string]> {
  if (args.length === 0 || args.length % 2 !== 0) exitWithUsageError(COMMAND, "write wants PATH VALUE pairs");
  const result: Array<[string, string]> = [];
  for (let i = 0; i < args.length; i += 2) result.push([args[i]!, args[i + 1]!]);
  return result;
}

function print(line: string | Uint8Array): void {
  process.stdout.write(line);
  process.stdout.write("\n");
}

export interface XsOptions {
  /** xenstored's socket or device; undefined: found as libxenstore finds it. */
  socket: string | undefined;
  /** watch's -n, as given. */
  count: string | undefined;
}

const COMMANDS = ["read", "write", "ls", "watch", "rm"];

/** Runs `xs COMMAND ARGS`: a mistake in them exits 2, a failure exits 1 with one line saying what failed. */
export function runXs(command: string, args: string[], options: XsOptions): void {
  try {
    run(command, args, options);
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    exitWithError(COMMAND, error.message);
  }
}

function run(command: string, args: string[], options: XsOptions): void {
  if (!COMMANDS.includes(command)) exitWithUsageError(COMMAND, `unknown xs command ${command}`);
  const wantsPaths = command === "read" || command === "rm" || command === "watch";
  if (wantsPaths && args.length === 0) exitWithUsageError(COMMAND, `${command} wants a PATH`);
  if (options.count !== undefined && command !== "watch") exitWithUsageError(COMMAND, "-n is for watch");
  let count = Infinity;
  if (options.count !== undefined) {
    count = Number(options.count);
    if (!Number.isInteger(count) || count < 1)
      exitWithUsageError(COMMAND, `-n wants a positive count, not ${options.count}`);
  }
  if ((command === "ls" || command === "watch") && args.length > 1)
    exitWithUsageError(COMMAND, `${command} takes one PATH`);
  const writes = command === "write" ? pairs(args) : [];

  let xs: ComponentXenstore;
  try {
    xs = openXenstoreComponent(connectXenstored(xenstoredPaths(options.socket)));
  } catch (error) {
    if (error instanceof StreamError) throw new Failure(error.message);
    throw error;
  }
  try {
    switch (command) {
      case "read": {
        const read = inTransaction(xs, (tx) =>
          args.map((path) => {
            try {
              return xs.readBytes(path, tx);
            } catch (error) {
              throw failed(`could not read ${path}`, error);
            }
          }),
        );
        for (const value of read) print(value);
        break;
      }
      case "write":
        inTransaction(xs, (tx) => {
          for (const [path, value] of writes) {
            try {
              xs.write(path, value, tx);
            } catch (error) {
              throw failed(`could not write ${path}`, error);
            }
          }
        });
        break;
      case "rm":
        inTransaction(xs, (tx) => {
          for (const path of args) {
            try {
              xs.rm(path, tx);
            } catch (error) {
              throw failed(`could not remove ${path}`, error);
            }
          }
        });
        break;
      case "ls":
        list(xs, args[0] ?? "/", 0, print);
        break;
      case "watch": {
        const path = args[0]!;
        try {
          xs.watch(path, "xenbus-wasm");
          for (let seen = 0; seen < count; seen++) print(xs.nextEvent().path);
        } catch (error) {
          throw failed(`watching ${path}`, error);
        }
        break;
      }
    }
  } finally {
    xs.close();
  }
}
