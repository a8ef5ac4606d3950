// Publishing a ring index (or arming an event index) is a store followed by a
// full barrier before the next load: the peer sees the data before the index,
// and we look at the peer's indices only once ours is out. That is Linux's
// virt_store_mb, an xchg on x86. Wasm's sequentially consistent store orders
// as much, but Cranelift (wasmtime) compiles it as a store and an mfence,
// about three times the cost of the xchg V8 emits; an atomic exchange is
// ordered the same and is one xchg in V8, Cranelift and wasm2c's gcc output.
// (On Arm64 an exchange costs more than a store-release; we run on x86 Xen.)

/** Stores `value` at `at`, ordered before every later load and store. */
export function storeMb(at: usize, value: u32): void {
  atomic.xchg<u32>(at, value);
}
