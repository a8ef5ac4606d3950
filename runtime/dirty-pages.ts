// Dirty-page tracking for guests in another process (runtime/wasmtime.ts): a
// rewrite of the module's code so that every instruction writing linear
// memory (stores, atomic stores and read-modify-writes, memory.fill,
// memory.copy, memory.init) also sets one byte per 4 KiB page it writes in a
// second memory, exported as DIRTY_PAGES_EXPORT. Whoever runs the guest then
// learns which pages changed by reading a few hundred bytes instead of
// comparing the whole memory with a copy.
//
// A function remembers the page it marked last and skips marking it again,
// until it makes a call: marks are cleared only at crossings to the host,
// which happen inside calls to imports, so after any call it marks afresh.
//
// The guest computes exactly what it did before: the marks go to a memory it
// cannot name, through locals added after its own, and only after the
// address is on the stack (a store's mark comes before the store, so a write
// that traps half-way is still marked; a wrong mark, as when an address wraps
// around before a trap, only costs a page sent for nothing). The bitmap has a
// byte for every page of a 4 GiB memory, so no mark can fall outside it.
//
// Only the instructions the guests here can contain are decoded (the MVP,
// sign extension, saturating conversions, bulk memory, threads, tail calls);
// a module using anything else (SIMD, exceptions, GC, memory64, a second
// memory) is left alone: trackDirtyPages returns null and the caller compares
// memories instead.

export const DIRTY_PAGES_EXPORT = "__xenbus_dirty_pages";
const PAGE_SHIFT = 12;
/** One byte per 4 KiB page of a 4 GiB memory: 1 MiB, 16 Wasm pages. */
const BITMAP_WASM_PAGES = 16;

const I32 = 0x7f;
const I64 = 0x7e;
const F32 = 0x7d;
const F64 = 0x7c;
const VALUE_TYPES = new Set([I32, I64, F32, F64, 0x7b, 0x70, 0x6f]);

/** Plain stores (opcode → bytes written, value type). */
const STORES = new Map<number, [number, number]>([
  [0x36, [4, I32]], [0x37, [8, I64]], [0x38, [4, F32]], [0x39, [8, F64]],
  [0x3a, [1, I32]], [0x3b, [2, I32]], [0x3c, [1, I64]], [0x3d, [2, I64]], [0x3e, [4, I64]],
]);
/** Atomic stores (0xFE 0x17..0x1D) and each read-modify-write group of seven after them share this order. */
const ATOMIC_ORDER: [number, number][] = [[4, I32], [8, I64], [1, I32], [2, I32], [1, I64], [2, I64], [4, I64]];
const ATOMIC_WRITES_FIRST = 0x17;
const ATOMIC_CMPXCHG_FIRST = 0x48;
const ATOMIC_WRITES_LAST = 0x4e;
const BULK_MEMORY_INIT = 8;
const BULK_MEMORY_COPY = 10;
const BULK_MEMORY_FILL = 11;

class Unsupported extends Error {}

class Reader {
  constructor(readonly bytes: Uint8Array, public at = 0) {}

  byte(): number {
    if (this.at >= this.bytes.length) throw new Unsupported("truncated module");
    return this.bytes[this.at++]!;
  }

  /** An unsigned LEB128 (up to 64 bits; large values lose precision, which only offsets beyond 2^53 could). */
  u(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
  }

  /** Skips a signed LEB128. */
  skipLeb(): void {
    while (this.byte() & 0x80);
  }

  skip(count: number): void {
    this.at += count;
  }

  slice(start: number, end = this.at): Uint8Array {
    return this.bytes.subarray(start, end);
  }
}

class Writer {
  private buffer = new Uint8Array(256);
  private used = 0;

  private reserve(count: number): void {
    if (this.used + count <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.used + count));
    grown.set(this.buffer.subarray(0, this.used));
    this.buffer = grown;
  }

  bytes(...values: number[]): this {
    this.reserve(values.length);
    for (const value of values) this.buffer[this.used++] = value;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
    return this;
  }

  u(value: number): this {
    do {
      const low = value % 128;
      value = Math.floor(value / 128);
      this.bytes(value > 0 ? low | 0x80 : low);
    } while (value > 0);
    return this;
  }

  /** A signed LEB128 of an i32. */
  s32(value: number): this {
    value |= 0;
    for (;;) {
      const low = value & 0x7f;
      value >>= 7;
      const done = (value === 0 && (low & 0x40) === 0) || (value === -1 && (low & 0x40) !== 0);
      this.bytes(done ? low : low | 0x80);
      if (done) return this;
    }
  }

  /** `content` as a length-prefixed vector. */
  sized(content: Uint8Array): this {
    return this.u(content.length).raw(content);
  }

  done(): Uint8Array {
    return this.buffer.slice(0, this.used);
  }
}

