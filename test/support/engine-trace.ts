// Records what guests do under an engine, so that the same scenario run under
// two engines on fresh simulated hypervisors can be compared (divergence.ts).
// Only the guests' own view is recorded, never the engine's: every call into
// a guest (an export) and out of it (a hypercall) with its arguments and
// outcome, and at each crossing between guest and host the pages of the
// guest's linear memory that changed since its previous crossing.
import {
  type Engine,
  type EngineInstance,
  GuestTrap,
  type HostFunction,
  type WasmValue,
} from "../../runtime/engine.js";
import { PAGE, syncChangedPages } from "./page-diff.js";

/** A call into a guest or a hypercall out of it, numbered in the order they started (nested ones included). */
export interface Step {
  readonly number: number;
  readonly kind: "call" | "hypercall";
  readonly guest: string;
  readonly name: string;
  readonly args: readonly string[];
  /** "= value", "trapped" or "threw <error>"; unset until the step ends. */
  outcome?: string;
}

/** A guest's memory size, and the pages (by number) whose content changed since its previous crossing. */
export interface MemoryDelta {
  readonly size: number;
  readonly pages: ReadonlyMap<number, Uint8Array>;
}

/** Control passing between a guest and the host: a step starting or ending, with the guest's memory then. */
export interface Crossing {
  readonly step: Step;
  readonly phase: "start" | "end";
  readonly memory: MemoryDelta;
}

export interface Trace {
  readonly engine: string;
  readonly steps: Step[];
  /** In the order they happened. */
  readonly crossings: Crossing[];
  /** What the scenario threw, if it did. */
  error?: string;
}

/** Runs `scenario` (which builds its own hypervisor and boots its guests with the engine given) and returns its trace. */
export function traceRun(engine: Engine, scenario: (engine: Engine) => void): Trace {
  const { traced, trace } = tracing(engine);
  try {
    scenario(traced);
  } catch (error) {
    trace.error = describeError(error);
  }
  return trace;
}

/** `engine`, with every guest it instantiates recorded in `trace`. */
function tracing(engine: Engine): { traced: Engine; trace: Trace } {
  const trace: Trace = { engine: engine.name, steps: [], crossings: [] };
  const labels = new Set<string>();

  const traced: Engine = {
    name: engine.name,
    instantiate(wasm, imports, name = "guest") {
      // Guests are told apart by name, numbered when a name repeats: the same in every run.
      let guest = name;
      for (let n = 2; labels.has(guest); n++) guest = `${name} (${n})`;
      labels.add(guest);

      let instance: EngineInstance | null = null;
      // A start function's hypercalls come before there is an instance: no memory yet.
      const memory = new MemoryChanges(() => instance?.memoryBytes() ?? new Uint8Array(0));

      const run = <T>(kind: Step["kind"], fn: string, args: WasmValue[], body: () => T): T => {
        const step: Step = { number: trace.steps.length, kind, guest, name: fn, args: args.map(String) };
        trace.steps.push(step);
        trace.crossings.push({ step, phase: "start", memory: memory.take() });
        try {
          const result = body();
          step.outcome = `= ${String(result)}`;
          return result;
        } catch (error) {
          // A trap's message is the engine's own wording; that it trapped is what both must agree on.
          step.outcome = error instanceof GuestTrap ? "trapped" : `threw ${describeError(error)}`;
          throw error;
        } finally {
          trace.crossings.push({ step, phase: "end", memory: memory.take() });
        }
      };

      const xen = Object.fromEntries(
        Object.entries(imports.xen).map(([fn, hypercall]): [string, HostFunction] => [
          fn,
          (...args) => run("hypercall", fn, args, () => hypercall(...args)),
        ]),
      );
      instance = engine.instantiate(wasm, { xen }, name);
      const inner = instance;
      return {
        call: (fn, args) => run("call", fn, args, () => inner.call(fn, args)),
        memoryBytes: () => inner.memoryBytes(),
        global: (global) => inner.global(global),
        exportNames: () => inner.exportNames(),
        dispose: () => inner.dispose(),
      };
    },
  };
  return { traced, trace };
}

/** One guest's memory, against what it was at the last `take`. */
class MemoryChanges {
  private previous = new Uint8Array(0);

  constructor(private readonly bytes: () => Uint8Array) {}

  take(): MemoryDelta {
    const bytes = this.bytes();
    if (bytes.byteLength > this.previous.byteLength) {
      const grown = new Uint8Array(bytes.byteLength);
      grown.set(this.previous);
      this.previous = grown;
    }
    const pages = new Map<number, Uint8Array>();
    for (const page of syncChangedPages(bytes, this.previous))
      pages.set(page, bytes.slice(page * PAGE, (page + 1) * PAGE));
    return { size: bytes.byteLength, pages };
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
