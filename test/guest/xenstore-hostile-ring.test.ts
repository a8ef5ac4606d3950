// The real guest module's XenStore client against a hostile xenstored on its
// store ring (test/support/properties/xenstore-ring.ts, shared with
// `npm run fuzz`): every xs_* export returns an errno or a well-formed
// result, never a trap or a stray write. Here it runs CI's short count.
import fc from "fast-check";
import { describe, test } from "vitest";
import { engines } from "../support/engines.js";
import { hostileXenstoreRingProperty } from "../support/properties/xenstore-ring.js";

describe.each(engines)("under $name", ({ engine }) => {
  test("a hostile xenstored on the store ring gets errors or well-formed results from every export, never a trap or a stray write", () => {
    fc.assert(hostileXenstoreRingProperty(engine), { numRuns: 1000 });
  });
});
