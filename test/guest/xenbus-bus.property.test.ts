// The frontend bus against arbitrary device entries (fast-check): whatever
// dom0 writes under device/ (types with and without a driver, odd ids, any
// state, usable or garbage backend / backend-id nodes), before the bus
// attaches or after, the guest never traps and takes on exactly the devices
// a model says it should, leaving every other entry's state as it was.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { engines } from "../support/engines.js";
import { perms } from "../support/perms.js";
import { bootHarness } from "../support/xenbus.js";

const FRONTEND = 0;

interface Entry {
  type: string;
  id: string;
  state: string | null;
  backendId: string | null;
  backend: string | null;
  /** Written after the bus attached (found through its watch) rather than before. */
  late: boolean;
}

const entry = fc.record({
  type: fc.constantFrom("vtest", "vnone", "vtest2"),
  id: fc.stringMatching(/^[A-Za-z0-9_@-]{1,12}$/),
  state: fc.oneof(fc.constantFrom("1", "1", "1", "4", "6"), fc.constantFrom(null, "", "01", "x", "-1", "99999999999")),
  backendId: fc.oneof(fc.constantFrom("0", "0", "5"), fc.constantFrom(null, "", "abc", "-1", "70000", "32752")),
  backend: fc.oneof(
    fc.constant("/local/domain/0/backend/vtest/1/0"),
    fc.constantFrom(null, "", "/", "relative/path", "/local/domain/0/trailing/"),
  ),
  late: fc.boolean(),
});

/** What the bus should make of an entry: take it on (a vtest device, new, with a usable other end) or leave it. */
function attaches(e: Entry): boolean {
  // Decimal as C's sscanf reads it: leading zeros are fine.
  if (e.type !== "vtest" || e.state === null || !/^\d+$/.test(e.state) || Number(e.state) !== 1) return false;
  if (e.backendId === null || !/^\d+$/.test(e.backendId) || Number(e.backendId) > 0x7fef) return false;
  return e.backend !== null && e.backend.length >= 2 && e.backend.startsWith("/") && !e.backend.endsWith("/");
}

describe.each(engines)("under $name", ({ engine }) => {
  describe("the frontend bus against arbitrary device entries", () => {
    it("takes on exactly the well-formed new devices and leaves the others untouched", () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(entry, { minLength: 1, maxLength: 8, selector: (e) => `${e.type}/${e.id}` }),
          (entries) => {
            const hv = new Hypervisor();
            const service = startXenstore(hv);
            const dom0 = service.tools;
            const guest = bootHarness(hv, "front", engine);
            const x = guest.exports;
            expect(x.xs_init()).toBe(0);
            const home = `/local/domain/${guest.domid}`;
            const write = (e: Entry) =>
              dom0.transaction((tx) => {
                const dir = `${home}/device/${e.type}/${e.id}`;
                dom0.mkdir(dir, tx);
                dom0.setPerms(dir, perms(`n${guest.domid}`, "r0"), tx);
                if (e.backend !== null) dom0.write(`${dir}/backend`, e.backend, tx);
                if (e.backendId !== null) dom0.write(`${dir}/backend-id`, e.backendId, tx);
                if (e.state !== null) dom0.write(`${dir}/state`, e.state, tx);
              });
            entries.filter((e) => !e.late).forEach(write);
            expect(x.xenbus_bus_attach(FRONTEND)).toBe(0);
            entries.filter((e) => e.late).forEach(write);
            hv.runUntilIdle();
            expect(guest.exit).toBeNull();

            const out = x.page_alloc();
            const text = (length: number) => new TextDecoder().decode(guest.memory().slice(out, out + length));
            const found = Array.from(
              { length: x.xenbus_bus_device_count(FRONTEND) },
              (_, i) =>
                `${text(x.xenbus_bus_device_type(FRONTEND, i, out))}/${text(x.xenbus_bus_device_id(FRONTEND, i, out))}`,
            );
            expect(found.sort()).toEqual(
              entries
                .filter(attaches)
                .map((e) => `${e.type}/${e.id}`)
                .sort(),
            );
            for (const e of entries.filter((e) => !attaches(e) && e.state !== null)) {
              expect(dom0.read(`${home}/device/${e.type}/${e.id}/state`)).toBe(e.state);
            }
            // Frees the guest's engine instance now: the runs share one job, so garbage collection would free none until the end.
            hv.destroyDomain(guest.domid);
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
