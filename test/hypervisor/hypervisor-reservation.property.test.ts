// Any sequence of grant maps and unmaps, decreases and populates on a few
// gfns leaves the guest's holes and orphaned pages where a model of Xen's p2m
// puts them: RAM, a hole, or a grant mapping per gfn; a map over RAM or a
// populate over RAM orphans the page, an unmap or a decrease leaves a hole.
// (Populate over a grant mapping crashes the domain; its own test has it.)
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GNTST } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { engines } from "../support/engines.js";
import { decrease, grantingPair, map, populate, unmap } from "../support/memory-ops.js";

const FIRST_GFN = 40;
const GFNS = 4;
/** A handle no mapping has: unmapping with it is GNTST_bad_handle. */
const NO_HANDLE = 4000;

type Op = "map" | "unmap" | "decrease" | "populate";
type Slot = "ram" | "hole" | { handle: number };

const step = fc.record({
  op: fc.constantFrom<Op>("map", "unmap", "decrease", "populate"),
  gfn: fc.integer({ min: FIRST_GFN, max: FIRST_GFN + GFNS - 1 }),
});

describe.each(engines)("under $name", ({ engine }) => {
  it("holes and orphaned pages follow a model of Xen's p2m through any sequence", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const hv = new Hypervisor();
        const { guest, peer } = grantingPair(hv, engine);
        const slots = new Map<number, Slot>(Array.from({ length: GFNS }, (_, i) => [FIRST_GFN + i, "ram"]));
        let orphaned = 0;
        for (const { op, gfn } of steps) {
          const slot = slots.get(gfn)!;
          const mapped = typeof slot === "object";
          switch (op) {
            case "map": {
              const result = map(guest, peer, gfn);
              expect(result.status).toBe(mapped ? GNTST.bad_virt_addr : GNTST.okay);
              if (mapped) break;
              if (slot === "ram") orphaned++;
              slots.set(gfn, { handle: result.handle });
              break;
            }
            case "unmap":
              expect(unmap(guest, gfn, mapped ? slot.handle : NO_HANDLE)).toBe(mapped ? GNTST.okay : GNTST.bad_handle);
              if (mapped) slots.set(gfn, "hole");
              break;
            case "decrease":
              expect(decrease(guest, [gfn])).toBe(slot === "ram" ? 1 : 0);
              if (slot === "ram") slots.set(gfn, "hole");
              break;
            case "populate":
              if (mapped) break;
              expect(populate(guest, [gfn])).toBe(1);
              if (slot === "ram") orphaned++;
              slots.set(gfn, "ram");
              break;
          }
          const holes = [...slots].filter(([, s]) => s === "hole").map(([g]) => g);
          expect(hv.domain(guest.domid)!.pageAccounting).toEqual({ holes, orphanedPages: orphaned });
        }
        expect([guest.exit, peer.exit]).toEqual([null, null]);
      }),
      { numRuns: 100 },
    );
  });
});
