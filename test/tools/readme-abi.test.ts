// The README's "`xen` import ABI" section tells a native host's author Xen's
// struct sizes, field offsets and constants: it must say what the declaration
// (assembly/xen/abi.json) says, which test/tools/layouts.test.ts checks against Xen.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { declaredConstants, readDeclaration } from "../../tools/abi-generate.js";

const abi = readDeclaration();
const constants = declaredConstants(abi);

/** The section's lines, from its heading to the next one of its level or above. */
function section(heading: string): string[] {
  const lines = readFileSync("README.md", "utf8").split("\n");
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README.md has no "${heading}"`);
  const end = lines.findIndex((line, i) => i > start && /^#{1,3} /.test(line));
  return lines.slice(start, end < 0 ? undefined : end);
}

const SECTION = section("### The `xen` import ABI");

/** Each mismatch of a struct table row (| `name`[, `name`] | size | N `field` ... |) with the declaration. */
function structMismatches(row: string): string[] {
  const [names = "", size = "", fields = ""] = row.split("|").slice(1, 4);
  const problems: string[] = [];
  // The names before any parenthesis: "`shared_info` (the page placed with ...)".
  for (const [, name] of names.split("(")[0]!.matchAll(/`(\w+)`/g)) {
    const struct = abi.structs[name!];
    if (struct === undefined) {
      problems.push(`${name}: not declared`);
      continue;
    }
    if (Number(size) !== struct.sizeof) problems.push(`${name}: size ${size.trim()}, declared ${struct.sizeof}`);
    for (const [, offset, field] of fields.matchAll(/(\d+) `([\w.]+)(?:\[\d*\])?`/g)) {
      // gnttab_copy lists the members of `source` and `dest` once, by their offset in `source`.
      const declared = struct.fields[field!] ?? struct.fields[`source.${field}`];
      if (declared !== Number(offset)) problems.push(`${name}.${field}: offset ${offset}, declared ${declared}`);
    }
  }
  return problems;
}

/**
 * Each mismatch of a "`NAME` value" in `line` with the declared constants; a
 * lower-case name after one (`EVTCHNOP_send` 4, `close` 3) shares its prefix.
 */
function constantMismatches(line: string): string[] {
  const problems: string[] = [];
  let prefix = "";
  for (const [, name, value] of line.matchAll(/`(\w+)`(?: =)? (-?(?:0x[\da-f]+|\d+))\b/g)) {
    const group = Object.values(abi.constants).find(
      (group) =>
        group.prefix !== "" && name!.startsWith(group.prefix) && name!.slice(group.prefix.length) in group.values,
    );
    if (group !== undefined) prefix = group.prefix;
    const full = group !== undefined || name! in constants ? name! : prefix + name;
    if (constants[full] !== Number(value)) problems.push(`${full}: ${value}, declared ${constants[full]}`);
  }
  return problems;
}

describe("the README's `xen` import ABI section", () => {
  it("gives every struct the declared size and field offsets", () => {
    const rows = SECTION.filter((line) => /^\| `\w+`/.test(line) && !line.includes("(cmd: "));
    expect(rows.length).toBeGreaterThan(15);
    expect(rows.flatMap(structMismatches)).toEqual([]);
  });

  it("gives each constant it names with a value its declared value", () => {
    const checked = SECTION.flatMap((line) => [...line.matchAll(/`\w+`(?: =)? -?\d/g)]);
    expect(checked.length).toBeGreaterThan(30);
    expect(SECTION.flatMap(constantMismatches)).toEqual([]);
  });

  it("would say where a row differs", () => {
    expect(structMismatches("| `xen_hvm_param` | 12 | 0 `domid` u16, 8 `index` u32 |")).toEqual([
      "xen_hvm_param: size 12, declared 16",
      "xen_hvm_param.index: offset 8, declared 4",
    ]);
    expect(constantMismatches("`EVTCHNOP_send` 4, `close` 2")).toEqual(["EVTCHNOP_close: 2, declared 3"]);
  });
});
