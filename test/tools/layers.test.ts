// The folders are layers, and a folder imports only from the layers below it
// (README, "Architecture"). Every relative import of every TypeScript file in
// the layered folders is checked against the table, so a new import that
// reaches up (or sideways into a folder not listed) fails here; so does a
// test file outside the test folders that mirror the layers.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const repo = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Which folders each folder may import from (a file belongs to the longest
 * folder that contains it). build/ is generated: the component's bindings.
 */
const LAYERS: Record<string, string[]> = {
  build: [],
  runtime: ["build"],
  "host/xen": ["runtime"],
  "host/dom0": ["host/xen", "runtime"],
  "host/system": ["host/dom0", "host/xen", "runtime"],
  host: ["host/system", "host/dom0", "host/xen", "runtime"],
  cli: ["host/dom0", "runtime"],
  tools: ["host/system", "host/dom0", "host/xen", "runtime"],
  bench: ["tools", "host/system", "host/dom0", "host/xen", "runtime"],
  examples: ["tools", "host/system", "host/dom0", "host/xen", "runtime"],
};

/**
 * Files that may reach past the table, each into one folder. The fuzzer and
 * its bench lanes run the property tests' own properties: one source for
 * CI's short runs and the long ones.
 */
const REACHES: Record<string, string> = {
  "tools/fuzz.ts": "test/support/properties",
  "bench/fuzz.ts": "test/support/properties",
};

/** The folders whose TypeScript is checked (build/ is generated, test/ may import anything). */
const CHECKED = ["runtime", "host", "cli", "tools", "bench", "examples"];

function layerOf(path: string): string | undefined {
  return Object.keys(LAYERS)
    .filter((layer) => path === layer || path.startsWith(`${layer}/`))
    .sort((a, b) => b.length - a.length)[0];
}

function typescriptFiles(folder: string): string[] {
  return readdirSync(join(repo, folder), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".ts"))
    .map((name) => join(folder, name));
}

/** Whether `file` may import `target` (repository paths). */
function allowed(file: string, target: string): boolean {
  if (REACHES[file] !== undefined && target.startsWith(`${REACHES[file]}/`)) return true;
  const from = layerOf(file)!;
  const to = layerOf(target);
  return to === from || (to !== undefined && LAYERS[from]!.includes(to));
}

/** The repository paths `file` imports by relative specifier (imports, re-exports and import()). */
function relativeImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(repo, file), "utf8"), true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((name) => name.startsWith("."))
    .map((name) => relative(repo, join(repo, dirname(file), name)));
}

describe("the folders are layers", () => {
  it("each imports only from the layers the table allows below it", () => {
    const violations: string[] = [];
    for (const file of CHECKED.flatMap(typescriptFiles)) {
      for (const target of relativeImports(file)) {
        if (!allowed(file, target)) violations.push(`${file} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("cli/ reaches host/ only through an entry (an index.ts), not into its files", () => {
    const reaches = typescriptFiles("cli").flatMap((file) =>
      relativeImports(file)
        .filter((target) => target.startsWith("host/") && !target.endsWith("/index.js"))
        .map((target) => `${file} imports ${target}`),
    );
    expect(reaches).toEqual([]);
  });

  it("test/ mirrors them: each test file is in a layer's folder, and every helper is in test/support/", () => {
    const folders = ["pure", "hypervisor", "dom0", "guest", "system", "clients", "tools", "real-xen"];
    const misplaced = typescriptFiles("test").filter((file) => {
      const [, folder] = file.split("/");
      return folder !== "support" && !(folders.includes(folder!) && file.endsWith(".test.ts"));
    });
    expect(misplaced).toEqual([]);
  });

  it("the table has no cycle: every layer can be placed above all it imports", () => {
    const placed: string[] = [];
    const remaining = new Set(Object.keys(LAYERS));
    while (remaining.size > 0) {
      const next = [...remaining].find((layer) => LAYERS[layer]!.every((below) => placed.includes(below)));
      expect(next, `a cycle among ${[...remaining].join(", ")}`).toBeDefined();
      placed.push(next!);
      remaining.delete(next!);
    }
  });

  it("tells an import down from one up, sideways or out of the layers", () => {
    expect(relativeImports("host/xen/hypervisor.ts")).toContain("runtime/hypervisor.js");
    expect(allowed("host/xen/hypervisor.ts", "runtime/hypervisor.js")).toBe(true);
    expect(allowed("host/system/guest-domain.ts", "host/dom0/toolstack.js")).toBe(true);
    expect(allowed("runtime/guest.ts", "host/dom0/toolstack.js")).toBe(false);
    expect(allowed("host/xen/domain.ts", "host/dom0/xenstored/wire.js")).toBe(false);
    expect(allowed("host/dom0/toolstack.ts", "tools/build.js")).toBe(false);
    expect(allowed("cli/xs.ts", "test/support/peer.js")).toBe(false);
    expect(allowed("tools/fuzz.ts", "test/support/properties/index.js")).toBe(true);
    expect(allowed("tools/fuzz.ts", "test/support/peer.js")).toBe(false);
    expect(allowed("tools/build.ts", "test/support/properties/index.js")).toBe(false);
  });
});