/** The locals a rewritten function adds after its own, by their offset from the first. */
const ADDED_LOCALS: [number, number][] = [[4, I32], [2, I64], [1, F32], [1, F64], [2, I32]];
const ADDRESS = 0;
const LENGTH = 1;
/** The page this function marked last since it started or last made a call (-1: none), and a page being marked. */
const LAST = 8;
const PAGE_INDEX = 9;
function valueLocal(type: number, index: number): number {
  return { [I32]: 2 + index, [I64]: 4 + index, [F32]: 6, [F64]: 7 }[type]!;
}

/** Emits code marking the pages of the write; `base` is the first added local, `bitmap` the bitmap's memory index. */
class Marks {
  constructor(private readonly out: Writer, private readonly base: number, private readonly bitmap: number) {}

  local(op: number, offset: number): void {
    this.out.bytes(op).u(this.base + offset);
  }

  /** Marks the page of address local + `offset` (i32 arithmetic). */
  page(offset: number): void {
    this.local(0x20, ADDRESS);
    this.out.bytes(0x41).s32(offset).bytes(0x6a); // i32.add
    this.out.bytes(0x41).s32(PAGE_SHIFT).bytes(0x76); // i32.shr_u
    this.local(0x22, PAGE_INDEX);
    this.local(0x20, LAST);
    this.out.bytes(0x47, 0x04, 0x40); // i32.ne; if
    this.local(0x20, PAGE_INDEX);
    this.out.bytes(0x41, 1, 0x3a, 0x40).u(this.bitmap).u(0); // i32.store8 to the bitmap
    this.local(0x20, PAGE_INDEX);
    this.local(0x21, LAST);
    this.out.bytes(0x0b);
  }

  /** Forgets the last page marked: a call may have crossed to the host, which clears the marks. */
  forget(): void {
    this.out.bytes(0x41).s32(-1);
    this.local(0x21, LAST);
  }

  /** Marks the pages of [address, address + length) after a bulk write succeeded (so neither wraps around). */
  range(): void {
    const first = (): void => {
      this.local(0x20, ADDRESS);
      this.out.bytes(0x41).s32(PAGE_SHIFT).bytes(0x76);
    };
    first();
    this.out.bytes(0x41, 1);
    // (address + length - 1 >> 12) - first + 1 pages, or none when length is 0
    this.local(0x20, ADDRESS);
    this.local(0x20, LENGTH);
    this.out.bytes(0x6a, 0x41, 1, 0x6b, 0x41).s32(PAGE_SHIFT).bytes(0x76);
    first();
    this.out.bytes(0x6b, 0x41, 1, 0x6a, 0x41, 0);
    this.local(0x20, LENGTH);
    this.out.bytes(0x1b); // select: the count when length ≠ 0, else 0
    this.out.bytes(0xfc).u(BULK_MEMORY_FILL).u(this.bitmap);
  }
}

function memarg(reader: Reader): { offset: number; start: number } {
  const start = reader.at;
  const flags = reader.u();
  if (flags & 0x40) reader.u();
  return { offset: reader.u(), start };
}

function blockType(reader: Reader): void {
  const first = reader.bytes[reader.at]!;
  if (first === 0x40 || VALUE_TYPES.has(first)) reader.skip(1);
  else reader.skipLeb();
}

