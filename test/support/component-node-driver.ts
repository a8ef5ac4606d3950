// The component in Node over runtime/socket-stream.ts's blocking stream, in V8
// (runtime/component.ts) or with --wasmtime in wasmtime
// (runtime/wasmtime-component.ts, the library from $XENBUS_WASM_WASMTIME), as
// a child process answering each operation (a JSON line on stdin, see
// ./xenstore-drivers.ts) with one JSON line, so the interop test drives every
// client alike. A child, since the stream blocks its caller's thread and
// xenstored runs in the test's.
//   tsx test/support/component-node-driver.ts [--wasmtime] XENSTORED
import { createInterface } from "node:readline";
import { openXenstoreComponent } from "../../runtime/component.js";
import { connectXenstored } from "../../runtime/socket-stream.js";
import { openXenstoreComponentInWasmtime } from "../../runtime/wasmtime-component.js";
import { XenStoreError } from "../../runtime/xenstore-client.js";
import type { Operation } from "./xenstore-drivers.js";

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("latin1");

const inWasmtime = process.argv[2] === "--wasmtime";
const stream = connectXenstored(process.argv[inWasmtime ? 3 : 2]!);
const xs = inWasmtime ? openXenstoreComponentInWasmtime(stream) : openXenstoreComponent(stream);

/** The operation's ok value: byte values as latin-1 strings. */
function run(operation: Operation): unknown {
  switch (operation.op) {
    case "read":
      return latin1(xs.readBytes(operation.path, operation.tx));
    case "write":
      xs.write(operation.path, new Uint8Array(Buffer.from(operation.value, "latin1")), operation.tx);
      return null;
    case "mkdir":
      xs.mkdir(operation.path, operation.tx);
      return null;
    case "rm":
      xs.rm(operation.path, operation.tx);
      return null;
    case "directory":
      return xs.directory(operation.path, operation.tx);
    case "get-perms":
      return xs.getPerms(operation.path, operation.tx);
    case "set-perms":
      xs.setPerms(operation.path, operation.perms, operation.tx);
      return null;
    case "watch":
      xs.watch(operation.path, operation.token);
      return null;
    case "unwatch":
      xs.unwatch(operation.path, operation.token);
      return null;
    case "next-event":
      return xs.nextEvent();
    case "transaction-start":
      return xs.transactionStart();
    case "transaction-end":
      xs.transactionEnd(operation.tx, operation.commit);
      return null;
    case "get-domain-path":
      return xs.getDomainPath(operation.domid);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  let reply: object;
  try {
    reply = { ok: run(JSON.parse(line) as Operation) };
  } catch (error) {
    if (!(error instanceof XenStoreError)) throw error;
    reply = { error: error.code.toLowerCase() };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
xs.close();
