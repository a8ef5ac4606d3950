// Generates every copy of Xen's ABI from its one declaration, assembly/xen/abi.json:
//   assembly/xen/layout.ts     the struct layouts, as compile-time constants (namespace per struct)
//   assembly/xen/abi.ts        the constants, as compile-time constants under their C names
//   assembly/xen/describe.ts   the table build/harness.wasm exports, read from the two above as compiled
//   host/xen/abi.ts            the simulated hypervisor's tables
//   test/native/layouts.c      the probe that prints the same from Xen's own C headers
// `npm run build` writes the files whose text differs (tools/build.ts); test/tools/abi-generated.test.ts
// fails when a committed file is not what the declaration gives.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const DECLARATION = "assembly/xen/abi.json";
const GENERATOR = "tools/abi-generate.ts";

interface StructDeclaration {
  doc?: string;
  sizeof: number;
  /** Field → byte offset; a member of a nested struct or union is named by its C path ("u.interdomain.port"). */
  fields: Record<string, number>;
  /** Fields newer than the headers the probe compiles against → their C type: it lays them after the struct. */
  newerThanHeaders?: Record<string, string>;
}

interface ConstantGroup {
  doc: string;
  /** The C prefix of the group's names: EVTCHNOP's `send` is EVTCHNOP_send. */
  prefix: string;
  values: Record<string, number>;
  /** The AssemblyScript type (i32 unless said). */
  type?: "i32" | "u32";
  /** The hypervisor names each by its C name instead of as a member of one object. */
  flat?: boolean;
  /** The probe reads `XEN_<name>` (errno.h's enum) instead of the macro `<name>`. */
  cPrefix?: string;
  /** The C expression the probe prints for a value that has no macro of its name. */
  c?: Record<string, string>;
}

export interface AbiDeclaration {
  $comment: string;
  /** What the probe includes. */
  headers: string[];
  structs: Record<string, StructDeclaration>;
  constants: Record<string, ConstantGroup>;
}

export function readDeclaration(): AbiDeclaration {
  return JSON.parse(readFileSync(join(ROOT, DECLARATION), "utf8")) as AbiDeclaration;
}

/** Every constant under its C name, in declaration order. */
export function declaredConstants(abi: AbiDeclaration): Record<string, number> {
  return Object.fromEntries(
    Object.values(abi.constants).flatMap((group) =>
      Object.entries(group.values).map(([name, value]) => [group.prefix + name, value]),
    ),
  );
}

const HEADER = `Generated from ${DECLARATION} by ${GENERATOR} (npm run build): edit the declaration, not this file.`;

/** `text` as comment lines of at most 120 characters, each starting with `lead`. */
function comment(text: string, lead: string): string[] {
  const lines: string[] = [];
  let line = lead;
  for (const word of text.split(" ")) {
    if (line.length + word.length + 1 > 120 && line !== lead) {
      lines.push(line);
      line = lead;
    }
    line += (line === lead ? "" : " ") + word;
  }
  return [...lines, line];
}

function docComment(text: string | undefined): string[] {
  if (text === undefined) return [];
  const line = `/** ${text} */`;
  return line.length <= 120 ? [line] : ["/**", ...comment(text, " * "), " */"];
}

/** C field names that are reserved words in AssemblyScript (xencons_interface.in). */
const AS_RESERVED = new Set(["in", "for", "if", "do", "new", "this", "var", "let", "const", "return", "class"]);

/** The AssemblyScript name of a C field path: union members flattened (u.interdomain.port → interdomain_port). */
export function assemblyFieldName(path: string): string {
  const name = path
    .split(".")
    .filter((part) => part !== "u")
    .join("_");
  return AS_RESERVED.has(name) ? `${name}_` : name;
}

function assemblyType(group: ConstantGroup, name: string, value: number): string {
  const type = group.type ?? "i32";
  const fits = type === "i32" ? value >= -(2 ** 31) && value < 2 ** 31 : value >= 0 && value < 2 ** 32;
  if (!Number.isInteger(value) || !fits) throw new Error(`${DECLARATION}: ${name} = ${value} is not an ${type}`);
  return type;
}

function assemblyLayout(abi: AbiDeclaration): string {
  const out = [
    `// ${HEADER}`,
    "// Xen's x86_64 struct layouts: the byte offset of each field and the struct's SIZE, one namespace per",
    "// C struct; a nested union's members are flattened (evtchn_status.u.interdomain.port → interdomain_port).",
  ];
  for (const [struct, { doc, sizeof, fields }] of Object.entries(abi.structs)) {
    const names = new Set<string>();
    out.push("", ...docComment(doc), `export namespace ${struct} {`);
    for (const [path, offset] of Object.entries(fields)) {
      const name = assemblyFieldName(path);
      if (names.has(name)) throw new Error(`${DECLARATION}: ${struct} has two fields named ${name} in AssemblyScript`);
      names.add(name);
      out.push(`  export const ${name}: u32 = ${offset};`);
    }
    out.push(`  export const SIZE: u32 = ${sizeof};`, "}");
  }
  return `${out.join("\n")}\n`;
}

