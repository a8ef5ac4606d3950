// Loads a guest module into a domain: links its `xen` imports to the
// hypervisor, which then starts the domain (its builder gives it its store
// and console pages, and whoever listens hears of it), and wraps every
// export so that a call into the guest is a run of its domain (the
// scheduler knows who runs, for upcalls and page coherence) and so that the
// guest's death (shutdown, crash, trap) ends the call instead of escaping it.
//
// A module built with AssemblyScript's minimal runtime (build/xenbus.wasm,
// tools/build.ts) never collects garbage by itself: it may only collect once
// no managed reference lives on its stack, when the outermost call into it
// has returned. Such a module says so (its `xen_host_collects` global is
// 1), and the wrapper runs its `__collect` export after such a call when
// COLLECT_EVERY of them have returned since the last collection, or sooner
// when the module's memory has grown since then. Not after every one: a
// collection marks everything live however little the call left, which
// costs about half a XenStore round trip.
import { type Engine, type EngineInstance, GuestTrap, type WasmValue } from "./engine.js";
import { DomainExit, type DomainExitInfo, type GuestHypervisor, type HostedDomain } from "./hypervisor.js";
import { v8Engine } from "./v8.js";

export interface LoadOptions {
  name?: string;
  /** Defaults to V8 (this process's WebAssembly). */
  engine?: Engine;
}

export type GuestExports = Record<string, (...args: WasmValue[]) => number>;

/** A loaded guest; `D` is the kind of domain its hypervisor made for it. */
export interface Guest<E = GuestExports, D extends HostedDomain = HostedDomain> {
  readonly domid: number;
  readonly name: string;
  readonly domain: D;
  /**
   * The module's exports, each wrapped as a run of the domain. A call during
   * which the guest dies returns undefined; `exit` then says why.
   */
  readonly exports: E;
  /** The guest's linear memory, as a fresh view (valid until the guest next runs). */
  memory(): Uint8Array;
  /** The AssemblyScript string at `pointer` (UTF-16LE; its byte length is the u32 before it). */
  readString(pointer: number): string;
  /** Lines the guest wrote with CONSOLEIO_write. */
  console(): string[];
  /** How the guest ended, or null while it is alive. */
  readonly exit: DomainExitInfo | null;
  /**
   * Where the wrapper stands in collecting a module that leaves that to its
   * host (an object, not variables of the wrapper's closure, so that a
   * snapshot of the guest, test/support/world-snapshot.ts, restores it too).
   */
  readonly collection: HostCollection;
}

/** See Guest.collection. */
export interface HostCollection {
  /** Outermost calls returned since the last collection. */
  uncollected: number;
  /** The module's memory's bytes after the last collection, -1 before the first. */
  memoryBytes: number;
}

const UPCALL = "xen_upcall";
/** The global a module that leaves collection to its host sets to 1 (assembly/drivers/domain-exports.ts). */
const HOST_COLLECTS = "xen_host_collects";
/** The runtime's exports (`__new`, `__pin`, `__collect`, ...): a call to one is no run of the guest and needs no collection. */
const RUNTIME_EXPORT = /^__/;
/**
 * Outermost calls into a module that leaves collection to its host after
 * which the wrapper collects. Between two collections the module's heap holds
 * besides what is live the garbage of at most this many calls: about 7 KB
 * for the mixed XenStore load of bench/xenstore.ts, 0.5 MB for reads of
 * 4 KB values. Fewer calls cost more collections and, measured, settle the
 * heap's reach more slowly (with 16 or 32 it still crept by 16 bytes after
 * tens of thousands of operations; with 64 or 128, after the first two
 * thousand, no more). A memory that grew means garbage had filled the heap:
 * the wrapper collects then too, at once, or the memory would keep growing
 * (the allocator doubles it each time).
 */
export const COLLECT_EVERY = 64;
const NO_MEMORY = new Uint8Array(0);

export function loadGuest<E = GuestExports, D extends HostedDomain = HostedDomain>(
  hv: GuestHypervisor<D>,
  wasm: Uint8Array,
  options: LoadOptions = {},
): Guest<E, D> {
  const engine = options.engine ?? v8Engine;
  let instance: EngineInstance | null = null;
  // Until instantiation returns there is no memory: a hypercall from a start function gets -EFAULT.
  const domain = hv.createWasmDomain(options.name ?? "guest", () => instance?.memoryBytes() ?? NO_MEMORY);
  /** The memory as the host looks at it: shared pages up to date. */
  const memory = () => hv.memoryOf(domain);
  try {
    instance = engine.instantiate(wasm, { xen: hv.hypercalls(domain) }, domain.name);
  } catch (error) {
    hv.destroyDomain(domain.domid);
    throw error;
  }
  const loaded = instance;
  const scheduler = hv.scheduler;
  const names = loaded.exportNames();
  const collects = names.includes(HOST_COLLECTS) && loaded.global(HOST_COLLECTS) === 1;
  /** Calls into the guest on the host stack now (a hypercall's handler may call in again). */
  let depth = 0;
  const collection: HostCollection = { uncollected: 0, memoryBytes: -1 };
  const collectAfterCall = () => {
    if (++collection.uncollected < COLLECT_EVERY && loaded.memoryBytes().byteLength === collection.memoryBytes) return;
    loaded.call("__collect", []);
    collection.uncollected = 0;
    collection.memoryBytes = loaded.memoryBytes().byteLength;
  };

  const call = (name: string, args: WasmValue[]): number | undefined => {
    if (!domain.alive) throw new Error(`${domain} has exited (${domain.exit!.reason}); cannot call ${name}`);
    scheduler.enter(domain);
    depth++;
    try {
      const result = loaded.call(name, args);
      if (depth === 1 && collects && !RUNTIME_EXPORT.test(name)) collectAfterCall();
      return result;
    } catch (error) {
      if (error instanceof DomainExit && error.domid === domain.domid) return undefined;
      if (error instanceof GuestTrap) {
        hv.crashDomain(domain, `trap in ${name}: ${error.message}`);
        return undefined;
      }
      throw error;
    } finally {
      depth--;
      scheduler.leave(domain);
    }
  };

  hv.startDomain(domain, {
    upcall: names.includes(UPCALL) ? () => void call(UPCALL, []) : null,
    // A destroyed domain's engine instance goes at once; one never destroyed goes when collected with its hypervisor (see the engine).
    release: () => loaded.dispose(),
  });
  const exports = Object.fromEntries(names.map((name) => [name, (...args: WasmValue[]) => call(name, args)])) as E;

  return {
    domid: domain.domid,
    name: domain.name,
    domain,
    exports,
    memory,
    readString(pointer: number): string {
      const bytes = memory();
      if (!inside(bytes, pointer - 4, 4)) throw new RangeError(`no string at ${pointer}`);
      const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(pointer - 4, true);
      if (!inside(bytes, pointer, length)) throw new RangeError(`string at ${pointer} runs past memory`);
      return new TextDecoder("utf-16le").decode(bytes.subarray(pointer, pointer + length));
    },
    console: () => domain.console.lines(),
    collection,
    get exit() {
      return domain.exit;
    },
  };
}

/** Whether [address, address + length) lies inside `bytes` (non-negative integers only). */
function inside(bytes: Uint8Array, address: number, length: number): boolean {
  return Number.isSafeInteger(address) && address >= 0 && length >= 0 && address + length <= bytes.byteLength;
}
