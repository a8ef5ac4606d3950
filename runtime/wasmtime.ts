// The wasmtime engine adapter: guests run in wasmtime (its official Python
// embedding, runtime/wasmtime_host.py) in one child process per engine, while
// the hypervisor stays in this process and synchronous.
//
// Control passes back and forth over two FIFOs with blocking reads and writes
// (fs.readSync/writeSync), so the two processes form one call stack: a call
// into the guest is a message to the child, and this process then serves the
// guest's hypercalls (each a message, answered by calling the import) until
// the call's result arrives. Nested runs (an upcall of another guest during a
// hypercall) are nested messages in the same way.
//
// Guest memory: this process keeps a mirror of each guest's linear memory,
// which is what the hypervisor, GuestMemory and page coherence see. At every
// crossing (call, hypercall, reply, return) the side giving up control sends
// the pages that changed since the last crossing, so both copies are equal
// whenever either side runs:
// - the child learns the guest's writes from the module itself: before it is
//   sent, the module is rewritten (runtime/dirty-pages.ts) so that every
//   store, atomic write, memory.fill, memory.copy and memory.init also marks
//   its pages in a bitmap memory; the child sends the marked pages and clears
//   the marks, reading a byte per page instead of the whole memory. Pages it
//   receives from here are not marked, so they do not come back. A module the
//   rewrite cannot read runs unchanged and is compared with a shadow copy;
// - this process finds its own writes (the hypervisor's, tests writing
//   arguments through any view) by comparing the mirror with a shadow copy of
//   what the child has, a chunk of pages at a time.
// When the guest's memory grows the mirror is replaced and the old buffer
// detached, as memory.grow does in V8.
//
// Releasing guests: the child holds each guest's store (its linear memory)
// until told to drop it. dispose() does that at once (runtime/guest.ts calls
// it when the domain is destroyed). A guest nobody can reach any more (its
// hypervisor was dropped, as tests do) is dropped when it is garbage
// collected: this process's table of guests holds them weakly (a strong
// entry would keep the guest, its imports and through them its hypervisor
// alive for good), and a FinalizationRegistry sends the drop. Finalizers run
// between jobs, never inside a call, so the drop never interleaves with one;
// the flip side is that a synchronous loop booting guests frees none of them
// before it returns unless it destroys their domains.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trackDirtyPages } from "./dirty-pages.js";
import { type Engine, type EngineInstance, GuestTrap, type HostFunction, type WasmValue } from "./engine.js";
import { PAGE, syncChangedPages } from "./page-diff.js";

const HOST_SCRIPT = new URL("./wasmtime_host.py", import.meta.url).pathname;

interface Message {
  op: string;
  id?: number;
  name?: string;
  args?: WasmValue[];
  value?: number;
  message?: string;
  exports?: string[];
  size?: number;
  wasm?: string;
}

/** Linear memory as this process sees it, and as the child last saw it. */
class Mirror {
  bytes = new Uint8Array(0);
  private shadow = new Uint8Array(0);

  /** The guest's memory now has `size` bytes (it only grows). */
  resize(size: number): void {
    if (size <= this.bytes.byteLength) return;
    const old = this.bytes;
    this.bytes = new Uint8Array(size);
    this.bytes.set(old);
    const shadow = new Uint8Array(size);
    shadow.set(this.shadow);
    this.shadow = shadow;
    // Views of the old buffer must see length 0, as after memory.grow, so GuestMemory derives fresh ones.
    structuredClone(old.buffer, { transfer: [old.buffer] });
  }

  apply(gfn: number, content: Uint8Array): void {
    this.bytes.set(content, gfn * PAGE);
    this.shadow.set(content, gfn * PAGE);
  }

  /** The pages written here since the child last saw them; the shadow now records them as seen. */
  changedPages(): number[] {
    return syncChangedPages(this.bytes, this.shadow);
  }
}

/** What this process keeps of a guest: its memory's mirror and its imports (held by the WasmtimeInstance). */
interface GuestState {
  readonly mirror: Mirror;
  readonly imports: Record<string, HostFunction>;
}

class WasmtimeChild {
  readonly pid: number;
  private readonly toChild: number;
  private readonly fromChild: number;
  private readonly dir: string;
  /** Held weakly: see "Releasing guests" above. */
  private readonly guests = new Map<number, WeakRef<GuestState>>();
  private readonly collected = new FinalizationRegistry<number>((id) => this.collect(id));
  private nextId = 1;

