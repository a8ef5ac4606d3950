// The npm package as a unikernel project gets it: `npm pack`, unpacked into a
// scratch consumer's node_modules, its file list checked, and its entry points
// imported by plain Node ESM (no tsx) and type-checked by tsc, booting the
// packed xenbus.wasm on the packed simulated Xen and its xenstored, in V8
// and, chosen from the package, in wasmtime.
// Like every test it takes the release build/xenbus.wasm of the last build:
// it rebuilds only dist/ (which no other test reads) and packs without
// `prepack`, which would rewrite build/ under the tests running beside it.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalClient } from "../host/xenstored/client.js";
import { XenStored } from "../host/xenstored/server.js";
import { listenUnix } from "../host/xenstored/socket.js";
import { buildDist } from "../tools/dist.js";
import { wasmtimePython } from "../tools/wasmtime.js";
import { peer } from "./support/peer.js";

const repo = fileURLToPath(new URL("..", import.meta.url));

/** The consumer: plain JavaScript, type-checked by tsc (checkJs) through its JSDoc against the packed declarations. */
const CONSUMER = `
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { bootXenbus, loadGuest, xenstore } from "xenbus-wasm";
import { Hypervisor, startXenstore } from "xenbus-wasm/host";

const hv = new Hypervisor();
const service = startXenstore(hv);

// A module of the user's own, here the packed xenbus.wasm, loaded by path.
const wasmPath = fileURLToPath(import.meta.resolve("xenbus-wasm/xenbus.wasm"));
const own = /** @type {import("xenbus-wasm").Xenbus} */ (loadGuest(hv, readFileSync(wasmPath), { name: "own" }));
const ownBoot = own.exports.xen_boot();
const ownStore = xenstore(own);
ownStore.write("data/greeting", "hello through the packed guest");

// The packaged module, booted by the runtime.
const guest = bootXenbus(hv, "unikernel");
const store = xenstore(guest);
store.write("data/answer", "42");

console.log(JSON.stringify({
  ownBoot,
  ownRead: ownStore.read("data/greeting"),
  guestRead: store.read("data/answer"),
  dom0Read: service.tools.read("/local/domain/" + guest.domid + "/data/answer"),
}));
`;

/** The same in wasmtime, chosen from the package: the Python with wasmtime comes from XENBUS_WASM_PYTHON. */
const WASMTIME_CONSUMER = `
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bootXenbus, loadGuest, wasmtimeEngine, xenstore } from "xenbus-wasm";
import { Hypervisor, startXenstore } from "xenbus-wasm/host";

const engine = wasmtimeEngine();
const hv = new Hypervisor();
const service = startXenstore(hv);

const wasmPath = fileURLToPath(import.meta.resolve("xenbus-wasm/xenbus.wasm"));
const own = /** @type {import("xenbus-wasm").Xenbus} */ (loadGuest(hv, readFileSync(wasmPath), { name: "own", engine }));
const ownBoot = own.exports.xen_boot();
xenstore(own).write("data/engine", engine.name);

const guest = bootXenbus(hv, "unikernel", engine);
xenstore(guest).write("data/answer", "42");
const result = {
  ownBoot,
  ownEngine: service.tools.read("/local/domain/" + own.domid + "/data/engine"),
  dom0Read: service.tools.read("/local/domain/" + guest.domid + "/data/answer"),
  guestsBefore: engine.guestCount,
};
// Destroying a domain frees its guest in wasmtime's process.
service.destroyDomain(guest.domid);
console.log(JSON.stringify({ ...result, guestsAfterDestroy: engine.guestCount }));
`;

const python = peer("wasmtime", wasmtimePython);

