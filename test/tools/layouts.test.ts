// Layout conformance: Xen's ABI as declared (assembly/xen/abi.json), as
// build/xenbus.wasm is compiled from it (the table build/harness.wasm exports,
// built from the same generated declarations) and as the simulated hypervisor
// reads it, against the C compiler's view of Xen's own public headers from
// Debian's libxen-dev (test/native/layouts.c, generated from the declaration).
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HOST_CONSTANTS, HOST_LAYOUTS } from "../../host/xen/abi.js";
import { type Constants, type Layouts, readModuleAbi } from "../../tools/abi.js";
import { declaredConstants, readDeclaration } from "../../tools/abi-generate.js";
import { compileC, debianPackage } from "../../tools/debian.js";
import { peer } from "../support/peer.js";

interface HeaderAbi {
  layouts: Layouts;
  constants: Constants;
}

function headerAbi(): HeaderAbi {
  const include = join(debianPackage("libxen-dev"), "usr/include");
  const probe = compileC("layouts", ["test/native/layouts.c"], ["-I", include]);
  return JSON.parse(execFileSync(probe, { encoding: "utf8" }));
}

/** One line per difference, naming the struct and field. */
function layoutMismatches(truth: Layouts, actual: Layouts): string[] {
  const problems: string[] = [];
  for (const [name, struct] of Object.entries(truth)) {
    const ours = actual[name];
    if (!ours) {
      problems.push(`${name}: missing`);
      continue;
    }
    if (ours.sizeof !== struct.sizeof) problems.push(`${name}: sizeof ${ours.sizeof}, Xen says ${struct.sizeof}`);
    for (const [field, offset] of Object.entries(struct.fields)) {
      if (ours.fields[field] !== offset)
        problems.push(`${name}.${field}: offset ${ours.fields[field]}, Xen says ${offset}`);
    }
    for (const field of Object.keys(ours.fields)) {
      if (!(field in struct.fields)) problems.push(`${name}.${field}: not a field in Xen's header`);
    }
  }
  for (const name of Object.keys(actual))
    if (!(name in truth)) problems.push(`${name}: not checked against Xen's headers`);
  return problems;
}

function constantMismatches(truth: Constants, actual: Constants): string[] {
  return Object.entries(actual)
    .filter(([name, value]) => truth[name] !== value)
    .map(([name, value]) => `${name}: ${value}, Xen says ${truth[name] ?? "(not defined)"}`);
}

/** The declaration as the probe and the module's table show it. */
function declaredAbi(): HeaderAbi {
  const declaration = readDeclaration();
  const layouts = Object.fromEntries(
    Object.entries(declaration.structs).map(([name, { sizeof, fields }]) => [name, { sizeof, fields }]),
  );
  return { layouts, constants: declaredConstants(declaration) };
}

const xen = peer("Debian's libxen-dev headers", headerAbi);

describe.skipIf(!xen)("the ABI of build/xenbus.wasm (harness.wasm's table) against Xen's C headers", () => {
  const truth = xen!;
  const module = readModuleAbi();
  const declared = declaredAbi();

  it("declares every struct, field and constant as Xen's x86_64 headers do", () => {
    expect(Object.keys(truth.layouts)).toEqual(Object.keys(declared.layouts));
    expect(layoutMismatches(truth.layouts, declared.layouts)).toEqual([]);
    expect(Object.keys(truth.constants)).toEqual(Object.keys(declared.constants));
    expect(constantMismatches(truth.constants, declared.constants)).toEqual([]);
  });

  it("compiles the module from exactly the declaration", () => {
    expect(module).toEqual(declared);
  });

  it("lays out every struct and field as Xen's x86_64 headers do", () => {
    expect(layoutMismatches(truth.layouts, module.layouts)).toEqual([]);
  });

  it("uses Xen's values for every constant it was built with", () => {
    expect(Object.keys(module.constants).length).toBeGreaterThan(150);
    expect(constantMismatches(truth.constants, module.constants)).toEqual([]);
  });

  it("gives the simulated hypervisor the same layouts and constants as Xen", () => {
    expect(layoutMismatches(truth.layouts, HOST_LAYOUTS)).toEqual([]);
    expect(constantMismatches(truth.constants, HOST_CONSTANTS)).toEqual([]);
    expect(Object.keys(HOST_CONSTANTS).sort()).toEqual(Object.keys(truth.constants).sort());
  });

  it("places evtchn_port right after the fields Debian's xs_wire.h has", () => {
    // Debian ships Xen 4.17 headers; Xen 4.21 appended evtchn_port. The probe
    // lays it out after the installed struct, so the compiler places it.
    expect(module.layouts.xenstore_domain_interface.fields.evtchn_port).toBe(
      truth.layouts.xenstore_domain_interface.fields.error + 4,
    );
  });

  it("reports a wrong offset or size by struct and field name", () => {
    const broken = structuredClone(module.layouts);
    broken.gnttab_map_grant_ref.fields.handle += 4;
    broken.blkif_response.sizeof = 12;
    delete broken.xen_hvm_param;
    expect(layoutMismatches(truth.layouts, broken)).toEqual([
      "gnttab_map_grant_ref.handle: offset 24, Xen says 20",
      "xen_hvm_param: missing",
      "blkif_response: sizeof 12, Xen says 16",
    ]);
  });

  it("prints the module's table with `npm run layouts`", () => {
    const printed = execFileSync("node_modules/.bin/tsx", ["tools/layouts.ts"], { encoding: "utf8" });
    expect(JSON.parse(printed)).toEqual(module.layouts);
  });
});
