// The PVH host build (tools/pvh.ts, runtime/pvh/): what it refuses, the ELF it
// makes (the loadable image and entry note Xen's PVH loader reads), and that
// it rebuilds only what is stale. Booting it on Xen is the rig's job (npm run xen).
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binaryen from "binaryen";
import { afterAll, describe, expect, it } from "vitest";
import { buildPvhElf, NotAUnikernel } from "../../tools/pvh.js";
import { wasm2c } from "../../tools/wasm2c.js";
import { peer } from "../support/peer.js";

const converter = peer("Debian trixie's wasm2c", wasm2c);
const scratch = mkdtempSync(join(tmpdir(), "pvh-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A module built from WAT text into the scratch folder; returns its path. */
function moduleFile(name: string, wat: string): string {
  const module = binaryen.parseText(wat);
  const path = join(scratch, `${name}.wasm`);
  writeFileSync(path, module.emitBinary());
  module.dispose();
  return path;
}

/** The smallest unikernel: says hello through console_io and returns 0. */
const HELLO = `(module
  (import "xen" "console_io" (func $console_io (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\\n")
  (func (export "main") (result i32)
    (drop (call $console_io (i32.const 0) (i32.const 6) (i32.const 16)))
    (i32.const 0)))`;

const PT_LOAD = 1;
const PT_NOTE = 4;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

interface Segment {
  type: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
}

function elfHeader(file: Buffer): { machine: number; type: number; entry: bigint; segments: Segment[] } {
  expect(file.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  expect(file[4]).toBe(2); // ELFCLASS64
  const phoff = Number(file.readBigUInt64LE(32));
  const phentsize = file.readUInt16LE(54);
  const segments = Array.from({ length: file.readUInt16LE(56) }, (_, i) => {
    const at = phoff + i * phentsize;
    return {
      type: file.readUInt32LE(at),
      offset: Number(file.readBigUInt64LE(at + 8)),
      vaddr: file.readBigUInt64LE(at + 16),
      paddr: file.readBigUInt64LE(at + 24),
      filesz: Number(file.readBigUInt64LE(at + 32)),
    };
  });
  return { type: file.readUInt16LE(16), machine: file.readUInt16LE(18), entry: file.readBigUInt64LE(24), segments };
}

/** The notes in a PT_NOTE segment: name, type, description. */
function notes(file: Buffer, segment: Segment): { name: string; type: number; desc: Buffer }[] {
  const found = [];
  const align4 = (n: number): number => (n + 3) & ~3;
  for (let at = segment.offset; at < segment.offset + segment.filesz; ) {
    const [namesz, descsz, type] = [file.readUInt32LE(at), file.readUInt32LE(at + 4), file.readUInt32LE(at + 8)];
    const name = file.subarray(at + 12, at + 12 + namesz).toString("latin1");
    const descAt = at + 12 + align4(namesz);
    found.push({ name, type, desc: file.subarray(descAt, descAt + descsz) });
    at = descAt + align4(descsz);
  }
  return found;
}

describe.skipIf(!converter)("PVH host build", () => {
  it("refuses modules the host cannot run, saying why", () => {
    expect(() => buildPvhElf("build/xenbus.wasm", join(scratch, "xenbus.pvh.elf"))).toThrow(/exports no main\(\)/);
    const foreign = moduleFile(
      "foreign",
      `(module (import "env" "abort" (func)) (memory (export "memory") 1)
      (func (export "main") (result i32) (i32.const 0)))`,
    );
    expect(() => buildPvhElf(foreign, join(scratch, "foreign.pvh.elf"))).toThrow(NotAUnikernel);
    expect(() => buildPvhElf(foreign, join(scratch, "foreign.pvh.elf"))).toThrow(/imports env\.abort/);
    expect(() => buildPvhElf(join(scratch, "missing.wasm"), join(scratch, "missing.pvh.elf"))).toThrow(
      /does not exist/,
    );
  });

  it("makes an x86-64 kernel loaded at 256 MiB whose PHYS32_ENTRY note names its entry", () => {
    const { elf, built } = buildPvhElf(moduleFile("hello", HELLO), join(scratch, "hello.pvh.elf"));
    expect(built).toBe(true);
    const file = readFileSync(elf);
    const header = elfHeader(file);
    expect(header.type).toBe(2); // ET_EXEC
    expect(header.machine).toBe(62); // EM_X86_64
    const loads = header.segments.filter((segment) => segment.type === PT_LOAD);
    expect(loads).toHaveLength(1);
    const image = loads[0]!;
    // Paging is off at entry and Xen loads at the physical address: virtual = physical.
    expect(image.paddr).toBe(0x10000000n);
    expect(image.vaddr).toBe(image.paddr);

    const noteSegment = header.segments.find((segment) => segment.type === PT_NOTE);
    expect(noteSegment).toBeDefined();
    // The note is loaded too: it lies inside the image.
    expect(noteSegment!.offset).toBeGreaterThanOrEqual(image.offset);
    expect(noteSegment!.offset + noteSegment!.filesz).toBeLessThanOrEqual(image.offset + image.filesz);
    const entryNotes = notes(file, noteSegment!).filter(
      (note) => note.name === "Xen\0" && note.type === XEN_ELFNOTE_PHYS32_ENTRY,
    );
    expect(entryNotes).toHaveLength(1);
    expect(entryNotes[0]!.desc.length).toBe(4);
    const entry = BigInt(entryNotes[0]!.desc.readUInt32LE(0));
    expect(entry).toBe(header.entry);
    expect(entry >= image.paddr && entry < image.paddr + BigInt(image.filesz)).toBe(true);
  });

  it("rebuilds only when the module is newer than the ELF", () => {
    const wasm = moduleFile("stale", HELLO);
    const elf = join(scratch, "stale.pvh.elf");
    expect(buildPvhElf(wasm, elf).built).toBe(true);
    expect(buildPvhElf(wasm, elf).built).toBe(false);
    const later = new Date(Date.now() + 5000);
    utimesSync(wasm, later, later);
    expect(buildPvhElf(wasm, elf).built).toBe(true);
  });
});
