// The rig from end to end: get the packages, build the images (or reuse
// them), boot Xen in QEMU once, and read the scenario's results off the
// serial line. `npm run xen` (tools/xen/main.ts) and test/real-xen/real-xen.test.ts run it.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { TargetName } from "../build.js";
import { buildPvhElf } from "../pvh.js";
import { dom0Initramfs, type GuestFiles, kernelElf, linuxGuestInitramfs, RIG_CACHE, xenImage } from "./initramfs.js";
import { dom0Packages, ensureHostTools } from "./packages.js";
import { bootXen } from "./qemu.js";
import { type RigEvent, RigReport } from "./report.js";

/** The unikernels the rig boots (each made from its module when that has been built: npm run build). */
export const UNIKERNELS: TargetName[] = ["unikernel", "checks", "blkback", "netback"];
/** A whole run (every guest, every check) fits well inside this under TCG on a busy 2-core machine. */
const RUN_TIMEOUT_MS = 9 * 60_000;
/** The last run's checks and figures, as JSON. */
export const LAST_RUN = join(RIG_CACHE, "last-run.json");
/** What a guest sometimes does early under TCG's nested SVM on a loaded machine, and not the next time. */
const FLAKY_GUEST = /Triple fault|kernel panicked/;
/** Serial logs of this many runs are kept. */
const KEPT_LOGS = 10;

/** What the rig tells as it goes: preparation steps, then what the serial line means. */
export type Progress = { kind: "host"; text: string } | (RigEvent & { hostSeconds: number });

/** Images and paths for one boot. */
export interface Prepared {
  xen: string;
  dom0Kernel: string;
  dom0Initramfs: string;
  /** Guests put into dom0 (the Linux test guest always; the unikernel when built). */
  guests: string[];
  /** Whether an image had to be built (false on a second run with nothing changed). */
  rebuilt: boolean;
}

export interface RigRun {
  report: RigReport;
  serialLog: string;
  /** Host wall time of the QEMU run, from start to power-off. */
  bootSeconds: number;
  qemuExit: number | null;
  timedOut: boolean;
  /** The triple fault or guest kernel panic that made this the second boot, with the first boot's log. */
  retriedAfter?: string;
}

/** Fetches what is missing and builds the images; throws PeerUnavailable where that cannot be done. */
export function prepareRig(say: (text: string) => void): Prepared {
  ensureHostTools(say);
  const packages = dom0Packages();
  const vmlinux = kernelElf(packages);
  const linux = linuxGuestInitramfs(packages);
  const guests: GuestFiles[] = [{ name: "linux", files: { vmlinux, "linux-guest.cpio": linux.path } }];
  for (const name of UNIKERNELS) {
    const wasm = resolve("build", `${name}.wasm`);
    const elf = resolve("build", `${name}.pvh.elf`);
    if (!existsSync(wasm)) {
      say(`build/${name}.wasm is not built: its checks will be listed as not run`);
      continue;
    }
    if (buildPvhElf(wasm, elf, say).built) say(`built build/${name}.pvh.elf`);
    guests.push({ name, files: { [`${name}.pvh.elf`]: elf } });
  }
  const dom0 = dom0Initramfs(packages, guests);
  say(dom0.rebuilt ? "built dom0's initramfs" : "reusing dom0's initramfs (nothing changed)");
  return {
    xen: xenImage(packages),
    dom0Kernel: vmlinux,
    dom0Initramfs: dom0.path,
    guests: guests.map((guest) => guest.name),
    rebuilt: linux.rebuilt || dom0.rebuilt,
  };
}

/** A new serial log's path; older logs beyond the newest few are removed. */
function newSerialLog(): string {
  const dir = join(RIG_CACHE, "logs");
  mkdirSync(dir, { recursive: true });
  const logs = readdirSync(dir)
    .filter((name) => name.startsWith("serial-"))
    .sort();
  for (const old of logs.slice(0, Math.max(0, logs.length - (KEPT_LOGS - 1)))) rmSync(join(dir, old));
  return join(dir, `serial-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
}

/** Boots Xen once and runs the scenario, stopping at the first line that means the run is lost. */
async function bootOnce(prepared: Prepared, onProgress: (progress: Progress) => void): Promise<RigRun> {
  const report = new RigReport();
  const serialLog = newSerialLog();
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  const result = await bootXen(
    {
      xen: prepared.xen,
      dom0Kernel: prepared.dom0Kernel,
      dom0Initramfs: prepared.dom0Initramfs,
      serialLog,
      timeoutMs: RUN_TIMEOUT_MS,
    },
    (line) => {
      const event = report.read(line);
      if (event) onProgress({ ...event, hostSeconds: seconds() });
      return event?.kind === "problem" ? "stop" : undefined;
    },
  );
  if (result.timedOut) report.problems.push(`the run was cut off after ${RUN_TIMEOUT_MS / 60_000} minutes`);
  else if (!report.ended && !result.stopped)
    report.problems.push(`QEMU exited (code ${result.code}) before dom0 finished the scenario`);
  return { report, serialLog, bootSeconds: seconds(), qemuExit: result.code, timedOut: result.timedOut };
}

/**
 * Runs the scenario; `onProgress` hears about every stage, guest and check as
 * it happens. A guest's triple fault or kernel panic is booted again once: under
 * TCG's nested SVM, a Linux guest and the unikernel have each triple-faulted
 * (and a Linux guest panicked) early in a few runs out of many, on a loaded
 * machine, and passed the next time. Twice is a failure.
 */
export async function runRig(prepared: Prepared, onProgress: (progress: Progress) => void): Promise<RigRun> {
  let run = await bootOnce(prepared, onProgress);
  const flaky = run.report.problems.find((problem) => FLAKY_GUEST.test(problem));
  if (flaky) {
    onProgress({ kind: "host", text: `${flaky} (serial log ${run.serialLog}); booting once more` });
    run = { ...(await bootOnce(prepared, onProgress)), retriedAfter: `${flaky} (${run.serialLog})` };
  }
  // The last run's results, for what reads them later (figures for npm run bench).
  const { checks, figures, problems } = run.report;
  const { bootSeconds, serialLog, retriedAfter } = run;
  writeFileSync(
    LAST_RUN,
    `${JSON.stringify({ checks, figures, problems, bootSeconds, serialLog, retriedAfter }, null, 2)}\n`,
  );
  return run;
}
