// Lazy page coherence is never observably lazy: through any interleaving of
// maps, unmaps, calls into domains (nested, as the scheduler stacks them),
// writes, returns to the host, the host looking at memories and hypervisor
// copies, every memory a domain about to run sees, and every memory the host
// looks at (Hypervisor.memoryOf) while control is back with it, is what
// eager copying (one shared page, every copy refreshed at once) leaves.
// Writes go only where Xen lets a domain write: its own pages and its
// writable copies (a live view writes the granter's page). A domain maps a
// page at most once: two places of one page in one memory cannot be emulated.
// Maps and unmaps are made by the mapper while it runs, or by the host. A
// granter may give a mapped frame up (detach): its mappings keep the page,
// and the frame is another page from then on. Grant ref n names frame n.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_SIZE } from "../../host/xen/abi.js";
import type { GrantMapping } from "../../host/xen/coherence.js";
import type { Domain } from "../../host/xen/domain.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";

const DOMAINS = 4;
/** Frames 0..GRANTABLE-1 of each domain are its own pages, granted; the rest are slots for copies. */
const GRANTABLE = 3;
const PAGES = 6;
/** Bytes of each page the test writes and compares (the rest stays as both schemes leave it). */
const SPAN = 8;

/** Weighted so that most runs nest calls, write, and map several pages. */
const op = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("map" as const),
      mapper: fc.nat(DOMAINS - 1),
      granter: fc.nat(DOMAINS - 1),
      frame: fc.nat(GRANTABLE - 1),
      slot: fc.option(fc.integer({ min: GRANTABLE, max: PAGES - 1 }), { freq: 4 }),
      writable: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unmap" as const), index: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("call" as const), domain: fc.nat(DOMAINS - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("return" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("look" as const), domain: fc.nat(DOMAINS - 1) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      page: fc.nat(PAGES - 1),
      offset: fc.nat(SPAN - 1),
      value: fc.nat(255),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("writeLive" as const),
      index: fc.nat(),
      offset: fc.nat(SPAN - 1),
      value: fc.nat(255),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("copy" as const),
      granter: fc.nat(DOMAINS - 1),
      frame: fc.nat(GRANTABLE - 1),
      byRef: fc.boolean(),
      value: fc.nat(255),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("detach" as const), frame: fc.nat(GRANTABLE - 1) }) },
);

interface ModelMapping {
  mapper: number;
  granter: number;
  frame: number;
  slot: number | null;
  writable: boolean;
  /** The page it maps: the granter's frame's page when mapped, which the frame may have left since. */
  page: number;
}

/** Eager copying: every place of a granted page is rewritten the moment any of them is written. */
class EagerModel {
  readonly memories = Array.from({ length: DOMAINS }, () => new Uint8Array(PAGES * PAGE_SIZE));
  readonly mappings: ModelMapping[] = [];
  /** The page at each domain's frame (pages are numbered; a detached one gets no frame again). */
  private readonly framePages = Array.from({ length: DOMAINS }, (_, d) =>
    Array.from({ length: GRANTABLE }, (_, f) => d * GRANTABLE + f),
  );
  private nextPage = DOMAINS * GRANTABLE;
  /** The content of pages no frame holds, each kept while mapped. */
  private readonly detached = new Map<number, Uint8Array>();

  /** The page at `granter`'s frame, or (`byRef`) the one grant ref `frame` names: one a mapping through it pins, else the frame's. */
  pageOf(granter: number, frame: number, byRef: boolean): number {
    const pinned = byRef
      ? this.mappings.find((m) => m.granter === granter && m.frame === frame && this.detached.has(m.page))
      : undefined;
    return pinned?.page ?? this.framePages[granter]![frame]!;
  }

  isDetached(page: number): boolean {
    return this.detached.has(page);
  }

  write(domain: number, page: number, offset: number, value: number): void {
    this.memories[domain]![page * PAGE_SIZE + offset] = value;
    const mapping = this.mappings.find((m) => m.mapper === domain && m.slot === page);
    if (mapping) this.writePage(mapping.page, offset, value);
    else if (page < GRANTABLE) this.writePage(this.framePages[domain]![page]!, offset, value);
  }