function assemblyConstants(abi: AbiDeclaration): string {
  const out = [`// ${HEADER}`, "// Xen's ABI constants, under the names and with the values of its public headers."];
  for (const group of Object.values(abi.constants)) {
    out.push("", ...comment(group.doc, "// "));
    for (const [member, value] of Object.entries(group.values)) {
      const name = group.prefix + member;
      out.push(`export const ${name}: ${assemblyType(group, name, value)} = ${value};`);
    }
  }
  return `${out.join("\n")}\n`;
}

function assemblyDescription(abi: AbiDeclaration): string {
  const out = [
    `// ${HEADER}`,
    "// The module describes its own ABI: every struct layout and constant it was compiled with, read from",
    "// layout.ts and abi.ts as compiled, as JSON, so a build can be checked against Xen's C headers",
    "// (test/tools/layouts.test.ts) and users can see what they ship (`npm run layouts`). build/harness.wasm carries it.",
    'import * as abi from "./abi";',
    'import * as layout from "./layout";',
    "",
    "class JsonObject {",
    "  private members: string[] = [];",
    "",
    "  set(key: string, json: string): void {",
    "    this.members.push('\"' + key + '\":' + json);",
    "  }",
    "",
    "  number(key: string, value: i64): void {",
    "    this.set(key, value.toString());",
    "  }",
    "",
    "  toString(): string {",
    '    return "{" + this.members.join(",") + "}";',
    "  }",
    "}",
    "",
    "function struct(size: u32, fields: JsonObject): string {",
    "  const struct = new JsonObject();",
    '  struct.number("sizeof", size);',
    '  struct.set("fields", fields.toString());',
    "  return struct.toString();",
    "}",
    "",
    '/** {"<struct>": {"sizeof": n, "fields": {"<field>": offset}}}, names as in Xen\'s headers. */',
    "export function xen_abi_layouts(): string {",
    "  const table = new JsonObject();",
    "  let fields: JsonObject;",
  ];
  for (const [name, { fields }] of Object.entries(abi.structs)) {
    out.push("  fields = new JsonObject();");
    for (const path of Object.keys(fields))
      out.push(`  fields.number("${path}", layout.${name}.${assemblyFieldName(path)});`);
    out.push(`  table.set("${name}", struct(layout.${name}.SIZE, fields));`);
  }
  out.push(
    "  return table.toString();",
    "}",
    "",
    '/** {"<NAME>": value} for every Xen constant the module was built with. */',
    "export function xen_abi_constants(): string {",
    "  const table = new JsonObject();",
    ...Object.keys(declaredConstants(abi)).map((name) => `  table.number("${name}", abi.${name});`),
    "  return table.toString();",
    "}",
  );
  return `${out.join("\n")}\n`;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const tsKey = (name: string): string => (IDENTIFIER.test(name) ? name : JSON.stringify(name));

function hostTables(abi: AbiDeclaration): string {
  const out = [
    `// ${HEADER}`,
    "// Xen's public ABI as the hypervisor reads it: the constants and x86_64 struct layouts of Xen's C headers,",
    "// under their C names (a constant group's members without its prefix: EVTCHNOP.send is EVTCHNOP_send).",
    "",
    "export interface StructLayout<F extends string = string> {",
    "  sizeof: number;",
    "  fields: Record<F, number>;",
    "}",
  ];
  const grouped: [string, string][] = [];
  for (const [group, { doc, prefix, values, flat }] of Object.entries(abi.constants)) {
    out.push("", ...docComment(doc));
    if (flat) {
      for (const [name, value] of Object.entries(values)) out.push(`export const ${prefix}${name} = ${value};`);
      continue;
    }
    grouped.push([prefix, group]);
    out.push(`export const ${group} = {`);
    for (const [name, value] of Object.entries(values)) out.push(`  ${tsKey(name)}: ${value},`);
    out.push("} as const;");
  }
  for (const [name, { doc, sizeof, fields }] of Object.entries(abi.structs)) {
    out.push("", ...docComment(doc), `export const ${name} = {`, `  sizeof: ${sizeof},`, "  fields: {");
    for (const [path, offset] of Object.entries(fields)) out.push(`    ${tsKey(path)}: ${offset},`);
    out.push("  },", "} satisfies StructLayout;");
  }
  const flat = Object.values(abi.constants).filter((group) => group.flat);
  out.push(
    "",
    "export const HOST_LAYOUTS: Record<string, StructLayout> = {",
    ...Object.keys(abi.structs).map((name) => `  ${name},`),
    "};",
    "",
    "/** Each group's C prefix. */",
    "const CONSTANT_GROUPS: [string, Record<string, number>][] = [",
    ...grouped.map(([prefix, group]) => `  ["${prefix}", ${group}],`),
    "];",
    "",
    "/** Every constant under its C name. */",
    "export const HOST_CONSTANTS: Record<string, number> = {",
    ...flat.flatMap((group) => Object.keys(group.values).map((name) => `  ${group.prefix}${name},`)),
    "  ...Object.fromEntries(",
    "    CONSTANT_GROUPS.flatMap(([prefix, group]) => Object.entries(group).map(([name, value]) => [prefix + name, value])),",
    "  ),",
    "};",
  );
  return `${out.join("\n")}\n`;
}

function probe(abi: AbiDeclaration): string {
  const newest = (struct: string): string => `struct ${struct}_newest`;
  const out = [
    "/*",
    ` * ${HEADER}`,
    " * Prints the x86_64 layout of every Xen struct xenbus-wasm declares, and its",
    " * constants, as compiled from Xen's own public headers:",
    ' *   {"layouts": {"<struct>": {"sizeof": n, "fields": {"<field>": offset}}},',
    ' *    "constants": {"<NAME>": value}}',
    " * test/tools/layouts.test.ts compares this with the declaration and the built module.",
    " */",
    "/* The newest interface, as a guest built today uses (memory.h names mem_flags so since 0x00030209). */",
    "#define __XEN_INTERFACE_VERSION__ __XEN_LATEST_INTERFACE_VERSION__",
    "#include <stddef.h>",
    "#include <stdint.h>",
    "#include <stdio.h>",
    ...abi.headers.map((header) => `#include <${header}>`),
    "",
    'static const char *sep = "";',
    "static int first = 1;",
    "",
    "#define BEGIN(name, type) \\",
    '    printf("%s\\n\\"%s\\":{\\"sizeof\\":%zu,\\"fields\\":{", sep, name, sizeof(type)); sep = ",";',
    "#define FIELD(type, field) \\",
    '    printf("%s\\"%s\\":%zu", first ? "" : ",", #field, offsetof(type, field)); first = 0;',
    '#define END() printf("}}"); first = 1;',
    '#define CONST(name, value) printf("%s\\n\\"%s\\":%lld", sep, name, (long long)(value)); sep = ",";',
  ];
  for (const [struct, { newerThanHeaders }] of Object.entries(abi.structs)) {
    if (newerThanHeaders === undefined) continue;
    out.push(
      "",
      `/* Fields newer than the installed headers, laid out after them: the compiler says where they sit. */`,
      `${newest(struct)} {`,
      `    struct ${struct} base;`,
      ...Object.entries(newerThanHeaders).map(([field, type]) => `    ${type} ${field};`),
      "};",
    );
  }
  out.push("", "int main(void)", "{", '    printf("{\\"layouts\\":{");');
  for (const [struct, { fields, newerThanHeaders = {} }] of Object.entries(abi.structs)) {
    const sized = Object.keys(newerThanHeaders).length > 0 ? newest(struct) : `struct ${struct}`;
    out.push(`    BEGIN("${struct}", ${sized})`);
    for (const path of Object.keys(fields))
      out.push(`    FIELD(${path in newerThanHeaders ? newest(struct) : `struct ${struct}`}, ${path})`);
    out.push("    END()");
  }
  out.push('    printf("},\\"constants\\":{");', '    sep = "";');
  for (const { prefix, values, cPrefix = "", c = {} } of Object.values(abi.constants)) {
    for (const name of Object.keys(values))
      out.push(`    CONST("${prefix}${name}", ${c[name] ?? `${cPrefix}${prefix}${name}`})`);
  }
  out.push('    printf("}}\\n");', "    return 0;", "}");
  return `${out.join("\n")}\n`;
}

/** Each generated file's path in the repository → its text. */
export function generatedAbiFiles(abi: AbiDeclaration = readDeclaration()): Map<string, string> {
  return new Map([
    ["assembly/xen/layout.ts", assemblyLayout(abi)],
    ["assembly/xen/abi.ts", assemblyConstants(abi)],
    ["assembly/xen/describe.ts", assemblyDescription(abi)],
    ["host/xen/abi.ts", hostTables(abi)],
    ["test/native/layouts.c", probe(abi)],
  ]);
}

/** Writes the generated files whose text differs from the declaration's; the paths written. */
export function writeGeneratedAbi(): string[] {
  const written: string[] = [];
  for (const [path, text] of generatedAbiFiles()) {
    if (existsSync(join(ROOT, path)) && readFileSync(join(ROOT, path), "utf8") === text) continue;
    writeFileSync(join(ROOT, path), text);
    written.push(path);
  }
  return written;
}