/** Rewrites one function body (locals and code); `params` is its parameter count. */
function rewriteBody(body: Uint8Array, params: number, bitmap: number): Uint8Array {
  const reader = new Reader(body);
  const out = new Writer();
  const groups = reader.u();
  let locals = params;
  const declared = new Writer().u(groups + ADDED_LOCALS.length);
  for (let i = 0; i < groups; i++) {
    const count = reader.u();
    const type = reader.byte();
    locals += count;
    declared.u(count).bytes(type);
  }
  for (const [count, type] of ADDED_LOCALS) declared.u(count).bytes(type);
  const marks = new Marks(out, locals, bitmap);
  marks.forget();

  /** Stashes the operands above the address in locals, keeps the address, and puts them back (after `between`). */
  const reorder = (values: number[], between: () => void): void => {
    const slots = values.map((type, index) => valueLocal(type, values.slice(0, index).filter((t) => t === type).length));
    for (let i = slots.length - 1; i >= 0; i--) marks.local(0x21, slots[i]!);
    marks.local(0x22, ADDRESS);
    between();
    for (const slot of slots) marks.local(0x20, slot);
  };
  const store = (op: Uint8Array, width: number, values: number[], offset: number): void => {
    reorder(values, () => {
      marks.page(offset);
      if (width > 1) marks.page(offset + width - 1);
    });
    out.raw(op);
  };
  const bulk = (op: Uint8Array): void => {
    // [destination, source or value, length]: the length and the middle operand go to locals
    marks.local(0x21, LENGTH);
    marks.local(0x21, valueLocal(I32, 0));
    marks.local(0x22, ADDRESS);
    marks.local(0x20, valueLocal(I32, 0));
    marks.local(0x20, LENGTH);
    out.raw(op);
    marks.range();
  };

  while (reader.at < body.length) {
    const start = reader.at;
    const opcode = reader.byte();
    if (STORES.has(opcode)) {
      const { offset } = memarg(reader);
      const [width, type] = STORES.get(opcode)!;
      store(reader.slice(start), width, [type], offset);
      continue;
    }
    if (opcode === 0xfe) {
      const sub = reader.u();
      if (sub === 0x03) {
        reader.skip(1); // atomic.fence
      } else if (sub <= 0x02 || (sub >= 0x10 && sub <= ATOMIC_WRITES_LAST)) {
        const { offset } = memarg(reader);
        if (sub >= ATOMIC_WRITES_FIRST) {
          const [width, type] = ATOMIC_ORDER[(sub - ATOMIC_WRITES_FIRST) % 7]!;
          store(reader.slice(start), width, sub >= ATOMIC_CMPXCHG_FIRST ? [type, type] : [type], offset);
          continue;
        }
      } else {
        throw new Unsupported(`atomic opcode ${sub}`);
      }
      out.raw(reader.slice(start));
      continue;
    }
    if (opcode === 0xfc) {
      const sub = reader.u();
      if (sub === BULK_MEMORY_INIT || sub === BULK_MEMORY_COPY || sub === 12 || sub === 14) {
        reader.u();
        reader.u();
      } else if (sub === 9 || sub === BULK_MEMORY_FILL || (sub >= 13 && sub <= 17)) {
        reader.u();
      } else if (sub > 7) {
        throw new Unsupported(`opcode 0xfc ${sub}`);
      }
      if (sub === BULK_MEMORY_INIT || sub === BULK_MEMORY_COPY || sub === BULK_MEMORY_FILL) bulk(reader.slice(start));
      else out.raw(reader.slice(start));
      continue;
    }
    skipImmediates(reader, opcode);
    out.raw(reader.slice(start));
    if (opcode === 0x10 || opcode === 0x11) marks.forget();
  }
  return new Writer().sized(new Writer().raw(declared.done()).raw(out.done()).done()).done();
}

/** Skips the immediates of an instruction that writes no memory. */
function skipImmediates(reader: Reader, opcode: number): void {
  if (opcode <= 0x01 || opcode === 0x05 || opcode === 0x0b || opcode === 0x0f || opcode === 0x1a || opcode === 0x1b) return;
  if (opcode >= 0x02 && opcode <= 0x04) return blockType(reader);
  if (opcode === 0x0c || opcode === 0x0d || opcode === 0x10 || opcode === 0x12 || opcode === 0xd2) return void reader.u();
  if ((opcode >= 0x20 && opcode <= 0x26) || opcode === 0x3f || opcode === 0x40) return void reader.u();
  if (opcode === 0x0e) {
    const count = reader.u();
    for (let i = 0; i <= count; i++) reader.u();
    return;
  }
  if (opcode === 0x11 || opcode === 0x13) {
    reader.u();
    reader.u();
    return;
  }
  if (opcode === 0x1c) {
    const count = reader.u();
    reader.skip(count);
    return;
  }
  if (opcode >= 0x28 && opcode <= 0x35) return void memarg(reader);
  if (opcode === 0x41 || opcode === 0x42) return reader.skipLeb();
  if (opcode === 0x43) return reader.skip(4);
  if (opcode === 0x44) return reader.skip(8);
  if ((opcode >= 0x45 && opcode <= 0xc4) || opcode === 0xd1) return;
  if (opcode === 0xd0) return reader.skip(1);
  throw new Unsupported(`opcode ${opcode}`);
}