  writePage(page: number, offset: number, value: number): void {
    const content = this.content(page);
    content[offset] = value;
    for (const m of this.mappings) {
      if (m.page === page && m.slot !== null) this.memories[m.mapper]![m.slot * PAGE_SIZE + offset] = value;
    }
  }

  /** A new copy shows the page. */
  copyIn(mapper: number, slot: number, page: number): void {
    this.memories[mapper]!.set(this.content(page).subarray(0, SPAN), slot * PAGE_SIZE);
  }

  /** `granter`'s frame becomes another page (with the same bytes); the mappings keep the one it was. */
  detach(granter: number, frame: number): void {
    const page = this.framePages[granter]![frame]!;
    if (!this.mappings.some((m) => m.page === page)) return;
    this.detached.set(page, this.content(page).slice());
    this.framePages[granter]![frame] = this.nextPage++;
  }

  unmapped(mapping: ModelMapping): void {
    if (!this.mappings.some((m) => m.page === mapping.page)) this.detached.delete(mapping.page);
  }

  private content(page: number): Uint8Array {
    const detached = this.detached.get(page);
    if (detached) return detached;
    const granter = this.framePages.findIndex((pages) => pages.includes(page));
    const frame = this.framePages[granter]!.indexOf(page);
    return this.memories[granter]!.subarray(frame * PAGE_SIZE, frame * PAGE_SIZE + SPAN);
  }
}

