// Grant tables v1 against the hypervisor: placement of the table, map/unmap
// checks and GTF flags (native and Wasm mappers), pin counts, copy, setup_table
// and query_size, and page coherence between two Wasm memories.
import { beforeEach, describe, expect, it } from "vitest";
import {
  DOMID,
  ERRNO,
  EVTCHNOP,
  GNTCOPY,
  GNTMAP,
  GNTST,
  GNTTABOP,
  GTF,
  gnttab_copy,
  gnttab_map_grant_ref,
  gnttab_query_size,
  gnttab_setup_table,
  gnttab_unmap_grant_ref,
  type StructLayout,
  XENMAPSPACE,
  XENMEM,
  xen_add_to_physmap,
} from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { GuestMemory } from "../../host/xen/memory.js";
import { GrantError } from "../../host/xen/native.js";
import { engines } from "../support/engines.js";
import { loadTestGuest, SCRATCH, type TestGuest, view } from "../support/hypervisor-guest.js";

const TABLE_GFN = 17;
const PAGE_GFN = 20;
const REF = 8;

function struct<F extends string>(guest: TestGuest, layout: StructLayout<F>, address = SCRATCH) {
  const memory = new GuestMemory(() => guest.memory());
  memory.bytes().fill(0, address, address + layout.sizeof);
  return memory.struct(address, layout)!;
}

function place(guest: TestGuest, space: number, idx: number, gpfn: number, domid: number = DOMID.SELF): number {
  const op = struct(guest, xen_add_to_physmap);
  op.setU16("domid", domid);
  op.setU32("space", space);
  op.setU64("idx", BigInt(idx));
  op.setU64("gpfn", BigInt(gpfn));
  return guest.exports.hc_memory(XENMEM.add_to_physmap, SCRATCH);
}

/** Writes grant entry `ref` in the guest's placed table frame 0. */
function grant(guest: TestGuest, ref: number, domid: number, frame: number, flags: number = GTF.permit_access): void {
  const v = view(guest);
  const at = TABLE_GFN * 4096 + ref * 8;
  v.setUint16(at + 2, domid, true);
  v.setUint32(at + 4, frame, true);
  v.setUint16(at, flags, true);
}

const entryFlags = (guest: TestGuest, ref: number) => view(guest).getUint16(TABLE_GFN * 4096 + ref * 8, true);

function map(
  mapper: TestGuest,
  dom: number,
  ref: number,
  hostAddr: number,
  flags: number = GNTMAP.host_map,
  at = SCRATCH,
) {
  const op = struct(mapper, gnttab_map_grant_ref, at);
  op.setU64("host_addr", BigInt(hostAddr));
  op.setU32("flags", flags);
  op.setU32("ref", ref);
  op.setU16("dom", dom);
  const rc = mapper.exports.hc_gnttab(GNTTABOP.map_grant_ref, at, 1);
  return { rc, status: op.i16("status"), handle: op.u32("handle"), busAddr: op.u64("dev_bus_addr") };
}

function unmap(mapper: TestGuest, handle: number, hostAddr: number) {
  const op = struct(mapper, gnttab_unmap_grant_ref);
  op.setU64("host_addr", BigInt(hostAddr));
  op.setU32("handle", handle);
  expect(mapper.exports.hc_gnttab(GNTTABOP.unmap_grant_ref, SCRATCH, 1)).toBe(0);
  return op.i16("status");
}

