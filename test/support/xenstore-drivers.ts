// XenStore clients driven an operation at a time from a test, each a child
// process that answers every stdin line with one JSON line: Debian's
// libxenstore (test/native/libxenstore_ops.c, tab-separated operations), and
// the component (JSON operations) in V8 or in wasmtime
// (./component-node-driver.ts).
// All run outside this process, so a XenStored served here on a Unix socket
// answers them while the test awaits.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Permission } from "../../runtime/xenstore-client.js";
import { compileC, debianPackage } from "../../tools/debian.js";

/** One client operation, named and with parameters as in wit/xenstore.wit's `client`. */
export type Operation =
  | { op: "read" | "mkdir" | "rm" | "directory" | "get-perms"; tx: number; path: string }
  | { op: "write"; tx: number; path: string; value: string }
  | { op: "set-perms"; tx: number; path: string; perms: Permission[] }
  | { op: "watch" | "unwatch"; path: string; token: string }
  | { op: "next-event" | "transaction-start" }
  | { op: "transaction-end"; tx: number; commit: boolean }
  | { op: "get-domain-path"; domid: number };

/** What a driver answers: the operation's value (a byte value as a latin-1 string), or xenstored's error name ("enoent"). */
export type Reply = { ok: unknown } | { error: string };

export interface Driver {
  run(operation: Operation): Promise<Reply>;
  /** Ends the client (stdin closes) and resolves with its exit status. */
  close(): Promise<number | null>;
}

/** Longer than any operation takes on a loaded machine (starting wasmtime or tsx included). */
const REPLY_TIMEOUT_MS = 30_000;

/** A child answering each line written to it with one line, in order. */
function lineDriver(child: ChildProcessWithoutNullStreams, encode: (operation: Operation) => string): Driver {
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  lines.on("line", (line) => waiting.shift()?.(line));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  void exited.then((code) => {
    // A client that dies mid-operation fails that operation with its own words.
    for (const wake of waiting.splice(0)) wake(JSON.stringify({ died: `exit ${code}: ${stderr.trim()}` }));
  });
  return {
    run(operation) {
      return new Promise((resolve, reject) => {
        // A client that hangs is killed, so the test fails with what it said rather than timing out silently.
        const timer = setTimeout(() => {
          child.kill();
          reject(new Error(`${operation.op}: no reply in ${REPLY_TIMEOUT_MS / 1000} s; stderr: ${stderr.trim()}`));
        }, REPLY_TIMEOUT_MS);
        waiting.push((line) => {
          clearTimeout(timer);
          const reply = JSON.parse(line) as Reply | { died: string } | { invalid: string } | { trap: string };
          if ("ok" in reply || "error" in reply) resolve(reply);
          else reject(new Error(`${operation.op}: ${JSON.stringify(reply)}`));
        });
        child.stdin.write(`${encode(operation)}\n`);
      });
    },
    close() {
      child.stdin.end();
      return exited;
    },
  };
}

/** The operation as libxenstore_ops.c reads it: fields separated by tabs. */
function tabbed(operation: Operation): string {
  switch (operation.op) {
    case "write":
      return [operation.op, operation.tx, operation.path, operation.value].join("\t");
    case "set-perms":
      return [operation.op, operation.tx, operation.path, ...operation.perms.map((p) => `${p.domid}:${p.access}`)].join(
        "\t",
      );
    case "watch":
    case "unwatch":
      return [operation.op, operation.path, operation.token].join("\t");
    case "next-event":
    case "transaction-start":
      return operation.op;
    case "transaction-end":
      return [operation.op, operation.tx, operation.commit ? "commit" : "abort"].join("\t");
    case "get-domain-path":
      return [operation.op, operation.domid].join("\t");
    default:
      return [operation.op, operation.tx, operation.path].join("\t");
  }
}

/** libxenstore_ops built against Debian's shared libxenstore (throws PeerUnavailable when it cannot be had). */
export function buildLibxenstoreOps(): string {
  // The shared library, as Xen's tools use it: Debian's static libxenstore.a has no reader thread,
  // so a watch event that arrives before a reply fails the request with EINVAL.
  const store = join(debianPackage("libxenstore4"), "usr/lib/x86_64-linux-gnu");
  const toolcore = join(debianPackage("libxentoolcore1"), "usr/lib/x86_64-linux-gnu");
  const include = join(debianPackage("libxen-dev"), "usr/include");
  // DT_RPATH (not RUNPATH) so the loader also finds libxenstore's own dependency, libxentoolcore.
  return compileC(
    "libxenstore_ops",
    ["test/native/libxenstore_ops.c", join(store, "libxenstore.so.4")],
    ["-I", include, `-Wl,--disable-new-dtags,-rpath,${store}:${toolcore}`],
  );
}

/** Debian's libxenstore connected to `socketPath` (XENSTORED_PATH, as Xen's tools find xenstored). */
export function libxenstoreDriver(binary: string, socketPath: string): Driver {
  const child = spawn(binary, [], { env: { ...process.env, XENSTORED_PATH: socketPath } });
  return lineDriver(child, tabbed);
}

const NODE_DRIVER = new URL("./component-node-driver.ts", import.meta.url).pathname;

/** The component in V8 (runtime/component.ts over runtime/socket-stream.ts), connected to `socketPath`. */
export function nodeComponentDriver(socketPath: string): Driver {
  return lineDriver(spawn("node_modules/.bin/tsx", [NODE_DRIVER, socketPath]), (operation) =>
    JSON.stringify(operation),
  );
}

/** The component in wasmtime (runtime/wasmtime-component.ts, C API library `library`), connected to `socketPath`. */
export function wasmtimeComponentDriver(library: string, socketPath: string): Driver {
  const env = { ...process.env, XENBUS_WASM_WASMTIME: library };
  return lineDriver(spawn("node_modules/.bin/tsx", [NODE_DRIVER, "--wasmtime", socketPath], { env }), (operation) =>
    JSON.stringify(operation),
  );
}
