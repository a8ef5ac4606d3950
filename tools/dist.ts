// The package's contents (package.json `files`): runtime/ and host/ compiled
// to JavaScript with .d.ts and source maps (the TypeScript inside them) in
// dist/, beside the release xenbus.wasm and the component's bindings
// (build/component/) at dist/build/, where dist/runtime finds them as
// runtime/ finds build/. Run by `npm run dist`
// (prepack runs it after the build) and by test/clients/package.test.ts before it
// packs; nothing else reads dist/, so the everyday build skips it.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseCommandLine } from "../runtime/command-line.js";

/** Rebuilds `root`/dist from the sources and the release build/xenbus.wasm; throws with tsc's output when it fails. */
export function buildDist(root: string): void {
  const dist = join(root, "dist");
  rmSync(dist, { recursive: true, force: true });
  try {
    execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.dist.json")], {
      encoding: "utf8",
      stdio: "pipe",
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc -p tsconfig.dist.json failed:\n${stdout ?? ""}${stderr ?? ""}`);
  }
  mkdirSync(join(dist, "build"));
  copyFileSync(join(root, "build/xenbus.wasm"), join(dist, "build/xenbus.wasm"));
  // The XenStore client component itself, which dist/runtime/wasmtime-component.js runs in wasmtime, and its bindings, which dist/runtime/component.js imports as runtime/component.ts does.
  copyFileSync(join(root, "build/xenstore-client.wasm"), join(dist, "build/xenstore-client.wasm"));
  cpSync(join(root, "build/component"), join(dist, "build/component"), { recursive: true });
  // The package's bin, run by its #! line.
  chmodSync(join(dist, "cli/xenbus-wasm.js"), 0o755);
}

const HELP = `usage: npm run dist

Makes the package's dist/: runtime/, host/ and cli/ compiled to JavaScript
with .d.ts files and source maps, beside the release xenbus.wasm, the
XenStore client component and its bindings (dist/build/). npm pack runs it
after the build; run npm run build first when calling it yourself.`;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  parseCommandLine("npm run dist", HELP, {});
  try {
    buildDist(".");
  } catch (error) {
    console.error(`dist failed: ${(error as Error).message}`);
    process.exit(1);
  }
}
