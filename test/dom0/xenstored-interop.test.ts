// Debian's xenstore-utils (libxenstore) against the simulated xenstored over
// its Unix socket, with XENSTORED_PATH pointing the tools at it.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { listenUnix, type SocketListener } from "../../host/dom0/xenstored/socket.js";
import { debianPackage } from "../../tools/debian.js";
import { peer } from "../support/peer.js";
import { perms } from "../support/perms.js";

const run = promisify(execFile);

const tools = peer("Debian's xenstore-utils", () => {
  const libraries = ["libxenstore4", "libxentoolcore1"].map((name) =>
    join(debianPackage(name), "usr/lib/x86_64-linux-gnu"),
  );
  return { bin: join(debianPackage("xenstore-utils"), "usr/bin"), libraryPath: libraries.join(":") };
});

/** Xen's own protocol test, from the Xen utilities package (it needs only libxenstore). */
const testXenstore = peer("Xen's test-xenstore (xen-utils-4.17)", () =>
  join(debianPackage("xen-utils-4.17"), "usr/lib/xen-4.17/bin/test-xenstore"),
);

describe.skipIf(!tools)("xenstore-utils against the simulated xenstored", () => {
  const directory = mkdtempSync(join(tmpdir(), "xenstored-"));
  const socketPath = join(directory, "socket");
  const xenstored = new XenStored();
  const dom0 = new LocalClient(xenstored, 0);
  let listener: SocketListener;
  const env = () => ({ ...process.env, XENSTORED_PATH: socketPath, LD_LIBRARY_PATH: tools!.libraryPath });

  /** Runs a tool; resolves with its exit code and output instead of throwing on failure. */
  async function tool(name: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(join(tools!.bin, name), args, { env: env(), timeout: 10_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
    }
  }

  beforeAll(async () => {
    listener = await listenUnix(xenstored, socketPath);
  });

  afterAll(async () => {
    await listener.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it("writes, reads, tests existence, lists and removes", async () => {
    expect(await tool("xenstore-write", "/interop/a/b", "hello", "/interop/c", "world")).toMatchObject({ code: 0 });
    expect(dom0.read("/interop/a/b")).toBe("hello");
    expect(await tool("xenstore-read", "/interop/a/b", "/interop/c")).toMatchObject({
      code: 0,
      stdout: "hello\nworld\n",
    });
    expect((await tool("xenstore-exists", "/interop/c")).code).toBe(0);
    expect((await tool("xenstore-exists", "/interop/missing")).code).toBe(1);
    expect(await tool("xenstore-list", "/interop")).toMatchObject({ code: 0, stdout: "a\nc\n" });
    const listing = await tool("xenstore-ls", "-f", "/interop");
    expect(listing.stdout).toBe('/interop/a = ""\n/interop/a/b = "hello"\n/interop/c = "world"\n');
    expect((await tool("xenstore-rm", "/interop/a")).code).toBe(0);
    expect(dom0.directory("/interop")).toEqual(["c"]);
    const missing = await tool("xenstore-read", "/interop/a/b");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("couldn't read path /interop/a/b");
  });

  it("reads values written in-process, relative to dom0's home too", async () => {
    dom0.write("/local/domain/0/name", "Domain-0");
    expect((await tool("xenstore-read", "name")).stdout).toBe("Domain-0\n");
  });

  it("sets permissions that bind a guest's connection", async () => {
    dom0.write("/interop/perm", "for five");
    const guest = new LocalClient(xenstored, 5);
    expect(() => guest.read("/interop/perm")).toThrow("EACCES");
    expect((await tool("xenstore-chmod", "/interop/perm", "n0", "r5")).code).toBe(0);
    expect(dom0.getPerms("/interop/perm")).toEqual(perms("n0", "r5"));
    expect(guest.read("/interop/perm")).toBe("for five");
    const listing = await tool("xenstore-ls", "-p", "/interop");
    expect(listing.stdout).toMatch(/perm = "for five" .*\(n0,r5\)/);
    expect((await tool("xenstore-chmod", "-r", "/interop", "b0", "w5")).code).toBe(0);
    expect(dom0.getPerms("/interop/perm")).toEqual(perms("b0", "w5"));
    expect(dom0.getPerms("/interop")).toEqual(perms("b0", "w5"));
  });

  it("watches: the registration event, then changes below, then removal", async () => {
    const watcher = spawn(join(tools!.bin, "xenstore-watch"), ["-n", "3", "/interop/w"], { env: env() });
    let output = "";
    const exited = new Promise<number | null>((resolve) => watcher.on("exit", resolve));
    const sawLines = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => (output.split("\n").length > count ? resolve() : undefined);
        watcher.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          check();
        });
        watcher.on("exit", () =>
          output.split("\n").length > count ? resolve() : reject(new Error(`watch output: ${output}`)),
        );
        check();
      });
    await sawLines(1);
    dom0.write("/interop/w/x", "1");
    dom0.write("/interop/elsewhere", "1");
    dom0.rm("/interop/w");
    expect(await exited).toBe(0);
    expect(output).toBe("/interop/w\n/interop/w/x\n/interop/w\n");
  });

  it.skipIf(!testXenstore)("passes every test of Xen's test-xenstore, in order and at random", async () => {
    const { stdout: listing } = await run(testXenstore!, ["--list-tests"], { env: env() });
    const names = listing.trim().split("\n");
    expect(names).toHaveLength(12);
    const { stdout } = await run(testXenstore!, ["--iterations", "3"], { env: env(), timeout: 60_000 });
    // One timing line per test; a failing test prints "failed" and stops the run.
    expect(
      stdout
        .trim()
        .split("\n")
        .filter((line) => /^[^:]+: avg: \d+ ns/.test(line)),
    ).toHaveLength(names.length);
    await run(testXenstore!, ["--random", "1"], { env: env(), timeout: 60_000 });
  });

  it("serves many tool connections and keeps their requests apart", async () => {
    const writes = Array.from({ length: 8 }, (_, i) => tool("xenstore-write", `/interop/many/${i}`, String(i * i)));
    expect((await Promise.all(writes)).every((result) => result.code === 0)).toBe(true);
    const reads = await Promise.all(Array.from({ length: 8 }, (_, i) => tool("xenstore-read", `/interop/many/${i}`)));
    expect(reads.map((result) => result.stdout)).toEqual(Array.from({ length: 8 }, (_, i) => `${i * i}\n`));
  });
});
