// The wasmtime adapter (runtime/wasmtime.ts): guests in this process through
// wasmtime's C API. What crosses the C boundary is checked here: a host
// function's exception comes back as itself, traps as GuestTrap with
// wasmtime's words, stack exhaustion (also nested inside another guest's
// hypercall) as a trap and never a crash; guests are released (their linear
// memory unmapped) when their domain is destroyed or when they are collected; a library that is missing or
// is not wasmtime's is one clear error; a path with spaces and non-ASCII works.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binaryen from "binaryen";
import { afterAll, describe, expect, test } from "vitest";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { bootXenbus, xenbusWasm } from "../../runtime/boot.js";
import { GuestTrap, type HostFunction } from "../../runtime/engine.js";
import { wasmtimeEngine } from "../../runtime/wasmtime.js";
import { wasmtimeLibrary } from "../../tools/wasmtime.js";
import { collectGarbage } from "../support/memory.js";
import { peer } from "../support/peer.js";

const library = peer("wasmtime", wasmtimeLibrary);
const GUESTS = 60;
const GiB = 1024 ** 3;

const GUEST = `(module
  (import "xen" "host_call" (func $host_call (param i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "answer") i32 (i32.const 42))
  (func (export "ask") (param $x i32) (result i32) (call $host_call (local.get $x)))
  (func (export "trap") (unreachable))
  (func $recurse (export "recurse") (param $n i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
  (func (export "divide") (param $a i32) (param $b i32) (result i32) (i32.div_s (local.get $a) (local.get $b)))
  (func (export "sum64") (param $a i64) (param $b i64) (result i64) (i64.add (local.get $a) (local.get $b)))
)`;

function assemble(text: string): Uint8Array {
  const module = binaryen.parseText(text);
  if (!module.validate()) throw new Error("invalid test module");
  const wasm = module.emitBinary();
  module.dispose();
  return wasm;
}

const guestWasm = assemble(GUEST);

/**
 * This process's mapped address space, in bytes: a guest's linear memory is a
 * reservation of several GiB (wasmtime's guard regions), mapped while its
 * store lives, so live guests show here whatever pages they touched.
 */
function mappedBytes(): number {
  const line = readFileSync("/proc/self/status", "utf8").match(/^VmSize:\s+(\d+) kB$/m);
  if (!line) throw new Error("no VmSize");
  return Number(line[1]) * 1024;
}

