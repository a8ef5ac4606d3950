// Debian packages the tests use as real peers (Xen's headers and tools),
// fetched with `apt-get download` and unpacked with `dpkg -x` into
// .cache/debian/<package> (see tools/cache.ts); nothing is installed. A
// package from another Debian release (trixie's wabt) comes from the
// machine's own Debian mirror through package lists kept in .cache/apt/<release>.
//   tsx tools/debian.ts PACKAGE...   fetches them and prints where they are
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
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

/** The mirror the machine gets its own release from (apt's sources name it). */
function debianMirror(): string {
  const release = /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
  const targets = execFileSync("apt-get", ["indextargets", "--format", "$(REPO_URI) $(RELEASE)"], { encoding: "utf8" });
  const mirror = targets
    .split("\n")
    .map((line) => line.split(" "))
    .find(([, of]) => of === release)?.[0];
  if (!mirror)
    throw new PeerUnavailable(`no Debian mirror for ${release ?? "this machine's release"} in apt's sources`);
  return mirror;
}

/**
 * apt-get options that make it use `release`'s package lists instead of the
 * machine's. The lists are made on first use aside and renamed into place, so
 * that test workers fetching at once never share a half-made folder.
 */
function releaseOptions(release: string): string[] {
  const options = (dir: string): string[] => [
    "-o",
    `Dir::Etc::SourceList=${join(dir, "sources.list")}`,
    "-o",
    "Dir::Etc::SourceParts=/dev/null",
    "-o",
    `Dir::State::Lists=${join(dir, "lists")}`,
    "-o",
    `Dir::Cache=${dir}`,
    "-o",
    "Dir::State::status=/dev/null",
  ];
  const dir = cachePath("apt", release);
  if (!existsSync(join(dir, ".updated"))) {
    mkdirSync(cachePath("apt"), { recursive: true });
    const scratch = mkdtempSync(`${dir}.`);
    try {
      for (const sub of ["lists/partial", "archives/partial"]) mkdirSync(join(scratch, sub), { recursive: true });
      writeFileSync(join(scratch, "sources.list"), `deb ${debianMirror()} ${release} main\n`);
      slowStep(`fetching Debian ${release}'s package lists into ${dir}`, "about 5 s", () =>
        execFileSync("apt-get", ["update", "-q", ...options(scratch)], { stdio: "pipe" }),
      );
      writeFileSync(join(scratch, ".updated"), "");
      placeOnce(scratch, dir);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return options(dir);
}

/** Renames the finished folder `made` to `at`, unless another process got there first; clears a half-made `at`. */
function placeOnce(made: string, at: string): void {
  if (existsSync(at) && !existsSync(join(at, ".updated")) && !existsSync(join(at, ".unpacked")))
    rmSync(at, { recursive: true, force: true });
  try {
    renameSync(made, at);
  } catch (error) {
    if (!existsSync(at)) throw error;
  }
}

function download(name: string, into: string, release?: string): void {
  const options = release ? releaseOptions(release) : [];
  execFileSync("apt-get", ["download", "-q", "-o", "APT::Sandbox::User=root", ...options, name], {
    cwd: into,
    stdio: "pipe",
  });
}

/**
 * Unpacks Debian package `name` (once) and returns the directory it was
 * unpacked into: the machine's release's, or `release`'s when given (into
 * .cache/debian/<name>@<release>).
 */
export function debianPackage(name: string, release?: string): string {
  const cache = cachePath("debian");
  const root = join(cache, release ? `${name}@${release}` : name);
  if (existsSync(join(root, ".unpacked"))) return root;
  if (!have("apt-get") || !have("dpkg")) throw new PeerUnavailable(`${name}: not a Debian machine (no apt-get/dpkg)`);
  return slowStep(`fetching Debian's ${name} into ${cache}`, "about 5 s", () => fetchInto(cache, name, root, release));
}

/** apt-get download into a scratch directory of `cache`, then dpkg -x into `root`. */
function fetchInto(cache: string, name: string, root: string, release?: string): string {
  mkdirSync(cache, { recursive: true });
  const scratch = mkdtempSync(join(cache, ".download-"));
  try {
    try {
      download(name, scratch, release);
    } catch {
      // A fresh machine may have empty package lists; refresh once and retry.
      const options = release ? releaseOptions(release) : [];
      slowStep("refreshing apt's package lists with apt-get update", "up to a minute", () =>
        execFileSync("apt-get", ["update", "-q", ...options], { stdio: "pipe" }),
      );
      download(name, scratch, release);
    }
    const deb = readdirSync(scratch).find((file) => file.endsWith(".deb"));
    if (!deb) throw new PeerUnavailable(`${name}: apt-get download produced no .deb`);
    // Unpacked aside and renamed into place: a test worker may be running what another one fetched.
    const unpacked = join(scratch, "root");
    execFileSync("dpkg", ["-x", join(scratch, deb), unpacked]);
    writeFileSync(join(unpacked, ".unpacked"), `${deb}\n`);
    placeOnce(unpacked, root);
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
