// The rig's initramfs images: dom0's (busybox, Xen's tools and their
// libraries, Linux's backend modules, qdisk's QEMU, the scenario and the
// guests it starts) and the Linux test guest's (busybox and blkfront).
// Each is rebuilt only when something that goes into it changed.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { cachePath } from "../cache.js";
import type { Dom0Packages } from "./packages.js";

export const RIG_CACHE = cachePath("xen");
const HERE = dirname(fileURLToPath(import.meta.url));

/** Xen's daemons and tools that dom0 runs, in /usr/lib/xen-4.17/bin. */
const XEN_BINARIES = ["xl", "xenstored", "xenconsoled", "xen-init-dom0", "libxl-save-helper"];
/**
 * Host programs busybox does not replace well enough: the hotplug scripts are
 * bash and lock with flock; busybox has no POSIX cksum, which checks what the
 * driver domain says its disk holds.
 */
const HOST_BINARIES = ["/bin/bash", "/usr/bin/flock", "/usr/bin/cksum"];
/** glibc dlopens it for pthread_cancel; ldd cannot see that, and without it `xl create` aborts. */
const DLOPENED = ["/lib/x86_64-linux-gnu/libgcc_s.so.1"];
/**
 * dom0's kernel modules, in the order they must be loaded (dom0's /init loads
 * them in the order of /rig/modules/order): Xen's devices, the block and
 * network backends, loop for file-backed disks, and the bridge the guests'
 * vifs join (llc and stp first: the bridge needs them).
 */
const DOM0_MODULES = [
  "xen-evtchn",
  "xen-privcmd",
  "xenfs",
  "xen-gntdev",
  "xen-gntalloc",
  "xen-blkback",
  "xen-netback",
  "loop",
  "llc",
  "stp",
  "bridge",
];
/** The Linux test guest's frontends. */
const GUEST_MODULES = ["xen-blkfront", "xen-netfront"];
const QEMU_XEN = "usr/libexec/xen-qemu-system-i386";
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** A guest dom0 starts: its files go to /rig/guests/<name>/<file name> in dom0. */
export interface GuestFiles {
  name: string;
  /** file name in dom0 → path here */
  files: Record<string, string>;
}

/** A tree being staged into an initramfs: copies files to the paths they will have in it. */
class Tree {
  constructor(readonly root: string) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
  }

  /** Copies `source` to `target` (an absolute path inside the image), following symlinks. */
  file(source: string, target: string, mode?: number): void {
    const at = join(this.root, target);
    mkdirSync(dirname(at), { recursive: true });
    copyFileSync(source, at);
    if (mode !== undefined) chmodSync(at, mode);
  }

  text(target: string, content: string, mode = 0o755): void {
    const at = join(this.root, target);
    mkdirSync(dirname(at), { recursive: true });
    writeFileSync(at, content, { mode });
  }

  link(target: string, pointsTo: string): void {
    const at = join(this.root, target);
    mkdirSync(dirname(at), { recursive: true });
    rmSync(at, { force: true });
    symlinkSync(pointsTo, at);
  }

  dir(source: string, target: string): void {
    cpSync(source, join(this.root, target), { recursive: true, verbatimSymlinks: true });
  }

  dirs(...targets: string[]): void {
    for (const target of targets) mkdirSync(join(this.root, target), { recursive: true });
  }

  /**
   * Writes the tree as a newc cpio archive owned by root. Uncompressed: QEMU
   * and Xen copy it at the host's speed, while unpacking gzip in the booting
   * kernel runs under TCG (it cost dom0 most of its boot).
   */
  pack(output: string): void {
    const list = execFileSync("find", ["."], { cwd: this.root, maxBuffer: 64 << 20 });
    writeFileSync(
      output,
      execFileSync("cpio", ["--quiet", "-o", "-H", "newc", "-R", "0:0"], {
        cwd: this.root,
        input: list,
        maxBuffer: 1 << 30,
      }),
    );
  }
}

/** The shared libraries `binaries` load, resolved by ldd against the unpacked packages first, then the host. */
function sharedLibraries(binaries: string[], libraryPath: string): string[] {
  const found = new Set<string>();
  const missing = new Set<string>();
  for (const binary of binaries) {
    const out = execFileSync("ldd", [binary], {
      encoding: "utf8",
      env: { ...process.env, LD_LIBRARY_PATH: libraryPath },
    });
    for (const line of out.split("\n")) {
      const resolved = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
      if (resolved) found.add(resolved);
      else if (line.includes("not found")) missing.add(`${line.trim().split(" ")[0]} (for ${basename(binary)})`);
    }
  }
  if (missing.size > 0) throw new Error(`shared libraries not found: ${[...missing].join(", ")}`);
  return [...found];
}

