#!/usr/bin/env node
// The package's `xenbus-wasm` command: XenStore from a shell through the
// XenStore client component (runtime/component.ts) over a blocking stream to
// any xenstored (runtime/socket-stream.ts), found as libxenstore finds it.
// Its commands do what Xen's xenstore-read, -write, -ls, -watch and -rm do,
// with their exit codes: 0 on success, 1 on any failure.
import { parseArgs } from "node:util";
import { childPath } from "../host/xenstored/paths.js";
import { type ComponentXenstore, StreamError, openXenstoreComponent } from "../runtime/component.js";
import { connectXenstored, xenstoredPaths } from "../runtime/socket-stream.js";
import { XenStoreError } from "../runtime/xenstore.js";

const USAGE = `usage: xenbus-wasm xs COMMAND [--socket PATH] ARGS...

commands:
  read PATH...                       print each node's value, one a line
  write PATH VALUE [PATH VALUE...]   write the values (creating the nodes)
  ls [PATH]                          the tree below PATH (default /) with its values
  watch PATH [-n COUNT]              print the path of each change at or below PATH as it
                                     comes (the first is the watch's own), COUNT of them
  rm PATH...                         remove the nodes and everything below them

read, write and rm run in one transaction, as Xen's tools do.

options:
  --socket PATH   xenstored's socket, or its device (/dev/xen/xenbus); without it,
                  XENSTORED_PATH, else /var/run/xenstored/socket, else the device
  -h, --help      this help`;

/** A failure to report as `xenbus-wasm: <message>`, exit status 1. */
class Failure extends Error {}

/** Why `what` failed: the errno name for a XenStore error, the stream's own words otherwise. */
function failed(what: string, error: unknown): Failure {
  if (error instanceof XenStoreError) return new Failure(`${what}: ${error.code}`);
  if (error instanceof StreamError) return new Failure(`${what}: ${error.message}`);
  throw error;
}

/**
 * Runs `body` in a transaction and commits it, starting again when the commit
 * meets a conflict (EAGAIN), as Xen's tools do. Returns what `body` returned.
 */
function inTransaction<T>(xs: ComponentXenstore, body: (tx: number) => T): T {
  for (;;) {
    let tx: number;
    try {
      tx = xs.transactionStart();
    } catch (error) {
      throw failed("could not start a transaction", error);
    }
    let result: T;
    try {
      result = body(tx);
    } catch (error) {
      try {
        xs.transactionEnd(tx, false);
      } catch {
        // The failure in `body` is the one to report.
      }
      throw error;
    }
    try {
      xs.transactionEnd(tx, true);
      return result;
    } catch (error) {
      if (!(error instanceof XenStoreError && error.code === "EAGAIN")) throw failed("could not commit the transaction", error);
    }
  }
}

/** A value as xenstore-ls shows it: printable ASCII as is, backslash and other bytes escaped in octal. */
function shown(value: Uint8Array): string {
  let text = "";
  for (const byte of value) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, "0")}`;
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
      value = xs.read(child);
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
  if (args.length === 0 || args.length % 2 !== 0) throw new Failure(`write wants PATH VALUE pairs\n${USAGE}`);
  const result: Array<[string, string]> = [];
  for (let i = 0; i < args.length; i += 2) result.push([args[i]!, args[i + 1]!]);
  return result;
}

function print(line: string | Uint8Array): void {
  process.stdout.write(line);
  process.stdout.write("\n");
}

/** Runs `xs COMMAND ARGS`; the exit status. */
function run(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      socket: { type: "string" },
      count: { type: "string", short: "n" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [group, command, ...args] = positionals;
  if (group !== "xs" || command === undefined) throw new Failure(`expected "xs COMMAND"\n${USAGE}`);
  const wantsPaths = command === "read" || command === "rm" || command === "watch";
  if (wantsPaths && args.length === 0) throw new Failure(`${command} wants a PATH\n${USAGE}`);
  if (values.count !== undefined && command !== "watch") throw new Failure(`-n is for watch\n${USAGE}`);
  let count = Infinity;
  if (values.count !== undefined) {
    count = Number(values.count);
    if (!Number.isInteger(count) || count < 1) throw new Failure(`-n wants a positive count, not ${values.count}`);
  }
  if (!["read", "write", "ls", "watch", "rm"].includes(command)) throw new Failure(`unknown command ${command}\n${USAGE}`);
  if ((command === "ls" || command === "watch") && args.length > 1) throw new Failure(`${command} takes one PATH\n${USAGE}`);
  const writes = command === "write" ? pairs(args) : [];

  let xs: ComponentXenstore;
  try {
    xs = openXenstoreComponent(connectXenstored(xenstoredPaths(values.socket)));
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
              return xs.read(path, tx);
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
    return 0;
  } finally {
    xs.close();
  }
}

try {
  process.exitCode = run(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof Failure || String((error as NodeJS.ErrnoException).code).startsWith("ERR_PARSE_ARGS"))) throw error;
  console.error(`xenbus-wasm: ${(error as Error).message}`);
  process.exitCode = 1;
}