describe("the npm package", () => {
  const scratch = mkdtempSync(join(tmpdir(), "xenbus-wasm-pack-"));
  const consumer = join(scratch, "consumer");
  const installed = join(consumer, "node_modules", "xenbus-wasm");
  let files: string[];

  beforeAll(() => {
    buildDist(repo);
    const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", scratch], {
      cwd: repo,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const [tarball] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
    files = tarball!.files.map((file) => file.path);
    mkdirSync(installed, { recursive: true });
    execFileSync("tar", ["-xzf", join(scratch, tarball!.filename), "-C", installed, "--strip-components=1"]);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    writeFileSync(join(consumer, "main.mjs"), CONSUMER);
    writeFileSync(join(consumer, "wasmtime.mjs"), WASMTIME_CONSUMER);
  });

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("holds the release xenbus.wasm, compiled runtime and host with declarations, and no test code or sources", () => {
    expect(files).toContain("dist/build/xenbus.wasm");
    for (const entry of ["dist/runtime/index", "dist/host/index"]) {
      expect(files).toContain(`${entry}.js`);
      expect(files).toContain(`${entry}.d.ts`);
    }
    const packedWasm = readFileSync(join(installed, "dist/build/xenbus.wasm"));
    expect(packedWasm.equals(readFileSync(join(repo, "build/xenbus.wasm")))).toBe(true);
    const unwanted = /^(test|assembly|tools|bench|build|\.cache)\/|harness|testing|debug|\.map$|(?<!\.d)\.ts$/;
    expect(files.filter((path) => unwanted.test(path))).toEqual([]);
  });

  it("holds the XenStore client component, its Node bindings with declarations, the WIT files and the xenbus-wasm bin", () => {
    for (const path of [
      "dist/build/xenstore-client.wasm", "dist/build/component/xenstore-client.js", "dist/build/component/xenstore-client.d.ts",
      "dist/runtime/component.js", "dist/runtime/component.d.ts", "dist/runtime/socket-stream.js", "dist/runtime/socket-stream.d.ts",
      "dist/runtime/socket-worker.js", "dist/runtime/wasmtime_component.py", "wit/xenstore.wit", "dist/cli/xenbus-wasm.js",
    ]) {
      expect(files).toContain(path);
    }
    const packedComponent = readFileSync(join(installed, "dist/build/xenstore-client.wasm"));
    expect(packedComponent.equals(readFileSync(join(repo, "build/xenstore-client.wasm")))).toBe(true);
    const { bin } = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { bin: Record<string, string> };
    expect(bin).toEqual({ "xenbus-wasm": "dist/cli/xenbus-wasm.js" });
    const { NODE_OPTIONS: _, ...env } = process.env;
    const resolve = (specifier: string): string =>
      execFileSync(process.execPath, ["--input-type=module", "-e", `console.log(import.meta.resolve(${JSON.stringify(specifier)}))`], { cwd: consumer, env, encoding: "utf8" }).trim();
    expect(resolve("xenbus-wasm/xenstore-client.wasm")).toBe(pathToFileURL(join(installed, "dist/build/xenstore-client.wasm")).href);
    expect(resolve("xenbus-wasm/wit/xenstore.wit")).toBe(pathToFileURL(join(installed, "wit/xenstore.wit")).href);
  });

  it("runs the packed bin (xenbus-wasm xs write, xs read) against a simulated xenstored's socket", async () => {
    const xenstored = new XenStored();
    const socket = join(scratch, "xenstored.socket");
    const listener = await listenUnix(xenstored, socket);
    const { NODE_OPTIONS: _, ...env } = process.env;
    const { bin } = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { bin: Record<string, string> };
    // The bin as npm links it: run by its #! line; xenstored is served by this process, so the bin runs asynchronously.
    const xenbusWasm = (...args: string[]) =>
      promisify(execFile)(join(installed, bin["xenbus-wasm"]!), args, { cwd: consumer, env: { ...env, XENSTORED_PATH: socket } });
    try {
      expect(await xenbusWasm("xs", "write", "/packed/greeting", "from the packed bin")).toEqual({ stdout: "", stderr: "" });
      expect(new LocalClient(xenstored, 0).read("/packed/greeting")).toBe("from the packed bin");
      expect((await xenbusWasm("xs", "read", "/packed/greeting")).stdout).toBe("from the packed bin\n");
    } finally {
      await listener.close();
    }
  });

  it.skipIf(!python)("runs the packed component under wasmtime's component API (the packed runner) against a simulated xenstored's socket", async () => {
    const xenstored = new XenStored();
    const socket = join(scratch, "component.socket");
    const listener = await listenUnix(xenstored, socket);
    const runner = join(installed, "dist/runtime/wasmtime_component.py");
    const operations = [
      { op: "write", path: "/packed/component", value: "through wasmtime" },
      { op: "read", path: "/packed/component" },
      { op: "read", path: "/packed/missing" },
    ];
    try {
      const child = execFile(python!, [runner, socket]);
      child.stdin!.end(operations.map((operation) => JSON.stringify(operation)).join("\n") + "\n");
      let stdout = "";
      child.stdout!.on("data", (chunk: string) => (stdout += chunk));
      const status = await new Promise<number | null>((done) => child.on("close", done));
      expect(status).toBe(0);
      expect(stdout.trim().split("\n").map((line) => JSON.parse(line) as unknown)).toEqual([
        { ok: null },
        { ok: "through wasmtime" },
        { error: "enoent" },
      ]);
      expect(new LocalClient(xenstored, 0).read("/packed/component")).toBe("through wasmtime");
    } finally {
      await listener.close();
    }
  });

  it("boots the packed module on the packed simulated Xen from plain Node ESM: a XenStore write and read through the guest", () => {
    const { NODE_OPTIONS: _, ...env } = process.env;
    const output = execFileSync(process.execPath, ["main.mjs"], { cwd: consumer, env, encoding: "utf8" });
    expect(JSON.parse(output)).toEqual({
      ownBoot: 0,
      ownRead: "hello through the packed guest",
      guestRead: "42",
      dom0Read: "42",
    });
  });

  it.skipIf(!python)("boots the packed module under wasmtime, chosen from the package with the Python named by XENBUS_WASM_PYTHON", () => {
    const { NODE_OPTIONS: _, ...env } = process.env;
    const output = execFileSync(process.execPath, ["wasmtime.mjs"], { cwd: consumer, env: { ...env, XENBUS_WASM_PYTHON: python }, encoding: "utf8" });
    expect(JSON.parse(output)).toEqual({ ownBoot: 0, ownEngine: "wasmtime", dom0Read: "42", guestsBefore: 2, guestsAfterDestroy: 1 });
  });

  it("says which Python it tried when XENBUS_WASM_PYTHON names none with wasmtime", () => {
    const { NODE_OPTIONS: _, ...env } = process.env;
    const missing = join(scratch, "no-such-python");
    const run = spawnSync(process.execPath, ["wasmtime.mjs"], { cwd: consumer, env: { ...env, XENBUS_WASM_PYTHON: missing }, encoding: "utf8" });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`wasmtime engine: ${missing} cannot import wasmtime`);
    expect(run.stderr).toContain("XENBUS_WASM_PYTHON");
  });

  it("type-checks the consumer (checkJs) against the packed declarations", () => {
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        allowJs: true,
        checkJs: true,
        types: ["node"],
        typeRoots: [join(repo, "node_modules/@types")],
      },
      files: ["main.mjs", "wasmtime.mjs"],
    };
    writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify(tsconfig));
    const check = spawnSync(join(repo, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], { cwd: consumer, encoding: "utf8" });
    expect(check.stdout + check.stderr).toBe("");
    expect(check.status).toBe(0);
  });
});
