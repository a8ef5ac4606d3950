// `npm run xen`: boots real Xen 4.17 in QEMU with a Debian dom0 running Xen's
// own tools, starts the guests with xl and prints what each check found.
// Exits 1 when a check fails or the run breaks down, 2 for a usage mistake.
import { exitWithError, parseCommandLine } from "../../runtime/command-line.js";
import { buildStale } from "../build.js";
import { PeerUnavailable } from "../debian.js";
import type { CheckResult } from "./report.js";
import { type Progress, prepareRig, runRig, UNIKERNELS } from "./rig.js";

const USAGE = `usage: npm run xen

Fetches Debian's Xen, kernel and QEMU packages into .cache/ (installing
qemu-system-x86, busybox-static and cpio with apt-get where missing), builds
dom0's initramfs, boots Xen in QEMU and runs the scenario: a Linux PVH guest,
build/unikernel.pvh.elf, build/checks.pvh.elf (its self-checking variant),
build/blkback.pvh.elf as a driver domain serving a second Linux guest's disk,
and build/netback.pvh.elf as one serving a third Linux guest's and a
unikernel's vifs (the unikernels built first if stale), each started with xl
and checked from dom0. Serial logs are kept in .cache/xen/logs/.`;

const MARK: Record<CheckResult["outcome"], string> = { pass: "ok  ", fail: "FAIL", skip: "--  " };

function clock(seconds: number): string {
  return `${seconds.toFixed(1).padStart(6)} s`;
}

function show(progress: Progress): void {
  if (progress.kind === "host") return console.log(`  ${progress.text}`);
  const at = clock(progress.hostSeconds);
  switch (progress.kind) {
    case "stage":
      return console.log(`${at}  ${progress.text}`);
    case "guest":
      return console.log(`${at}  [${progress.guest}] ${progress.text}`);
    case "check": {
      const { outcome, text, why } = progress.check;
      const note = outcome === "fail" ? `: ${why}` : outcome === "skip" ? ` (not run: ${why})` : "";
      return console.log(`${at}    ${MARK[outcome]} ${text}${note}`);
    }
    case "figure":
      return console.log(`${at}    ${progress.figure.name} = ${progress.figure.value} ${progress.figure.unit}`);
    case "guest-output":
      return console.log(`${at}    (${progress.domain}) ${progress.text}`);
    case "problem":
      return console.log(`${at}  !! ${progress.text}`);
  }
}

const COMMAND = "npm run xen";

async function main(): Promise<number> {
  parseCommandLine(COMMAND, USAGE, {});
  const preparing = Date.now();
  await buildStale(UNIKERNELS);
  console.log("preparing the rig");
  const prepared = prepareRig((text) => show({ kind: "host", text }));
  console.log(`  ready in ${((Date.now() - preparing) / 1000).toFixed(1)} s; booting Xen in QEMU (TCG)`);
  const run = await runRig(prepared, show);
  const { report } = run;
  if (run.retriedAfter) console.log(`(this was the second boot: the first ended in ${run.retriedAfter})`);
  for (const problem of report.problems) console.log(`!! ${problem}`);
  console.log(
    `\n${report.count("pass")} checks passed, ${report.count("fail")} failed, ${report.count("skip")} not run; ` +
      `QEMU ran ${run.bootSeconds.toFixed(1)} s (wall), whole run ${((Date.now() - preparing) / 1000).toFixed(1)} s`,
  );
  console.log(`serial log: ${run.serialLog}`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message =
      error instanceof PeerUnavailable ? `the rig cannot run here: ${error.message}` : (error as Error).message;
    exitWithError(COMMAND, message.split("\n")[0]!);
  },
);