interface Section {
  id: number;
  content: Uint8Array;
}

function sections(wasm: Uint8Array): Section[] {
  const reader = new Reader(wasm, 8);
  const found: Section[] = [];
  while (reader.at < wasm.length) {
    const id = reader.byte();
    const size = reader.u();
    found.push({ id, content: reader.slice(reader.at, reader.at + size) });
    reader.skip(size);
  }
  return found;
}

/** Parameter counts of the module's types; only plain function types are understood. */
function typeParams(content: Uint8Array): number[] {
  const reader = new Reader(content);
  const params: number[] = [];
  for (let i = reader.u(); i > 0; i--) {
    if (reader.byte() !== 0x60) throw new Unsupported("a non-function type");
    const count = reader.u();
    reader.skip(count);
    reader.skip(reader.u());
    params.push(count);
  }
  return params;
}

/** How many memories the module imports. */
function imports(content: Uint8Array): { memories: number } {
  const reader = new Reader(content);
  let memories = 0;
  for (let i = reader.u(); i > 0; i--) {
    reader.skip(reader.u());
    reader.skip(reader.u());
    const kind = reader.byte();
    if (kind === 0x00) {
      reader.u();
    } else if (kind === 0x01) {
      reader.skip(1);
      limits(reader);
    } else if (kind === 0x02) {
      memories++;
      limits(reader);
    } else if (kind === 0x03) {
      reader.skip(2);
    } else {
      throw new Unsupported(`import kind ${kind}`);
    }
  }
  return { memories };
}

function limits(reader: Reader): number {
  const flags = reader.byte();
  if (flags & ~0x03) throw new Unsupported(`memory or table limits ${flags}`);
  reader.u();
  if (flags & 0x01) reader.u();
  return flags;
}

function vectorCount(content: Uint8Array | undefined): number {
  return content ? new Reader(content).u() : 0;
}

/** Appends `entry` to a vector section's content (or starts one). */
function appendEntry(content: Uint8Array | undefined, entry: Uint8Array): Uint8Array {
  const reader = new Reader(content ?? Uint8Array.of(0));
  const count = reader.u();
  return new Writer().u(count + 1).raw(reader.slice(reader.at, reader.bytes.length)).raw(entry).done();
}

/**
 * `wasm` with its writes to memory tracked in an exported bitmap memory (see
 * the top of this file), or null when the module has no memory of its own or
 * uses what the rewrite does not understand.
 */
export function trackDirtyPages(wasm: Uint8Array): Uint8Array | null {
  try {
    return rewrite(wasm);
  } catch (error) {
    if (error instanceof Unsupported) return null;
    throw error;
  }
}

function rewrite(wasm: Uint8Array): Uint8Array | null {
  const all = sections(wasm);
  const content = (id: number): Uint8Array | undefined => all.find((section) => section.id === id)?.content;
  const imported = content(2) ? imports(content(2)!) : { memories: 0 };
  const memorySection = content(5);
  // A memory nobody else can see needs no tracking; a module exporting its memory has an export section.
  if (imported.memories > 0 || vectorCount(memorySection) !== 1 || !content(7)) return null;
  const memoryReader = new Reader(memorySection!);
  memoryReader.u();
  if (limits(memoryReader) & 0x02) return null; // shared: another thread could write it
  const bitmap = 1;

  const params = content(1) ? typeParams(content(1)!) : [];
  const functionTypes = new Reader(content(3) ?? Uint8Array.of(0));
  const code = new Reader(content(10) ?? Uint8Array.of(0));
  const bodies = code.u();
  if (functionTypes.u() !== bodies) throw new Unsupported("function and code sections disagree");
  const newCode = new Writer().u(bodies);
  for (let i = 0; i < bodies; i++) {
    const size = code.u();
    newCode.raw(rewriteBody(code.slice(code.at, code.at + size), params[functionTypes.u()]!, bitmap));
    code.skip(size);
  }

  const name = new TextEncoder().encode(DIRTY_PAGES_EXPORT);
  const replaced = new Map<number, Uint8Array>([
    [5, appendEntry(memorySection, new Writer().bytes(0x00).u(BITMAP_WASM_PAGES).done())],
    [7, appendEntry(content(7), new Writer().sized(name).bytes(0x02).u(bitmap).done())],
    [10, newCode.done()],
  ]);
  const out = new Writer().raw(wasm.subarray(0, 8));
  for (const section of all) {
    out.bytes(section.id).sized(replaced.get(section.id) ?? section.content);
  }
  return out.done();
}