describe.skipIf(!library)("wasmtime in this process", () => {
  const engine = wasmtimeEngine(library);
  const load = (hostCall: HostFunction) =>
    engine.instantiate(guestWasm, { xen: { host_call: hostCall } }, "test-guest");

  test("calls, arguments and results as the WebAssembly JS API converts them; globals and export names", () => {
    const guest = load((x) => x * 2);
    expect(guest.call("ask", [21])).toBe(42);
    expect(guest.call("ask", [2 ** 32 + 5])).toBe(10);
    expect(guest.call("sum64", [2n ** 40n, -1n])).toBe(2 ** 40 - 1);
    expect(guest.global("answer")).toBe(42);
    expect(guest.exportNames()).toEqual(["memory", "answer", "ask", "trap", "recurse", "divide", "sum64"]);
    expect(() => guest.call("nothing", [])).toThrow("the module exports no function nothing");
    expect(() => guest.global("ask")).toThrow("the module exports no global ask");
    guest.dispose();
  });

  test("a module whose import is not given, or does not compile, fails to instantiate in one clear error, holding nothing", () => {
    const before = engine.guestCount;
    expect(() => engine.instantiate(guestWasm, { xen: {} })).toThrow(
      "wasmtime could not instantiate the module: no import xen.host_call",
    );
    expect(() => engine.instantiate(Uint8Array.of(0, 0x61, 0x73, 0x6d, 2, 0, 0, 0), { xen: {} })).toThrow(
      /^wasmtime could not compile the module: /,
    );
    expect(engine.guestCount).toBe(before);
  });

  test("an exception thrown by a host function comes back as itself, and the guest is still usable", () => {
    const original = new RangeError("from the host");
    let throwIt = true;
    const guest = load((x) => {
      if (throwIt) throw original;
      return x + 1;
    });
    let caught: unknown;
    try {
      guest.call("ask", [1]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBe(original);
    throwIt = false;
    expect(guest.call("ask", [1])).toBe(2);
    guest.dispose();
  });

  test("a trap is GuestTrap with wasmtime's cause", () => {
    const guest = load(() => 0);
    expect(() => guest.call("trap", [])).toThrow(GuestTrap);
    expect(() => guest.call("trap", [])).toThrow(/unreachable/);
    expect(() => guest.call("divide", [1, 0])).toThrow(/divide by zero/);
    expect(guest.call("divide", [7, 2])).toBe(3);
    guest.dispose();
  });

  test("stack exhaustion traps, also in a guest called from another guest's hypercall, several deep", () => {
    const guest = load(() => 0);
    expect(() => guest.call("recurse", [0])).toThrow(/call stack exhausted/);
    // Each nested guest recurses to its own limit inside the hypercall of the one before.
    let depth = 0;
    const nested: HostFunction = () => {
      const inner = load(depth++ < 4 ? nested : () => 0);
      try {
        expect(() => inner.call("recurse", [0])).toThrow(/call stack exhausted/);
        return inner.call("ask", [0])!;
      } finally {
        inner.dispose();
      }
    };
    const outer = load(nested);
    expect(outer.call("ask", [0])).toBe(0);
    expect(depth).toBe(5);
    outer.dispose();
    guest.dispose();
  });

  test("a disposed instance throws a clear error, keeps its last memory contents, and leaves the engine's count", () => {
    const before = engine.guestCount;
    const instance = load(() => 0);
    instance.memoryBytes()[100] = 7;
    expect(engine.guestCount).toBe(before + 1);
    instance.dispose();
    instance.dispose();
    expect(engine.guestCount).toBe(before);
    expect(instance.memoryBytes()[100]).toBe(7);
    expect(() => instance.call("ask", [1])).toThrow("test-guest was disposed; cannot use ask");
    expect(() => instance.global("answer")).toThrow("test-guest was disposed; cannot use answer");
  });
});

describe.skipIf(!library)("wasmtime releases guests", () => {
  test(`destroying ${GUESTS} domains frees their guests; live guests do cost memory`, async () => {
    const engine = wasmtimeEngine(library);
    const hv = new Hypervisor();
    const boot = (name: string) => bootXenbus(hv, name, engine);
    // Warm up (the module compiled, the allocator's pools made), so the baseline is the steady state.
    for (let i = 0; i < 5; i++) hv.destroyDomain(boot(`warm-${i}`).domid);
    const count = engine.guestCount;
    await collectGarbage();
    const baseline = mappedBytes();

    // The measure can tell: guests kept alive grow the process.
    const live = Array.from({ length: 20 }, (_, i) => boot(`live-${i}`));
    const liveGrowth = mappedBytes() - baseline;
    expect(engine.guestCount).toBe(count + 20);
    expect(liveGrowth).toBeGreaterThan(20 * GiB);
    for (const guest of live) hv.destroyDomain(guest.domid);

    for (let i = 0; i < GUESTS; i++) hv.destroyDomain(boot(`guest-${i}`).domid);
    expect(engine.guestCount).toBe(count);
    await collectGarbage();
    const growth = mappedBytes() - baseline;
    console.log(
      `wasmtime: +${(liveGrowth / GiB).toFixed(1)} GiB mapped with 20 live guests; +${(growth / GiB).toFixed(1)} GiB after ${GUESTS + 20} destroyed`,
    );
    expect(growth).toBeLessThan(liveGrowth / 2);
    // A destroyed guest's exports say so; the engine serves the others.
    const guest = boot("destroyed");
    hv.destroyDomain(guest.domid);
    expect(() => guest.exports.xen_boot()).toThrow(/has exited \(destroyed\); cannot call xen_boot/);
    expect(boot("other").exports.xen_boot()).toBe(0);
  });

  test(`the guests of ${GUESTS} dropped hypervisors are freed when collected`, async () => {
    const engine = wasmtimeEngine(library);
    const bootAndDrop = (name: string): void => {
      bootXenbus(new Hypervisor(), name, engine);
    };
    for (let i = 0; i < 5; i++) bootAndDrop(`warm-${i}`);
    await collectGarbage();
    const count = engine.guestCount;
    const baseline = mappedBytes();
    for (let i = 0; i < GUESTS; i++) bootAndDrop(`guest-${i}`);
    expect(engine.guestCount).toBe(count + GUESTS);
    expect(mappedBytes() - baseline).toBeGreaterThan(GUESTS * GiB);
    await collectGarbage();
    expect(engine.guestCount).toBeLessThanOrEqual(count);
    const growth = mappedBytes() - baseline;
    console.log(`wasmtime: +${(growth / GiB).toFixed(1)} GiB mapped after ${GUESTS} hypervisors dropped and collected`);
    expect(growth).toBeLessThan(4 * GiB);
  });
});

describe.skipIf(!library)("finding the library", () => {
  const dir = mkdtempSync(join(tmpdir(), "xenbus wasmtime ü "));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const instantiate = (path?: string) => wasmtimeEngine(path).instantiate(xenbusWasm, { xen: {} });

  test("a library at a path with spaces and non-ASCII characters works", () => {
    const path = join(dir, "wasm time é", "_libwasmtime.so");
    execFileSync("mkdir", ["-p", join(dir, "wasm time é")]);
    symlinkSync(library!, path);
    const guest = wasmtimeEngine(path).instantiate(guestWasm, { xen: { host_call: (x) => x + 1 } });
    expect(guest.call("ask", [1])).toBe(2);
    guest.dispose();
  });

  test("a missing library, a file that is no library and a library that is not wasmtime's are one clear error each, naming the path", () => {
    const missing = join(dir, "missing.so");
    expect(() => instantiate(missing)).toThrow(
      new RegExp(
        `^wasmtime engine: cannot use ${missing} \\(given to wasmtimeEngine\\(\\)\\): .+; give wasmtimeEngine\\(\\) or \\$XENBUS_WASM_WASMTIME the _libwasmtime.so`,
      ),
    );
    const text = join(dir, "text.so");
    writeFileSync(text, "not a library\n");
    expect(() => instantiate(text)).toThrow(`wasmtime engine: cannot use ${text} (given to wasmtimeEngine()): `);
    const libc = execFileSync("sh", ["-c", "ldd /bin/sh | awk '/libc.so/ { print $3 }'"]).toString().trim();
    expect(() => instantiate(libc)).toThrow(
      `wasmtime engine: cannot use ${libc} (given to wasmtimeEngine()): not wasmtime's C API library`,
    );
    for (const path of [missing, text, libc]) {
      try {
        instantiate(path);
      } catch (error) {
        expect((error as Error).message).not.toContain("\n");
      }
    }
  });

  test("without an argument, $XENBUS_WASM_WASMTIME names the library", () => {
    const missing = join(dir, "from the environment.so");
    process.env.XENBUS_WASM_WASMTIME = missing;
    try {
      expect(() => instantiate()).toThrow(`wasmtime engine: cannot use ${missing} ($XENBUS_WASM_WASMTIME): `);
      process.env.XENBUS_WASM_WASMTIME = library;
      expect(
        wasmtimeEngine()
          .instantiate(guestWasm, { xen: { host_call: (x) => x } })
          .call("ask", [3]),
      ).toBe(3);
    } finally {
      delete process.env.XENBUS_WASM_WASMTIME;
    }
  });
});
