// Grant tables end to end: build/xenbus.wasm guests share pages through the
// simulated Xen; every failure is Xen's exact errno or GNTST_* status.
import { beforeEach, describe, expect, test } from "vitest";
import { Hypervisor, type HypervisorOptions } from "../../host/xen/hypervisor.js";
import { loadGuest } from "../../runtime/index.js";
import type { XenbusExports } from "../../runtime/xenbus.js";
import { engines } from "../support/engines.js";
import { bootXenbus, type Xenbus, xenbusWasm } from "../support/xenbus.js";

const EINVAL = -22;
const EBUSY = -16;
const ENOSPC = -28;
const ENODEV = -19;
const GNTST = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  permission_denied: -8,
  bad_copy_arg: -10,
} as const;
const PAGE = 4096;
/** Refs in 4 frames (the table the module asks for), minus the 8 the toolstack keeps. */
const USABLE_REFS = 4 * 512 - 8;

/**
 * Writes into a guest's memory as if the guest had: the write is followed by
 * a run of the guest (a cheap export), since the hypervisor synchronises
 * mapped pages when control leaves a domain, and a write from outside any run
 * would otherwise be overwritten by the next sync (it could not happen on Xen).
 */
function write(guest: Xenbus, address: number, text: string): void {
  guest.memory().set(new TextEncoder().encode(text), address);
  guest.exports.evtchn_event_count(0);
}

function read(guest: Xenbus, address: number, length: number): string {
  return new TextDecoder().decode(guest.memory().slice(address, address + length));
}

function page(guest: Xenbus): number {
  const address = guest.exports.page_alloc();
  expect(address).toBeGreaterThan(0);
  expect(address % PAGE).toBe(0);
  return address;
}

