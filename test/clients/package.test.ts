// The npm package as a unikernel project gets it: `npm pack`, unpacked into a
// scratch consumer's node_modules, its file list and source maps checked, and
// every example of examples/ (the README's) compiled there by tsc (strict)
// against the packed declarations and run by plain Node (no tsx): the packed
// xenbus.wasm on the packed simulated Xen and its xenstored, in V8 and, chosen
// from the package, in wasmtime.
// Like every test it takes the release build/xenbus.wasm of the last build:
// it rebuilds only dist/ (which no other test reads) and packs without
// `prepack`, which would rewrite build/ under the tests running beside it.
import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { listenUnix } from "../../host/dom0/xenstored/socket.js";
import { buildDist } from "../../tools/dist.js";
import { wasmtimeLibrary } from "../../tools/wasmtime.js";
import { peer } from "../support/peer.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));

const examples = join(repo, "examples");
/** The README's examples: the files of examples/ itself (the demo, examples/demo/, runs from the repository). */
const readmeExamples = readdirSync(examples, { withFileTypes: true })
  .filter((entry) => entry.isFile())
  .map((entry) => entry.name);

/** What each example prints; the wasmtime one needs XENBUS_WASM_WASMTIME, the socket one a xenstored at XENSTORED_PATH. */
const EXPECTED: Record<string, string> = {
  "own-module.ts": "world\n",
  "wasmtime.ts": "wasmtime\nwasmtime\nguests left in wasmtime: 0\n",
  "block.ts": "hello, disk true\n",
  "component-in-process.ts": "hello\n{ path: '/data', token: 'token' }\n",
  "component-socket.ts": "/local/domain/0\n[ 'example' ] through the component\n",
};

const library = peer("wasmtime", wasmtimeLibrary);

