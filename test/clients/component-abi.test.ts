// The component's canonical ABI, written by hand in assembly/component: the
// core module (build/xenstore-client.core.wasm) called directly with
// arguments laid out as a host lays them out, its return areas read and
// checked byte by byte (test/support/component-core.ts), cabi_realloc, and
// the cabi_post_ frees that keep its memory from growing.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { footprint, warmedUp } from "../../bench/memory.js";
import { instantiate } from "../../build/component/xenstore-client.js";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { xenstoredStream } from "../../host/dom0/xenstored/stream.js";
import { XsType } from "../../host/dom0/xenstored/wire.js";
import type { ByteStream } from "../../runtime/component.js";
import { CLIENT, CoreClient, coreModule, TRANSPORT, XS_ERRORS } from "../support/component-core.js";

const FUNCTIONS = [
  "read",
  "write",
  "mkdir",
  "rm",
  "directory",
  "get-perms",
  "set-perms",
  "watch",
  "unwatch",
  "next-event",
  "transaction-start",
  "transaction-end",
  "get-domain-path",
];
/** The functions whose results hand out memory, freed by their cabi_post_. */
const POSTED = ["read", "directory", "get-perms", "next-event", "get-domain-path"];

/** A stream into a fresh xenstored that keeps every request the component sent. */
function recordedStream(xenstored = new XenStored()): { stream: ByteStream; requests: Uint8Array[] } {
  const inner = xenstoredStream(xenstored);
  const requests: Uint8Array[] = [];
  return {
    requests,
    stream: {
      send(bytes) {
        requests.push(bytes.slice());
        inner.send(bytes);
      },
      recv: (max) => inner.recv(max),
      close: () => inner.close(),
    },
  };
}

function header(request: Uint8Array): { type: number; reqId: number; txId: number; length: number } {
  const view = new DataView(request.buffer, request.byteOffset);
  return {
    type: view.getUint32(0, true),
    reqId: view.getUint32(4, true),
    txId: view.getUint32(8, true),
    length: view.getUint32(12, true),
  };
}

