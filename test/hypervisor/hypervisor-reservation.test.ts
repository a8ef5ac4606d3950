// XENMEM_decrease_reservation / populate_physmap and the holes and orphaned
// pages of a translated guest's memory, against Xen 4.17: common/memory.c
// (the result is the number of extents done; a bad argument stops the count),
// hvm/grant_table.c with mm/p2m.c (a grant mapped over RAM orphans that page,
// an unmap leaves a hole), and grant copy and add_to_physmap around holes.
import { beforeEach, describe, expect, it } from "vitest";
import { GNTST, GTF, XENMAPSPACE, XENMEM } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { engines } from "../support/engines.js";
import { SCRATCH, type TestGuest, view } from "../support/hypervisor-guest.js";
import {
  copyFrames,
  copyFromGrant,
  decrease,
  GFNS,
  GRANTED_GFN,
  grantingPair,
  map,
  PAGE,
  place,
  populate,
  REF,
  TABLE_GFN,
  unmap,
} from "../support/memory-ops.js";

describe.each(engines)("under $name", ({ engine }) => {
  let hv: Hypervisor;
  let guest: TestGuest;
  let peer: TestGuest;
  const accounting = (g: TestGuest = guest) => hv.domain(g.domid)!.pageAccounting;
  const fill = (g: TestGuest, gfn: number, byte: number) => g.memory().fill(byte, gfn * PAGE, (gfn + 1) * PAGE);
  const pageBytes = (g: TestGuest, gfn: number) => new Set(g.memory().subarray(gfn * PAGE, (gfn + 1) * PAGE));

  beforeEach(() => {
    hv = new Hypervisor();
    ({ guest, peer } = grantingPair(hv, engine));
  });

  describe("decrease_reservation and populate_physmap for DOMID_SELF", () => {
    it("decrease leaves a zeroed hole, populate puts zeroed RAM back; each answers the extents it did", () => {
      fill(guest, 30, 0x11);
      expect(accounting()).toEqual({ holes: [], orphanedPages: 0 });
      expect(decrease(guest, [30])).toBe(1);
      expect(accounting()).toEqual({ holes: [30], orphanedPages: 0 });
      expect(pageBytes(guest, 30)).toEqual(new Set([0]));
      expect(decrease(guest, [30])).toBe(0); // a hole has nothing to give (guest_remove_page: -ENOENT)
      expect(populate(guest, [30])).toBe(1);
      expect(accounting()).toEqual({ holes: [], orphanedPages: 0 });
    });

    it("stops at the first extent it cannot do; a continuation starts where the command says", () => {
      expect(decrease(guest, [31, 32, 31, 33])).toBe(2); // 31 is a hole by the third extent
      expect(accounting().holes).toEqual([31, 32]);
      expect(populate(guest, [31, 32, GFNS, 33])).toBe(2); // beyond memory: no page to populate
      expect(decrease(guest, [31, 32, 33], { start: 2 })).toBe(3); // only extent 2 (gfn 33) is done
      expect(accounting().holes).toEqual([33]);
      expect(decrease(guest, [34], { start: 1 })).toBe(1); // start >= nr_extents: returned as is, nothing done
      expect(accounting().holes).toEqual([33]);
    });

    it("an extent of order n is 2^n pages from its gfn", () => {
      expect(decrease(guest, [40], { order: 2 })).toBe(1);
      expect(accounting().holes).toEqual([40, 41, 42, 43]);
      expect(populate(guest, [40], { order: 2 })).toBe(1);
      expect(accounting().holes).toEqual([]);
      expect(decrease(guest, [40], { order: 10 })).toBe(0); // beyond a domU's maximum order (9)
    });

    it("populate over RAM orphans the page that was there, as p2m_add_page does", () => {
      fill(guest, 35, 0x22);
      expect(populate(guest, [35])).toBe(1);
      expect(pageBytes(guest, 35)).toEqual(new Set([0]));
      expect(accounting()).toEqual({ holes: [], orphanedPages: 1 });
    });

    it("bad arguments are not errnos: the count stops where it started", () => {
      const size = guest.memory().byteLength;
      expect(guest.exports.hc_memory(XENMEM.decrease_reservation, size - 8)).toBe(0); // the struct cannot be read
      expect(guest.exports.hc_memory(XENMEM.decrease_reservation | (5 << 6), size - 8)).toBe(5);
      expect(decrease(guest, [], { list: size - 4, nrExtents: 1n })).toBe(0); // the list is not all in memory
      expect(decrease(guest, [30], { nrExtents: 1n << 26n })).toBe(0); // too many to encode a continuation
      expect(decrease(guest, [30], { domid: 99 })).toBe(0); // no such domain
      expect(decrease(peer, [30], { domid: guest.domid })).toBe(0); // XSM: not its own, not privileged
      expect(populate(guest, [30], { flags: 12 })).toBe(0); // address bits <= PAGE_SHIFT
      expect(populate(guest, [30], { flags: 1 << 16 })).toBe(0); // populate-on-demand on oneself
      expect(populate(guest, [30], { flags: ((3 + 1) << 8) | (1 << 17) })).toBe(0); // an exact node, unprivileged
      expect(decrease(guest, [2 ** 40])).toBe(0);
      expect(accounting(guest)).toEqual({ holes: [], orphanedPages: 0 });
      expect(accounting(peer)).toEqual({ holes: [], orphanedPages: 0 });
      expect(guest.exports.hc_memory(63, SCRATCH)).toBe(-38); // not a memory_op Xen has here: -ENOSYS
    });
  });

  describe("grant mappings and the p2m", () => {
    it("a map over RAM orphans that page; the unmap leaves a hole, which populate fills", () => {
      const mapped = map(guest, peer, 40);
      expect(mapped.status).toBe(GNTST.okay);
      expect(accounting()).toEqual({ holes: [], orphanedPages: 1 });
      expect(unmap(guest, 40, mapped.handle)).toBe(GNTST.okay);
      expect(accounting()).toEqual({ holes: [40], orphanedPages: 1 });
      expect(populate(guest, [40])).toBe(1);
      expect(accounting()).toEqual({ holes: [], orphanedPages: 1 });
    });

    it("a map over a hole fills it; nothing is orphaned", () => {
      expect(decrease(guest, [40])).toBe(1);
      const mapped = map(guest, peer, 40);
      expect(mapped.status).toBe(GNTST.okay);
      expect(guest.memory()[40 * PAGE]).toBe(0x5a);
      expect(accounting()).toEqual({ holes: [], orphanedPages: 0 });
      expect(unmap(guest, 40, mapped.handle)).toBe(GNTST.okay);
      expect(populate(guest, [40])).toBe(1);
      expect(accounting()).toEqual({ holes: [], orphanedPages: 0 });
    });

    it("a grant-mapped gfn cannot be given back; populate over it crashes the domain, as Xen's p2m_add_page does", () => {
      expect(decrease(guest, [40])).toBe(1);
      const mapped = map(guest, peer, 40);
      expect(decrease(guest, [40])).toBe(0);
      expect(accounting()).toEqual({ holes: [], orphanedPages: 0 });
      expect(unmap(guest, 40, mapped.handle)).toBe(GNTST.okay);
      expect(populate(guest, [40])).toBe(1);
      expect(map(guest, peer, 41).status).toBe(GNTST.okay);
      expect(populate(guest, [41])).toBeUndefined(); // the guest was unwound
      expect(guest.exit).toMatchObject({ reason: "crash", message: expect.stringContaining("gfn 41") });
      expect(peer.exit).toBeNull();
    });

    it("a page a peer maps can be given back: the mappings keep it, as Xen keeps the page for its mappers", () => {
      const mapped = map(guest, peer, 40);
      fill(peer, GRANTED_GFN, 0x66); // written in the peer's next run, the one that gives the page back
      expect(decrease(peer, [GRANTED_GFN])).toBe(1);
      expect(accounting(peer).holes).toEqual([GRANTED_GFN]);
      expect(pageBytes(peer, GRANTED_GFN)).toEqual(new Set([0]));
      // The ref stays pinned to the page it maps: copies and new mappings through it reach that page.
      expect(copyFromGrant(guest, peer, 42)).toBe(GNTST.okay);
      expect(guest.memory()[42 * PAGE]).toBe(0x66);
      const again = map(guest, peer, 41);
      expect(again.status).toBe(GNTST.okay);
      expect(pageBytes(guest, 41)).toEqual(new Set([0x66]));
      // The gfn's new RAM is another page.
      expect(populate(peer, [GRANTED_GFN])).toBe(1);
      fill(peer, GRANTED_GFN, 0x33);
      expect(copyFromGrant(guest, peer, 42)).toBe(GNTST.okay);
      expect(guest.memory()[42 * PAGE]).toBe(0x66);
      expect(unmap(guest, 40, mapped.handle)).toBe(GNTST.okay);
      expect(unmap(guest, 41, again.handle)).toBe(GNTST.okay);
      expect(view(peer).getUint16(TABLE_GFN * PAGE + REF * 8, true)).toBe(GTF.permit_access);
      // Unpinned, the entry is read again: it names the gfn, and the gfn has the new page.
      expect(map(guest, peer, 44).status).toBe(GNTST.okay);
      expect(pageBytes(guest, 44)).toEqual(new Set([0x33]));
    });

    it("RAM a peer maps replaced by populate or add_to_physmap: the peer keeps the old page", () => {
      const mapped = map(guest, peer, 40);
      expect(populate(peer, [GRANTED_GFN])).toBe(1);
      expect(accounting(peer)).toEqual({ holes: [], orphanedPages: 1 });
      expect(pageBytes(peer, GRANTED_GFN)).toEqual(new Set([0]));
      expect(place(peer, XENMAPSPACE.shared_info, 0, GRANTED_GFN)).toBe(0);
      expect(copyFromGrant(guest, peer, 42)).toBe(GNTST.okay);
      expect(guest.memory()[42 * PAGE]).toBe(0x5a);
      expect(pageBytes(guest, 40)).toEqual(new Set([0x5a]));
      expect(unmap(guest, 40, mapped.handle)).toBe(GNTST.okay);
    });

    it("a granted hole cannot be mapped or copied (GNTST_bad_page)", () => {
      expect(decrease(peer, [GRANTED_GFN])).toBe(1);
      expect(map(guest, peer, 40).status).toBe(GNTST.bad_page);
      expect(accounting(guest)).toEqual({ holes: [], orphanedPages: 0 });
      expect(copyFromGrant(guest, peer, 41)).toBe(GNTST.bad_page);
    });
  });

  describe("other hypercalls around holes", () => {
    it("grant copy by frame to or from a hole of the caller's is GNTST_bad_page", () => {
      expect(copyFrames(guest, 30, 31)).toBe(GNTST.okay);
      expect(decrease(guest, [31])).toBe(1);
      expect(copyFrames(guest, 30, 31)).toBe(GNTST.bad_page);
      expect(copyFrames(guest, 31, 30)).toBe(GNTST.bad_page);
    });

    it("add_to_physmap fills a hole; the gfn a page leaves becomes one", () => {
      expect(decrease(guest, [30])).toBe(1);
      expect(place(guest, XENMAPSPACE.shared_info, 0, 30)).toBe(0);
      expect(accounting().holes).toEqual([]);
      expect(place(guest, XENMAPSPACE.shared_info, 0, 31)).toBe(0);
      expect(accounting().holes).toEqual([30]);
      // Xen's own page goes back with decrease: it leaves a hole behind and stays Xen's.
      expect(decrease(guest, [31])).toBe(1);
      expect(accounting().holes).toEqual([30, 31]);
      expect(hv.domain(guest.domid)!.sharedInfo.gfn).toBeNull();
    });

    it("the host cannot map a hole of a guest's by gfn", () => {
      expect(decrease(guest, [30])).toBe(1);
      expect(hv.domain(guest.domid)!.frame(30)).toBeNull();
      expect(hv.domain(guest.domid)!.frame(31)).not.toBeNull();
    });
  });
});
