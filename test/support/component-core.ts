// A host for the component's core module (build/xenstore-client.core.wasm)
// written against the canonical ABI independently of jco: arguments are
// allocated with the module's cabi_realloc and laid out by hand, results are
// read from the return area and checked strictly (discriminants and enum
// cases in range, pointers aligned and inside memory, strings valid UTF-8)
// before cabi_post_ frees them. Tests use it to see the ABI itself.
import { readFileSync } from "node:fs";
import type { ByteStream } from "../../runtime/component.js";
import { StreamError } from "../../runtime/component.js";

export const CLIENT = "xenbus-wasm:xenstore/client@0.1.0";
export const TRANSPORT = "xenbus-wasm:xenstore/transport@0.1.0";

export const XS_ERRORS = [
  "einval",
  "eacces",
  "eexist",
  "eisdir",
  "enoent",
  "enomem",
  "enospc",
  "eio",
  "enotempty",
  "enosys",
  "erofs",
  "ebusy",
  "eagain",
  "eisconn",
  "e2big",
  "eperm",
  "ebadmsg",
  "erange",
] as const;
export type XsErrorCase = (typeof XS_ERRORS)[number];
export const ACCESS = ["none", "read", "write", "both"] as const;

export const coreModule = new WebAssembly.Module(
  readFileSync(new URL("../../build/xenstore-client.core.wasm", import.meta.url)),
);

/** A result as the host sees it: the value, or the xs-error case. */
export type Result<T> = { ok: T } | { err: XsErrorCase };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const STREAM_ERRORS = { closed: 0, io: 1 } as const;

type Export = (...args: number[]) => number;

export class CoreClient {
  readonly instance: WebAssembly.Instance;
  /** Results cabi_post_ was called for, by export. */
  readonly posted = new Map<string, number>();

  constructor(stream: ByteStream) {
    const transport = {
      send: (at: number, length: number, result: number) => {
        const bytes = this.bytes().slice(at, at + length);
        this.storeStreamResult(result, 1, () => stream.send(bytes));
      },
      recv: (max: number, result: number) => {
        this.storeStreamResult(result, 4, () => {
          const bytes = stream.recv(max);
          const at = this.alloc(bytes, 1);
          this.view().setUint32(result + 4, at, true);
          this.view().setUint32(result + 8, bytes.length, true);
        });
      },
    };
    this.instance = new WebAssembly.Instance(coreModule, { [TRANSPORT]: transport });
  }

  get memory(): WebAssembly.Memory {
    return this.instance.exports.memory as WebAssembly.Memory;
  }

  bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  view(): DataView {
    return new DataView(this.memory.buffer);
  }

  exported(name: string): Export {
    const fn = this.instance.exports[name];
    if (typeof fn !== "function") throw new Error(`no export ${name}`);
    return fn as Export;
  }

  realloc(old: number, oldSize: number, align: number, size: number): number {
    return this.exported("cabi_realloc")(old, oldSize, align, size) >>> 0;
  }

  /** Copies `bytes` into a fresh block from cabi_realloc, as a host lowers a list or string. */
  alloc(bytes: Uint8Array, align: number): number {
    const at = this.realloc(0, 0, align, bytes.length);
    this.bytes().set(bytes, at);
    return at;
  }

  string(text: string): [number, number] {
    const bytes = new TextEncoder().encode(text);
    return [this.alloc(bytes, 1), bytes.length];
  }

  /** Calls client function `name` (WIT name) with flat `args`; the return area it gave. */
  call(name: string, ...args: number[]): number {
    return this.exported(`${CLIENT}#${name}`)(...args) >>> 0;
  }

  /** Runs `name`'s cabi_post_ (when it has one) on the return area `area`. */
  post(name: string, area: number): void {
    const post = this.instance.exports[`cabi_post_${CLIENT}#${name}`];
    if (typeof post !== "function") return;
    (post as Export)(area);
    this.posted.set(name, (this.posted.get(name) ?? 0) + 1);
  }

  // The client's functions, lowered and lifted by hand.

  read(tx: number, path: string): Result<Uint8Array> {
    return this.listResult("read", this.call("read", tx, ...this.string(path)), 1, 1, (at, count) =>
      this.bytes().slice(at, at + count),
    );
  }

  write(tx: number, path: string, value: Uint8Array): Result<null> {
    return this.unitResult(this.call("write", tx, ...this.string(path), this.alloc(value, 1), value.length));
  }

  mkdir(tx: number, path: string): Result<null> {
    return this.unitResult(this.call("mkdir", tx, ...this.string(path)));
  }

  rm(tx: number, path: string): Result<null> {
    return this.unitResult(this.call("rm", tx, ...this.string(path)));
  }