describe("the component's core module", () => {
  it("imports only the transport and exports the client under canonical names, nothing else", () => {
    expect(WebAssembly.Module.imports(coreModule)).toEqual([
      { module: TRANSPORT, name: "send", kind: "function" },
      { module: TRANSPORT, name: "recv", kind: "function" },
    ]);
    const exports = WebAssembly.Module.exports(coreModule)
      .map((entry) => entry.name)
      .sort();
    expect(exports).toEqual(
      [
        "memory",
        "cabi_realloc",
        ...FUNCTIONS.map((name) => `${CLIENT}#${name}`),
        ...POSTED.map((name) => `cabi_post_${CLIENT}#${name}`),
      ].sort(),
    );
  });

  it("cabi_realloc gives blocks aligned as asked, keeps their bytes when they grow, and grows memory for big ones", () => {
    const core = new CoreClient(recordedStream().stream);
    for (const align of [1, 2, 4, 8]) {
      for (const size of [0, 1, 3, 17, 100]) expect(core.realloc(0, 0, align, size) % align).toBe(0);
    }
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => i + 1);
    const first = core.alloc(bytes, 8);
    const grown = core.realloc(first, 100, 8, 5000);
    expect(grown % 8).toBe(0);
    expect(core.bytes().slice(grown, grown + 100)).toEqual(bytes);
    const pages = core.memory.buffer.byteLength;
    const big = core.realloc(0, 0, 8, 4 * pages);
    expect(core.memory.buffer.byteLength).toBeGreaterThan(pages);
    expect(big + 4 * pages).toBeLessThanOrEqual(core.memory.buffer.byteLength);
  });

  it("lays results out as the canonical ABI says: discriminant, then the payload at its alignment", () => {
    const core = new CoreClient(recordedStream().stream);
    const view = () => core.view();

    // result<_, xs-error>: ok is a 0 byte; the error's case follows at offset 1.
    let area = core.call("write", 0, ...core.string("/value"), core.alloc(Uint8Array.of(0, 1, 255), 1), 3);
    expect(view().getUint8(area)).toBe(0);
    area = core.call("rm", 0, ...core.string("/missing/deeper"));
    expect([view().getUint8(area), view().getUint8(area + 1)]).toEqual([1, XS_ERRORS.indexOf("enoent")]);

    // result<list<u8>, xs-error>: pointer at 4, length at 8; the error's case at 4.
    area = core.call("read", 0, ...core.string("/value"));
    expect(view().getUint8(area)).toBe(0);
    const at = view().getUint32(area + 4, true);
    expect(core.bytes().slice(at, at + view().getUint32(area + 8, true))).toEqual(Uint8Array.of(0, 1, 255));
    core.post("read", area);
    area = core.call("read", 0, ...core.string("/missing"));
    expect([view().getUint8(area), view().getUint8(area + 4)]).toEqual([1, XS_ERRORS.indexOf("enoent")]);
    core.post("read", area);

    // result<transaction-id, xs-error>: the u32 at 4.
    area = core.call("transaction-start");
    expect(view().getUint8(area)).toBe(0);
    expect(view().getUint32(area + 4, true)).toBeGreaterThan(0);
  });

  it("lifts and lowers every function's types", () => {
    const core = new CoreClient(recordedStream().stream);
    expect(core.write(0, "/d/a", new TextEncoder().encode("1"))).toEqual({ ok: null });
    expect(core.mkdir(0, "/d/second_name")).toEqual({ ok: null });
    expect(core.directory(0, "/d")).toEqual({ ok: ["a", "second_name"] });
    expect(
      core.setPerms(0, "/d/a", [
        { domid: 0, access: 3 },
        { domid: 9, access: 1 },
      ]),
    ).toEqual({ ok: null });
    expect(core.getPerms(0, "/d/a")).toEqual({
      ok: [
        { domid: 0, access: "both" },
        { domid: 9, access: "read" },
      ],
    });
    // An access case past the enum's is refused, not sent.
    expect(core.setPerms(0, "/d/a", [{ domid: 0, access: 4 }])).toEqual({ err: "einval" });
    expect(core.watch("/d", "tok")).toEqual({ ok: null });
    expect(core.nextEvent()).toEqual({ ok: { path: "/d", token: "tok" } });
    expect(core.unwatch("/d", "tok")).toEqual({ ok: null });
    const tx = core.transactionStart();
    if (!("ok" in tx)) throw new Error("transaction-start failed");
    expect(core.rm(tx.ok, "/d/a")).toEqual({ ok: null });
    expect(core.transactionEnd(tx.ok, false)).toEqual({ ok: null });
    expect(core.read(0, "/d/a")).toEqual({ ok: new TextEncoder().encode("1") });
    expect(core.getDomainPath(12)).toEqual({ ok: "/local/domain/12" });
  });

  it("sends what libxenstore sends: req_id 0 on every request, xenstored's transaction id in tx_id", () => {
    const { stream, requests } = recordedStream();
    const core = new CoreClient(stream);
    const tx = core.transactionStart();
    if (!("ok" in tx)) throw new Error("transaction-start failed");
    core.write(tx.ok, "/x", new TextEncoder().encode("value"));
    core.read(tx.ok, "/x");
    core.transactionEnd(tx.ok, true);
    core.directory(0, "/");
    const decoder = new TextDecoder();
    expect(requests.map((request) => ({ ...header(request), payload: decoder.decode(request.subarray(16)) }))).toEqual([
      { type: XsType.TRANSACTION_START, reqId: 0, txId: 0, length: 1, payload: "\0" },
      { type: XsType.WRITE, reqId: 0, txId: 1, length: 8, payload: "/x\0value" },
      { type: XsType.READ, reqId: 0, txId: 1, length: 3, payload: "/x\0" },
      { type: XsType.TRANSACTION_END, reqId: 0, txId: 1, length: 2, payload: "T\0" },
      { type: XsType.DIRECTORY, reqId: 0, txId: 0, length: 2, payload: "/\0" },
    ]);
  });

  it("frees its arguments and, in cabi_post_, its results: memory and heap high-water stay put over thousands of calls", () => {
    const xenstored = new XenStored();
    const core = new CoreClient(xenstoredStream(xenstored));
    const other = new CoreClient(xenstoredStream(xenstored));
    const value = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const round = (i: number) => {
      const path = `/m/node-${i % 50}`;
      core.write(0, path, value);
      core.read(0, path);
      core.directory(0, "/m");
      core.getPerms(0, path);
      core.setPerms(0, path, [
        { domid: 0, access: 1 },
        { domid: 4, access: 2 },
      ]);
      core.getDomainPath(i);
      core.read(0, "/m/missing");
      const tx = core.transactionStart();
      if ("ok" in tx) core.transactionEnd(tx.ok, i % 2 === 0);
      core.watch(path, `token-${i}`);
      other.write(0, path, value);
      core.nextEvent();
      core.nextEvent();
      core.unwatch(path, `token-${i}`);
      if (i % 10 === 0) core.rm(0, path);
    };
    const measure = () => footprint(core.bytes());
    // Warm-up rounds, 2000 at a time, until the heap's high water stays put for a whole batch (at most 5).
    const before = warmedUp(
      measure,
      () => {
        for (let i = 0; i < 2000; i++) round(i);
      },
      5,
    );
    for (let i = 0; i < 4000; i++) round(i);
    expect(measure()).toEqual(before);
    for (const name of POSTED) expect(core.posted.get(name)).toBeGreaterThan(0);
  });

  it("keeps its memory as well under jco's bindings, which run the cabi_post_ functions after each call", () => {
    const stream = xenstoredStream(new XenStored());
    const transport = { send: (bytes: Uint8Array) => stream.send(bytes), recv: (max: number) => stream.recv(max) };
    // As runtime/component.ts gives them: jco's bindings look the interface up without its version.
    const imports = { [TRANSPORT]: transport, "xenbus-wasm:xenstore/transport": transport };
    let memory: WebAssembly.Memory | undefined;
    const { client } = instantiate(
      (name) => new WebAssembly.Module(readFileSync(new URL(`../../build/component/${name}`, import.meta.url))),
      imports,
      (module, imports) => {
        const instance = new WebAssembly.Instance(module, imports);
        if (instance.exports.memory instanceof WebAssembly.Memory) memory = instance.exports.memory;
        return instance;
      },
    );
    client.write(0, "/value", new Uint8Array(300).fill(7));
    const round = () => {
      client.read(0, "/value");
      client.directory(0, "/");
      client.getPerms(0, "/value");
      client.getDomainPath(5);
    };
    for (let i = 0; i < 2000; i++) round();
    const measure = () => footprint(new Uint8Array(memory!.buffer));
    const before = measure();
    for (let i = 0; i < 4000; i++) round();
    expect(measure()).toEqual(before);
  });
});
