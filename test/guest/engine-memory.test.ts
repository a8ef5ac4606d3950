// Guest memory as the host sees it, under every engine: each kind of write
// the guest can make (stores of every width, one straddling two pages,
// memory.fill, memory.copy, memory.init, atomic stores and read-modify-writes)
// reaches the host, and the host's writes reach the guest, on pages far
// apart, inside a hypercall and after memory.grow (also a grow just before a
// hypercall: the host's view inside it is the grown memory).
import binaryen from "binaryen";
import { describe, expect, test } from "vitest";
import type { EngineInstance, HostFunction } from "../../runtime/engine.js";
import { engines } from "../support/engines.js";

const PAGE = 4096;
/** 40 Wasm pages: 160 pages of 4 KiB. */
const INITIAL_WASM_PAGES = 40;
const SEGMENT = "from a data segment";

const WRITER = `(module
  (import "xen" "host_call" (func $host_call (param i32) (result i32)))
  (memory (export "memory") ${INITIAL_WASM_PAGES})
  (data $segment "${SEGMENT}")
  (func (export "store8") (param $a i32) (param $v i32) (i32.store8 (local.get $a) (local.get $v)))
  (func (export "store16") (param $a i32) (param $v i32) (i32.store16 offset=2 (local.get $a) (local.get $v)))
  (func (export "store_i64") (param $a i32) (param $v i32)
    (i64.store offset=1 (local.get $a) (i64.mul (i64.extend_i32_u (local.get $v)) (i64.const 0x0101010101010101))))
  (func (export "store_f64") (param $a i32) (f64.store (local.get $a) (f64.const 1.5)))
  (func (export "fill") (param $d i32) (param $v i32) (param $n i32) (memory.fill (local.get $d) (local.get $v) (local.get $n)))
  (func (export "copy") (param $d i32) (param $s i32) (param $n i32) (memory.copy (local.get $d) (local.get $s) (local.get $n)))
  (func (export "init") (param $d i32) (memory.init $segment (local.get $d) (i32.const 0) (i32.const ${SEGMENT.length})))
  (func (export "atomic_store") (param $a i32) (param $v i32) (i32.atomic.store (local.get $a) (local.get $v)))
  (func (export "atomic_add") (param $a i32) (param $v i32) (result i32) (i32.atomic.rmw.add (local.get $a) (local.get $v)))
  (func (export "atomic_cmpxchg8") (param $a i32) (param $e i32) (param $r i32) (result i32)
    (i32.atomic.rmw8.cmpxchg_u (local.get $a) (local.get $e) (local.get $r)))
  (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n)))
  (func (export "grow_and_ask") (param $n i32) (result i32) (drop (memory.grow (local.get $n))) (call $host_call (i32.const 0)))
  (func (export "load8") (param $a i32) (result i32) (i32.load8_u (local.get $a)))
  ;; writes at $a, lets the host look and write at $b, writes the same page of $a again, and returns what is at $b
  (func (export "ask_host") (param $a i32) (param $b i32) (result i32)
    (i32.store (local.get $a) (i32.const 0x11223344))
    (drop (call $host_call (local.get $b)))
    (i32.store offset=4 (local.get $a) (i32.const 0x55667788))
    (i32.load (local.get $b)))
)`;

function assemble(text: string): Uint8Array {
  const module = binaryen.parseText(text);
  module.setFeatures(binaryen.Features.All);
  if (!module.validate()) throw new Error("invalid test module");
  const wasm = module.emitBinary();
  module.dispose();
  return wasm;
}

const writer = assemble(WRITER);

/** Far-apart addresses in the initial memory: in the first page, near the start, the middle and the last page. */
const FAR = [16, 3 * PAGE + 8, 80 * PAGE + 96, INITIAL_WASM_PAGES * 16 * PAGE - 64];

