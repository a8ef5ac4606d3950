// `npm start` is the first thing a newcomer runs: it must finish, and its
// summary must report exactly the work it did.
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { runCommand } from "../support/command.js";
import { engines } from "../support/engines.js";

const demo = (...args: string[]): string =>
  execFileSync("node_modules/.bin/tsx", ["examples/demo/main.ts", ...args], { encoding: "utf8", stdio: "pipe" });

describe.each(engines)("under $name", ({ name: engine }) => {
  test("the demo connects each guest's disk, verifies a pattern through it, unplugs and re-plugs it, pings between the guests through the Wasm netback, and says so", () => {
    const output = demo("--engine", engine, "--guests", "2", "--disk-size", "256K");
    // dom1 is the block backend, dom2 and dom3 the guests, dom4 the network backend; each greets dom0 on its PV console.
    for (const [domid, name] of [
      [1, "blkback"],
      [2, "guest1"],
      [3, "guest2"],
      [4, "netback"],
    ]) {
      expect(output).toContain(`dom${domid}    console: hello dom0, this is ${name} (dom${domid})`);
    }
    // Transitions are shown as they happen, both ends, hot-unplug included.
    expect(output).toContain("xenbus  dom2 vbd/51712 frontend: Initialised → Connected");
    expect(output).toContain("xenbus  dom1 vbd/3/51712 backend: Connected → Closing");
    expect(output).toContain("xenbus  dom3 vbd/51712 frontend: Closed → gone");

    const summary = output.slice(output.indexOf("\nSummary"));
    expect(output).toContain("dom3    console: dom0 said: welcome, guest2");
    expect(summary).toMatch(new RegExp(`engine +the Wasm domains ran in ${engine}\n`));
    expect(summary).toMatch(
      /consoles +4 of 4 greetings reached dom0's console backends; 4 of 4 domains read dom0's reply and echoed it/,
    );
    for (const [guest, disk] of [
      [2, 0],
      [3, 1],
    ]) {
      expect(summary).toMatch(
        new RegExp(
          `device +dom${guest} xvda \\(vbd 51712\\) ↔ dom1 disk ${disk}, 256 KiB, \\d+-page ring: Connected at both ends\n` +
            ` +unplugged \\(closed\\) and re-plugged; plug to Connected in [\\d.]+ ms, then [\\d.]+ ms`,
        ),
      );
      expect(summary).toContain(
        `dom${guest} frontend: Initialising → Initialised → Connected → Closed → gone → Initialising → Initialised → Connected`,
      );
    }
    expect(summary).toContain(
      "dom1 backend:  Initialising → InitWait → Connected → Closing → Closed → gone → Initialising → InitWait → Connected",
    );
    expect(summary).toMatch(
      /pattern +2 of 2 disks written and read back verified, 2 of 2 verified again after the re-plug/,
    );
    // Per guest: 4 writes of 64 KiB (11 + 5 segments each), a flush, and two whole-disk reads.
    expect(summary).toMatch(/bytes moved +512 KiB written, 1 MiB read, in 50 blkif requests/);
    expect(summary).toMatch(/throughput +write \d+\.\d MiB\/s, read \d+\.\d MiB\/s/);
    // The network: both vifs on the Wasm netback, ARP and four echo requests each answered, timed.
    expect(output).toContain("xenbus  dom4 vif/3/0 backend: InitWait → Connected");
    expect(output).toContain("dom2    ARP: 10.0.0.3 is at 00:16:3e:00:03:00");
    for (let seq = 1; seq <= 4; seq++)
      expect(output).toMatch(
        new RegExp(`dom2    64 bytes from 10\\.0\\.0\\.3: icmp_seq=${seq} ttl=64 time=[\\d.]+ ms`),
      );
    expect(summary).toMatch(
      /network +dom4 "netback" \(Wasm network backend and bridge\): 2 of 2 vifs Connected at both ends/,
    );
    expect(summary).toMatch(
      /ping +10\.0\.0\.2 → 10\.0\.0\.3: 4 of 4 echo requests answered, rtt min\/avg\/max [\d.]+\/[\d.]+\/[\d.]+ ms/,
    );
    expect(summary).toMatch(/result +everything checked out/);
  });

  test("the demo prints only its summary at --trace summary", () => {
    const output = demo("--engine", engine, "--trace", "summary", "--disk-size", "64K");
    expect(output).not.toContain("console: hello");
    expect(output).not.toContain("xenbus ");
    expect(output.trim().startsWith("Summary")).toBe(true);
    expect(output).toMatch(/result +everything checked out/);
  });
});

test("the demo explains its options and refuses nonsensical values in one line, with exit 2", async () => {
  const help = await runCommand("examples/demo/main.ts", ["--help"]);
  expect(help).toMatchObject({ status: 0, stderr: "" });
  expect(help.stdout).toMatch(/--guests N[\s\S]*--disk-size SIZE[\s\S]*--trace LEVEL[\s\S]*--engine ENGINE/);
  const refusals: Array<[string[], string]> = [
    [["--guests", "zero"], "--guests wants a whole number from 1 to 16, not zero"],
    [["--disk-size", "3K"], "--disk-size wants a multiple of 4K up to 256M, such as 512K or 4M, not 3K"],
    [
      ["--guests", "16", "--disk-size", "128M"],
      "--guests × --disk-size must stay within 1G in all: the disks live in blkback's memory",
    ],
    [["--trace", "loud"], "--trace wants one of summary, steps, states, not loud"],
    [["--engine", "spidermonkey"], "--engine wants one of v8, wasmtime, not spidermonkey"],
  ];
  const outcomes = await Promise.all(refusals.map(([args]) => runCommand("examples/demo/main.ts", args)));
  expect(outcomes).toEqual(
    refusals.map(([, message]) => ({ status: 2, stdout: "", stderr: `npm start: ${message} (see --help)\n` })),
  );
});
