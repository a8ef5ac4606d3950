// The slow first-time steps (tools/debian.ts's downloads, tools/wasmtime.ts's
// environment) run for real into an empty cache (XENBUS_WASM_CACHE): one line
// on stderr when each starts, saying what and roughly how long, one when it
// ends with the time it took; nothing once the cache is warm.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { debianPackage } from "../../tools/debian.js";
import { wasmtimePython } from "../../tools/wasmtime.js";
import { peer } from "../support/peer.js";

const debian = peer("Debian's packages", () => debianPackage("libxen-dev"));
const python = peer("wasmtime", wasmtimePython);

/** Runs a tools/ script with its cache in `cache`. */
function tool(cache: string, script: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const { NODE_OPTIONS: _, ...env } = process.env;
  return promisify(execFile)(process.execPath, ["--import", "tsx", script, ...args], {
    env: { ...env, XENBUS_WASM_CACHE: cache },
  });
}

describe("the first use of an empty cache", () => {
  const cache = mkdtempSync(join(tmpdir(), "xenbus-wasm-cache-"));
  afterAll(() => rmSync(cache, { recursive: true, force: true }));

  it.skipIf(!debian)(
    "says it is fetching a Debian package and how long it took, then nothing once it is there",
    async () => {
      const first = await tool(cache, "tools/debian.ts", "libxen-dev");
      expect(first.stdout).toBe(`${join(cache, "debian/libxen-dev")}\n`);
      const what = `fetching Debian's libxen-dev into ${join(cache, "debian")}`;
      expect(first.stderr.split("\n")).toEqual([
        `${what} (about 5 s)...`,
        expect.stringMatching(new RegExp(`^${escapeText(what)}: done in \\d+\\.\\d s$`)),
        "",
      ]);
      expect(await tool(cache, "tools/debian.ts", "libxen-dev")).toEqual({ stdout: first.stdout, stderr: "" });
    },
  );

  it.skipIf(!python)(
    "says it is making the wasmtime environment and how long it took, then nothing once it works",
    async () => {
      const first = await tool(cache, "tools/wasmtime.ts");
      expect(first.stdout).toMatch(
        new RegExp(
          `^${escapeText(join(cache, "venv/lib/"))}python3\\.\\d+/site-packages/wasmtime/linux-x86_64/_libwasmtime\\.so\\n$`,
        ),
      );
      const what = `making ${join(cache, "venv")}: python3 -m venv, pip install wasmtime==49.*`;
      expect(first.stderr.split("\n")).toEqual([
        `${what} (about 20 s)...`,
        expect.stringMatching(new RegExp(`^${escapeText(what)}: done in \\d+\\.\\d s$`)),
        "",
      ]);
      expect(await tool(cache, "tools/wasmtime.ts")).toEqual({ stdout: first.stdout, stderr: "" });
    },
    300_000,
  );
});

function escapeText(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
