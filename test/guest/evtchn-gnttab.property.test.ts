// Any sequence of event channel and grant table calls, hostile arguments
// mixed in, never traps a guest, and both guests stay usable
// (test/support/properties/evtchn-gnttab.ts, shared with `npm run fuzz`).
// Here it runs CI's short count, from a fixed seed, after the cases the
// million found.
import fc from "fast-check";
import { describe, test } from "vitest";
import { engines } from "../support/engines.js";
import { evtchnGnttabProperty, type Op } from "../support/properties/evtchn-gnttab.js";

/**
 * From the million (case 422,602): guest 1 grants a page of its pool by
 * address before the pool hands it out, guest 0 maps it; the pool later hands
 * the page to the final check, which maps a grant there after giving the page
 * back (decrease_reservation), which Xen allows while a peer maps it.
 */
const givenBackWhileMapped: Op[] = [
  { kind: "share", guest: 0, readonly: true, mapReadonly: false },
  { kind: "grant_access", guest: 1, domid: 1, gfn: { raw: 65536 }, readonly: false },
  { kind: "map", guest: 0, domid: 2, ref: { known: 0 }, at: { page: 0, offset: 0 }, readonly: false },
  { kind: "page_alloc", guest: 1 },
  { kind: "share", guest: 0, readonly: false, mapReadonly: false },
  { kind: "page_alloc", guest: 1 },
  { kind: "share", guest: 0, readonly: false, mapReadonly: false },
  { kind: "share", guest: 0, readonly: false, mapReadonly: false },
  { kind: "share", guest: 0, readonly: false, mapReadonly: false },
  { kind: "connect", guest: 0 },
];

describe.each(engines)("under $name", ({ engine }) => {
  test("hostile evtchn/gnttab call sequences never trap a guest and leave both usable", () => {
    fc.assert(evtchnGnttabProperty(engine), { numRuns: 150, seed: 20240601, examples: [[givenBackWhileMapped]] });
  });
});
