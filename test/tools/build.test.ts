// tools/build.ts builds a target only when it is stale, and says what it
// builds. Run on a copy of the build's inputs and of build/ (timestamps
// kept), so that the build/ the other test files load is never rewritten
// under them.
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Outcome, runCommand } from "../support/command.js";

/** What tools/build.ts reads, and what it imports. */
const INPUTS = [
  "assembly",
  "wit",
  "asconfig.json",
  "package.json",
  "tools/build.ts",
  "tools/abi-generate.ts",
  "host/xen/abi.ts",
  "test/native/layouts.c",
  "runtime/command-line.ts",
  "build",
];

/** The targets a build said it built, each with its reason: "harness.debug (assembly/harness.ts changed)". */
function built(outcome: Outcome): string[] {
  expect(outcome.status).toBe(0);
  return [...outcome.stderr.matchAll(/^building (\S+ \(.*\))… [\d.]+ s$/gm)].map((match) => match[1]!);
}

describe("npm run build", () => {
  const root = mkdtempSync(join(tmpdir(), "xenbus-wasm-build-"));
  for (const path of INPUTS) cpSync(path, join(root, path), { recursive: true, preserveTimestamps: true });
  symlinkSync(resolve("node_modules"), join(root, "node_modules"));
  const build = (...targets: string[]): Promise<Outcome> => runCommand(join(root, "tools/build.ts"), targets);
  /** Marks `path` (in the copy) as just edited. */
  const touch = (path: string): void => utimesSync(join(root, path), new Date(), new Date());

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("builds nothing when nothing changed since the last build, and says so", async () => {
    await build(); // whatever the repository's build/ had left stale
    const again = await build();
    expect(built(again)).toEqual([]);
    expect(again.stderr).toBe("build: everything is up to date\n");
  }, 600_000);

  it("rebuilds a target when a source it imports changes, and no target that does not import it", async () => {
    // Imported by the harness (assembly/harness.ts) alone.
    touch("assembly/testing/backend-ops.ts");
    expect(built(await build("xenbus", "xenbus.debug", "xenstore-client"))).toEqual([]);
    expect(built(await build("harness.debug"))).toEqual(["harness.debug (assembly/testing/backend-ops.ts changed)"]);
    expect(built(await build("harness.debug"))).toEqual([]);
    // The component's WIT is its input alone.
    touch("wit/xenstore.wit");
    expect(built(await build("xenbus", "xenbus.debug", "harness.debug"))).toEqual([]);
  }, 600_000);

  it("writes again the files generated from Xen's ABI declaration when it changes, then rebuilds", async () => {
    const declaration = join(root, "assembly/xen/abi.json");
    const abi = JSON.parse(readFileSync(declaration, "utf8"));
    abi.structs.evtchn_send.doc = "EVTCHNOP_send: notifies the other end of `port`.";
    writeFileSync(declaration, JSON.stringify(abi));
    const outcome = await build("xenbus.debug");
    expect(built(outcome)).toEqual(["xenbus.debug (assembly/xen/layout.ts changed)"]);
    expect(outcome.stderr).toContain("generated assembly/xen/layout.ts from assembly/xen/abi.json\n");
    expect(outcome.stderr).toContain("generated host/xen/abi.ts from assembly/xen/abi.json\n");
    expect(readFileSync(join(root, "assembly/xen/layout.ts"), "utf8")).toContain(abi.structs.evtchn_send.doc);
    expect(built(await build("xenbus.debug"))).toEqual([]);
  }, 600_000);

  it("builds a target whose output is missing", async () => {
    rmSync(join(root, "build/xenbus.debug.wasm.map"));
    expect(built(await build("xenbus.debug"))).toEqual(["xenbus.debug (not built yet)"]);
  }, 600_000);
});

describe("build/xenbus.wasm, the release module", () => {
  it("is at most 64 KiB (issue 14: what a unikernel uses, nothing more)", () => {
    expect(readFileSync("build/xenbus.wasm").byteLength).toBeLessThanOrEqual(64 * 1024);
  });
});