/** Where a library resolved by ldd goes in the image: its place in its package, or the host's own path. */
function imagePath(library: string, roots: string[]): string {
  const root = roots.find((candidate) => library.startsWith(`${candidate}/`));
  return root ? `/${relative(root, library)}` : library;
}

/** A fingerprint of files and strings: an image is rebuilt when it changes. */
function fingerprint(parts: (string | { file: string })[]): string {
  const hash = createHash("sha256");
  for (const part of parts) {
    if (typeof part === "string") hash.update(`s:${part}\n`);
    else
      hash
        .update(`f:${part.file}:${existsSync(part.file) ? readFileSync(part.file).length : -1}\n`)
        .update(existsSync(part.file) ? readFileSync(part.file) : "");
  }
  return hash.digest("hex");
}

/** Builds `output` with `make` unless its fingerprint is unchanged; returns whether it was rebuilt. */
function cached(output: string, parts: (string | { file: string })[], make: () => void): boolean {
  const stamp = `${output}.fingerprint`;
  const print = fingerprint([...parts, { file: join(HERE, "initramfs.ts") }]);
  if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, "utf8") === print) return false;
  rmSync(stamp, { force: true });
  make();
  writeFileSync(stamp, print);
  return true;
}

function moduleFile(packages: Dom0Packages, name: string): string {
  const found = execFileSync("find", [join(packages.kernelRoot, "lib/modules"), "-name", `${name}.ko*`], {
    encoding: "utf8",
  }).trim();
  if (!found) throw new Error(`kernel module ${name} not in ${basename(packages.kernelRoot)}`);
  return found.split("\n")[0];
}

/** The Linux test guest's initramfs: busybox, its frontends' modules and its /init. */
export function linuxGuestInitramfs(packages: Dom0Packages): { path: string; rebuilt: boolean } {
  const path = join(RIG_CACHE, "linux-guest.cpio");
  const init = join(HERE, "linux-guest/init.sh");
  const modules = GUEST_MODULES.map((name) => moduleFile(packages, name));
  const rebuilt = cached(path, [{ file: init }, ...modules.map((file) => ({ file })), { file: "/bin/busybox" }], () => {
    const tree = new Tree(join(RIG_CACHE, "linux-guest-root"));
    tree.file("/bin/busybox", "/bin/busybox", 0o755);
    tree.file(init, "/init", 0o755);
    for (const module of modules) tree.file(module, `/${basename(module)}`);
    // Linux runs /sbin/poweroff when dom0 asks the guest to shut down; busybox's
    // own would signal an init that is not busybox's.
    tree.text("/sbin/poweroff", "#!/bin/busybox sh\nexec /bin/busybox poweroff -f\n");
    tree.dirs("/proc", "/sys", "/dev", "/tmp", "/bin", "/sbin", "/usr/bin", "/usr/sbin");
    tree.pack(path);
  });
  return { path, rebuilt };
}

