// The `xenbus-wasm` command (cli/xenbus-wasm.ts) run as a child process, as a
// user runs it, against a simulated xenstored served on a Unix socket from
// this process; dom0 (a LocalClient here) sees what it writes and writes what
// it reads.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { listenUnix, type SocketListener } from "../../host/dom0/xenstored/socket.js";
import { commandEnv, type Outcome, runCommand } from "../support/command.js";

/** Runs the command with `args` and XENSTORED_PATH set to `xenstoredPath` (unset when undefined). */
function cli(args: string[], xenstoredPath?: string): Promise<Outcome> {
  const env = commandEnv();
  if (xenstoredPath !== undefined) env.XENSTORED_PATH = xenstoredPath;
  return runCommand("cli/xenbus-wasm.ts", args, env);
}

describe("the xenbus-wasm command", () => {
  const directory = mkdtempSync(join(tmpdir(), "xenbus-wasm-cli-"));
  const socket = join(directory, "socket");
  const xenstored = new XenStored();
  const dom0 = new LocalClient(xenstored, 0);
  let listener: SocketListener;

  beforeAll(async () => {
    listener = await listenUnix(xenstored, socket);
  });

  afterAll(async () => {
    await listener.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it("writes values that dom0 then reads, several in one call", async () => {
    const outcome = await cli(["xs", "write", "/cli/a", "one", "/cli/b", "two words"], socket);
    expect(outcome).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(dom0.read("/cli/a")).toBe("one");
    expect(dom0.read("/cli/b")).toBe("two words");
  });

  it("reads what dom0 wrote, one value a line", async () => {
    dom0.write("/cli/read/x", "from dom0");
    dom0.write("/cli/read/y", "");
    const outcome = await cli(["xs", "read", "/cli/read/x", "/cli/read/y"], socket);
    expect(outcome).toEqual({ status: 0, stdout: "from dom0\n\n", stderr: "" });
  });

  it("lists a tree with its values as xenstore-ls does, escaping what is not printable", async () => {
    dom0.write("/cli/tree/leaf", "value");
    dom0.write("/cli/tree/dir/inner", "back\\slash\ttab");
    const outcome = await cli(["--socket", socket, "xs", "ls", "/cli/tree"]);
    expect(outcome.status).toBe(0);
    expect(outcome.stdout).toBe(['leaf = "value"', 'dir = ""', ' inner = "back\\134slash\\011tab"', ""].join("\n"));
  });

  it("removes nodes and what is below them", async () => {
    dom0.write("/cli/gone/child", "x");
    dom0.write("/cli/kept", "y");
    const outcome = await cli(["xs", "rm", "/cli/gone"], socket);
    expect(outcome.status).toBe(0);
    expect(dom0.directory("/cli")).not.toContain("gone");
    expect(dom0.read("/cli/kept")).toBe("y");
  });

  it("prints each watch event's path as it comes, the watch's own first, and stops after -n", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "cli/xenbus-wasm.ts", "xs", "watch", "/cli/watched", "-n", "3", "--socket", socket],
      {
        env: commandEnv(),
      },
    );
    let stdout = "";
    const lines = async (count: number): Promise<string[]> => {
      while (stdout.split("\n").length <= count) await new Promise((resolve) => child.stdout.once("data", resolve));
      return stdout.split("\n").slice(0, count);
    };
    child.stdout.on("data", (bytes: Buffer) => (stdout += bytes.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(await lines(1)).toEqual(["/cli/watched"]);
    dom0.write("/cli/watched/first", "1");
    expect(await lines(2)).toEqual(["/cli/watched", "/cli/watched/first"]);
    dom0.write("/cli/elsewhere", "not watched");
    dom0.write("/cli/watched", "2");
    expect(await exited).toBe(0);
    expect(stdout).toBe("/cli/watched\n/cli/watched/first\n/cli/watched\n");
  });

  it("fails as Xen's tools do: exit 1 with the errno name and the path", async () => {
    const missing = await cli(["xs", "read", "/cli/missing"], socket);
    expect(missing).toEqual({ status: 1, stdout: "", stderr: "xenbus-wasm: could not read /cli/missing: ENOENT\n" });
    // A failed read in a transaction prints nothing, even for the paths that exist.
    const some = await cli(["xs", "read", "/cli/kept", "/cli/missing"], socket);
    expect(some).toMatchObject({ status: 1, stdout: "" });
    const invalid = await cli(["xs", "write", "/cli/bad//path", "x"], socket);
    expect(invalid).toMatchObject({ status: 1, stderr: "xenbus-wasm: could not write /cli/bad//path: EINVAL\n" });
  });

  it("says a mistake in the command line in one line, with exit 2, before connecting", async () => {
    const usage = await cli(["xs", "write", "/cli/odd"], socket);
    expect(usage).toEqual({
      status: 2,
      stdout: "",
      stderr: "xenbus-wasm: write wants PATH VALUE pairs (see --help)\n",
    });
    expect(dom0.directory("/cli")).not.toContain("odd");
    const help = await cli(["--help"]);
    expect(help).toMatchObject({ status: 0, stderr: "" });
    expect(help.stdout).toMatch(
      /^usage: xenbus-wasm xs COMMAND[\s\S]*xenbus-wasm xenstored --socket PATH[\s\S]*--version/,
    );
  });

  it("prints the package's version", async () => {
    const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(await cli(["--version"])).toEqual({ status: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("finds xenstored through XENSTORED_PATH, which --socket overrides", async () => {
    dom0.write("/cli/where", "here");
    const absent = join(directory, "absent");
    expect(await cli(["xs", "read", "/cli/where"], socket)).toMatchObject({ status: 0, stdout: "here\n" });
    expect(await cli(["xs", "read", "/cli/where", "--socket", socket], absent)).toMatchObject({
      status: 0,
      stdout: "here\n",
    });
    expect(await cli(["xs", "read", "/cli/where"], absent)).toEqual({
      status: 1,
      stdout: "",
      stderr: `xenbus-wasm: cannot reach xenstored at ${absent}: ENOENT\n`,
    });
    expect(await cli(["xs", "read", "/cli/where", "--socket", absent], socket)).toMatchObject({ status: 1 });
  });
});
