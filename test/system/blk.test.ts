// Block devices end to end: build/xenbus.wasm as a block-backend driver domain
// (blkback on the backend lifecycle, serving a disk in its own memory) and as
// a guest with blkfront, on one simulated hypervisor with dom0's xenstored and
// toolstack plugging the vbd between them. What each end publishes is checked
// in the store, data in the backend's disk image from the host.
import { beforeEach, describe, expect, test } from "vitest";
import type { DevicePaths } from "../../host/dom0/devices.js";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { startBlkbackDomain } from "../../host/system/blkback-domain.js";
import { XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import type { BlkBack, BlkFront, Disk, DiskOptions } from "../../runtime/blk.js";
import { blkPair, pattern } from "../support/blk.js";
import type { BlkRequest } from "../support/blkif-ring.js";
import { engines } from "../support/engines.js";
import { type ConnectLies, HostileBlkfront } from "../support/hostile-blkfront.js";
import type { Xenbus } from "../support/xenbus.js";

const DEVID = 51712;
const { InitWait, Connected, Closing, Closed } = XENBUS_STATE;
const [READ, WRITE] = [0, 1];
const [OKAY, ERROR, EOPNOTSUPP] = [0, -1, -2];

describe.each(engines)("under $name", ({ engine }) => {
  describe("a Wasm block backend and a Wasm block frontend", () => {
    let hv: Hypervisor;
    let service: XenstoreService;
    let backDomain: Xenbus;
    let frontDomain: Xenbus;
    let back: BlkBack;
    let front: BlkFront;

    beforeEach(() => {
      ({ hv, service, backDomain, frontDomain, back, front } = blkPair(engine));
    });

    /** Serves `disk` options with `order` offered, plugs the vbd and opens it. */
    function connect(sectors = 2048, options: DiskOptions = {}, order = 4): { disk: Disk; paths: DevicePaths } {
      back.start(order);
      const disk = back.createDisk(sectors, options);
      const paths = service.devices.add({
        type: "vbd",
        devid: DEVID,
        frontend: frontDomain.domid,
        backend: backDomain.domid,
        backendParams: disk.params,
      });
      front.open(DEVID);
      hv.runUntilIdle();
      return { disk, paths };
    }

    const node = (path: string): string | null => {
      try {
        return service.tools.read(path);
      } catch {
        return null;
      }
    };

    test("boot to Connected: the backend publishes the disk and its offer, the frontend its ring", () => {
      const { paths } = connect(2048, { flush: true }, 2);
      const backend = (name: string) => node(`${paths.backend}/${name}`);
      const frontend = (name: string) => node(`${paths.frontend}/${name}`);
      expect([backend("state"), frontend("state")]).toEqual([String(Connected), String(Connected)]);
      expect(
        ["sectors", "sector-size", "info", "feature-flush-cache", "max-ring-page-order", "hotplug-status"].map(backend),
      ).toEqual(["2048", "512", "0", "1", "2", "connected"]);
      expect([frontend("protocol"), frontend("ring-page-order"), frontend("ring-ref")]).toEqual([
        "x86_64-abi",
        "2",
        null,
      ]);
      expect(Number(frontend("event-channel"))).toBeGreaterThan(0);
      expect(front.info(DEVID)).toMatchObject({
        sectors: 2048n,
        sectorSize: 512,
        info: 0,
        flush: true,
        ringPages: 4,
        backendId: backDomain.domid,
      });
      expect(back.info(frontDomain.domid, DEVID)).toMatchObject({
        state: Connected,
        frontendState: Connected,
        ringPages: 4,
      });
      expect(node(`/local/domain/${backDomain.domid}/error/backend`)).toBeNull();
    });

    test("a single-page ring when the backend offers order 0; eight pages for order 3", () => {
      const { paths } = connect(256, {}, 0);
      expect([node(`${paths.frontend}/ring-page-order`), node(`${paths.frontend}/ring-ref`) !== null]).toEqual([
        null,
        true,
      ]);
      expect(front.info(DEVID).ringPages).toBe(1);
      expect(back.info(frontDomain.domid, DEVID).ringPages).toBe(1);
      front.write(DEVID, 0, pattern(4096, 1));
      expect(front.read(DEVID, 0, 8)).toEqual(pattern(4096, 1));

      front.close(DEVID);
      back.start(3);
      front.open(DEVID);
      expect(node(`${paths.frontend}/ring-page-order`)).toBe("3");
      expect(Array.from({ length: 8 }, (_, i) => node(`${paths.frontend}/ring-ref${i}`) !== null)).toEqual(
        Array(8).fill(true),
      );
      expect(back.info(frontDomain.domid, DEVID).ringPages).toBe(8);
      expect(front.read(DEVID, 0, 8)).toEqual(pattern(4096, 1));
    });

    test("a pattern written through the frontend is in the backend's image, and reads back the same", () => {
      const { disk } = connect(4096);
      const data = pattern(16 * 4096, 3); // an 11-segment request and a 5-segment one
      front.write(DEVID, 1000, data);
      expect(disk.image().subarray(1000 * 512, 1000 * 512 + data.length)).toEqual(data);
      expect(
        disk
          .image()
          .subarray(0, 1000 * 512)
          .every((byte) => byte === 0),
      ).toBe(true);
      expect(front.read(DEVID, 1000, 128)).toEqual(data);
      expect(front.read(DEVID, 1003, 5)).toEqual(data.subarray(3 * 512, 8 * 512));
      // What the host puts in the image is what the guest reads.
      disk.image().set(pattern(512, 9), 4095 * 512);
      expect(front.read(DEVID, 4095, 1)).toEqual(pattern(512, 9));
      expect(back.info(frontDomain.domid, DEVID)).toMatchObject({
        requests: 6n,
        bytes: BigInt(2 * data.length + 6 * 512),
      });
      expect(front.info(DEVID)).toMatchObject({ requests: 6n, bytes: BigInt(2 * data.length + 6 * 512) });
    });

    test("flush reaches the disk when offered, and is EOPNOTSUPP when not", () => {
      const { disk } = connect(64, { flush: true });
      front.flush(DEVID);
      front.flush(DEVID);
      expect(disk.flushes()).toBe(2);
      front.close(DEVID);
      service.devices.unplug({ type: "vbd", devid: DEVID, frontend: frontDomain.domid, backend: backDomain.domid });

      const other = back.createDisk(64, { flush: false });
      const paths = service.devices.add({
        type: "vbd",
        devid: DEVID + 16,
        frontend: frontDomain.domid,
        backend: backDomain.domid,
        backendParams: other.params,
      });
      front.open(DEVID + 16);
      expect(node(`${paths.backend}/feature-flush-cache`)).toBe("0");
      expect(front.info(DEVID + 16).flush).toBe(false);
      expect(() => front.flush(DEVID + 16)).toThrow(expect.objectContaining({ errno: 95 })); // EOPNOTSUPP;
      expect(other.flushes()).toBe(0);
    });

    test("out-of-range and misaligned I/O fail cleanly, and the device goes on", () => {
      const { disk } = connect(64, { sectorSize: 4096 });
      expect(front.info(DEVID).sectorSize).toBe(4096);
      expect(() => front.read(DEVID, 64, 8)).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(() => front.write(DEVID, 56, pattern(8192, 1))).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(() => front.read(DEVID, 4, 8)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(() => front.read(DEVID, 8, 4)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(frontDomain.exports.blk_read(DEVID, 2n ** 64n - 8n, 8, front.buffer)).toBe(-5);
      expect(disk.image().every((byte) => byte === 0)).toBe(true);
      front.write(DEVID, 56, pattern(4096, 2));
      expect(front.read(DEVID, 56, 8)).toEqual(pattern(4096, 2));
      expect(front.info(DEVID).state).toBe(Connected);
    });

    test("a transfer that runs past the end of the disk is refused before any request goes out: nothing is written", () => {
      const { disk } = connect(4096);
      const before = front.info(DEVID).requests;
      // 128 sectors at 3996 would go as two requests (88 + 40 sectors, 11 segments each at most): the first fits.
      expect(() => front.write(DEVID, 3996, pattern(128 * 512, 3))).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(() => front.read(DEVID, 3996, 128)).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(front.info(DEVID).requests).toBe(before);
      expect(disk.image().every((byte) => byte === 0)).toBe(true);
      front.write(DEVID, 3968, pattern(128 * 512, 4));
      expect(front.read(DEVID, 3968, 128)).toEqual(pattern(128 * 512, 4));
    });

    test("a read-only disk refuses writes at the frontend; reads go on", () => {
      const { disk } = connect(64, { info: 4 });
      disk.image().fill(0x5a);
      expect(front.info(DEVID).info).toBe(4);
      expect(() => front.write(DEVID, 0, pattern(512, 1))).toThrow(expect.objectContaining({ code: "EROFS" }));
      expect(front.read(DEVID, 0, 1)).toEqual(new Uint8Array(512).fill(0x5a));
    });

    test("a vbd the toolstack grants read-only (mode r, xl's access=ro) is served read-only from a writable disk", () => {
      back.start(4);
      const disk = back.createDisk(64);
      disk.image().fill(0x5a);
      service.devices.add({
        type: "vbd",
        devid: DEVID,
        frontend: frontDomain.domid,
        backend: backDomain.domid,
        backendParams: { ...disk.params, mode: "r" },
      });
      front.open(DEVID);
      hv.runUntilIdle();
      expect(front.info(DEVID).info).toBe(4); // VDISK_READONLY
      expect(() => front.write(DEVID, 0, pattern(512, 1))).toThrow(expect.objectContaining({ code: "EROFS" }));
      expect(front.read(DEVID, 0, 1)).toEqual(new Uint8Array(512).fill(0x5a));
    });

    test("the frontend closes with the backend, which lets the ring go; opened again, it reconnects to the same disk", () => {
      const { disk, paths } = connect(256, {}, 1);
      front.write(DEVID, 8, pattern(8192, 4));
      const freeRefs = frontDomain.exports.gnttab_free_refs();
      front.close(DEVID);
      expect([node(`${paths.frontend}/state`), node(`${paths.backend}/state`)]).toEqual([
        String(Closed),
        String(Closed),
      ]);
      expect(back.info(frontDomain.domid, DEVID)).toMatchObject({ ringPages: 0, state: Closed });
      expect(frontDomain.exports.gnttab_free_refs()).toBe(freeRefs + 2);
      expect(() => front.read(DEVID, 8, 16)).toThrow(expect.objectContaining({ code: "ENODEV" }));

      front.open(DEVID);
      expect(back.info(frontDomain.domid, DEVID)).toMatchObject({
        state: Connected,
        frontendState: Connected,
        ringPages: 2,
      });
      expect(front.read(DEVID, 8, 16)).toEqual(pattern(8192, 4));
      front.write(DEVID, 0, pattern(4096, 5));
      expect(disk.image().subarray(0, 4096)).toEqual(pattern(4096, 5));
    });

    test("hot-unplug closes both ends and removes the device; plugged again, it connects", () => {
      const { disk, paths } = connect(256);
      front.write(DEVID, 0, pattern(4096, 6));
      const id = { type: "vbd", devid: DEVID, frontend: frontDomain.domid, backend: backDomain.domid };
      expect(service.devices.unplug(id)).toBe("closed");
      hv.runUntilIdle();
      expect([node(paths.frontend), node(paths.backend)]).toEqual([null, null]);
      expect(frontDomain.exports.blk_read(DEVID, 0n, 8, front.buffer)).toBe(-19);

      service.devices.add({ ...id, backendParams: disk.params });
      front.open(DEVID);
      expect(front.read(DEVID, 0, 8)).toEqual(pattern(4096, 6));
      expect(node(`${paths.backend}/state`)).toBe(String(Connected));
    });

    /** The frontend's 64 lowest free pool pages (allocated, then freed again): a leaked page changes the set. */
    function freePoolPages(): number[] {
      const pages = Array.from({ length: 64 }, () => frontDomain.exports.page_alloc());
      for (const page of pages) expect(frontDomain.exports.page_free(page)).toBe(0);
      return pages;
    }

    const revokeLines = () => frontDomain.console().filter((line) => line.includes("revoking"));

    test("many hot-unplugs: every ring grant ends and every ring page goes back, with nothing reported", () => {
      back.start(4);
      const disk = back.createDisk(256);
      const id = { type: "vbd", devid: DEVID, frontend: frontDomain.domid, backend: backDomain.domid };
      const [freeRefs, pool] = [frontDomain.exports.gnttab_free_refs(), freePoolPages()];
      for (let cycle = 0; cycle < 8; cycle++) {
        service.devices.add({ ...id, backendParams: disk.params });
        front.open(DEVID);
        expect(front.info(DEVID).ringPages).toBe(16);
        front.write(DEVID, cycle * 8, pattern(4096, cycle));
        expect(service.devices.unplug(id)).toBe("closed");
        hv.runUntilIdle();
        expect(frontDomain.exports.gnttab_free_refs()).toBe(freeRefs);
      }
      expect(freePoolPages()).toEqual(pool);
      expect(revokeLines()).toEqual([]);
    });

    test("suspend and resume: both ends connect again on a fresh ring, data and later requests intact, nothing leaked", () => {
      const { disk, paths } = connect(256);
      front.write(DEVID, 16, pattern(8192, 7));
      const freeRefs = frontDomain.exports.gnttab_free_refs();
      const pool = freePoolPages();

      expect(frontDomain.exports.xen_suspend()).toBe(0);
      hv.runUntilIdle();
      expect([node(`${paths.frontend}/state`), node(`${paths.backend}/state`)]).toEqual([
        String(Connected),
        String(Connected),
      ]);
      expect(back.info(frontDomain.domid, DEVID)).toMatchObject({
        state: Connected,
        frontendState: Connected,
        ringPages: 16,
      });
      expect(front.read(DEVID, 16, 16)).toEqual(pattern(8192, 7));
      front.write(DEVID, 64, pattern(4096, 8));
      expect(disk.image().subarray(64 * 512, 64 * 512 + 4096)).toEqual(pattern(4096, 8));

      // The old ring's grants and pages are back: as many in use as before the suspend.
      expect(frontDomain.exports.gnttab_free_refs()).toBe(freeRefs);
      expect(freePoolPages()).toEqual(pool);
      expect(revokeLines()).toEqual([]);
    });

    test("a vbd naming no disk is refused by the backend and never connects", () => {
      back.start(0);
      const paths = service.devices.add({
        type: "vbd",
        devid: DEVID,
        frontend: frontDomain.domid,
        backend: backDomain.domid,
        backendParams: { params: "7" },
      });
      hv.runUntilIdle();
      expect(node(`/local/domain/${backDomain.domid}/error/backend/vbd/${frontDomain.domid}/${DEVID}/error`)).toBe(
        '19 no disk "7"',
      );
      expect(node(`${paths.backend}/state`)).not.toBe(String(InitWait));
      expect(frontDomain.exports.blk_open(DEVID, 1000)).toBeLessThan(0);
    });
  });

  describe("the Wasm block backend against a frontend that lies", () => {
    let hv: Hypervisor;
    let service: XenstoreService;
    let backDomain: Xenbus;
    let back: BlkBack;
    let disk: Disk;

    beforeEach(() => {
      hv = new Hypervisor();
      service = startXenstore(hv);
      ({ guest: backDomain, back, disk } = startBlkbackDomain(service, { engine, sectors: 64 }));
    });

    function frontend(lies: ConnectLies = {}): HostileBlkfront {
      const front = new HostileBlkfront(hv, service, { backend: backDomain.domid, backendParams: disk.params });
      hv.runUntilIdle();
      front.connect(lies);
      return front;
    }

    const errorNode = (front: HostileBlkfront): string =>
      service.tools.read(`/local/domain/${backDomain.domid}/error/backend/vbd/${front.domid}/${DEVID}/error`);

    test("each bad request gets its own error status; good ones around it are served", () => {
      const front = frontend({ ringPages: 2 });
      const page = front.allocPage();
      front.page(page).fill(0x77);
      const gref = front.grant(page);
      const segment = { gref, firstSect: 0, lastSect: 7 };
      const request = (id: bigint, operation: number, fields: Partial<BlkRequest> = {}): BlkRequest => ({
        operation,
        nrSegments: 1,
        handle: 0,
        id,
        sector: 0n,
        segments: [segment],
        ...fields,
      });
      front.submit(
        request(1n, WRITE),
        request(2n, READ, { segments: [{ ...segment, gref: 999 }] }), // a ref not granted
        request(3n, 9), // no such operation
        request(4n, READ, { nrSegments: 12 }),
        request(5n, READ, { sector: 60n }), // past the disk's end
        request(6n, READ, { segments: [{ gref, firstSect: 5, lastSect: 2 }] }),
        request(7n, WRITE, {
          segments: [{ gref: front.grant(page, backDomain.domid, true), firstSect: 0, lastSect: 0 }],
          sector: 9n,
        }),
        request(8n, READ, {
          segments: [{ gref: front.grant(page, backDomain.domid, true), firstSect: 0, lastSect: 0 }],
        }), // read into a read-only grant
      );
      expect(front.responses.map(({ id, status }) => [id, status])).toEqual([
        [1n, OKAY],
        [2n, ERROR],
        [3n, EOPNOTSUPP],
        [4n, ERROR],
        [5n, ERROR],
        [6n, ERROR],
        [7n, OKAY],
        [8n, ERROR],
      ]);
      expect(
        disk
          .image()
          .subarray(0, 4096)
          .every((byte) => byte === 0x77),
      ).toBe(true);
      expect(
        disk
          .image()
          .subarray(9 * 512, 10 * 512)
          .every((byte) => byte === 0x77),
      ).toBe(true);
      expect(front.backendState).toBe(Connected);
    });

    test("impossible ring indices: a device error and Closing, without a trap; the backend domain serves on", () => {
      const front = frontend();
      const ring = front.page(front.ringPages[0]!);
      new DataView(ring.buffer, ring.byteOffset).setUint32(0, 100_000, true); // req_prod far beyond the ring
      front.kick();
      expect(errorNode(front)).toBe("5 frontend's ring indices are impossible");
      expect(front.backendState).toBe(Closing);
      expect(backDomain.exit).toBeNull();
      front.close();
      expect(back.info(front.domid, DEVID)).toMatchObject({ state: Closed, ringPages: 0 });
    });

    test.each<[string, ConnectLies, string]>([
      ["a ring-page-order beyond the offer", { ringPages: 8 }, "22 reading ring references"],
      ["a ring-page-order that is not a number", { ringPageOrder: "zz" }, "34 reading ring references"],
      ["a ring ref not granted", { ringRefs: [5000] }, "3 mapping in shared page 5000 from domain"],
      ["an event channel not offered", { eventChannel: "77" }, "22 binding to event channel 77 from domain"],
      ["another protocol", { protocol: "x86_32-abi" }, '22 unsupported protocol "x86_32-abi"'],
    ])("%s: the backend refuses to connect and closes", (_, lies, error) => {
      const front = frontend(lies);
      expect(errorNode(front)).toContain(error);
      expect(front.backendState).toBe(Closing);
      expect(back.info(front.domid, DEVID).ringPages).toBe(0);
      expect(backDomain.exit).toBeNull();
    });
  });
});