  constructor(python: string) {
    checkPython(python);
    this.dir = mkdtempSync(join(tmpdir(), "xenbus-wasmtime-"));
    const down = join(this.dir, "down");
    const up = join(this.dir, "up");
    execFileSync("mkfifo", [down, up]);
    const child = spawn(python, [HOST_SCRIPT, down, up], { stdio: ["ignore", "inherit", "inherit"] });
    child.unref();
    this.pid = child.pid!;
    // Opening a FIFO blocks until the other end opens it; the child opens them in the same order.
    this.toChild = openSync(down, "w");
    this.fromChild = openSync(up, "r");
    rmSync(down);
    rmSync(up);
    process.once("exit", () => rmSync(this.dir, { recursive: true, force: true }));
  }

  /** Guests the child holds: instantiated, and neither disposed nor collected. */
  get guestCount(): number {
    return this.guests.size;
  }

  instantiate(wasm: Uint8Array, imports: Record<string, HostFunction>, name: string): EngineInstance {
    const path = join(this.dir, `${createHash("sha256").update(wasm).digest("hex")}.wasm`);
    if (!existsSync(path)) writeFileSync(path, trackDirtyPages(wasm) ?? wasm);
    const id = this.nextId++;
    const state: GuestState = { mirror: new Mirror(), imports };
    this.guests.set(id, new WeakRef(state));
    let answer: Message;
    try {
      answer = this.request({ op: "load", id, wasm: path }, id);
    } catch (error) {
      this.guests.delete(id);
      throw error;
    }
    if (answer.op !== "loaded") {
      this.guests.delete(id);
      throw new Error(`wasmtime could not instantiate the module: ${answer.message}`);
    }
    const instance = new WasmtimeInstance(this, id, name, state, answer.exports!);
    this.collected.register(instance, id, instance);
    return instance;
  }

  /** Tells the child to drop guest `id` (its store and linear memory); it sends no answer. */
  drop(id: number, instance: WasmtimeInstance): void {
    this.collected.unregister(instance);
    this.guests.delete(id);
    this.send({ op: "drop", id }, id);
  }

  call(id: number, name: string, args: WasmValue[]): number | undefined {
    const answer = this.request({ op: "call", id, name, args }, id);
    if (answer.op === "trap") throw new GuestTrap(answer.message);
    return answer.value ?? undefined;
  }

  global(id: number, name: string): number {
    return this.request({ op: "global", id, name }, id).value!;
  }

  /**
   * Sends `message` (with guest `id`'s changed pages) and serves the child's
   * hypercalls until its answer arrives. An import's error is rethrown once
   * the guest's frames have unwound.
   */
  request(message: Message, id: number): Message {
    this.send(message, id);
    for (;;) {
      const answer = this.receive();
      if (answer.op !== "hypercall") {
        return answer;
      }
      const guest = this.guests.get(answer.id!)!.deref()!;
      let value: number;
      try {
        // Every `xen` import takes i32s: the child sends them as JSON numbers.
        value = guest.imports[answer.name!]!(...(answer.args as number[]));
      } catch (error) {
        this.send({ op: "raise", id: answer.id }, answer.id!);
        const unwound = this.receive();
        if (unwound.op === "hypercall" || unwound.op === "value") throw new Error(`wasmtime child: unexpected ${unwound.op}`);
        throw error;
      }
      this.send({ op: "reply", id: answer.id, value }, answer.id!);
    }
  }

  private send(message: Message, id: number): void {
    const mirror = this.guests.get(id)?.deref()?.mirror;
    const pages = mirror?.changedPages() ?? [];
    // i64 arguments may come as BigInt (runtime/blk.ts's sectors): sent as decimal strings.
    const body = Buffer.from(JSON.stringify(message, (_, value: unknown) => (typeof value === "bigint" ? value.toString() : value)));
    const frame = Buffer.alloc(8 + body.byteLength + pages.length * (4 + PAGE));
    frame.writeUInt32LE(body.byteLength, 0);
    frame.writeUInt32LE(pages.length, 4);
    body.copy(frame, 8);
    let offset = 8 + body.byteLength;
    for (const gfn of pages) {
      frame.writeUInt32LE(gfn, offset);
      frame.set(mirror!.bytes.subarray(gfn * PAGE, (gfn + 1) * PAGE), offset + 4);
      offset += 4 + PAGE;
    }
    for (let written = 0; written < frame.byteLength; ) written += writeSync(this.toChild, frame, written);
  }

