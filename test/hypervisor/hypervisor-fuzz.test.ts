// Whatever a guest passes to its hypercalls, the hypervisor answers (or the
// guest dies) without throwing, and no other domain changes
// (test/support/properties/hypervisor.ts, shared with `npm run fuzz`). Here
// it runs CI's short count.
import fc from "fast-check";
import { describe, it } from "vitest";
import { engines } from "../support/engines.js";
import { hypercallsProperty } from "../support/properties/hypervisor.js";

describe.each(engines)("under $name", ({ engine }) => {
  describe("random hypercalls", () => {
    it("never throw out of the hypervisor and never touch another domain", () => {
      fc.assert(hypercallsProperty(engine), { numRuns: 400 });
    });
  });
});
