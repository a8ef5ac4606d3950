// WABT's wasm2c, which turns a Wasm module into C. The machine's Debian
// (bookworm, wabt 1.0.32) rejects the guests' atomics; trixie's 1.0.36 with
// --enable-threads takes them. Its binary needs trixie's C and C++
// libraries, so it runs through trixie's own loader; nothing is installed.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { debianPackage } from "./debian.js";

const RELEASE = "trixie";

export interface Wasm2c {
  /** Folder of wasm-rt.h, which wasm2c's output includes. */
  include: string;
  /** Folder of wasm2c's own runtime for a hosted C program (wasm-rt-impl.c, wasm-rt-mem-impl.c). */
  runtime: string;
  /** Writes `output` (.c, with its .h beside it) from the module at `input`; the C names start w2c_<name>. */
  convert(input: string, output: string, name: string): void;
}

/** wasm2c, fetched from Debian trixie on first use (PeerUnavailable where it cannot be). */
export function wasm2c(): Wasm2c {
  const wabt = debianPackage("wabt", RELEASE);
  const libraries = ["libc6", "libstdc++6", "libgcc-s1"].map((name) => debianPackage(name, RELEASE));
  const loader = join(libraries[0]!, "usr/lib64/ld-linux-x86-64.so.2");
  const libraryPath = libraries.map((root) => join(root, "usr/lib/x86_64-linux-gnu")).join(":");
  return {
    include: join(wabt, "usr/include"),
    runtime: join(wabt, "usr/src/wasm2c"),
    convert(input, output, name) {
      const args = [
        "--library-path",
        libraryPath,
        join(wabt, "usr/bin/wasm2c"),
        "--enable-threads",
        input,
        "-o",
        output,
        "-n",
        name,
      ];
      execFileSync(loader, args, { stdio: "pipe" });
      // wasm2c exits 0 when it could not write its output.
      if (!existsSync(output)) throw new Error(`wasm2c wrote no ${output} from ${input}`);
    },
  };
}