/** dom0's initramfs, with the scenario and the guests it starts. */
export function dom0Initramfs(packages: Dom0Packages, guests: GuestFiles[]): { path: string; rebuilt: boolean } {
  const path = join(RIG_CACHE, "dom0.cpio");
  const libDirs = packages.roots.map((root) => join(root, "usr/lib/x86_64-linux-gnu")).filter(existsSync);
  const scripts = readdirSync(join(HERE, "dom0")).map((name) => join(HERE, "dom0", name));
  const stamps = packages.roots.map((root) => ({ file: join(root, ".unpacked") }));
  const guestFiles = guests.flatMap((guest) => Object.values(guest.files).map((file) => ({ file })));
  const parts = [...stamps, ...scripts.map((file) => ({ file })), ...guestFiles, JSON.stringify(guests)];
  const rebuilt = cached(path, parts, () => {
    const tree = new Tree(join(RIG_CACHE, "dom0-root"));
    const find = (relativePath: string): string => {
      const root = packages.roots.find((candidate) => existsSync(join(candidate, relativePath)));
      if (!root) throw new Error(`${relativePath} is in none of the unpacked packages`);
      return join(root, relativePath);
    };
    const xenBin = "usr/lib/xen-4.17/bin";
    const binaries = XEN_BINARIES.map((name) => find(join(xenBin, name)));
    const xenstoreTool = find("usr/bin/xenstore");
    const qemu = find(QEMU_XEN);

    tree.file("/bin/busybox", "/bin/busybox", 0o755);
    for (const binary of binaries) tree.file(binary, `/${xenBin}/${basename(binary)}`, 0o755);
    tree.link("/usr/sbin/xl", `/${xenBin}/xl`);
    // The xenstore tool answers to the name it is called by (xenstore-read, -write, ...).
    tree.file(xenstoreTool, "/usr/bin/xenstore", 0o755);
    for (const name of ["read", "write", "ls", "list", "rm", "exists", "chmod", "watch", "control"]) {
      tree.link(`/usr/bin/xenstore-${name}`, "xenstore");
    }
    tree.file(qemu, `/${QEMU_XEN}`, 0o755);
    tree.dir("/usr/share/qemu/keymaps", "/usr/share/qemu/keymaps");
    for (const binary of HOST_BINARIES) tree.file(binary, binary, 0o755);
    tree.link("/bin/sh", "busybox");
    for (const library of sharedLibraries(
      [...binaries, xenstoreTool, qemu, ...HOST_BINARIES, ...DLOPENED],
      libDirs.join(":"),
    )) {
      tree.file(library, imagePath(library, packages.roots));
    }
    for (const library of DLOPENED) tree.file(library, library);
    tree.dir(find("etc/xen"), "/etc/xen");
    for (const name of DOM0_MODULES) tree.file(moduleFile(packages, name), `/rig/modules/${name}.ko`);
    tree.text("/rig/modules/order", `${DOM0_MODULES.join("\n")}\n`, 0o644);
    for (const script of scripts) tree.file(script, `/rig/${basename(script)}`, 0o755);
    tree.file(join(HERE, "dom0/init.sh"), "/init", 0o755);
    for (const guest of guests)
      for (const [name, file] of Object.entries(guest.files)) tree.file(file, `/rig/guests/${guest.name}/${name}`);
    // busybox --install links its applets into these: the hotplug scripts (bash) need them there.
    tree.dirs(
      "/bin",
      "/sbin",
      "/usr/bin",
      "/usr/sbin",
      "/proc",
      "/sys",
      "/dev",
      "/tmp",
      "/run",
      "/var/run/xen",
      "/var/log/xen/console",
      "/var/lib/xen",
      "/var/lib/rig",
    );
    tree.pack(path);
  });
  return { path, rebuilt };
}

/** Xen as QEMU's multiboot loader wants it: uncompressed. */
export function xenImage(packages: Dom0Packages): string {
  const path = join(RIG_CACHE, "xen-4.17");
  cached(path, [{ file: packages.xen }], () => {
    mkdirSync(RIG_CACHE, { recursive: true });
    writeFileSync(path, execFileSync("gzip", ["-dc", packages.xen], { maxBuffer: 64 << 20 }));
  });
  return path;
}

/**
 * The kernel as an ELF (vmlinux), taken out of Debian's xz-compressed bzImage.
 * Xen (for dom0) and libxenguest (for a guest) accept either, but decompressing
 * xz under TCG took Xen 13 s of every boot.
 */
export function kernelElf(packages: Dom0Packages): string {
  const path = join(RIG_CACHE, "vmlinux");
  cached(path, [{ file: packages.vmlinuz }], () => {
    const bzImage = readFileSync(packages.vmlinuz);
    const start = bzImage.indexOf(XZ_MAGIC);
    if (start < 0) throw new Error(`${basename(packages.vmlinuz)} holds no xz stream`);
    mkdirSync(RIG_CACHE, { recursive: true });
    // From a file, not a pipe: xz stops reading after the first stream, and the
    // bytes after it left unread in a pipe fail the write with EPIPE.
    const stream = `${path}.xz`;
    writeFileSync(stream, bzImage.subarray(start));
    try {
      writeFileSync(path, execFileSync("xz", ["-dc", "--single-stream", stream], { maxBuffer: 1 << 30 }));
    } finally {
      rmSync(stream, { force: true });
    }
  });
  return path;
}
