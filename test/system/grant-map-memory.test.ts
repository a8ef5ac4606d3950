// What mapping grants does to the mapper's memory, as on a translated (PVH)
// guest of Xen 4.17: a mapping takes the place of the page at host_addr in
// the p2m and an unmap leaves a hole, so build/xenbus.wasm gives each page's
// RAM back before mapping (XENMEM_decrease_reservation) and populates it
// again after unmapping. Checked from the simulated hypervisor's accounting
// of the mapper's memory: no hole and no orphaned page after any number of
// ring mappings, and none after Xen refuses a step (made to refuse here, as
// Xen may: it answers 0 extents done).
import { beforeEach, describe, expect, test } from "vitest";
import type { XenstoreService } from "../../host/dom0/toolstack.js";
import { GNTST, XENBUS_STATE, XENMEM } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import type { ReservationRequest } from "../../host/xen/reservation.js";
import type { BlkBack, BlkFront } from "../../runtime/blk.js";
import { blkPair, pattern } from "../support/blk.js";
import { engines } from "../support/engines.js";
import { bootXenbus, type Xenbus } from "../support/xenbus.js";

const PAGE = 4096;
const DEVID = 51712;
const { Connected, Closing } = XENBUS_STATE;
const NOTHING_LOST = { holes: [], orphanedPages: 0 };

/** Makes the hypervisor refuse the next `count` reservation changes of kind `op` (0 extents done, as Xen may answer). */
function refuse(hv: Hypervisor, op: number, count = 1): void {
  const reservations = hv.reservations;
  const change = reservations.change.bind(reservations);
  let left = count;
  reservations.change = (caller, request: ReservationRequest) => {
    if (request.op === op && left > 0) {
      left--;
      return request.startExtent;
    }
    return change(caller, request);
  };
}

