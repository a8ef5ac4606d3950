// Guest memory as the hypervisor sees it. The engine's view of a Wasm guest's
// linear memory is replaced (a new object) when memory.grow replaces the
// memory, so views derived from it are kept only until the source gives
// another. Struct access is bounds-checked up front, as Xen's
// copy_from_guest is: a struct that does not fit is a fault (-EFAULT).
import { PAGE_SIZE, type StructLayout } from "./abi.js";

export class GuestMemory {
  private view: Uint8Array = new Uint8Array(0);
  /** Views of single pages of `view`, by frame, made on first use. */
  private pages: (Uint8Array | undefined)[] = [];

  /** `source`: a native domain's own bytes, or how to get a Wasm guest's current view of its linear memory. */
  constructor(private readonly source: Uint8Array | (() => Uint8Array)) {}

  /** The whole memory, as a view valid until the guest next runs. */
  bytes(): Uint8Array {
    const view = typeof this.source === "function" ? this.source() : this.source;
    if (view !== this.view) {
      this.view = view;
      this.pages = [];
    }
    return view;
  }

  get size(): number {
    return this.bytes().byteLength;
  }

  /** Whether [address, address + length) lies inside memory (non-negative integers only). */
  contains(address: number, length: number): boolean {
    return (
      Number.isSafeInteger(address) &&
      Number.isSafeInteger(length) &&
      address >= 0 &&
      length >= 0 &&
      address + length <= this.size
    );
  }

  /** The page at guest frame `gfn`, or null when it is not inside memory. */
  page(gfn: number): Uint8Array | null {
    const address = gfn * PAGE_SIZE;
    if (!this.contains(address, PAGE_SIZE)) return null;
    const bytes = this.bytes();
    return (this.pages[gfn] ??= bytes.subarray(address, address + PAGE_SIZE));
  }

  /** A struct at `address`, or null (a fault) when it does not fit inside memory. */
  struct<F extends string>(address: number, layout: StructLayout<F>): StructView<F> | null {
    if (!this.contains(address, layout.sizeof)) return null;
    const bytes = this.bytes();
    return new StructView(new DataView(bytes.buffer, bytes.byteOffset + address, layout.sizeof), layout.fields);
  }

  /** An array of `count` elements of `size` bytes at `address`, or null when it does not fit. */
  array(address: number, count: number, size: number): DataView | null {
    if (!this.contains(address, count * size)) return null;
    const bytes = this.bytes();
    return new DataView(bytes.buffer, bytes.byteOffset + address, count * size);
  }
}

/** Typed, little-endian access to one struct's named fields. */
export class StructView<F extends string> {
  constructor(
    private readonly view: DataView,
    private readonly fields: Record<F, number>,
  ) {}

  u8(field: F): number {
    return this.view.getUint8(this.fields[field]);
  }
  u16(field: F): number {
    return this.view.getUint16(this.fields[field], true);
  }
  i16(field: F): number {
    return this.view.getInt16(this.fields[field], true);
  }
  u32(field: F): number {
    return this.view.getUint32(this.fields[field], true);
  }
  i32(field: F): number {
    return this.view.getInt32(this.fields[field], true);
  }
  u64(field: F): bigint {
    return this.view.getBigUint64(this.fields[field], true);
  }
  setU16(field: F, value: number): void {
    this.view.setUint16(this.fields[field], value, true);
  }
  setI16(field: F, value: number): void {
    this.view.setInt16(this.fields[field], value, true);
  }
  setU32(field: F, value: number): void {
    this.view.setUint32(this.fields[field], value, true);
  }
  setI32(field: F, value: number): void {
    this.view.setInt32(this.fields[field], value, true);
  }
  setU64(field: F, value: bigint): void {
    this.view.setBigUint64(this.fields[field], BigInt.asUintN(64, value), true);
  }
}

/** A u64 guest value as an address or frame number; anything beyond 2^53 can never be inside memory. */
export function toAddress(value: bigint): number {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : Number.MAX_SAFE_INTEGER;
}

/** A page as a mapping holds it: its content wherever it lives now. */
export interface Frame {
  bytes(): Uint8Array;
  /** The gfn it is at now; null once it sits in no guest memory. */
  readonly gfn: number | null;
}

/** A page of a Wasm memory itself: it stays at its gfn (a Wasm memory cannot remap its pages). */
export class MemoryFrame implements Frame {
  constructor(
    private readonly memory: GuestMemory,
    readonly gfn: number,
  ) {}

  bytes(): Uint8Array {
    return this.memory.page(this.gfn)!;
  }
}

/**
 * A page that is not the Wasm memory's own: Xen's (shared_info, a
 * grant-table frame), or one the toolstack populated beyond the memory (the
 * store and console pages). It lives in a hypervisor buffer until it is
 * placed inside the guest's memory (XENMEM_add_to_physmap); from then on its
 * content is the guest's page at that frame, which both sides read and write
 * live. Placed at a gfn beyond the memory, it keeps its content in the buffer.
 */
export class XenPage implements Frame {
  private readonly buffer = new Uint8Array(PAGE_SIZE);
  private placement: { memory: GuestMemory; gfn: number } | null = null;

  /** The page's content where it currently lives. */
  bytes(): Uint8Array {
    return this.placement?.memory.page(this.placement.gfn) ?? this.buffer;
  }

  get gfn(): number | null {
    return this.placement?.gfn ?? null;
  }

  /** Places the page at `gfn` of `memory`, carrying its content along. The caller checked the frame exists. */
  place(memory: GuestMemory, gfn: number): void {
    const content = this.bytes().slice();
    this.placement = { memory, gfn };
    this.bytes().set(content);
  }

  /** Takes the page out of guest memory (another page was placed over it); its content moves back to the buffer. */
  unplace(): void {
    this.buffer.set(this.bytes());
    this.placement = null;
  }

  get view(): DataView {
    const bytes = this.bytes();
    return new DataView(bytes.buffer, bytes.byteOffset, PAGE_SIZE);
  }
}