describe.each(engines)("under $name", ({ engine }) => {
  let hv: Hypervisor;
  let granter: TestGuest;
  let mapper: TestGuest;

  beforeEach(() => {
    hv = new Hypervisor();
    granter = loadTestGuest(hv, "granter", engine);
    mapper = loadTestGuest(hv, "mapper", engine);
    expect(place(granter, XENMAPSPACE.grant_table, 0, TABLE_GFN)).toBe(0);
    granter.memory().fill(0x5a, PAGE_GFN * 4096, PAGE_GFN * 4096 + 4096);
  });

  describe("native mapper (libxengnttab)", () => {
    it("maps a live view, sets GTF_reading|GTF_writing while mapped and clears them on unmap", () => {
      grant(granter, REF, 0, PAGE_GFN);
      const mapping = hv.dom0.gnttab.mapGrantRef(granter.domid, REF, true);
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
      expect(mapping.bytes()[0]).toBe(0x5a);
      mapping.bytes()[1] = 0x77;
      expect(granter.memory()[PAGE_GFN * 4096 + 1]).toBe(0x77);
      expect(granter.exports.grow(1)).toBe(4); // the old buffer is detached; the view is derived again
      mapping.bytes()[2] = 0x78;
      expect(granter.exports.load_byte(PAGE_GFN * 4096 + 2)).toBe(0x78);
      mapping.unmap();
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access);
      expect(() => mapping.unmap()).toThrow(GrantError);
    });

    it("refuses with Xen's statuses", () => {
      const status = (f: () => unknown) => {
        try {
          f();
        } catch (error) {
          return (error as GrantError).status;
        }
        return GNTST.okay;
      };
      grant(granter, REF, 0, PAGE_GFN, GTF.permit_access | GTF.readonly);
      grant(granter, REF + 1, 5, PAGE_GFN); // for someone else
      grant(granter, REF + 2, 0, PAGE_GFN, GTF.accept_transfer);
      grant(granter, REF + 3, 0, 0x7fffff); // a frame outside its memory
      const gnttab = hv.dom0.gnttab;
      expect(status(() => gnttab.mapGrantRef(granter.domid, REF, true))).toBe(GNTST.general_error);
      expect(status(() => gnttab.mapGrantRef(granter.domid, REF + 1, false))).toBe(GNTST.general_error);
      expect(status(() => gnttab.mapGrantRef(granter.domid, REF + 2, false))).toBe(GNTST.general_error);
      expect(status(() => gnttab.mapGrantRef(granter.domid, REF + 3, false))).toBe(GNTST.bad_page);
      expect(status(() => gnttab.mapGrantRef(granter.domid, 512, false))).toBe(GNTST.bad_gntref);
      expect(status(() => gnttab.mapGrantRef(77, REF, false))).toBe(GNTST.bad_domain);
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access | GTF.readonly);
      const readonly = gnttab.mapGrantRef(granter.domid, REF, false);
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access | GTF.readonly | GTF.reading);
      readonly.unmap();
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access | GTF.readonly);
    });
  });

  describe("Wasm mapper", () => {
    const HOST = 40 * 4096;

    it("checks flags, domain, ref, and host_addr before mapping", () => {
      grant(granter, REF, mapper.domid, PAGE_GFN);
      expect(map(mapper, granter.domid, REF, HOST, 0).status).toBe(GNTST.bad_gntref);
      expect(map(mapper, granter.domid, REF, HOST, GNTMAP.host_map | GNTMAP.device_map).status).toBe(
        GNTST.general_error,
      );
      expect(map(mapper, 99, REF, HOST).status).toBe(GNTST.bad_domain);
      expect(map(mapper, DOMID.SELF, REF, HOST).status).toBe(GNTST.bad_domain);
      expect(map(mapper, granter.domid, 4096, HOST).status).toBe(GNTST.bad_gntref);
      expect(map(mapper, granter.domid, REF, HOST + 12).status).toBe(GNTST.bad_virt_addr);
      expect(map(mapper, granter.domid, REF, 64 * 4096).status).toBe(GNTST.bad_virt_addr);
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access); // nothing stuck from the failures
      const ok = map(mapper, granter.domid, REF, HOST);
      expect(ok).toMatchObject({ rc: 0, status: GNTST.okay, busAddr: BigInt(PAGE_GFN * 4096) });
      expect(map(mapper, granter.domid, REF, HOST).status).toBe(GNTST.bad_virt_addr); // already a mapping there
      expect(mapper.memory()[HOST + 100]).toBe(0x5a);
      // While the mapper holds it, a third domain cannot map the same entry.
      expect(() => hv.dom0.gnttab.mapGrantRef(granter.domid, REF, false)).toThrow(GrantError);
    });

    it("unmap: bad handle, wrong address, then zeroes the mapper's page and clears flags", () => {
      grant(granter, REF, mapper.domid, PAGE_GFN);
      const { handle } = map(mapper, granter.domid, REF, HOST);
      expect(unmap(mapper, handle + 1, HOST)).toBe(GNTST.bad_handle);
      expect(unmap(mapper, 1 << 30, HOST)).toBe(GNTST.bad_handle);
      expect(unmap(mapper, handle, HOST + 4096)).toBe(GNTST.general_error);
      mapper.exports.store_byte(HOST + 3, 0x33);
      expect(unmap(mapper, handle, HOST)).toBe(GNTST.okay);
      expect(granter.memory()[PAGE_GFN * 4096 + 3]).toBe(0x33);
      expect(
        mapper
          .memory()
          .subarray(HOST, HOST + 4096)
          .every((b) => b === 0),
      ).toBe(true);
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access);
      expect(unmap(mapper, handle, HOST)).toBe(GNTST.bad_handle);
    });

    it("keeps per-mode pin counts: GTF_writing goes with the last writer, GTF_reading with the last mapping", () => {
      grant(granter, REF, mapper.domid, PAGE_GFN);
      const reader = map(mapper, granter.domid, REF, HOST, GNTMAP.host_map | GNTMAP.readonly);
      const writer = map(mapper, granter.domid, REF, HOST + 4096);
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
      // The granter revoking the entry does not undo existing pins; a new map is judged by the active entry.
      grant(granter, REF, mapper.domid, PAGE_GFN, GTF.invalid | GTF.reading | GTF.writing);
      expect(unmap(mapper, writer.handle, HOST + 4096)).toBe(GNTST.okay);
      expect(entryFlags(granter, REF)).toBe(GTF.reading);
      expect(unmap(mapper, reader.handle, HOST)).toBe(GNTST.okay);
      expect(entryFlags(granter, REF)).toBe(0);
    });

    it("processes several ops per call with a status each, and faults at the first op outside memory", () => {
      grant(granter, REF, mapper.domid, PAGE_GFN);
      const ops = SCRATCH + 256;
      const memory = new GuestMemory(() => mapper.memory());
      [REF, 9999].forEach((ref, i) => {
        const op = memory.struct(ops + i * gnttab_map_grant_ref.sizeof, gnttab_map_grant_ref)!;
        op.setU64("host_addr", BigInt(HOST + i * 4096));
        op.setU32("flags", GNTMAP.host_map);
        op.setU32("ref", ref);
        op.setU16("dom", granter.domid);
      });
      expect(mapper.exports.hc_gnttab(GNTTABOP.map_grant_ref, ops, 2)).toBe(0);
      expect(memory.struct(ops, gnttab_map_grant_ref)!.i16("status")).toBe(GNTST.okay);
      expect(memory.struct(ops + 32, gnttab_map_grant_ref)!.i16("status")).toBe(GNTST.bad_gntref);
      const end = mapper.memory().byteLength;
      expect(mapper.exports.hc_gnttab(GNTTABOP.map_grant_ref, end - 32, 2)).toBe(-ERRNO.EFAULT);
      expect(mapper.exports.hc_gnttab(GNTTABOP.map_grant_ref, ops, -1)).toBe(-ERRNO.EINVAL);
    });
  });

  describe("table setup", () => {
    it("setup_table: bounds, frames where placed (INVALID_GFN until then), one op per call", () => {
      const op = struct(granter, gnttab_setup_table);
      op.setU16("dom", DOMID.SELF);
      op.setU32("nr_frames", 33);
      op.setU64("frame_list", BigInt(SCRATCH + 64));
      expect(granter.exports.hc_gnttab(GNTTABOP.setup_table, SCRATCH, 1)).toBe(0);
      expect(op.i16("status")).toBe(GNTST.general_error);
      op.setU32("nr_frames", 4);
      expect(granter.exports.hc_gnttab(GNTTABOP.setup_table, SCRATCH, 2)).toBe(-ERRNO.EINVAL);
      expect(granter.exports.hc_gnttab(GNTTABOP.setup_table, SCRATCH, 1)).toBe(0);
      expect(op.i16("status")).toBe(GNTST.okay);
      const v = view(granter);
      expect(v.getBigUint64(SCRATCH + 64, true)).toBe(BigInt(TABLE_GFN));
      expect(v.getBigUint64(SCRATCH + 72, true)).toBe((1n << 64n) - 1n);
      op.setU16("dom", mapper.domid);
      expect(granter.exports.hc_gnttab(GNTTABOP.setup_table, SCRATCH, 1)).toBe(0);
      expect(op.i16("status")).toBe(GNTST.permission_denied);
      op.setU16("dom", 99);
      expect(granter.exports.hc_gnttab(GNTTABOP.setup_table, SCRATCH, 1)).toBe(0);
      expect(op.i16("status")).toBe(GNTST.bad_domain);
      op.setU64("frame_list", BigInt(granter.memory().byteLength - 8));
      expect(granter.exports.hc_gnttab(GNTTABOP.setup_table, SCRATCH, 1)).toBe(-ERRNO.EFAULT);

      const query = struct(granter, gnttab_query_size);
      query.setU16("dom", DOMID.SELF);
      expect(granter.exports.hc_gnttab(GNTTABOP.query_size, SCRATCH, 1)).toBe(0);
      expect([query.i16("status"), query.u32("nr_frames"), query.u32("max_nr_frames")]).toEqual([GNTST.okay, 4, 32]);
      query.setU16("dom", 0);
      expect(granter.exports.hc_gnttab(GNTTABOP.query_size, SCRATCH, 1)).toBe(0);
      expect(query.i16("status")).toBe(GNTST.permission_denied);
    });

    it("add_to_physmap: own domain only, index and frame bounds; re-placing moves the content", () => {
      grant(granter, REF, 0, PAGE_GFN);
      expect(place(granter, XENMAPSPACE.grant_table, 32, 30)).toBe(-ERRNO.EINVAL);
      expect(place(granter, XENMAPSPACE.grant_table, 0x80000000, 30)).toBe(-ERRNO.EINVAL);
      expect(place(granter, XENMAPSPACE.shared_info, 1, 30)).toBe(-ERRNO.EINVAL);
      expect(place(granter, 9, 0, 30)).toBe(-ERRNO.EINVAL);
      expect(place(granter, XENMAPSPACE.grant_table, 0, 2 ** 36)).toBe(-ERRNO.EINVAL);
      expect(place(granter, XENMAPSPACE.grant_table, 0, 30, mapper.domid)).toBe(-ERRNO.EPERM);
      expect(place(granter, XENMAPSPACE.grant_table, 0, 30, 99)).toBe(-ERRNO.ESRCH);
      expect(place(granter, XENMAPSPACE.grant_table, 0, 31)).toBe(0);
      expect(view(granter).getUint32(31 * 4096 + REF * 8 + 4, true)).toBe(PAGE_GFN);
      // The table is now read from its new place.
      view(granter).setUint32(31 * 4096 + REF * 8 + 4, PAGE_GFN + 1, true);
      granter.memory()[(PAGE_GFN + 1) * 4096] = 0x42;
      expect(hv.dom0.gnttab.mapGrantRef(granter.domid, REF, false).bytes()[0]).toBe(0x42);
    });
  });

  describe("copy", () => {
    function copy(
      caller: TestGuest,
      fields: { src: [number, number, number]; dst: [number, number, number]; len: number; flags: number },
    ) {
      const op = struct(caller, gnttab_copy);
      op.setU64("source.u.gmfn", BigInt(fields.src[0]));
      op.setU16("source.domid", fields.src[1]);
      op.setU16("source.offset", fields.src[2]);
      op.setU64("dest.u.gmfn", BigInt(fields.dst[0]));
      op.setU16("dest.domid", fields.dst[1]);
      op.setU16("dest.offset", fields.dst[2]);
      op.setU16("len", fields.len);
      op.setU16("flags", fields.flags);
      expect(caller.exports.hc_gnttab(GNTTABOP.copy, SCRATCH, 1)).toBe(0);
      return op.i16("status");
    }

    it("copies between a grant and the caller's own frames, with Xen's argument checks", () => {
      grant(granter, REF, mapper.domid, PAGE_GFN);
      grant(granter, REF + 1, mapper.domid, PAGE_GFN + 1, GTF.permit_access | GTF.readonly);
      const self = DOMID.SELF;
      expect(
        copy(mapper, { src: [REF, granter.domid, 4000], dst: [50, self, 0], len: 100, flags: GNTCOPY.source_gref }),
      ).toBe(GNTST.bad_copy_arg);
      expect(copy(mapper, { src: [PAGE_GFN, granter.domid, 0], dst: [50, self, 0], len: 10, flags: 0 })).toBe(
        GNTST.permission_denied,
      );
      expect(copy(mapper, { src: [REF, 99, 0], dst: [50, self, 0], len: 10, flags: GNTCOPY.source_gref })).toBe(
        GNTST.bad_domain,
      );
      expect(
        copy(mapper, { src: [REF, granter.domid, 0], dst: [999, self, 0], len: 10, flags: GNTCOPY.source_gref }),
      ).toBe(GNTST.bad_page);
      expect(
        copy(mapper, { src: [50, self, 0], dst: [REF + 1, granter.domid, 0], len: 10, flags: GNTCOPY.dest_gref }),
      ).toBe(GNTST.general_error);
      expect(
        copy(mapper, { src: [REF, granter.domid, 16], dst: [50, self, 32], len: 8, flags: GNTCOPY.source_gref }),
      ).toBe(GNTST.okay);
      expect([...mapper.memory().subarray(50 * 4096 + 30, 50 * 4096 + 42)]).toEqual([
        0,
        0,
        ...Array(8).fill(0x5a),
        0,
        0,
      ]);
      mapper.memory().fill(0x11, 50 * 4096, 50 * 4096 + 8);
      expect(copy(mapper, { src: [50, self, 0], dst: [REF, granter.domid, 0], len: 8, flags: GNTCOPY.dest_gref })).toBe(
        GNTST.okay,
      );
      expect(granter.memory()[PAGE_GFN * 4096 + 7]).toBe(0x11);
      expect(entryFlags(granter, REF)).toBe(GTF.permit_access); // no pin outlives the copy
    });
  });

  describe("coherence between two memories", () => {
    const HOST = 40 * 4096;
    const PAGE = PAGE_GFN * 4096;

    it("a write on either side is seen by the other once control changes hands", () => {
      grant(granter, REF, mapper.domid, PAGE_GFN);
      map(mapper, granter.domid, REF, HOST);
      mapper.exports.store_byte(HOST + 5, 1);
      expect(granter.exports.load_byte(PAGE + 5)).toBe(1);
      granter.exports.store_byte(PAGE + 6, 2);
      expect(mapper.exports.load_byte(HOST + 6)).toBe(2);
      // Between calls, both memories already agree.
      expect(mapper.memory()[HOST + 6]).toBe(2);
      expect(granter.memory()[PAGE + 5]).toBe(1);
    });

    it("a blocked mapper sees what a native service wrote into the granted page before it was woken", () => {
      grant(granter, REF, mapper.domid, PAGE_GFN);
      grant(granter, REF + 1, 0, PAGE_GFN);
      granter.memory().fill(0, PAGE, PAGE + 4096);
      map(mapper, granter.domid, REF, HOST);
      const live = hv.dom0.gnttab.mapGrantRef(granter.domid, REF + 1, true);
      // dom0 wakes up on its port, writes the page and notifies the mapper.
      const kick = hv.dom0.evtchn.bindUnboundPort(mapper.domid);
      const toMapper = hv.dom0.evtchn.bindUnboundPort(mapper.domid);
      view(mapper).setUint32(SCRATCH, 0, true);
      view(mapper).setUint32(SCRATCH + 4, kick, true);
      expect(mapper.exports.hc_evtchn(EVTCHNOP.bind_interdomain, SCRATCH)).toBe(0);
      const mapperKick = view(mapper).getUint32(SCRATCH + 8, true);
      view(mapper).setUint32(SCRATCH + 4, toMapper, true);
      expect(mapper.exports.hc_evtchn(EVTCHNOP.bind_interdomain, SCRATCH)).toBe(0);
      hv.dom0.evtchn.on(kick, () => {
        live.bytes()[64] = 0xaa;
        hv.dom0.evtchn.notify(toMapper);
      });
      view(mapper).setUint32(SCRATCH + 16, mapperKick, true);
      expect(mapper.exports.hc_evtchn(EVTCHNOP.send, SCRATCH + 16)).toBe(0);
      // Binding raised the mapper's own ports; clear its event state and let it block until the word changes.
      expect(place(mapper, XENMAPSPACE.shared_info, 0, 16)).toBe(0);
      mapper.memory().fill(0, 16 * 4096, 17 * 4096);
      const blocks = mapper.exports.wait_word(HOST + 64);
      expect(mapper.exit).toBeNull();
      expect(blocks).toBe(1);
      expect(mapper.exit).toBeNull();
      expect(mapper.memory()[HOST + 64]).toBe(0xaa);
    });
  });
});
