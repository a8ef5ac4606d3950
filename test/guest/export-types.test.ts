// The TypeScript types of the guest modules' exports against the modules'
// export sections: every function runtime/xenbus.ts's XenbusExports lists is
// one build/xenbus.wasm exports, with its parameter and result types (a wasm
// i64 is a bigint; i32 and f64 a number, or a boolean argument; no result is
// void), and nothing it exports is left out (the runtime's own __* helpers
// aside); the harness's hooks (test/support/harness-exports.ts) are checked
// against harness.wasm the same way, one way only (its ring and bench exports
// are typed loosely).
import { readFileSync } from "node:fs";
import binaryen from "binaryen";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { HARNESS_WASM } from "../../bench/harness.js";

/** The methods of interface `name` in the TypeScript file `path`: name → signature, "(number, bigint) => void". */
function interfaceMethods(path: string, name: string): Map<string, string> {
  const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest);
  const declaration = source.statements.find(
    (node): node is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(node) && node.name.text === name,
  );
  if (declaration === undefined) throw new Error(`${path} declares no interface ${name}`);
  return new Map(
    declaration.members.filter(ts.isMethodSignature).map((method) => {
      // A boolean argument reaches an i32 parameter as 0 or 1; a result comes back as a number.
      const params = method.parameters.map((param) => param.type?.getText(source).replace(/^boolean$/, "number"));
      return [method.name.getText(source), `(${params.join(", ")}) => ${method.type?.getText(source)}`] as const;
    }),
  );
}

/** A wasm value type as JavaScript sees it. */
function jsType(type: number): string {
  if (type === binaryen.i64) return "bigint";
  if (type === binaryen.none) return "void";
  return "number";
}

/** The function exports of the module at `path`: name → signature in TypeScript's terms. */
function functionExports(path: string): Map<string, string> {
  const module = binaryen.readBinary(readFileSync(path));
  try {
    const found = new Map<string, string>();
    for (let i = 0; i < module.getNumExports(); i++) {
      const info = binaryen.getExportInfo(module.getExportByIndex(i));
      if (info.kind !== binaryen.ExternalFunction) continue;
      const { params, results } = binaryen.getFunctionInfo(module.getFunction(info.value));
      found.set(info.name, `(${binaryen.expandType(params).map(jsType).join(", ")}) => ${jsType(results)}`);
    }
    return found;
  } finally {
    module.dispose();
  }
}

/** The AssemblyScript runtime's exports (__new, __pin, ...), which no interface lists. */
const isRuntimeHelper = (name: string): boolean => name.startsWith("__");

describe("export types", () => {
  it("XenbusExports lists exactly build/xenbus.wasm's functions, each with its parameter and result types", () => {
    const typed = interfaceMethods("runtime/xenbus.ts", "XenbusExports");
    const exported = new Map([...functionExports("build/xenbus.wasm")].filter(([name]) => !isRuntimeHelper(name)));
    expect(Object.fromEntries(typed)).toEqual(Object.fromEntries(exported));
  });

  it("every hook HarnessExports types is one build/harness.wasm exports, with its parameter and result types", () => {
    const typed = interfaceMethods("test/support/harness-exports.ts", "HarnessExports");
    const exported = functionExports(HARNESS_WASM);
    expect(typed.size).toBeGreaterThan(0);
    for (const [name, signature] of typed) expect([name, exported.get(name)]).toEqual([name, signature]);
  });
});