  directory(tx: number, path: string): Result<string[]> {
    return this.listResult("directory", this.call("directory", tx, ...this.string(path)), 8, 4, (at, count) =>
      Array.from({ length: count }, (_, i) => this.liftString(at + 8 * i)),
    );
  }

  getPerms(tx: number, path: string): Result<{ domid: number; access: string }[]> {
    return this.listResult("get-perms", this.call("get-perms", tx, ...this.string(path)), 8, 4, (at, count) =>
      Array.from({ length: count }, (_, i) => ({
        domid: this.view().getUint32(at + 8 * i, true),
        access: this.liftEnum(at + 8 * i + 4, ACCESS),
      })),
    );
  }

  setPerms(tx: number, path: string, perms: { domid: number; access: number }[]): Result<null> {
    const records = new Uint8Array(8 * perms.length);
    const view = new DataView(records.buffer);
    perms.forEach((perm, i) => {
      view.setUint32(8 * i, perm.domid, true);
      view.setUint8(8 * i + 4, perm.access);
    });
    return this.unitResult(this.call("set-perms", tx, ...this.string(path), this.alloc(records, 4), perms.length));
  }

  watch(path: string, token: string): Result<null> {
    return this.unitResult(this.call("watch", ...this.string(path), ...this.string(token)));
  }

  unwatch(path: string, token: string): Result<null> {
    return this.unitResult(this.call("unwatch", ...this.string(path), ...this.string(token)));
  }

  nextEvent(): Result<{ path: string; token: string }> {
    const area = this.call("next-event");
    return this.payloadResult("next-event", area, () => ({
      path: this.liftString(area + 4),
      token: this.liftString(area + 12),
    }));
  }

  transactionStart(): Result<number> {
    const area = this.call("transaction-start");
    return this.payloadResult("transaction-start", area, () => this.view().getUint32(area + 4, true));
  }

  transactionEnd(tx: number, commit: boolean): Result<null> {
    return this.unitResult(this.call("transaction-end", tx, commit ? 1 : 0));
  }

  getDomainPath(domid: number): Result<string> {
    const area = this.call("get-domain-path", domid);
    return this.payloadResult("get-domain-path", area, () => this.liftString(area + 4));
  }

  // Lifting, strictly.

  private storeStreamResult(result: number, errorOffset: number, run: () => void): void {
    try {
      run();
      this.view().setUint8(result, 0);
    } catch (error) {
      if (!(error instanceof StreamError)) throw error;
      this.view().setUint8(result, 1);
      this.view().setUint8(result + errorOffset, STREAM_ERRORS[error.kind]);
    }
  }

  private checkArea(area: number, size: number): void {
    if (area % 4 !== 0 || area + size > this.memory.buffer.byteLength)
      throw new Error(`return area ${area} misaligned or outside memory`);
  }

  private liftEnum<T extends readonly string[]>(at: number, cases: T): T[number] {
    const value = this.view().getUint8(at);
    const name = cases[value];
    if (name === undefined) throw new Error(`enum case ${value} out of range`);
    return name;
  }

  private liftDiscriminant(at: number): boolean {
    const value = this.view().getUint8(at);
    if (value > 1) throw new Error(`result discriminant ${value}`);
    return value === 1;
  }

  private checkSlice(at: number, count: number, size: number, align: number): void {
    if (at % align !== 0 || at + count * size > this.memory.buffer.byteLength)
      throw new Error(`list at ${at} (${count} × ${size} bytes) misaligned or outside memory`);
  }

  /** A string's (pointer, length) at `at`, decoded as strict UTF-8. */
  liftString(at: number): string {
    const pointer = this.view().getUint32(at, true);
    const length = this.view().getUint32(at + 4, true);
    this.checkSlice(pointer, length, 1, 1);
    return strictUtf8.decode(this.bytes().subarray(pointer, pointer + length));
  }

  private unitResult(area: number): Result<null> {
    this.checkArea(area, 2);
    return this.liftDiscriminant(area) ? { err: this.liftEnum(area + 1, XS_ERRORS) } : { ok: null };
  }

  private payloadResult<T>(name: string, area: number, lift: () => T): Result<T> {
    this.checkArea(area, 20);
    const result: Result<T> = this.liftDiscriminant(area)
      ? { err: this.liftEnum(area + 4, XS_ERRORS) }
      : { ok: lift() };
    this.post(name, area);
    return result;
  }

  private listResult<T>(
    name: string,
    area: number,
    size: number,
    align: number,
    lift: (at: number, count: number) => T,
  ): Result<T> {
    return this.payloadResult(name, area, () => {
      const at = this.view().getUint32(area + 4, true);
      const count = this.view().getUint32(area + 8, true);
      this.checkSlice(at, count, size, align);
      return lift(at, count);
    });
  }
}
