// The standalone xenstored (`npm run xenstored`, the package's `xenbus-wasm
// xenstored`) and the socket it serves: a second one on a live socket is
// refused and the first goes on serving; a socket left by one that died is
// taken over; a path that is not a socket is left alone.
import type { ChildProcess } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { listenUnix } from "../../host/dom0/xenstored/socket.js";
import { openXenstoreComponent } from "../../runtime/component.js";
import { connectXenstored } from "../../runtime/socket-stream.js";
import { runCommand, startCommand, stopCommand } from "../support/command.js";

const MAIN = "host/dom0/xenstored/main.ts";
const CLI = "cli/xenbus-wasm.ts";

/** Writes `value` at `path` through the socket and reads it back: a client talking to whichever xenstored serves it. */
function writeAndRead(socket: string, path: string, value: string): string {
  const xs = openXenstoreComponent(connectXenstored(socket));
  try {
    xs.write(path, new TextEncoder().encode(value));
    return xs.read(path);
  } finally {
    xs.close();
  }
}

describe("the standalone xenstored", () => {
  const directory = mkdtempSync(join(tmpdir(), "xenstored-command-"));
  const running: ChildProcess[] = [];
  let sockets = 0;
  const freshSocket = (): string => join(directory, `socket${sockets++}`);

  afterEach(async () => {
    await Promise.all(running.splice(0).map((child) => stopCommand(child, "SIGKILL")));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("serves until SIGTERM, then removes its socket and exits 0", async () => {
    const socket = freshSocket();
    const { child, firstLine } = await startCommand(MAIN, ["--socket", socket]);
    running.push(child);
    expect(firstLine).toBe(`xenstored listening on ${socket}`);
    expect(writeAndRead(socket, "/served", "yes")).toBe("yes");
    expect(await stopCommand(child)).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });

  it("refuses a socket where a xenstored answers, with one line and exit 1, and the first goes on serving", async () => {
    const socket = freshSocket();
    const { child } = await startCommand(MAIN, ["--socket", socket]);
    running.push(child);
    expect(writeAndRead(socket, "/first", "before")).toBe("before");
    const second = await runCommand(CLI, ["xenstored", "--socket", socket]);
    expect(second).toEqual({
      status: 1,
      stdout: "",
      stderr: `xenbus-wasm xenstored: ${socket} is in use: a server answers there (EADDRINUSE)\n`,
    });
    const third = await runCommand(MAIN, ["--socket", socket]);
    expect(third).toMatchObject({
      status: 1,
      stderr: `npm run xenstored: ${socket} is in use: a server answers there (EADDRINUSE)\n`,
    });
    // Still the first one's store, reachable on the same path.
    expect(lstatSync(socket).isSocket()).toBe(true);
    expect(writeAndRead(socket, "/first/after", "still here")).toBe("still here");
    const xs = openXenstoreComponent(connectXenstored(socket));
    expect(xs.read("/first")).toBe("before");
    xs.close();
  });

  it("takes over the socket file of a xenstored that died", async () => {
    const socket = freshSocket();
    const { child: dead } = await startCommand(MAIN, ["--socket", socket]);
    expect(await stopCommand(dead, "SIGKILL")).toBe("SIGKILL");
    expect(lstatSync(socket).isSocket()).toBe(true);
    const { child, firstLine } = await startCommand(CLI, ["xenstored", "--socket", socket]);
    running.push(child);
    expect(firstLine).toBe(`xenstored listening on ${socket}`);
    expect(writeAndRead(socket, "/taken/over", "yes")).toBe("yes");
  });

  it("leaves a path that is not a socket alone", async () => {
    const path = freshSocket();
    writeFileSync(path, "someone's file");
    expect(await runCommand(MAIN, ["--socket", path])).toMatchObject({
      status: 1,
      stderr: `npm run xenstored: ${path} is in use: it is not a socket (EADDRINUSE)\n`,
    });
    expect(readFileSync(path, "utf8")).toBe("someone's file");
  });

  it("listenUnix in a program does the same: EADDRINUSE for a live socket, which keeps serving", async () => {
    const socket = freshSocket();
    const first = await listenUnix(new XenStored(), socket);
    await expect(listenUnix(new XenStored(), socket)).rejects.toMatchObject({ code: "EADDRINUSE" });
    // This process serves it, so the (blocking) client runs in a child.
    const written = await runCommand(CLI, ["xs", "write", "/in/process", "served", "--socket", socket]);
    expect(written.status).toBe(0);
    await first.close();
  });
});