describe.each(engines)("under $name", ({ engine }) => {
  let onHostCall: (address: number) => void = () => {};
  const hostCall: HostFunction = (address) => {
    onHostCall(address);
    return 0;
  };
  const load = (): EngineInstance => engine.instantiate(writer, { xen: { host_call: hostCall } });
  const word = (guest: EngineInstance, address: number): number =>
    new DataView(guest.memoryBytes().buffer, address, 4).getUint32(0, true);

  test("every kind of guest write reaches the host, on pages far apart", () => {
    const guest = load();
    for (const [i, at] of FAR.entries()) {
      guest.call("store8", [at, 0xa0 + i]);
      expect(guest.memoryBytes()[at]).toBe(0xa0 + i);
      guest.call("store16", [at + 8, 0xbeef]);
      expect(guest.memoryBytes().subarray(at + 10, at + 12)).toEqual(Uint8Array.of(0xef, 0xbe));
      guest.call("store_f64", [at + 16]);
      expect(new DataView(guest.memoryBytes().buffer).getFloat64(at + 16, true)).toBe(1.5);
      guest.call("atomic_store", [at + 24, 0x01020304]);
      expect(word(guest, at + 24)).toBe(0x01020304);
      expect(guest.call("atomic_add", [at + 24, 1])).toBe(0x01020304);
      expect(word(guest, at + 24)).toBe(0x01020305);
      expect(guest.call("atomic_cmpxchg8", [at + 24, 0x05, 0x77])).toBe(0x05);
      expect(word(guest, at + 24)).toBe(0x01020377);
    }
    // A store straddling two pages changes both.
    const boundary = 100 * PAGE;
    guest.call("store_i64", [boundary - 5, 0x5a]);
    expect([...guest.memoryBytes().subarray(boundary - 4, boundary + 4)]).toEqual(new Array(8).fill(0x5a));
    // Bulk writes spanning several pages, and a copy to a far page.
    guest.call("fill", [10 * PAGE - 1, 0x3c, 3 * PAGE + 2]);
    const filled = guest.memoryBytes().subarray(10 * PAGE - 1, 13 * PAGE + 1);
    expect(filled.every((byte) => byte === 0x3c)).toBe(true);
    expect(guest.memoryBytes()[13 * PAGE + 1]).toBe(0);
    guest.call("copy", [150 * PAGE - 10, 10 * PAGE, 2 * PAGE]);
    expect(
      guest
        .memoryBytes()
        .subarray(150 * PAGE - 10, 152 * PAGE - 10)
        .every((byte) => byte === 0x3c),
    ).toBe(true);
    guest.call("init", [120 * PAGE - 4]);
    expect(
      new TextDecoder().decode(guest.memoryBytes().subarray(120 * PAGE - 4, 120 * PAGE - 4 + SEGMENT.length)),
    ).toBe(SEGMENT);
    // The same page written again after the host saw it.
    guest.call("store8", [FAR[0]!, 0x42]);
    expect(guest.memoryBytes()[FAR[0]!]).toBe(0x42);
  });

  test("the host's writes reach the guest, between calls and inside a hypercall; the guest's after it reach the host", () => {
    const guest = load();
    for (const [i, at] of FAR.entries()) guest.memoryBytes()[at] = 0x60 + i;
    for (const [i, at] of FAR.entries()) expect(guest.call("load8", [at])).toBe(0x60 + i);
    const [here, there] = [FAR[0]!, FAR[2]! - 32];
    onHostCall = (address) => {
      // The guest's store before the hypercall is visible here, and this write is visible to it after.
      expect(word(guest, here)).toBe(0x11223344);
      new DataView(guest.memoryBytes().buffer).setUint32(address, 0xcafe0001, true);
    };
    expect(guest.call("ask_host", [here, there])! >>> 0).toBe(0xcafe0001);
    // Written after the hypercall, to a page the guest had already written before it.
    expect(word(guest, here + 4)).toBe(0x55667788);
    onHostCall = () => {};
  });

  test("after memory.grow, writes on both sides reach the other, in old and new pages", () => {
    const guest = load();
    const oldSize = guest.memoryBytes().byteLength;
    expect(guest.call("grow", [10])).toBe(INITIAL_WASM_PAGES);
    const bytes = guest.memoryBytes();
    expect(bytes.byteLength).toBe(oldSize + 10 * 65536);
    const top = bytes.byteLength - 8;
    guest.call("fill", [oldSize - 2, 0x99, 4]);
    guest.call("store8", [top, 0x11]);
    guest.call("copy", [oldSize + 5 * PAGE, oldSize - 2, 4]);
    expect([...guest.memoryBytes().subarray(oldSize - 2, oldSize + 2)]).toEqual([0x99, 0x99, 0x99, 0x99]);
    expect(guest.memoryBytes()[top]).toBe(0x11);
    expect(guest.memoryBytes()[oldSize + 5 * PAGE + 3]).toBe(0x99);
    guest.memoryBytes()[top + 1] = 0x22;
    guest.memoryBytes()[FAR[1]!] = 0x33;
    expect(guest.call("load8", [top + 1])).toBe(0x22);
    expect(guest.call("load8", [FAR[1]!])).toBe(0x33);
  });

  test("a grow just before a hypercall: the host's view inside it is the grown memory, a new view object", () => {
    const guest = load();
    const before = guest.memoryBytes();
    const size = before.byteLength;
    expect(guest.memoryBytes() === before).toBe(true);
    let inside: Uint8Array = new Uint8Array(0);
    onHostCall = () => {
      inside = guest.memoryBytes();
      inside[inside.byteLength - 1] = 0x5e;
    };
    guest.call("grow_and_ask", [3]);
    onHostCall = () => {};
    expect(inside === before).toBe(false);
    expect(inside.byteLength).toBe(size + 3 * 65536);
    expect(guest.memoryBytes() === inside).toBe(true);
    expect(guest.call("load8", [inside.byteLength - 1])).toBe(0x5e);
  });
});