  private receive(): Message {
    const header = this.read(8);
    const message = JSON.parse(this.read(header.readUInt32LE(0)).toString()) as Message;
    const count = header.readUInt32LE(4);
    const mirror = message.id === undefined ? undefined : this.guests.get(message.id)?.deref()?.mirror;
    if (mirror && message.size !== undefined) mirror.resize(message.size);
    for (let i = 0; i < count; i++) {
      const page = this.read(4 + PAGE);
      mirror?.apply(page.readUInt32LE(0), page.subarray(4));
    }
    return message;
  }

  private read(length: number): Buffer {
    const buffer = Buffer.alloc(length);
    for (let got = 0; got < length; ) {
      const n = readSync(this.fromChild, buffer, got, length - got, null);
      if (n === 0) throw new Error("the wasmtime child process exited");
      got += n;
    }
    return buffer;
  }

  /** A guest was garbage collected; a child that has gone away has nothing left to free. */
  private collect(id: number): void {
    this.guests.delete(id);
    try {
      this.send({ op: "drop", id }, id);
    } catch {
      // The child exited (EPIPE): its memory went with it.
    }
  }
}

class WasmtimeInstance implements EngineInstance {
  private disposed = false;

  constructor(
    private readonly child: WasmtimeChild,
    private readonly id: number,
    private readonly name: string,
    /** Keeps the child's weak entry for this guest alive exactly as long as the instance. */
    private readonly state: GuestState,
    private readonly names: string[],
  ) {}

  call(name: string, args: WasmValue[]): number | undefined {
    this.checkAlive(name);
    if (!this.names.includes(name)) throw new Error(`the module exports no function ${name}`);
    return this.child.call(this.id, name, args);
  }

  memoryBytes(): Uint8Array {
    return this.state.mirror.bytes;
  }

  global(name: string): number {
    this.checkAlive(name);
    return this.child.global(this.id, name);
  }

  exportNames(): string[] {
    return [...this.names];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.child.drop(this.id, this);
  }

  private checkAlive(what: string): void {
    if (this.disposed) throw new Error(`${this.name} was disposed; cannot use ${what}`);
  }
}

/** Fails clearly, instead of leaving the FIFOs' open waiting for a child that died at once. */
function checkPython(python: string): void {
  try {
    execFileSync(python, ["-c", "import wasmtime"], { stdio: "pipe" });
  } catch (error) {
    const output = (error as { stderr?: Buffer }).stderr?.toString().trim().split("\n").pop();
    throw new Error(
      `wasmtime engine: ${python} cannot import wasmtime (${output || (error as Error).message}); ` +
        `give wasmtimeEngine or ${PYTHON_VARIABLE} a Python with the wasmtime wheel 49.x (pip install 'wasmtime==49.*')`,
    );
  }
}

/** The environment variable naming the Python that wasmtimeEngine() uses when given none. */
const PYTHON_VARIABLE = "XENBUS_WASM_PYTHON";

export interface WasmtimeEngine extends Engine {
  /** The child process running wasmtime, once the first guest started it (its memory use: /proc/<pid>/status). */
  readonly pid: number | undefined;
  /** Guests the child holds: instantiated, and neither disposed nor garbage collected. */
  readonly guestCount: number;
}

/**
 * An engine running guests in wasmtime, in a child process of `python`: an
 * interpreter with the `wasmtime` wheel (49.x) installed. Without `python`,
 * $XENBUS_WASM_PYTHON, else `python3`. Checked when the first guest starts the child.
 */
export function wasmtimeEngine(python: string = process.env[PYTHON_VARIABLE] ?? "python3"): WasmtimeEngine {
  let child: WasmtimeChild | null = null;
  return {
    name: "wasmtime",
    instantiate(wasm, imports, name = "guest") {
      child ??= new WasmtimeChild(python);
      return child.instantiate(wasm, imports.xen, name);
    },
    get pid() {
      return child?.pid;
    },
    get guestCount() {
      return child?.guestCount ?? 0;
    },
  };
}
