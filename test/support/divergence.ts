// Compares two traces of the same scenario (engine-trace.ts) and names the
// first point where they part: a call or hypercall that differs in name,
// arguments or outcome, a memory word that differs at a crossing, or one run
// going on where the other ended.
import type { Crossing, MemoryDelta, Step, Trace } from "./engine-trace.js";

const PAGE = 4096;

/** The first divergence between `a` and `b`, in words; null when they agree throughout. */
export function firstDivergence(a: Trace, b: Trace): string | null {
  const memories = new Map<string, [Memory, Memory]>();
  for (let i = 0; i < Math.max(a.crossings.length, b.crossings.length); i++) {
    const x = a.crossings[i];
    const y = b.crossings[i];
    if (!x || !y) {
      const [ended, goesOn, next] = x ? [b, a, x] : [a, b, y!];
      const last = ended.crossings[i - 1];
      return `${ended.engine} ${last ? `ends after ${moment(last)}` : "never runs a guest"}, ${goesOn.engine} goes on: ${moment(next)}, ${call(next.step)}`;
    }
    if (x.phase !== y.phase || !sameStep(x.step, y.step)) {
      return `crossing #${i} differs: ${a.engine} ${moment(x)}, ${call(x.step)} vs ${b.engine} ${moment(y)}, ${call(y.step)}`;
    }
    const differs = x.phase === "start" ? !sameList(x.step.args, y.step.args) : x.step.outcome !== y.step.outcome;
    if (differs) {
      return `${x.step.kind} #${x.step.number} (${x.step.name}) of guest "${x.step.guest}" differs: ${a.engine} ${call(x.step)} vs ${b.engine} ${call(y.step)}`;
    }
    const key = x.step.guest;
    if (!memories.has(key)) memories.set(key, [new Memory(), new Memory()]);
    const [mx, my] = memories.get(key)!;
    mx.apply(x.memory);
    my.apply(y.memory);
    if (sameDelta(x.memory, y.memory)) continue;
    const where = `${x.phase === "start" ? "before" : "after"} ${x.step.kind} #${x.step.number} (${x.step.name}), guest "${key}"`;
    if (mx.size !== my.size)
      return `${where} memory size differs: ${a.engine} ${mx.size} bytes vs ${b.engine} ${my.size} bytes`;
    // Up to here the two memories were equal: the difference is in a page one of the two deltas holds.
    const pages = [...new Set([...x.memory.pages.keys(), ...y.memory.pages.keys()])].sort((p, q) => p - q);
    for (const page of pages) {
      for (let address = page * PAGE; address < (page + 1) * PAGE; address += 4) {
        const [wx, wy] = [mx.word(address), my.word(address)];
        if (wx !== wy)
          return `${where} memory word at ${hex(address)} differs: ${a.engine} ${hex(wx, 8)} vs ${b.engine} ${hex(wy, 8)}`;
      }
    }
  }
  if (a.error !== b.error) return `the scenario ends differently: ${a.engine} ${ending(a)} vs ${b.engine} ${ending(b)}`;
  return null;
}

/** A guest's memory rebuilt from the deltas of its crossings. */
class Memory {
  private bytes = new Uint8Array(0);
  size = 0;

  apply(delta: MemoryDelta): void {
    this.size = delta.size;
    if (delta.size > this.bytes.byteLength) {
      const grown = new Uint8Array(delta.size);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    for (const [page, content] of delta.pages) this.bytes.set(content, page * PAGE);
  }

  word(address: number): number {
    return new DataView(this.bytes.buffer).getUint32(address, true);
  }
}

function sameStep(x: Step, y: Step): boolean {
  return x.number === y.number && x.kind === y.kind && x.guest === y.guest && x.name === y.name;
}

function sameList(x: readonly string[], y: readonly string[]): boolean {
  return x.length === y.length && x.every((value, i) => value === y[i]);
}

function sameDelta(x: MemoryDelta, y: MemoryDelta): boolean {
  if (x.size !== y.size || x.pages.size !== y.pages.size) return false;
  for (const [page, content] of x.pages) {
    const other = y.pages.get(page);
    if (!other || Buffer.compare(content, other) !== 0) return false;
  }
  return true;
}

function moment(crossing: Crossing): string {
  const { step } = crossing;
  return `${step.kind} #${step.number} (${step.name}) of guest "${step.guest}" ${crossing.phase === "start" ? "starts" : "ends"}`;
}

function call(step: Step): string {
  return `${step.name}(${step.args.join(", ")})${step.outcome ? ` ${step.outcome}` : ""}`;
}

function ending(trace: Trace): string {
  return trace.error === undefined ? "completes" : `throws ${trace.error}`;
}

function hex(value: number, digits = 0): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}
