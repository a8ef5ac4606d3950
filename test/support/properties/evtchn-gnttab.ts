// Property: any sequence of event channel and grant table calls, with hostile
// arguments mixed in, never traps or crashes a guest, every call returns a
// number, and afterwards both guests can still open a channel and share a page.
import fc from "fast-check";
import { expect } from "vitest";
import type { WasmDomain } from "../../../host/xen/domain.js";
import { Hypervisor } from "../../../host/xen/hypervisor.js";
import type { Engine } from "../../../runtime/engine.js";
import { loadGuest } from "../../../runtime/index.js";
import type { XenbusExports } from "../../../runtime/xenbus.js";
import { worldFactory } from "../world-snapshot.js";
import { type Xenbus, xenbusWasm } from "../xenbus.js";

const PAGE = 4096;

const U32_EDGES = [0x7fffffff, 0x80000000, 0xffffffff];
/** A value the caller got from an earlier call (by index), or a raw, possibly hostile, number. */
type Choice = { known: number } | { raw: number };
const known = fc.nat(15).map((index): Choice => ({ known: index }));
const raw = (values: fc.Arbitrary<number>): fc.Arbitrary<Choice> => values.map((value) => ({ raw: value }));
const port = fc.oneof(known, raw(fc.oneof(fc.nat(12), fc.constantFrom(1023, 1024, 4095, 4096, 65536, ...U32_EDGES))));
const ref = fc.oneof(known, raw(fc.oneof(fc.nat(24), fc.constantFrom(511, 512, 2047, 2048, 16384, ...U32_EDGES))));
const handle = fc.oneof(known, raw(fc.oneof(fc.nat(4), fc.constantFrom(1024, ...U32_EDGES))));
// Mostly the two guests (domids 1 and 2); also dom0, a domain that does not
// exist, DOMID_SELF, reserved ids and ids beyond domid_t.
const domid = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(1, 2) },
  { weight: 2, arbitrary: fc.constantFrom(0, 3, 999, 0x7ff0, 0x7ff1, 0xffff, 0x10000, ...U32_EDGES) },
);
/** An address: one of the caller's page_alloc pages (plus an offset), or a raw value. */
const address = fc.oneof(
  { weight: 3, arbitrary: fc.record({ page: fc.nat(7), offset: fc.constantFrom(0, 0, 0, 1, 8, PAGE - 1) }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(0, 8, PAGE, 0x10000, 0x7ffff000, 0xfffff000, ...U32_EDGES)
      .map((value) => ({ raw: value })),
  },
);
const guest = fc.constantFrom(0, 1);

const op = fc.oneof(
  // Well-formed steps, so that later hostile ones meet live channels, grants and mappings.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("connect" as const), guest }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("share" as const),
      guest,
      readonly: fc.boolean(),
      mapReadonly: fc.boolean(),
    }),
  },
  fc.record({ kind: fc.constant("alloc_unbound" as const), guest, domid }),
  fc.record({ kind: fc.constant("bind_interdomain" as const), guest, domid, port }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("send" as const), guest, port }) },
  fc.record({ kind: fc.constant("close" as const), guest, port }),
  fc.record({ kind: fc.constant("mask" as const), guest, port }),
  fc.record({ kind: fc.constant("unmask" as const), guest, port }),
  fc.record({ kind: fc.constant("status" as const), guest, port }),
  fc.record({ kind: fc.constant("grant_access" as const), guest, domid, gfn: address, readonly: fc.boolean() }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("end_access" as const), guest, ref }) },
  fc.record({ kind: fc.constant("map" as const), guest, domid, ref, at: address, readonly: fc.boolean() }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("unmap" as const), guest, at: address, handle }) },
  fc.record({
    kind: fc.constant("copy_from" as const),
    guest,
    domid,
    ref,
    offset: fc.constantFrom(0, 100, PAGE - 1, PAGE, 0xffff, 0x10000),
    at: address,
    len: fc.constantFrom(0, 1, 16, PAGE, 0x10000),
  }),
  fc.record({ kind: fc.constant("page_alloc" as const), guest }),
  fc.record({ kind: fc.constant("page_free" as const), guest, at: address }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("run" as const) }) },
);

export type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;
type Address = { page: number; offset: number } | { raw: number };

class World {
  readonly hv = new Hypervisor();
  readonly guests: Xenbus[];
  readonly pages: number[][] = [[], []];
  /** What each guest got back from Xen: its ports, the refs it granted, the handles of its mappings. */
  readonly ports: number[][] = [[], []];
  readonly refs: number[][] = [[], []];
  readonly handles: number[][] = [[], []];

  constructor(engine: Engine) {
    this.guests = ["a", "b"].map((name) => loadGuest<XenbusExports, WasmDomain>(this.hv, xenbusWasm, { name, engine }));
    for (const guest of this.guests) expect(guest.exports.xen_boot()).toBe(0);
  }

  resolve(owner: number, at: Address): number {
    if ("raw" in at) return at.raw;
    const pages = this.pages[owner]!;
    return pages.length === 0 ? at.offset : pages[at.page % pages.length]! + at.offset;
  }

  pick(list: number[], choice: Choice): number {
    if ("raw" in choice) return choice.raw;
    return list.length === 0 ? choice.known : list[choice.known % list.length]!;
  }

  private remember(list: number[], value: number | undefined): number | undefined {
    if (value !== undefined && value >= 0) list.push(value);
    return value;
  }

  private newPage(owner: number): number {
    const page = this.guests[owner]!.exports.page_alloc();
    if (page > 0) this.pages[owner]!.push(page);
    return page;
  }

