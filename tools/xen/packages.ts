// What the rig needs from Debian. On the host: QEMU, a static busybox and cpio,
// installed with apt-get when missing (the rig runs as root on CI machines).
// For dom0: Xen, its tools and libraries, Debian's kernel and QEMU's Xen
// backends, unpacked with dpkg -x into the cache (tools/debian.ts).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { debianPackage, PeerUnavailable } from "../debian.js";

/** Host commands the rig runs, and the Debian package that brings each. */
const HOST_TOOLS: Record<string, string> = {
  "/usr/bin/qemu-system-x86_64": "qemu-system-x86",
  "/bin/busybox": "busybox-static",
  "/usr/bin/cpio": "cpio",
};

/** Packages unpacked for dom0 (the kernel is added by name: linux-image-amd64 only depends on it). */
const DOM0_PACKAGES = [
  "xen-hypervisor-4.17-amd64",
  "xen-utils-4.17",
  "xen-utils-common",
  "xenstore-utils",
  "libxencall1",
  "libxenevtchn1",
  "libxenforeignmemory1",
  "libxengnttab1",
  "libxenmisc4.17",
  "libxenstore4",
  "libxentoolcore1",
  "libxentoollog1",
  "libxendevicemodel1",
  "libxenhypfs1",
  "libyajl2",
  "qemu-system-xen",
];

function missingHostPackages(): string[] {
  const missing = Object.entries(HOST_TOOLS).filter(([path]) => !existsSync(path));
  // Debian's plain busybox is dynamic; the initramfs needs the static one.
  if (existsSync("/bin/busybox") && !isStatic("/bin/busybox")) missing.push(["/bin/busybox", "busybox-static"]);
  return [...new Set(missing.map(([, pkg]) => pkg))];
}

function isStatic(binary: string): boolean {
  return execFileSync("file", ["-L", binary], { encoding: "utf8" }).includes("statically linked");
}

/** Installs the host packages the rig needs when they are missing; `say` tells the person watching. */
export function ensureHostTools(say: (line: string) => void): void {
  const missing = missingHostPackages();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new PeerUnavailable(`needs ${missing.join(", ")} (apt-get install as root)`);
  say(`installing ${missing.join(" ")} with apt-get (the rig runs as root, as CI does)`);
  const install = () =>
    execFileSync("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], {
      stdio: "pipe",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  try {
    try {
      install();
    } catch {
      // A fresh machine may have empty package lists; refresh once and retry.
      execFileSync("apt-get", ["update", "-q"], { stdio: "pipe" });
      install();
    }
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? "")
      .trim()
      .split("\n")
      .pop();
    throw new PeerUnavailable(`apt-get install ${missing.join(" ")} failed: ${stderr || (error as Error).message}`);
  }
  const still = missingHostPackages();
  if (still.length > 0) throw new PeerUnavailable(`still missing after apt-get install: ${still.join(", ")}`);
}

/** The versioned kernel package that Debian's linux-image-amd64 stands for. */
function kernelPackage(): string {
  const depends = execFileSync("apt-cache", ["depends", "linux-image-amd64"], { encoding: "utf8" });
  const name = /Depends: (linux-image-\S+-amd64)/.exec(depends)?.[1];
  if (!name) throw new PeerUnavailable("apt-cache knows no linux-image-amd64 (run apt-get update)");
  return name;
}

/** Where the unpacked dom0 pieces are. */
export interface Dom0Packages {
  /** Each unpacked package's root. */
  roots: string[];
  /** Xen itself, gzipped as Debian ships it. */
  xen: string;
  /** The kernel image (dom0's and the Linux test guest's). */
  vmlinuz: string;
  /** The unpacked kernel package (its lib/modules/<release>). */
  kernelRoot: string;
  kernelRelease: string;
}

/** Unpacks every package dom0 needs (once; later runs reuse the cache's debian/). */
export function dom0Packages(): Dom0Packages {
  const kernel = kernelPackage();
  const roots = [...DOM0_PACKAGES, kernel].map((name) => debianPackage(name));
  const hypervisor = roots[0];
  const kernelRoot = roots[roots.length - 1];
  const xen = readdirSync(join(hypervisor, "boot")).find((file) => /^xen-4\.17.*\.gz$/.test(file));
  const vmlinuz = readdirSync(join(kernelRoot, "boot")).find((file) => file.startsWith("vmlinuz-"));
  if (!xen || !vmlinuz) throw new PeerUnavailable("the Xen or kernel package has no image in boot/");
  return {
    roots,
    xen: join(hypervisor, "boot", xen),
    vmlinuz: join(kernelRoot, "boot", vmlinuz),
    kernelRoot,
    kernelRelease: vmlinuz.slice("vmlinuz-".length),
  };
}
