// The TypeScript types of the guest modules' exports against the modules'
// export sections: every function runtime/xenbus.ts's XenbusExports lists is
// one build/xenbus.wasm exports, with as many parameters, and nothing it
// exports is left out (the runtime's own __* helpers aside); the harness's
// hooks (test/support/harness-exports.ts) are checked against harness.wasm
// the same way, one way only (its ring and bench exports are typed loosely).
import { readFileSync } from "node:fs";
import binaryen from "binaryen";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { HARNESS_WASM } from "../bench/harness.js";

/** The methods of interface `name` in the TypeScript file `path`: name → parameter count. */
function interfaceMethods(path: string, name: string): Map<string, number> {
  const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest);
  const declaration = source.statements.find(
    (node): node is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(node) && node.name.text === name,
  );
  if (declaration === undefined) throw new Error(`${path} declares no interface ${name}`);
  return new Map(
    declaration.members
      .filter(ts.isMethodSignature)
      .map((method) => [method.name.getText(source), method.parameters.length] as const),
  );
}

/** The function exports of the module at `path`: name → parameter count. */
function functionExports(path: string): Map<string, number> {
  const module = binaryen.readBinary(readFileSync(path));
  try {
    const found = new Map<string, number>();
    for (let i = 0; i < module.getNumExports(); i++) {
      const info = binaryen.getExportInfo(module.getExportByIndex(i));
      if (info.kind !== binaryen.ExternalFunction) continue;
      const params = binaryen.getFunctionInfo(module.getFunction(info.value)).params;
      found.set(info.name, binaryen.expandType(params).length);
    }
    return found;
  } finally {
    module.dispose();
  }
}

/** The AssemblyScript runtime's exports (__new, __pin, ...), which no interface lists. */
const isRuntimeHelper = (name: string): boolean => name.startsWith("__");

describe("export types", () => {
  it("XenbusExports lists exactly build/xenbus.wasm's functions, each with its parameter count", () => {
    const typed = interfaceMethods("runtime/xenbus.ts", "XenbusExports");
    const exported = new Map([...functionExports("build/xenbus.wasm")].filter(([name]) => !isRuntimeHelper(name)));
    expect(Object.fromEntries(typed)).toEqual(Object.fromEntries(exported));
  });

  it("every hook HarnessExports types is one build/harness.wasm exports, with its parameter count", () => {
    const typed = interfaceMethods("test/support/harness-exports.ts", "HarnessExports");
    const exported = functionExports(HARNESS_WASM);
    expect(typed.size).toBeGreaterThan(0);
    for (const [name, count] of typed) expect([name, exported.get(name)]).toEqual([name, count]);
  });
});