describe.each(engines)("under $name", ({ engine }) => {
  describe("a Wasm block backend whose frontend connects and goes away again and again", () => {
    let hv: Hypervisor;
    let service: XenstoreService;
    let backDomain: Xenbus;
    let frontDomain: Xenbus;
    let back: BlkBack;
    let front: BlkFront;
    const id = () => ({ type: "vbd", devid: DEVID, frontend: frontDomain.domid, backend: backDomain.domid });
    const backAccounting = () => hv.domain(backDomain.domid)!.pageAccounting;

    beforeEach(() => {
      ({ hv, service, backDomain, frontDomain, back, front } = blkPair(engine));
      back.start(4);
    });

    /** Plugs the vbd on `disk`'s params and opens it. */
    function plug(params: Record<string, string>): void {
      service.devices.add({ ...id(), backendParams: params });
      front.open(DEVID);
    }

    function unplug(): void {
      expect(service.devices.unplug(id())).toBe("closed");
      hv.runUntilIdle();
    }

    /** The backend's 64 lowest free pool pages, each written and read back, then freed again. */
    function backPoolPages(): number[] {
      const x = backDomain.exports;
      const pages = Array.from({ length: 64 }, () => x.page_alloc());
      for (const page of pages) backDomain.memory().fill(0xa5, page, page + PAGE);
      x.evtchn_event_count(0); // the backend runs with its pages written
      for (const page of pages) {
        expect(new Set(backDomain.memory().subarray(page, page + PAGE))).toEqual(new Set([0xa5]));
        expect(x.page_free(page)).toBe(0);
      }
      return pages;
    }

    test("100 connections of a 16-page ring leave the backend no hole and no orphaned page, its pool whole", () => {
      const disk = back.createDisk(256);
      const pool = backPoolPages();
      for (let cycle = 0; cycle < 100; cycle++) {
        plug(disk.params);
        expect(back.info(frontDomain.domid, DEVID)).toMatchObject({ state: Connected, ringPages: 16 });
        front.write(DEVID, (cycle % 32) * 8, pattern(4096, cycle));
        unplug();
        expect(backAccounting()).toEqual(NOTHING_LOST);
      }
      expect(backDomain.exports.gnttab_hole_pages()).toBe(0);
      expect(backPoolPages()).toEqual(pool);
      expect([backDomain.exit, frontDomain.exit]).toEqual([null, null]);
    });

    test("Xen refusing a ring page back: the backend maps nothing, says Closing, and serves the next connection", () => {
      const disk = back.createDisk(256);
      const pool = backPoolPages();
      refuse(hv, XENMEM.decrease_reservation);
      service.devices.add({ ...id(), backendParams: disk.params });
      hv.runUntilIdle();
      const [b, f] = [backDomain.domid, frontDomain.domid];
      expect(service.tools.read(`/local/domain/${b}/error/backend/vbd/${f}/${DEVID}/error`)).toMatch(
        /^5 mapping in shared page \d+ from domain \d+$/,
      );
      expect(back.info(f, DEVID)).toMatchObject({ ringPages: 0 });
      expect(back.info(f, DEVID).state).toBeGreaterThanOrEqual(Closing);
      expect(backAccounting()).toEqual(NOTHING_LOST);
      unplug();
      expect(backPoolPages()).toEqual(pool);

      plug(disk.params);
      front.write(DEVID, 0, pattern(4096, 1));
      expect(front.read(DEVID, 0, 8)).toEqual(pattern(4096, 1));
      unplug();
      expect(backAccounting()).toEqual(NOTHING_LOST);
      expect(backPoolPages()).toEqual(pool);
    });

    test("Xen refusing to populate a page after the unmap: that page is counted, never reused, and service goes on", () => {
      const disk = back.createDisk(256);
      plug(disk.params);
      const ringPages = back.info(frontDomain.domid, DEVID).ringPages;
      refuse(hv, XENMEM.populate_physmap);
      unplug();
      const holes = backAccounting().holes;
      expect(holes).toHaveLength(1);
      expect(backDomain.exports.gnttab_hole_pages()).toBe(1);
      expect(backAccounting().orphanedPages).toBe(0);
      // The pool never hands the hole out: not to page_alloc, nor to the next rings.
      expect(backPoolPages()).not.toContain(holes[0]! * PAGE);
      for (let cycle = 0; cycle < 3; cycle++) {
        plug(disk.params);
        expect(back.info(frontDomain.domid, DEVID).ringPages).toBe(ringPages);
        front.write(DEVID, 0, pattern(4096, cycle));
        unplug();
      }
      expect(backAccounting()).toEqual({ holes, orphanedPages: 0 });
      expect(backDomain.exit).toBeNull();
    });
  });

  describe("gnttab_map and gnttab_unmap", () => {
    let hv: Hypervisor;
    let a: Xenbus;
    let b: Xenbus;
    let ref: number;
    const accounting = (guest: Xenbus) => hv.domain(guest.domid)!.pageAccounting;

    beforeEach(() => {
      hv = new Hypervisor();
      a = bootXenbus(hv, "a", engine);
      b = bootXenbus(hv, "b", engine);
      ref = a.exports.gnttab_grant_access(b.domid, a.exports.page_alloc() / PAGE, false);
      expect(ref).toBeGreaterThan(0);
    });

    test("a map Xen refuses leaves the page RAM again; one it makes, once unmapped, leaves nothing lost", () => {
      const target = b.exports.page_alloc();
      expect(b.exports.gnttab_map(a.domid, ref + 1, target, false)).toBe(GNTST.general_error); // never granted
      expect(accounting(b)).toEqual(NOTHING_LOST);
      const handle = b.exports.gnttab_map(a.domid, ref, target, false);
      expect(handle).toBeGreaterThanOrEqual(0);
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
      expect(accounting(b)).toEqual(NOTHING_LOST);
      expect(b.exports.page_free(target)).toBe(0);
    });

    test("the page not taken back: GNTST_bad_virt_addr, nothing mapped, the page still RAM", () => {
      const target = b.exports.page_alloc();
      refuse(hv, XENMEM.decrease_reservation);
      expect(b.exports.gnttab_map(a.domid, ref, target, false)).toBe(GNTST.bad_virt_addr);
      expect(a.exports.gnttab_end_access(ref)).toBe(0); // not pinned
      expect(accounting(b)).toEqual(NOTHING_LOST);
      expect(b.exports.page_free(target)).toBe(0);
    });

    test("a refused map whose page Xen then will not populate: a hole, counted and kept; the next map fills it", () => {
      const target = b.exports.page_alloc();
      refuse(hv, XENMEM.populate_physmap);
      expect(b.exports.gnttab_map(a.domid, ref + 1, target, false)).toBe(GNTST.general_error);
      expect(accounting(b)).toEqual({ holes: [target / PAGE], orphanedPages: 0 });
      expect(b.exports.gnttab_hole_pages()).toBe(1);
      expect(b.exports.page_free(target)).toBe(-16); // EBUSY: a hole must not be handed out

      const handle = b.exports.gnttab_map(a.domid, ref, target, false);
      expect(handle).toBeGreaterThanOrEqual(0);
      expect(b.exports.gnttab_hole_pages()).toBe(0);
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
      expect(accounting(b)).toEqual(NOTHING_LOST);
      expect(b.exports.page_free(target)).toBe(0);
    });
  });
});
