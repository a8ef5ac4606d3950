// The component against a reference: random sequences of operations through
// the component and through the host's LocalClient give the same values and
// errors, as dom0 and as an unprivileged domain
// (test/support/properties/component-reference.ts, shared with
// `npm run fuzz`). Here it runs CI's short count.
import fc from "fast-check";
import { describe, it } from "vitest";
import { GUEST, referenceProperty } from "../support/properties/component-reference.js";

describe("the component and the host's reference client", () => {
  for (const domid of [0, GUEST]) {
    it(`give the same values and errors for any sequence of operations (domain ${domid})`, () => {
      fc.assert(referenceProperty(domid), { numRuns: 150 });
    });
  }
});
