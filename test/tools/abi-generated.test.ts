// Xen's ABI is declared once (assembly/xen/abi.json); the AssemblyScript, the
// hypervisor's tables and the C probe are generated from it (tools/abi-generate.ts,
// run by `npm run build`). A generated file that is edited by hand, or left
// behind after the declaration changed, fails here.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DECLARATION, generatedAbiFiles, readDeclaration } from "../../tools/abi-generate.js";

describe(`the files generated from ${DECLARATION}`, () => {
  const files = generatedAbiFiles();

  it.each([...files.keys()])("%s is what the declaration gives (npm run build writes it)", (path) => {
    expect(readFileSync(path, "utf8")).toBe(files.get(path));
  });

  it("each says it is generated, and from what", () => {
    for (const text of files.values()) expect(text).toContain(`Generated from ${DECLARATION}`);
  });

  it("each follows a change to the declaration", () => {
    const changed = readDeclaration();
    changed.structs.evtchn_send!.fields.flags = 4;
    changed.constants.EVTCHNOP!.values.expand_array = 7;
    const regenerated = generatedAbiFiles(changed);
    for (const [path, text] of files) expect(regenerated.get(path), path).not.toBe(text);
    expect(regenerated.get("assembly/xen/layout.ts")).toContain("export const flags: u32 = 4;");
    expect(regenerated.get("assembly/xen/abi.ts")).toContain("export const EVTCHNOP_expand_array: i32 = 7;");
    expect(regenerated.get("test/native/layouts.c")).toContain("FIELD(struct evtchn_send, flags)");
  });

  it("refuses a value the AssemblyScript type cannot hold", () => {
    const changed = readDeclaration();
    changed.constants.EVTCHNOP!.values.huge = 2 ** 31;
    expect(() => generatedAbiFiles(changed)).toThrow("EVTCHNOP_huge = 2147483648 is not an i32");
  });
});