describe("the npm package", () => {
  const scratch = mkdtempSync(join(tmpdir(), "xenbus-wasm-pack-"));
  const consumer = join(scratch, "consumer");
  const installed = join(consumer, "node_modules", "xenbus-wasm");
  let files: string[];

  beforeAll(() => {
    buildDist(repo);
    const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", scratch], {
      cwd: repo,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const [tarball] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
    files = tarball!.files.map((file) => file.path);
    mkdirSync(installed, { recursive: true });
    execFileSync("tar", ["-xzf", join(scratch, tarball!.filename), "-C", installed, "--strip-components=1"]);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    mkdirSync(join(consumer, "examples"));
    for (const example of readmeExamples) cpSync(join(examples, example), join(consumer, "examples", example));
    // The package's dependency, as npm install would bring it (this repo's copy: the test stays offline).
    for (const dependency of ["koffi", "@koromix"]) {
      mkdirSync(dirname(join(consumer, "node_modules", dependency)), { recursive: true });
      symlinkSync(join(repo, "node_modules", dependency), join(consumer, "node_modules", dependency));
    }
  });

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("holds the release xenbus.wasm, compiled runtime and host with declarations, and no test code or sources", () => {
    expect(files).toContain("dist/build/xenbus.wasm");
    for (const entry of ["dist/runtime/index", "dist/host/index"]) {
      expect(files).toContain(`${entry}.js`);
      expect(files).toContain(`${entry}.d.ts`);
    }
    const packedWasm = readFileSync(join(installed, "dist/build/xenbus.wasm"));
    expect(packedWasm.equals(readFileSync(join(repo, "build/xenbus.wasm")))).toBe(true);
    const unwanted =
      /^(test|assembly|tools|bench|build|examples|\.cache)\/|harness|testing|debug|\.d\.ts\.map$|(?<!\.d)\.ts$/;
    expect(files.filter((path) => unwanted.test(path))).toEqual([]);
  });

  it("holds the MIT LICENSE, and package.json says where the sources are and which Node it needs", () => {
    expect(files).toContain("LICENSE");
    expect(readFileSync(join(installed, "LICENSE"), "utf8")).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} the xenbus-wasm authors\n/,
    );
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Record<string, unknown>;
    expect(manifest).toMatchObject({ license: "MIT", engines: { node: ">=20.6" }, repository: { type: "git" } });
    expect(manifest.keywords).toEqual(expect.arrayContaining(["xen", "xenstore", "webassembly", "unikernel"]));
  });

  it("maps each compiled JavaScript file back to its TypeScript, carried in the map (the sources are not packed)", () => {
    const compiled = files.filter((path) => /^dist\/(runtime|host|cli)\/.*\.js$/.test(path));
    expect(compiled.length).toBeGreaterThan(20);
    for (const path of compiled) {
      expect(files).toContain(`${path}.map`);
      const name = path.split("/").pop()!;
      expect(readFileSync(join(installed, path), "utf8").trimEnd().endsWith(`//# sourceMappingURL=${name}.map`)).toBe(
        true,
      );
      const map = JSON.parse(readFileSync(join(installed, `${path}.map`), "utf8")) as {
        sources: string[];
        sourcesContent: string[];
      };
      // sources are relative to the map, as in the repository's dist/: they name the TypeScript it was compiled from.
      const source = join(repo, dirname(path), map.sources[0]!);
      expect(map.sourcesContent).toEqual([readFileSync(source, "utf8")]);
    }
  });

  it("shows the TypeScript's file and line in a stack trace from the packed JavaScript (node --enable-source-maps)", () => {
    const { NODE_OPTIONS: _, ...env } = process.env;
    const script = `import { connectXenstored } from "xenbus-wasm"; connectXenstored(${JSON.stringify(join(scratch, "absent"))});`;
    const run = spawnSync(process.execPath, ["--enable-source-maps", "--input-type=module", "-e", script], {
      cwd: consumer,
      env,
      encoding: "utf8",
    });
    expect(run.status).not.toBe(0);
    const source = readFileSync(join(repo, "runtime/socket-stream.ts"), "utf8").split("\n");
    const message = source.findIndex((text) => text.includes("cannot reach xenstored at "));
    const line = message + 1 - [...source.slice(0, message + 1)].reverse().findIndex((text) => text.includes("throw "));
    expect(line).toBeGreaterThan(0);
    expect(run.stderr).toContain(`node_modules/xenbus-wasm/runtime/socket-stream.ts:${line}:`);
  });

  it("holds the XenStore client component, its Node bindings with declarations, the WIT files and the xenbus-wasm bin", () => {
    for (const path of [
      "dist/build/xenstore-client.wasm",
      "dist/build/component/xenstore-client.js",
      "dist/build/component/xenstore-client.d.ts",
      "dist/runtime/component.js",
      "dist/runtime/component.d.ts",
      "dist/runtime/socket-stream.js",
      "dist/runtime/socket-stream.d.ts",
      "dist/runtime/socket-worker.js",
      "dist/runtime/wasmtime-component.js",
      "wit/xenstore.wit",
      "dist/cli/xenbus-wasm.js",
    ]) {
      expect(files).toContain(path);
    }
    const packedComponent = readFileSync(join(installed, "dist/build/xenstore-client.wasm"));
    expect(packedComponent.equals(readFileSync(join(repo, "build/xenstore-client.wasm")))).toBe(true);
    const { bin } = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    expect(bin).toEqual({ "xenbus-wasm": "dist/cli/xenbus-wasm.js" });
    const { NODE_OPTIONS: _, ...env } = process.env;
    const resolve = (specifier: string): string =>
      execFileSync(
        process.execPath,
        ["--input-type=module", "-e", `console.log(import.meta.resolve(${JSON.stringify(specifier)}))`],
        { cwd: consumer, env, encoding: "utf8" },
      ).trim();
    expect(resolve("xenbus-wasm/xenstore-client.wasm")).toBe(
      pathToFileURL(join(installed, "dist/build/xenstore-client.wasm")).href,
    );
    expect(resolve("xenbus-wasm/wit/xenstore.wit")).toBe(pathToFileURL(join(installed, "wit/xenstore.wit")).href);
  });

  it("runs the packed bin (xenbus-wasm xs write, xs read) against a simulated xenstored's socket", async () => {
    const xenstored = new XenStored();
    const socket = join(scratch, "xenstored.socket");
    const listener = await listenUnix(xenstored, socket);
    const { NODE_OPTIONS: _, ...env } = process.env;
    const { bin } = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
      bin: Record<string, string>;
    };
    // The bin as npm links it: run by its #! line; xenstored is served by this process, so the bin runs asynchronously.
    const xenbusWasm = (...args: string[]) =>
      promisify(execFile)(join(installed, bin["xenbus-wasm"]!), args, {
        cwd: consumer,
        env: { ...env, XENSTORED_PATH: socket },
      });
    try {
      expect(await xenbusWasm("xs", "write", "/packed/greeting", "from the packed bin")).toEqual({
        stdout: "",
        stderr: "",
      });
      expect(new LocalClient(xenstored, 0).read("/packed/greeting")).toBe("from the packed bin");
      expect((await xenbusWasm("xs", "read", "/packed/greeting")).stdout).toBe("from the packed bin\n");
    } finally {
      await listener.close();
    }
  });

  it("runs the packed bin's xenstored (xenbus-wasm xenstored --socket PATH) and says the package's version", async () => {
    const { NODE_OPTIONS: _, ...env } = process.env;
    const { bin, version } = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
      bin: Record<string, string>;
      version: string;
    };
    const command = join(installed, bin["xenbus-wasm"]!);
    expect((await promisify(execFile)(command, ["--version"], { cwd: consumer, env })).stdout).toBe(`${version}\n`);
    const socket = join(scratch, "standalone.socket");
    const xenstored = spawn(command, ["xenstored", "--socket", socket], {
      cwd: consumer,
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise((resolve) => xenstored.stdout.once("data", resolve));
      const { stdout } = await promisify(execFile)(command, ["xs", "write", "/standalone", "up"], {
        cwd: consumer,
        env: { ...env, XENSTORED_PATH: socket },
      });
      expect(stdout).toBe("");
      expect(
        (
          await promisify(execFile)(command, ["xs", "read", "/standalone"], {
            cwd: consumer,
            env: { ...env, XENSTORED_PATH: socket },
          })
        ).stdout,
      ).toBe("up\n");
    } finally {
      xenstored.kill();
    }
  });

  describe("the examples (examples/, shown in the README), compiled and run as a project using the package would", () => {
    const built = join(consumer, "built");
    const { NODE_OPTIONS: _, ...env } = process.env;
    /** Runs a compiled example with plain Node, asynchronously: the socket example's xenstored is served by this process. */
    const run = (example: string, extraEnv: Record<string, string> = {}) =>
      promisify(execFile)(process.execPath, [join(built, example.replace(/\.ts$/, ".js"))], {
        cwd: consumer,
        env: { ...env, ...extraEnv },
      });

    beforeAll(() => {
      const tsconfig = {
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          outDir: "built",
          rootDir: "examples",
          types: ["node"],
          typeRoots: [join(repo, "node_modules/@types")],
        },
        include: ["examples"],
      };
      writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify(tsconfig));
      const compile = spawnSync(join(repo, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], {
        cwd: consumer,
        encoding: "utf8",
      });
      if (compile.status !== 0)
        throw new Error(
          `the examples do not compile against the packed declarations:\n${compile.stdout}${compile.stderr}`,
        );
    });

    it("are all here: each file of examples/ is run below", () => {
      expect(readmeExamples.sort()).toEqual(Object.keys(EXPECTED).sort());
    });

    for (const example of ["own-module.ts", "block.ts", "component-in-process.ts"]) {
      it(example, async () => {
        expect(await run(example)).toEqual({ stdout: EXPECTED[example], stderr: "" });
      });
    }

    it("component-socket.ts, against a simulated xenstored's socket named by XENSTORED_PATH", async () => {
      const socket = join(scratch, "example.socket");
      const listener = await listenUnix(new XenStored(), socket);
      try {
        expect(await run("component-socket.ts", { XENSTORED_PATH: socket })).toEqual({
          stdout: EXPECTED["component-socket.ts"],
          stderr: "",
        });
      } finally {
        await listener.close();
      }
    });

    it.skipIf(!library)("wasmtime.ts, with the library named by XENBUS_WASM_WASMTIME", async () => {
      expect(await run("wasmtime.ts", { XENBUS_WASM_WASMTIME: library! })).toEqual({
        stdout: EXPECTED["wasmtime.ts"],
        stderr: "",
      });
    });

    it("wasmtime.ts fails naming the library it tried when XENBUS_WASM_WASMTIME names none", async () => {
      const missing = join(scratch, "no such library.so");
      const failed = await run("wasmtime.ts", { XENBUS_WASM_WASMTIME: missing }).then(
        () => undefined,
        (error: { stderr: string }) => error,
      );
      expect(failed?.stderr).toContain(`wasmtime engine: cannot use ${missing} ($XENBUS_WASM_WASMTIME): `);
    });
  });
});