describe("page coherence", () => {
  it("lazy copying shows each domain about to run, and the host, what eager copying would", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 80 }), (ops) => {
        const hv = new Hypervisor();
        const memories = Array.from({ length: DOMAINS }, () => new Uint8Array(PAGES * PAGE_SIZE));
        const domains: Domain[] = memories.map((bytes, i) => hv.createWasmDomain(`d${i}`, () => bytes));
        const model = new EagerModel();
        const mappings: GrantMapping[] = [];
        const stack: number[] = [];
        let handle = 0;

        const span = (bytes: Uint8Array, page: number) => [
          ...bytes.subarray(page * PAGE_SIZE, page * PAGE_SIZE + SPAN),
        ];
        const expectSeen = (domain: number, bytes: Uint8Array = memories[domain]!) => {
          for (let page = 0; page < PAGES; page++) {
            expect(span(bytes, page), `d${domain} page ${page}`).toEqual(span(model.memories[domain]!, page));
          }
        };
        /** The host looks at `domain`'s memory. */
        const expectLooked = (domain: number) => expectSeen(domain, hv.memoryOf(domains[domain]!));
        const running = () => stack[stack.length - 1];

        for (const step of ops) {
          const current = running();
          switch (step.kind) {
            case "map": {
              const { mapper, granter, frame, slot, writable } = step;
              // One memory cannot hold a page twice (a copy cannot alias another place of its own domain).
              // The mapper maps (a hypercall), or the host does between runs.
              if (mapper === granter || (current !== undefined && current !== mapper)) break;
              if (
                mappings.some(
                  (m) => m.mapper === domains[mapper] && m.granter === domains[granter] && m.frame === frame,
                )
              )
                break;
              if (
                slot !== null &&
                mappings.some((m) => m.mapper === domains[mapper] && m.hostAddr === slot * PAGE_SIZE)
              )
                break;
              const mapping: GrantMapping = {
                handle: handle++,
                mapper: domains[mapper]!,
                granter: domains[granter]!,
                ref: frame,
                frame,
                writable,
                hostAddr: slot === null ? null : slot * PAGE_SIZE,
              };
              hv.coherence.add(mapping);
              mappings.push(mapping);
              const page = model.pageOf(granter, frame, true);
              model.mappings.push({ mapper, granter, frame, slot, writable, page });
              if (slot !== null) model.copyIn(mapper, slot, page);
              break;
            }
            case "unmap": {
              if (mappings.length === 0) break;
              const index = step.index % mappings.length;
              // The mapper unmaps, or the host does between runs (destroying a domain).
              if (current !== undefined && mappings[index]!.mapper !== domains[current]) break;
              const mapping = mappings.splice(index, 1)[0]!;
              const modelMapping = model.mappings.splice(index, 1)[0]!;
              const { slot } = modelMapping;
              hv.coherence.remove(mapping);
              model.unmapped(modelMapping);
              if (slot !== null)
                model.memories[domains.indexOf(mapping.mapper)]!.fill(0, slot * PAGE_SIZE, (slot + 1) * PAGE_SIZE);
              break;
            }
            case "call":
              if (stack.length >= 3 || stack.includes(step.domain)) break;
              stack.push(step.domain);
              hv.scheduler.enter(domains[step.domain]!);
              expectSeen(step.domain);
              break;
            case "return":
              if (current === undefined) break;
              hv.scheduler.leave(domains[stack.pop()!]!);
              if (stack.length > 0) expectSeen(running()!);
              break;
            case "look":
              if (current === undefined) expectLooked(step.domain);
              break;
            case "write": {
              if (current === undefined) break;
              const { page, offset, value } = step;
              const mapping = mappings.find((m) => m.mapper === domains[current] && m.hostAddr === page * PAGE_SIZE);
              // Xen would fault a write to a read-only mapping; a slot with no mapping is a hole.
              if (page >= GRANTABLE && !mapping?.writable) break;
              memories[current]![page * PAGE_SIZE + offset] = value;
              model.write(current, page, offset, value);
              break;
            }
            case "writeLive": {
              const live = mappings.filter((m) => m.hostAddr === null && m.writable && m.mapper === domains[current!]);
              if (live.length === 0) break;
              const mapping = live[step.index % live.length]!;
              const { page } = model.mappings[mappings.indexOf(mapping)]!;
              const granter = domains.indexOf(mapping.granter);
              // A live view writes the page itself: the granter's frame, or a detached page's bytes (as native.ts reaches them).
              if (model.isDetached(page))
                hv.coherence.prepare(mapping.granter, mapping.frame, mapping.ref)[step.offset] = step.value;
              else memories[granter]![mapping.frame * PAGE_SIZE + step.offset] = step.value;
              model.writePage(page, step.offset, step.value);
              break;
            }
            case "copy": {
              // GNTTABOP_copy into a granted page, as the running domain's hypercall does it.
              if (current === undefined) break;
              const caller = domains[current]!;
              const granter = domains[step.granter]!;
              const ref = step.byRef ? step.frame : null;
              hv.coherence.flush(caller);
              hv.coherence.prepare(granter, step.frame, ref)[0] = step.value;
              hv.coherence.propagate(granter, step.frame, ref);
              hv.coherence.flush(caller);
              model.writePage(model.pageOf(step.granter, step.frame, step.byRef), 0, step.value);
              break;
            }
            case "detach": {
              // The running domain gives its frame back (decrease_reservation); the frame keeps its bytes here.
              if (current === undefined) break;
              hv.coherence.detach(domains[current]!, domains[current]!, step.frame);
              model.detach(current, step.frame);
              break;
            }
          }
        }
        while (stack.length > 0) hv.scheduler.leave(domains[stack.pop()!]!);
        for (let d = 0; d < DOMAINS; d++) expectLooked(d);
      }),
      { numRuns: 500 },
    );
  });

  it("a detached page's newest content is its mappers': the granter running since writes elsewhere", () => {
    const hv = new Hypervisor();
    const memories = Array.from({ length: 3 }, () => new Uint8Array(PAGES * PAGE_SIZE));
    const [granter, writer, reader] = memories.map((bytes, i) => hv.createWasmDomain(`d${i}`, () => bytes));
    if (!granter || !writer || !reader) throw new Error("three domains");
    const slot = GRANTABLE * PAGE_SIZE;
    for (const [handle, mapper] of [writer, reader].entries())
      hv.coherence.add({ handle, mapper, granter, ref: 0, frame: 0, writable: true, hostAddr: slot });
    const run = (domain: Domain, body: () => void = () => {}) => {
      hv.scheduler.enter(domain);
      body();
      hv.scheduler.leave(domain);
    };
    run(granter, () => hv.coherence.detach(granter, granter, 0));
    run(writer, () => {
      memories[1]![slot] = 9;
    });
    run(granter, () => {
      memories[0]![0] = 7;
    });
    run(reader, () => expect(memories[2]![slot]).toBe(9));
  });
});
