// Any sequence of event channel and grant table calls, hostile arguments
// mixed in, never traps a guest, and both guests stay usable
// (test/support/properties/evtchn-gnttab.ts, shared with `npm run fuzz`).
// Here it runs CI's short count, from a fixed seed.
import fc from "fast-check";
import { describe, test } from "vitest";
import { engines } from "../support/engines.js";
import { evtchnGnttabProperty } from "../support/properties/evtchn-gnttab.js";

describe.each(engines)("under $name", ({ engine }) => {
  test("hostile evtchn/gnttab call sequences never trap a guest and leave both usable", () => {
    fc.assert(evtchnGnttabProperty(engine), { numRuns: 150, seed: 20240601 });
  });
});
