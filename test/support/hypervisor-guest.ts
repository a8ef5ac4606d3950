// A tiny hand-written guest for the hypervisor tests: every hypercall is
// exported as-is (hc_*), and the upcall is scripted through memory so a test
// decides what it does. Compiled once from WAT with binaryen.
import binaryen from "binaryen";
import type { WasmDomain } from "../../host/xen/domain.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import { type Engine, type Guest, loadGuest } from "../../runtime/index.js";

/** Memory words the upcall reads (all i32). */
export const UPCALL_COUNT = 0x100; // incremented on each upcall
export const UPCALL_CLEAR_AT = 0x104; // if not 0 (shared_info's address): the upcall clears vcpu0's upcall flag, selector and ports 0-63
export const UPCALL_SEND_PORT = 0x108; // if not 0: the upcall sends on this port
export const UPCALL_SEND_ARG = 0x10c; // where the upcall builds its evtchn_send
/** Scratch memory for hypercall structs. */
export const SCRATCH = 0x1000;
export const WASM_PAGES = 4; // 256 KiB: 64 Xen pages

const WAT = `
(module
  (import "xen" "event_channel_op" (func $evtchn (param i32 i32) (result i32)))
  (import "xen" "grant_table_op" (func $gnttab (param i32 i32 i32) (result i32)))
  (import "xen" "memory_op" (func $memory (param i32 i32) (result i32)))
  (import "xen" "hvm_op" (func $hvm (param i32 i32) (result i32)))
  (import "xen" "sched_op" (func $sched (param i32 i32) (result i32)))
  (import "xen" "console_io" (func $console (param i32 i32 i32) (result i32)))
  (import "xen" "xen_version" (func $version (param i32 i32) (result i32)))
  (memory (export "memory") ${WASM_PAGES})
  (func (export "hc_evtchn") (param i32 i32) (result i32) (call $evtchn (local.get 0) (local.get 1)))
  (func (export "hc_gnttab") (param i32 i32 i32) (result i32) (call $gnttab (local.get 0) (local.get 1) (local.get 2)))
  (func (export "hc_memory") (param i32 i32) (result i32) (call $memory (local.get 0) (local.get 1)))
  (func (export "hc_hvm") (param i32 i32) (result i32) (call $hvm (local.get 0) (local.get 1)))
  (func (export "hc_sched") (param i32 i32) (result i32) (call $sched (local.get 0) (local.get 1)))
  (func (export "hc_console") (param i32 i32 i32) (result i32) (call $console (local.get 0) (local.get 1) (local.get 2)))
  (func (export "hc_version") (param i32 i32) (result i32) (call $version (local.get 0) (local.get 1)))
  (func (export "xen_upcall")
    (i32.store (i32.const ${UPCALL_COUNT}) (i32.add (i32.load (i32.const ${UPCALL_COUNT})) (i32.const 1)))
    (if (i32.load (i32.const ${UPCALL_CLEAR_AT}))
      (then
        (i32.store8 (i32.load (i32.const ${UPCALL_CLEAR_AT})) (i32.const 0))
        (i64.store offset=8 (i32.load (i32.const ${UPCALL_CLEAR_AT})) (i64.const 0))
        (i64.store offset=2048 (i32.load (i32.const ${UPCALL_CLEAR_AT})) (i64.const 0))))
    (if (i32.load (i32.const ${UPCALL_SEND_PORT}))
      (then
        (i32.store (i32.const ${UPCALL_SEND_ARG}) (i32.load (i32.const ${UPCALL_SEND_PORT})))
        (drop (call $evtchn (i32.const 4) (i32.const ${UPCALL_SEND_ARG}))))))
  ;; Blocks until the i32 at addr is not 0; returns how many blocks it took.
  (func (export "wait_word") (param $addr i32) (result i32) (local $n i32)
    (block $done
      (loop $again
        (br_if $done (i32.load (local.get $addr)))
        (drop (call $sched (i32.const 1) (i32.const 0)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $again)))
    (local.get $n))
  ;; Yields n times.
  (func (export "yield_n") (param $n i32) (result i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (drop (call $sched (i32.const 0) (i32.const 0)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))
    (i32.const 0))
  (func (export "store_byte") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "load_byte") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "trap") (unreachable))
)`;

let binary: Uint8Array | null = null;

export function testGuestBinary(): Uint8Array {
  if (!binary) {
    const module = binaryen.parseText(WAT);
    if (!module.validate()) throw new Error("test guest does not validate");
    binary = module.emitBinary();
    module.dispose();
  }
  return binary;
}

export interface TestExports {
  hc_evtchn(cmd: number, arg: number): number;
  hc_gnttab(cmd: number, uop: number, count: number): number;
  hc_memory(cmd: number, arg: number): number;
  hc_hvm(cmd: number, arg: number): number;
  hc_sched(cmd: number, arg: number): number;
  hc_console(cmd: number, count: number, buf: number): number;
  hc_version(cmd: number, arg: number): number;
  xen_upcall(): void;
  wait_word(addr: number): number;
  yield_n(n: number): number;
  store_byte(addr: number, value: number): void;
  load_byte(addr: number): number;
  grow(pages: number): number;
  trap(): void;
}

export type TestGuest = Guest<TestExports, WasmDomain>;

/** Loads the test guest as a new domain, in V8 unless `engine` says otherwise. */
export function loadTestGuest(hv: Hypervisor, name: string, engine?: Engine): TestGuest {
  return loadGuest<TestExports, WasmDomain>(hv, testGuestBinary(), { name, engine });
}

/** Little-endian struct writing/reading in a guest's memory (a fresh view each call). */
export function view(guest: TestGuest): DataView {
  const bytes = guest.memory();
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
