// Block devices end to end: build/xenbus.wasm as a block-backend driver domain
// (blkback on the backend lifecycle, serving a disk in its own memory) and as
// a guest with blkfront, on one simulated hypervisor with dom0's xenstored and
// toolstack plugging the vbd between them. What each end publishes is checked
// in the store, data in the backend's disk image from the host.
import { beforeEach, describe, expect, test } from "vitest";
import type { DevicePaths } from "../host/devices.js";
import { Hypervisor } from "../host/hypervisor.js";
import { startXenstore, type XenstoreService } from "../host/toolstack.js";
import { XENBUS_STATE } from "../host/xen/abi.js";
import { BlkBack, BlkFront, type Disk, type DiskOptions } from "../runtime/blk.js";
import { bootXenbus, type Xenbus } from "./support/xenbus.js";

const DEVID = 51712;
const { InitWait, Connected, Closed } = XENBUS_STATE;

function pattern(bytes: number, seed: number): Uint8Array {
  return new Uint8Array(bytes).map((_, i) => (i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

describe("a Wasm block backend and a Wasm block frontend", () => {
  let hv: Hypervisor;
  let service: XenstoreService;
  let backDomain: Xenbus;
  let frontDomain: Xenbus;
  let back: BlkBack;
  let front: BlkFront;

  beforeEach(() => {
    hv = new Hypervisor();
    service = startXenstore(hv);
    backDomain = bootXenbus(hv, "blkback");
    frontDomain = bootXenbus(hv, "guest");
    expect([backDomain.exports.xs_init(), frontDomain.exports.xs_init()]).toEqual([0, 0]);
    back = new BlkBack(backDomain);
    front = new BlkFront(frontDomain).start();
  });

  /** Serves `disk` options with `order` offered, plugs the vbd and opens it. */
  function connect(sectors = 2048, options: DiskOptions = {}, order = 4): { disk: Disk; paths: DevicePaths } {
    back.start(order);
    const disk = back.createDisk(sectors, options);
    const paths = service.devices.add({
      type: "vbd", devid: DEVID, frontend: frontDomain.domid, backend: backDomain.domid, backendParams: disk.params,
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
    expect(["sectors", "sector-size", "info", "feature-flush-cache", "max-ring-page-order", "hotplug-status"].map(backend))
      .toEqual(["2048", "512", "0", "1", "2", "connected"]);
    expect([frontend("protocol"), frontend("ring-page-order"), frontend("ring-ref")]).toEqual(["x86_64-abi", "2", null]);
    expect(Number(frontend("event-channel"))).toBeGreaterThan(0);
    expect(front.info(DEVID)).toMatchObject({ sectors: 2048n, sectorSize: 512, info: 0, flush: true, ringPages: 4, backendId: backDomain.domid });
    expect(back.info(frontDomain.domid, DEVID)).toMatchObject({ state: Connected, frontendState: Connected, ringPages: 4 });
    expect(node(`/local/domain/${backDomain.domid}/error/backend`)).toBeNull();
  });

  test("a single-page ring when the backend offers order 0; eight pages for order 3", () => {
    const { paths } = connect(256, {}, 0);
    expect([node(`${paths.frontend}/ring-page-order`), node(`${paths.frontend}/ring-ref`) !== null]).toEqual([null, true]);
    expect(front.info(DEVID).ringPages).toBe(1);
    expect(back.info(frontDomain.domid, DEVID).ringPages).toBe(1);
    front.write(DEVID, 0, pattern(4096, 1));
    expect(front.read(DEVID, 0, 8)).toEqual(pattern(4096, 1));

    front.close(DEVID);
    back.start(3);
    front.open(DEVID);
    expect(node(`${paths.frontend}/ring-page-order`)).toBe("3");
    expect(Array.from({ length: 8 }, (_, i) => node(`${paths.frontend}/ring-ref${i}`) !== null)).toEqual(Array(8).fill(true));
    expect(back.info(frontDomain.domid, DEVID).ringPages).toBe(8);
    expect(front.read(DEVID, 0, 8)).toEqual(pattern(4096, 1));
  });

  test("a pattern written through the frontend is in the backend's image, and reads back the same", () => {
    const { disk } = connect(4096);
    const data = pattern(16 * 4096, 3); // an 11-segment request and a 5-segment one
    front.write(DEVID, 1000, data);
    expect(disk.image().subarray(1000 * 512, 1000 * 512 + data.length)).toEqual(data);
    expect(disk.image().subarray(0, 1000 * 512).every((byte) => byte === 0)).toBe(true);
    expect(front.read(DEVID, 1000, 128)).toEqual(data);
    expect(front.read(DEVID, 1003, 5)).toEqual(data.subarray(3 * 512, 8 * 512));
    // What the host puts in the image is what the guest reads.
    disk.image().set(pattern(512, 9), 4095 * 512);
    expect(front.read(DEVID, 4095, 1)).toEqual(pattern(512, 9));
    expect(back.info(frontDomain.domid, DEVID)).toMatchObject({ requests: 6n, bytes: BigInt(2 * data.length + 6 * 512) });
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
      type: "vbd", devid: DEVID + 16, frontend: frontDomain.domid, backend: backDomain.domid, backendParams: other.params,
    });
    front.open(DEVID + 16);
    expect(node(`${paths.backend}/feature-flush-cache`)).toBe("0");
    expect(front.info(DEVID + 16).flush).toBe(false);
    expect(() => front.flush(DEVID + 16)).toThrow(expect.objectContaining({ errno: 95 })) // EOPNOTSUPP;
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

  test("a read-only disk refuses writes at the frontend; reads go on", () => {
    const { disk } = connect(64, { info: 4 });
    disk.image().fill(0x5a);
    expect(front.info(DEVID).info).toBe(4);
    expect(() => front.write(DEVID, 0, pattern(512, 1))).toThrow(expect.objectContaining({ code: "EROFS" }));
    expect(front.read(DEVID, 0, 1)).toEqual(new Uint8Array(512).fill(0x5a));
  });

  test("the frontend closes with the backend, which lets the ring go; opened again, it reconnects to the same disk", () => {
    const { disk, paths } = connect(256, {}, 1);
    front.write(DEVID, 8, pattern(8192, 4));
    const freeRefs = frontDomain.exports.gnttab_free_refs();
    front.close(DEVID);
    expect([node(`${paths.frontend}/state`), node(`${paths.backend}/state`)]).toEqual([String(Closed), String(Closed)]);
    expect(back.info(frontDomain.domid, DEVID)).toMatchObject({ ringPages: 0, state: Closed });
    expect(frontDomain.exports.gnttab_free_refs()).toBe(freeRefs + 2);
    expect(() => front.read(DEVID, 8, 16)).toThrow(expect.objectContaining({ code: "ENODEV" }));

    front.open(DEVID);
    expect(back.info(frontDomain.domid, DEVID)).toMatchObject({ state: Connected, frontendState: Connected, ringPages: 2 });
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

  test("a vbd naming no disk is refused by the backend and never connects", () => {
    back.start(0);
    const paths = service.devices.add({
      type: "vbd", devid: DEVID, frontend: frontDomain.domid, backend: backDomain.domid, backendParams: { params: "7" },
    });
    hv.runUntilIdle();
    expect(node(`/local/domain/${backDomain.domid}/error/backend/vbd/${frontDomain.domid}/${DEVID}/error`)).toBe('19 no disk "7"');
    expect(node(`${paths.backend}/state`)).not.toBe(String(InitWait));
    expect(frontDomain.exports.blk_open(DEVID, 1000)).toBeLessThan(0);
  });
});
