// The XenStore client component in wasmtime (runtime/wasmtime-component.ts)
// where it differs from its V8 host: what crosses the C boundary (every
// operation, and the stream's failures, run under both hosts in
// test/component.test.ts). A library or a component that cannot be used is
// one clear error naming it; closed components give EIO and touch their
// stream no more.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { XenStored } from "../host/xenstored/server.js";
import { xenstoredStream } from "../host/xenstored/stream.js";
import type { ByteStream } from "../runtime/component.js";
import { wasmtimeEngine } from "../runtime/wasmtime.js";
import { openXenstoreComponentInWasmtime } from "../runtime/wasmtime-component.js";
import { XenStoreError } from "../runtime/xenstore.js";
import { wasmtimeComponentLibrary as library } from "./support/component-hosts.js";

const dir = mkdtempSync(join(tmpdir(), "wasmtime-component-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An in-process stream to a fresh xenstored that counts the requests sent through it. */
function countedStream(): ByteStream & { sends: number } {
  const stream = xenstoredStream(new XenStored());
  const counted = {
    sends: 0,
    send(bytes: Uint8Array) {
      counted.sends++;
      stream.send(bytes);
    },
    recv: (max: number) => stream.recv(max),
    close: () => stream.close(),
  };
  return counted;
}

describe.skipIf(!library)("the component in wasmtime", () => {
  test("a missing library is one clear error naming it and who was given it, also after wasmtimeEngine() failed on it", () => {
    const missing = join(dir, "missing library.so");
    const tried = (): unknown => openXenstoreComponentInWasmtime(countedStream(), { library: missing });
    const expected = new RegExp(
      `^wasmtime engine: cannot use ${missing} \\(given to openXenstoreComponentInWasmtime\\(\\)\\): [^\\n]+; give openXenstoreComponentInWasmtime\\(\\) or \\$XENBUS_WASM_WASMTIME the _libwasmtime.so`,
    );
    expect(tried).toThrow(expected);
    expect(() => wasmtimeEngine(missing).instantiate(new Uint8Array(8), { xen: {} })).toThrow("(given to wasmtimeEngine()): ");
    expect(tried).toThrow(expected);
  });

  test("what is not a component (the core module inside it) is refused in one clear error", () => {
    const core = readFileSync(new URL("../build/xenstore-client.core.wasm", import.meta.url));
    expect(() => openXenstoreComponentInWasmtime(countedStream(), { library, component: core })).toThrow(
      /^wasmtime could not compile the component: [^\n]+$/,
    );
  });

  test("after close() every call is EIO and the stream is not touched again", () => {
    const stream = countedStream();
    const xs = openXenstoreComponentInWasmtime(stream, { library });
    xs.write("/data/a", "1");
    const sends = stream.sends;
    xs.close();
    for (const call of [() => xs.read("/data/a"), () => xs.write("/data/a", "2"), () => xs.transactionStart()]) {
      expect(call).toThrow(XenStoreError);
      expect(call).toThrow("EIO");
    }
    expect(stream.sends).toBe(sends);
    xs.close();
  });

  test("components opened and closed in a loop each work; the stores go with them", () => {
    for (let i = 0; i < 200; i++) {
      const xs = openXenstoreComponentInWasmtime(countedStream(), { library });
      xs.write("/loop", String(i));
      expect(xs.readString("/loop")).toBe(String(i));
      xs.close();
    }
  });
});
