// Debian packages the tests use as real peers (Xen's headers and tools),
// fetched with `apt-get download` and unpacked with `dpkg -x` into
// .cache/debian/<package> (see tools/cache.ts); nothing is installed.
//   tsx tools/debian.ts PACKAGE...   fetches them and prints where they are
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { cachePath, slowStep } from "./cache.js";

/** A peer the tests need cannot be had on this machine. */
export class PeerUnavailable extends Error {}

function have(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function download(name: string, into: string): void {
  execFileSync("apt-get", ["download", "-q", "-o", "APT::Sandbox::User=root", name], { cwd: into, stdio: "pipe" });
}

/** Unpacks Debian package `name` (once) and returns the directory it was unpacked into. */
export function debianPackage(name: string): string {
  const cache = cachePath("debian");
  const root = join(cache, name);
  if (existsSync(join(root, ".unpacked"))) return root;
  if (!have("apt-get") || !have("dpkg")) throw new PeerUnavailable(`${name}: not a Debian machine (no apt-get/dpkg)`);
  return slowStep(`fetching Debian's ${name} into ${cache}`, "about 5 s", () => fetchInto(cache, name, root));
}

/** apt-get download into a scratch directory of `cache`, then dpkg -x into `root`. */
function fetchInto(cache: string, name: string, root: string): string {
  mkdirSync(cache, { recursive: true });
  const scratch = mkdtempSync(join(cache, ".download-"));
  try {
    try {
      download(name, scratch);
    } catch {
      // A fresh machine may have empty package lists; refresh once and retry.
      slowStep("refreshing apt's package lists with apt-get update", "up to a minute", () => execFileSync("apt-get", ["update", "-q"], { stdio: "pipe" }));
      download(name, scratch);
    }
    const deb = readdirSync(scratch).find((file) => file.endsWith(".deb"));
    if (!deb) throw new PeerUnavailable(`${name}: apt-get download produced no .deb`);
    rmSync(root, { recursive: true, force: true });
    execFileSync("dpkg", ["-x", join(scratch, deb), root]);
    writeFileSync(join(root, ".unpacked"), `${deb}\n`);
    return root;
  } catch (error) {
    if (error instanceof PeerUnavailable) throw error;
    throw new PeerUnavailable(`${name}: ${(error as Error).message.split("\n")[0]}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Compiles C sources with gcc -O2 into .cache/native/<name> and returns the binary's path. */
export function compileC(name: string, sources: string[], flags: string[] = []): string {
  if (!have("gcc")) throw new PeerUnavailable("gcc is not installed");
  const dir = cachePath("native");
  mkdirSync(dir, { recursive: true });
  const binary = join(dir, name);
  execFileSync("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", ...flags, ...sources, "-o", binary], { stdio: "pipe" });
  return binary;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    for (const name of process.argv.slice(2)) console.log(debianPackage(name));
  } catch (error) {
    console.error(`debian: ${(error as Error).message}`);
    process.exit(1);
  }
}