describe.each(engines)("under $name", ({ engine }) => {
  function setup(options: HypervisorOptions = {}): { hv: Hypervisor; a: Xenbus; b: Xenbus; c: Xenbus } {
    const hv = new Hypervisor(options);
    return { hv, a: bootXenbus(hv, "a", engine), b: bootXenbus(hv, "b", engine), c: bootXenbus(hv, "c", engine) };
  }

  describe("sharing a page between two Wasm guests", () => {
    let a: Xenbus;
    let b: Xenbus;
    let c: Xenbus;
    beforeEach(() => ({ a, b, c } = setup()));

    test("grant, map, write, unmap: the granter sees the data, then ends access", () => {
      const shared = page(a);
      write(a, shared, "from a");
      const ref = a.exports.gnttab_grant_access(b.domid, shared / PAGE, false);
      expect(ref).toBe(8); // the first ref after the toolstack's reserved ones

      const target = page(b);
      const handle = b.exports.gnttab_map(a.domid, ref, target, false);
      expect(handle).toBeGreaterThanOrEqual(0);
      expect(read(b, target, 6)).toBe("from a");
      write(b, target + 100, "from b");

      expect(a.exports.gnttab_end_access(ref)).toBe(EBUSY);
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
      expect(read(a, shared + 100, 6)).toBe("from b");
      expect(read(b, target, 6)).toBe("\0".repeat(6)); // the mapping is gone from b
      expect(a.exports.gnttab_end_access(ref)).toBe(0);
      expect(a.exports.gnttab_end_access(ref)).toBe(EINVAL);
      expect(b.exports.gnttab_map(a.domid, ref, target, false)).toBe(GNTST.general_error);
    });

    test("end_access while mapped is -EBUSY and the grant stays valid", () => {
      const shared = page(a);
      const ref = a.exports.gnttab_grant_access(b.domid, shared / PAGE, false);
      const first = page(b);
      const second = page(b);
      const h1 = b.exports.gnttab_map(a.domid, ref, first, false);
      expect(a.exports.gnttab_end_access(ref)).toBe(EBUSY);
      const h2 = b.exports.gnttab_map(a.domid, ref, second, true);
      expect(h2).toBeGreaterThanOrEqual(0);
      expect(h2).not.toBe(h1);
      expect(b.exports.gnttab_unmap(first, h1)).toBe(GNTST.okay);
      expect(a.exports.gnttab_end_access(ref)).toBe(EBUSY); // a read-only mapping still holds it
      expect(b.exports.gnttab_unmap(second, h2)).toBe(GNTST.okay);
      expect(a.exports.gnttab_end_access(ref)).toBe(0);
    });

    test("a write made through one mapping reaches the granter when control passes", () => {
      const shared = page(a);
      const ref = a.exports.gnttab_grant_access(b.domid, shared / PAGE, false);
      const target = page(b);
      const handle = b.exports.gnttab_map(a.domid, ref, target, false);
      write(b, target, "live");
      expect(read(a, shared, 4)).toBe("live");
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
    });

    test("a grant for another domain cannot be mapped (Xen: GNTST_general_error)", () => {
      const ref = a.exports.gnttab_grant_access(b.domid, page(a) / PAGE, false);
      expect(c.exports.gnttab_map(a.domid, ref, page(c), false)).toBe(GNTST.general_error);
      expect(c.exports.gnttab_map(a.domid, ref, page(c), true)).toBe(GNTST.general_error);
      expect(a.exports.gnttab_end_access(ref)).toBe(0); // nothing was pinned
    });

    test("a read-only grant refuses a writable map (Xen: GNTST_general_error) and ignores the reader's writes", () => {
      const shared = page(a);
      write(a, shared, "original");
      const ref = a.exports.gnttab_grant_access(b.domid, shared / PAGE, true);
      const target = page(b);
      expect(b.exports.gnttab_map(a.domid, ref, target, false)).toBe(GNTST.general_error);
      const handle = b.exports.gnttab_map(a.domid, ref, target, true);
      expect(handle).toBeGreaterThanOrEqual(0);
      expect(read(b, target, 8)).toBe("original");
      write(b, target, "tampered");
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
      expect(read(a, shared, 8)).toBe("original");
      expect(a.exports.gnttab_end_access(ref)).toBe(0);
    });

    test("copy through Xen from a grant, without mapping", () => {
      const shared = page(a);
      write(a, shared + 200, "copied bytes");
      const ref = a.exports.gnttab_grant_access(b.domid, shared / PAGE, true);
      const dest = page(b);
      expect(b.exports.gnttab_copy_from(a.domid, ref, 200, dest + 8, 12)).toBe(GNTST.okay);
      expect(read(b, dest + 8, 12)).toBe("copied bytes");
      expect(b.exports.gnttab_copy_from(a.domid, ref, PAGE - 4, dest, 8)).toBe(GNTST.bad_copy_arg);
      expect(b.exports.gnttab_copy_from(a.domid, ref, 0x10000, dest, 8)).toBe(GNTST.bad_copy_arg);
      expect(c.exports.gnttab_copy_from(a.domid, ref, 0, page(c), 8)).toBe(GNTST.general_error);
      expect(b.exports.gnttab_copy_from(a.domid, 5000, 0, dest, 8)).toBe(GNTST.bad_gntref);
      expect(b.exports.gnttab_copy_from(999, ref, 0, dest, 8)).toBe(GNTST.bad_domain);
      expect(a.exports.gnttab_end_access(ref)).toBe(0);
    });
  });

  describe("hostile grant arguments get Xen's statuses", () => {
    let a: Xenbus;
    let b: Xenbus;
    let ref: number;
    let target: number;
    beforeEach(() => {
      ({ a, b } = setup());
      ref = a.exports.gnttab_grant_access(b.domid, page(a) / PAGE, false);
      target = page(b);
    });

    test("refs outside the granter's table are GNTST_bad_gntref", () => {
      for (const bad of [4 * 512, 32 * 512, 0x7fffffff, 0xffffffff]) {
        expect(b.exports.gnttab_map(a.domid, bad, target, false)).toBe(GNTST.bad_gntref);
      }
      // Inside the table but never granted: the entry's flags do not permit access.
      expect(b.exports.gnttab_map(a.domid, ref + 1, target, false)).toBe(GNTST.general_error);
    });

    test("unknown and unrepresentable domains are GNTST_bad_domain", () => {
      expect(b.exports.gnttab_map(999, ref, target, false)).toBe(GNTST.bad_domain);
      expect(b.exports.gnttab_map(0x10000 + a.domid, ref, target, false)).toBe(GNTST.bad_domain);
    });

    test("host addresses: unaligned or beyond memory (Xen), or the module's own memory (refused here)", () => {
      expect(b.exports.gnttab_map(a.domid, ref, target + 1, false)).toBe(GNTST.bad_virt_addr);
      const size = b.memory().byteLength;
      for (const beyond of [size, size + PAGE, 0x7ffff000, 0xfffff000]) {
        expect(b.exports.gnttab_map(a.domid, ref, beyond, false)).toBe(GNTST.bad_virt_addr);
      }
      for (const own of [0, PAGE, target - PAGE]) {
        expect(b.exports.gnttab_map(a.domid, ref, own, false)).toBe(GNTST.bad_virt_addr);
      }
      expect(b.exports.gnttab_copy_from(a.domid, ref, 0, 0, 8)).toBe(GNTST.bad_virt_addr);
      expect(a.exports.gnttab_end_access(ref)).toBe(0); // none of these left the grant pinned
    });

    test("a page already holding a mapping cannot take another", () => {
      const handle = b.exports.gnttab_map(a.domid, ref, target, false);
      expect(b.exports.gnttab_map(a.domid, ref, target, true)).toBe(GNTST.bad_virt_addr);
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
    });

    test("unmap: unknown handle, wrong address, twice", () => {
      const handle = b.exports.gnttab_map(a.domid, ref, target, false);
      expect(b.exports.gnttab_unmap(target, handle + 1)).toBe(GNTST.bad_handle);
      expect(b.exports.gnttab_unmap(target, 0xffffffff)).toBe(GNTST.bad_handle);
      expect(b.exports.gnttab_unmap(target + PAGE, handle)).toBe(GNTST.general_error);
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.bad_handle);
    });

    test("end_access of reserved, out-of-range and never-granted refs is -EINVAL", () => {
      for (const bad of [0, 1, 7, ref + 1, 4 * 512, 0xffffffff]) {
        expect(a.exports.gnttab_end_access(bad)).toBe(EINVAL);
      }
      expect(a.exports.gnttab_end_access(ref)).toBe(0);
    });

    test("grant_access to a domid that does not fit domid_t is -EINVAL", () => {
      expect(a.exports.gnttab_grant_access(0x10000 + b.domid, 1, false)).toBe(EINVAL);
    });

    test("page_free takes back only page_alloc pages, once", () => {
      const spare = page(a);
      for (const bad of [0, spare + 1, 0xfffff000]) expect(a.exports.page_free(bad)).toBe(EINVAL);
      expect(a.exports.page_free(spare)).toBe(0);
      expect(a.exports.page_free(spare)).toBe(EINVAL);
    });

    test("page_free refuses a page a peer may still touch: mapped here, or granted", () => {
      const handle = b.exports.gnttab_map(a.domid, ref, target, false);
      expect(b.exports.page_free(target)).toBe(EBUSY);
      expect(b.exports.gnttab_unmap(target, handle)).toBe(GNTST.okay);
      expect(b.exports.page_free(target)).toBe(0);
      expect(b.exports.page_alloc()).toBe(target); // back in the pool, and only once

      const granted = page(a);
      const second = a.exports.gnttab_grant_access(b.domid, granted / PAGE, true);
      expect(a.exports.page_free(granted)).toBe(EBUSY);
      expect(a.exports.gnttab_end_access(second)).toBe(0);
      expect(a.exports.page_free(granted)).toBe(0);
    });

    test("nothing here trapped either guest", () => {
      expect([a.exit, b.exit]).toEqual([null, null]);
    });
  });

  describe("ref allocation", () => {
    test("exhaustion is -ENOSPC; a ref freed by end_access is handed out again", () => {
      const { a, b } = setup();
      const gfn = page(a) / PAGE;
      expect(a.exports.gnttab_free_refs()).toBe(USABLE_REFS);
      const refs = Array.from({ length: USABLE_REFS }, () => a.exports.gnttab_grant_access(b.domid, gfn, true));
      expect(new Set(refs).size).toBe(USABLE_REFS);
      expect(Math.min(...refs)).toBe(8);
      expect(a.exports.gnttab_grant_access(b.domid, gfn, true)).toBe(ENOSPC);
      expect(a.exports.gnttab_free_refs()).toBe(0);

      expect(a.exports.gnttab_end_access(1000)).toBe(0);
      expect(a.exports.gnttab_grant_access(b.domid, gfn, false)).toBe(1000);
      expect(a.exports.gnttab_grant_access(b.domid, gfn, false)).toBe(ENOSPC);
      for (const ref of refs) expect(a.exports.gnttab_end_access(ref)).toBe(0);
      expect(a.exports.gnttab_free_refs()).toBe(USABLE_REFS);
    });

    test("the table is sized within Xen's maximum (one frame here)", () => {
      const { a, b } = setup({ maxGrantFrames: 1 });
      expect(a.exports.gnttab_free_refs()).toBe(512 - 8);
      const ref = a.exports.gnttab_grant_access(b.domid, page(a) / PAGE, false);
      expect(b.exports.gnttab_map(a.domid, 512, page(b), false)).toBe(GNTST.bad_gntref);
      expect(b.exports.gnttab_map(a.domid, ref, page(b), false)).toBeGreaterThanOrEqual(0);
    });

    test("with no grant frames allowed, xen_boot says -ENOSPC; events still work, grants stay -ENODEV", () => {
      const hv = new Hypervisor({ maxGrantFrames: 0 });
      const guest = loadGuest<XenbusExports>(hv, xenbusWasm, { name: "tableless", engine });
      expect(guest.exports.xen_boot()).toBe(ENOSPC);
      expect(guest.exports.xen_boot()).toBe(ENOSPC);
      expect(guest.exports.gnttab_grant_access(0, 1, false)).toBe(ENODEV);
      const port = guest.exports.evtchn_alloc_unbound(0);
      hv.dom0.evtchn.notify(hv.dom0.evtchn.bindInterdomain(guest.domid, port));
      hv.runUntilIdle();
      expect(guest.exports.evtchn_event_count(port)).toBe(1);
    });

    test("before xen_boot, grant_access and end_access are -ENODEV", () => {
      const hv = new Hypervisor();
      const early = loadGuest<XenbusExports>(hv, xenbusWasm, { name: "early", engine });
      expect(early.exports.gnttab_grant_access(0, 1, false)).toBe(ENODEV);
      expect(early.exports.gnttab_end_access(8)).toBe(ENODEV);
      expect(early.exports.gnttab_free_refs()).toBe(0);
      expect(early.exports.xen_boot()).toBe(0);
      expect(early.exports.gnttab_free_refs()).toBe(USABLE_REFS);
    });
  });

  describe("a Wasm guest and a native dom0 backend", () => {
    test("dom0 maps the guest's grant as a live view, writes, unmaps; then the guest ends access", () => {
      const hv = new Hypervisor();
      const guest = bootXenbus(hv, "guest", engine);
      const shared = page(guest);
      write(guest, shared, "request");
      const ref = guest.exports.gnttab_grant_access(0, shared / PAGE, false);
      const mapping = hv.dom0.gnttab.mapGrantRef(guest.domid, ref, true);
      expect(new TextDecoder().decode(mapping.bytes().slice(0, 7))).toBe("request");
      mapping.bytes().set(new TextEncoder().encode("response"), 0);
      expect(guest.exports.gnttab_end_access(ref)).toBe(EBUSY);
      expect(read(guest, shared, 8)).toBe("response");
      mapping.unmap();
      expect(guest.exports.gnttab_end_access(ref)).toBe(0);
      expect(() => hv.dom0.gnttab.mapGrantRef(guest.domid, ref, false)).toThrow(/GNTST_general_error/);
    });
  });
});
