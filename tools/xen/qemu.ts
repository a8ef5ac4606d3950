// Boots Xen with dom0 in QEMU (TCG: KVM is not usable on these machines) and
// hands each line of the serial console to the caller as it comes, keeping
// the whole console in a log file.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";

export interface Boot {
  xen: string;
  dom0Kernel: string;
  dom0Initramfs: string;
  serialLog: string;
  /** The run is cut off after this long. */
  timeoutMs: number;
}

export interface BootResult {
  /** QEMU's exit code (null if it was killed). */
  code: number | null;
  timedOut: boolean;
  /** The caller stopped the run (onLine said "stop"). */
  stopped: boolean;
}

/** QEMU's arguments: the CPU model with SVM and NPT is the one Xen and Debian's dom0 both boot on. */
export function qemuArguments(boot: Boot): string[] {
  const xen =
    "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all console_timestamps=boot bootscrub=false";
  // Under TCG, the crypto self-tests and speculation mitigations only cost time.
  const dom0 = "console=hvc0 earlyprintk=xen quiet rdinit=/init cryptomgr.notests mitigations=off";
  // The multiboot loader separates modules with commas: none may appear inside one.
  for (const path of [boot.dom0Kernel, boot.dom0Initramfs])
    if (path.includes(",")) throw new Error(`a path with a comma cannot be a multiboot module: ${path}`);
  // Single-threaded TCG: with a thread per vCPU, the Linux PVH guest triple-faulted at the same
  // instruction early in its boot on every run of an idle machine (4 of 4; it passed when load
  // happened to serialise the threads); one thread for both vCPUs passed every check.
  return [
    ...["-accel", "tcg,thread=single", "-cpu", "qemu64,+svm,+npt", "-m", "2048", "-smp", "2", "-machine", "pc"],
    ...["-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none", "-display", "none", "-net", "none"],
    ...["-kernel", boot.xen, "-append", xen, "-initrd", `${boot.dom0Kernel} ${dom0},${boot.dom0Initramfs}`],
  ];
}

/**
 * Runs QEMU until it exits (dom0 powers the machine off), the timeout, or
 * `onLine`, which sees every serial line, says "stop".
 */
export function bootXen(boot: Boot, onLine: (line: string) => "stop" | undefined): Promise<BootResult> {
  const log = createWriteStream(boot.serialLog);
  const qemu = spawn("qemu-system-x86_64", qemuArguments(boot), { stdio: ["ignore", "pipe", "pipe"] });
  let timedOut = false;
  let stopped = false;
  const timer = setTimeout(() => {
    timedOut = true;
    qemu.kill("SIGKILL");
  }, boot.timeoutMs);
  const lines = createInterface({ input: qemu.stdout });
  lines.on("line", (raw) => {
    const line = raw.replace(/\r$/, "");
    log.write(`${line}\n`);
    if (onLine(line) === "stop" && !stopped) {
      stopped = true;
      qemu.kill("SIGKILL");
    }
  });
  qemu.stderr.on("data", (chunk: Buffer) => log.write(`[qemu stderr] ${chunk}`));
  return new Promise((resolve, reject) => {
    qemu.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    qemu.on("close", (code) => {
      clearTimeout(timer);
      log.end(() => resolve({ code, timedOut, stopped }));
    });
  });
}