  apply(step: Op): number | undefined {
    if (step.kind === "run") {
      this.hv.runUntilIdle();
      return 0;
    }
    const g = step.guest;
    const other = 1 - g;
    const self = this.guests[g]!;
    const peer = this.guests[other]!;
    const x = self.exports;
    const peerRef = (choice: Choice) => this.pick(this.refs[other]!, choice);
    switch (step.kind) {
      case "connect": {
        const offered = this.remember(this.ports[g]!, x.evtchn_alloc_unbound(peer.domid));
        return offered! < 0
          ? offered
          : this.remember(this.ports[other]!, peer.exports.evtchn_bind_interdomain(self.domid, offered!));
      }
      case "share": {
        const page = this.newPage(g);
        const target = this.newPage(other);
        if (page === 0 || target === 0) return 0;
        const granted = this.remember(this.refs[g]!, x.gnttab_grant_access(peer.domid, page / PAGE, step.readonly));
        if (granted! < 0) return granted;
        return this.remember(
          this.handles[other]!,
          peer.exports.gnttab_map(self.domid, granted!, target, step.mapReadonly),
        );
      }
      case "alloc_unbound":
        return this.remember(this.ports[g]!, x.evtchn_alloc_unbound(step.domid));
      case "bind_interdomain":
        return this.remember(
          this.ports[g]!,
          x.evtchn_bind_interdomain(step.domid, this.pick(this.ports[other]!, step.port)),
        );
      case "send":
        return x.evtchn_send(this.pick(this.ports[g]!, step.port));
      case "close":
        return x.evtchn_close(this.pick(this.ports[g]!, step.port));
      case "mask":
        return x.evtchn_mask(this.pick(this.ports[g]!, step.port));
      case "unmask":
        return x.evtchn_unmask(this.pick(this.ports[g]!, step.port));
      case "status":
        return x.evtchn_status(this.pick(this.ports[g]!, step.port));
      case "grant_access":
        return this.remember(
          this.refs[g]!,
          x.gnttab_grant_access(step.domid, Math.floor(this.resolve(g, step.gfn) / PAGE), step.readonly),
        );
      case "end_access":
        return x.gnttab_end_access(this.pick(this.refs[g]!, step.ref));
      case "map":
        return this.remember(
          this.handles[g]!,
          x.gnttab_map(step.domid, peerRef(step.ref), this.resolve(g, step.at), step.readonly),
        );
      case "unmap":
        return x.gnttab_unmap(this.resolve(g, step.at), this.pick(this.handles[g]!, step.handle));
      case "copy_from":
        return x.gnttab_copy_from(step.domid, peerRef(step.ref), step.offset, this.resolve(g, step.at), step.len);
      case "page_alloc":
        return this.newPage(g);
      case "page_free": {
        const page = this.resolve(g, step.at);
        const rc = x.page_free(page);
        if (rc === 0) this.pages[g] = this.pages[g]!.filter((p) => p !== page);
        return rc;
      }
    }
  }

  /** A fresh channel carries exactly one event each way, and a fresh page can be shared and revoked. */
  checkUsable(): void {
    const [a, b] = this.guests as [Xenbus, Xenbus];
    this.hv.runUntilIdle();
    const pa = a.exports.evtchn_alloc_unbound(b.domid);
    expect(pa).toBeGreaterThan(0);
    const pb = b.exports.evtchn_bind_interdomain(a.domid, pa);
    expect(pb).toBeGreaterThan(0);
    this.hv.runUntilIdle();
    const [beforeA, beforeB] = [a.exports.evtchn_event_count(pa), b.exports.evtchn_event_count(pb)];
    expect([beforeA, beforeB]).toEqual([0, 1]);
    a.exports.evtchn_send(pa);
    this.hv.runUntilIdle();
    b.exports.evtchn_send(pb);
    this.hv.runUntilIdle();
    expect([a.exports.evtchn_event_count(pa), b.exports.evtchn_event_count(pb)]).toEqual([1, 2]);

    const shared = a.exports.page_alloc();
    const target = b.exports.page_alloc();
    expect(shared).toBeGreaterThan(0);
    expect(target).toBeGreaterThan(0);
    const granted = a.exports.gnttab_grant_access(b.domid, shared / PAGE, false);
    expect(granted).toBeGreaterThanOrEqual(8);
    const mapped = b.exports.gnttab_map(a.domid, granted, target, false);
    expect(mapped).toBeGreaterThanOrEqual(0);
    expect(a.exports.gnttab_end_access(granted)).toBe(-16);
    expect(b.exports.gnttab_unmap(target, mapped)).toBe(0);
    expect(a.exports.gnttab_end_access(granted)).toBe(0);
  }
}

/** Hostile evtchn/gnttab call sequences never trap a guest and leave both usable. */
export function evtchnGnttabProperty(engine: Engine) {
  const booted = worldFactory(engine, (engine) => new World(engine));
  return fc.property(fc.array(op, { minLength: 1, maxLength: 80, size: "large" }), (steps) => {
    const world = booted();
    for (const step of steps) {
      const result = world.apply(step);
      // Checked before expect() is called: an expect() outside a test costs more than the step.
      if (typeof result !== "number") expect.fail(`${JSON.stringify(step)} returned ${result}`);
      for (const g of world.guests)
        if (g.exit) expect.fail(`${JSON.stringify(step)}: ${g.name} ended (${g.exit.reason}) ${g.exit.message}`);
    }
    world.checkUsable();
    // Frees the guests' engine instances now when each case boots its own world (a restored world has them back):
    // the runs share one job, so garbage collection would free none until the end.
    for (const g of world.guests) world.hv.destroyDomain(g.domid);
  });
}
