// Every command of the repository and the package answers --help at once
// (exit 0), and a mistake in its command line (an unknown option, a missing
// value, an argument it does not take) with one line naming the mistake and
// exit status 2: never a stack trace, and nothing run or built first.
import { describe, expect, it } from "vitest";
import { runCommand } from "../support/command.js";

/** Each command: its entry point, how its messages name it, and mistakes in its command line. */
const COMMANDS: Array<{ script: string; name: string; mistakes: string[][] }> = [
  { script: "examples/demo/main.ts", name: "npm start", mistakes: [["--bogus"], ["--guests"], ["extra"]] },
  {
    script: "host/dom0/xenstored/main.ts",
    name: "npm run xenstored",
    mistakes: [[], ["--bogus"], ["--socket"], ["--socket", "/tmp/s", "extra"]],
  },
  {
    script: "cli/xenbus-wasm.ts",
    name: "xenbus-wasm",
    mistakes: [
      [],
      ["--bogus"],
      ["frobnicate"],
      ["xs"],
      ["xs", "frobnicate"],
      ["xs", "read"],
      ["xs", "read", "--socket"],
      ["xs", "ls", "/a", "-n", "2"],
      ["xenstored"],
      ["xenstored", "--socket"],
      ["xenstored", "--socket", "/tmp/s", "extra"],
    ],
  },
  { script: "bench/run.ts", name: "npm run bench", mistakes: [["--bogus"], ["no_such_workload"]] },
  { script: "tools/layouts.ts", name: "npm run layouts", mistakes: [["--bogus"], ["extra"]] },
  { script: "tools/build.ts", name: "build", mistakes: [["--bogus"], ["no_such_target"]] },
  { script: "tools/pvh.ts", name: "npm run pvh", mistakes: [["--bogus"], ["../xenbus"]] },
  { script: "tools/dist.ts", name: "npm run dist", mistakes: [["--bogus"], ["extra"]] },
  { script: "tools/xen/main.ts", name: "npm run xen", mistakes: [["--bogus"], ["extra"]] },
];

describe.concurrent.each(COMMANDS)("$script", ({ script, name, mistakes }) => {
  it("prints its help with exit 0, and nothing else", async () => {
    for (const help of ["--help", "-h"]) {
      const outcome = await runCommand(script, [help]);
      expect(outcome).toMatchObject({ status: 0, stderr: "" });
      expect(outcome.stdout.length).toBeGreaterThan(100);
    }
  });

  it.each(mistakes.map((args) => [args.join(" ") || "(no arguments)", args] as const))(
    "refuses %s in one line with exit 2",
    async (_, args) => {
      const outcome = await runCommand(script, args);
      expect(outcome.status).toBe(2);
      expect(outcome.stdout).toBe("");
      expect(outcome.stderr).toMatch(new RegExp(`^${name}: [^\\n]+ \\(see --help\\)\\n$`));
    },
  );
});
