// `npm run xen`: boots real Xen 4.17 in QEMU with a Debian dom0 running Xen's
// own tools, starts the guests with xl and prints what each check found.
// Exits 1 when a check fails or the run breaks down, 2 for a usage mistake.
import { buildStale } from "../build.js";
import { PeerUnavailable } from "../debian.js";
import type { CheckResult } from "./report.js";
import { type Progress, prepareRig, runRig } from "./rig.js";

const USAGE = `usage: npm run xen

Fetches Debian's Xen, kernel and QEMU packages into .cache/ (installing
qemu-system-x86, busybox-static and cpio with apt-get where missing), builds
dom0's initramfs, boots Xen in QEMU and runs the scenario: a Linux PVH guest
build/unikernel.pvh.elf and build/checks.pvh.elf (its self-checking variant;
both built first if stale), each started with xl and checked from dom0. Serial logs are kept in .cache/xen/logs/.`;

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

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  if (args.length > 0) {
    console.error(`unknown argument: ${args[0]} (npm run xen takes none)`);
    return 2;
  }
  const preparing = Date.now();
  await buildStale(["unikernel", "checks"]);
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
    const message = error instanceof PeerUnavailable ? `the rig cannot run here: ${error.message}` : (error as Error).message;
    console.error(message.split("\n")[0]);
    process.exit(1);
  },
);
