// The block frontend (assembly/drivers/blkfront.ts) of build/xenbus.wasm against
// dom0's reference block backend (test/support/hostile-blkback.ts, serving
// honestly): Linux's connection sequence, the negotiated ring, data through
// granted pages, flush, errors, and a close followed by a reconnect.
import { beforeEach, describe, expect, test } from "vitest";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { XsType } from "../../host/dom0/xenstored/wire.js";
import { XENBUS_STATE, XENSTORE, xenstore_domain_interface } from "../../host/xen/abi.js";
import { STORE_GFN } from "../../host/xen/builder.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkFront } from "../../runtime/blk.js";
import { pattern } from "../support/blk.js";
import { engines } from "../support/engines.js";
import { HostileBlkback } from "../support/hostile-blkback.js";
import { bootXenbus, type Xenbus } from "../support/xenbus.js";

const DEVID = 51712;
const { Connected, Closed } = XENBUS_STATE;

describe.each(engines)("under $name", ({ engine }) => {
  describe("blkfront against dom0's reference backend", () => {
    let hv: Hypervisor;
    let service: XenstoreService;
    let guest: Xenbus;

    beforeEach(() => {
      hv = new Hypervisor();
      service = startXenstore(hv);
      guest = bootXenbus(hv, "front", engine);
      expect(guest.exports.xs_init()).toBe(0);
    });

    function plug(maxRingPageOrder?: number): { back: HostileBlkback; blk: BlkFront } {
      service.devices.add({ type: "vbd", devid: DEVID, frontend: guest.domid, backend: 0 });
      const back = new HostileBlkback(hv, service, { frontend: guest.domid, maxRingPageOrder, sectors: 256 }).start();
      hv.runUntilIdle();
      const blk = new BlkFront(guest).start();
      blk.open(DEVID);
      return { back, blk };
    }

    test("a disk whose backend closes before it connects no longer holds the boot wait (its Closed goes through frontend_closed)", () => {
      const paths = service.devices.add({ type: "vbd", devid: DEVID, frontend: guest.domid, backend: 0 });
      new BlkFront(guest).start();
      service.tools.write(`${paths.backend}/state`, String(XENBUS_STATE.InitWait));
      hv.runUntilIdle();
      service.tools.write(`${paths.backend}/state`, String(XENBUS_STATE.Closing));
      hv.runUntilIdle();
      expect(service.tools.read(`${paths.frontend}/state`)).toBe(String(Closed));
      expect(guest.exports.xenbus_bus_boot_wait(0, 1000)).toBe(0);
      expect(hv.now).toBe(0);
    });

    test("a restart of the XenStore connection under the bus's check of a device keeps the device", () => {
      const { back, blk } = plug();
      const state = `device/vbd/${DEVID}/state`;
      const xenstored = service.xenstored;
      const receive = xenstored.receive.bind(xenstored);
      let restarted = false;
      // Right after xenstored takes the guest's look at its state node, the guest's connection is restarted under it.
      xenstored.receive = (conn, bytes) => {
        receive(conn, bytes);
        const type = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
        if (restarted || conn.domid !== guest.domid || type !== XsType.DIRECTORY) return;
        if (!new TextDecoder().decode(bytes.subarray(16)).startsWith(state)) return;
        restarted = true;
        const ring = guest.domain.specialPages.get(STORE_GFN)!.view;
        ring.setUint32(xenstore_domain_interface.fields.connection, XENSTORE.RECONNECT, true);
        hv.evtchn.setPending(hv.dom0, service.ring(guest.domid)!.localPort);
      };
      service.tools.write(`${back.paths.frontend}/x`, "1");
      hv.runUntilIdle();
      expect(restarted).toBe(true);
      expect(blk.info(DEVID)).toMatchObject({ state: Connected, backendState: Connected });
      expect(blk.read(DEVID, 0, 1)).toEqual(back.disk.subarray(0, 512));
    });

    test("connects as Linux does: ring refs, event-channel and protocol published, the disk read back", () => {
      const { back, blk } = plug();
      const front = (name: string) => service.tools.read(`${back.paths.frontend}/${name}`);
      expect(front("protocol")).toBe("x86_64-abi");
      expect(Number(front("ring-ref"))).toBeGreaterThanOrEqual(8);
      expect(Number(front("event-channel"))).toBeGreaterThan(0);
      expect(blk.info(DEVID)).toMatchObject({
        sectors: 256n,
        sectorSize: 512,
        flush: true,
        state: Connected,
        backendState: Connected,
        ringPages: 1,
      });
      expect(back.faults).toEqual([]);
    });

    test("a ring of as many pages as the backend offers, within the frontend's bound of 16", () => {
      const { back, blk } = plug(2);
      expect(service.tools.read(`${back.paths.frontend}/ring-page-order`)).toBe("2");
      expect(blk.info(DEVID).ringPages).toBe(4);
    });

    test("writes land on the backend's disk and read back the same, across many-segment requests", () => {
      const { back, blk } = plug(1);
      const data = pattern(13 * 4096, 5); // 13 pages: an 11-segment request, then a 2-segment one
      blk.write(DEVID, 8, data);
      expect(back.disk.subarray(8 * 512, 8 * 512 + data.length)).toEqual(data);
      expect(back.requests.map((request) => request.nrSegments)).toEqual([11, 2]);
      expect(blk.read(DEVID, 8, data.length / 512)).toEqual(data);
      expect(blk.read(DEVID, 9, 3)).toEqual(data.subarray(512, 4 * 512));
      expect(blk.info(DEVID)).toMatchObject({ requests: 5n, bytes: BigInt(2 * data.length + 3 * 512) });
    });

    test("flush reaches the backend; I/O beyond the disk's end fails with EIO and the device goes on", () => {
      const { back, blk } = plug();
      blk.flush(DEVID);
      expect(back.requests.at(-1)).toMatchObject({ operation: 3, nrSegments: 0 });
      expect(() => blk.read(DEVID, 252, 8)).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(() => blk.write(DEVID, 256, new Uint8Array(512))).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(() => blk.read(DEVID, 0, 0)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(guest.exports.blk_read(DEVID, 0n, 1, 4096 * 3 + 17)).toBe(-22);
      expect(guest.exports.blk_read(12345, 0n, 1, blk.buffer)).toBe(-19);
      expect(blk.read(DEVID, 248, 8)).toEqual(new Uint8Array(4096));
    });

    test("closes with the backend, gives its ring and grants back, and connects again on open", () => {
      const { back, blk } = plug(1);
      const data = pattern(4096, 9);
      blk.write(DEVID, 0, data);
      const freeRefs = guest.exports.gnttab_free_refs();
      blk.close(DEVID);
      expect([blk.info(DEVID).state, back.state]).toEqual([Closed, Closed]);
      expect(blk.info(DEVID).ringPages).toBe(0);
      expect(guest.exports.gnttab_free_refs()).toBe(freeRefs + 2);
      expect(() => blk.read(DEVID, 0, 8)).toThrow(expect.objectContaining({ code: "ENODEV" }));
      blk.open(DEVID);
      expect(blk.info(DEVID)).toMatchObject({ state: Connected, backendState: Connected, ringPages: 2 });
      expect(blk.read(DEVID, 0, 8)).toEqual(data);
      expect(back.faults).toEqual([]);
    });
  });
});
