// build/unikernel.wasm, the default application, run as the native PVH host
// runs it (runtime/unikernel.ts): in a domain with a disk served by a Wasm
// block backend, it greets on its PV console, says when the disk connects
// and with what size, stays up, and answers `xl shutdown` by closing its
// disk and returning the reason. The toolstack acts while the unikernel is
// blocked, through the hypervisor's outside-world queue (whenIdle).
import { describe, expect, test } from "vitest";
import { startBlkbackDomain } from "../host/blkback-domain.js";
import { devicePaths, type DeviceSpec } from "../host/devices.js";
import { Hypervisor } from "../host/hypervisor.js";
import { startXenstore } from "../host/toolstack.js";
import { loadUnikernel, runMain } from "../runtime/unikernel.js";
import { engines } from "./support/engines.js";

const CLOSED = "6";
const XVDA = 51712;

describe.each(engines)("under $name", ({ engine }) => {
  function setup(sectors = 2048) {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const back = startBlkbackDomain(service, { engine, sectors });
    const unikernel = loadUnikernel(hv, "unikernel", engine);
    const disk: DeviceSpec = { type: "vbd", devid: XVDA, frontend: unikernel.domid, backend: back.domid, backendParams: back.disk.params };
    // xenconsoled's log of the unikernel, which outlives the domain.
    const log = service.console(unikernel.domid)!.log;
    return { hv, service, unikernel, disk, lines: () => log.lines() };
  }

  test("greets, connects its disk with its size, and powers off on xl shutdown with the disk closed", () => {
    const { hv, service, unikernel, disk, lines } = setup();
    const paths = service.devices.add(disk);
    let seenBeforeShutdown: string[] = [];
    hv.whenIdle(() => {
      seenBeforeShutdown = lines();
      service.requestShutdown(unikernel.domid, "poweroff");
    });
    runMain(hv, unikernel);

    expect(seenBeforeShutdown).toEqual([
      `Hello from a Wasm unikernel on Xen: I am domain ${unikernel.domid}.`,
      "Disk xvda (vbd 51712) connected: 1 MiB (1048576 bytes, 512-byte sectors).",
    ]);
    expect(unikernel.exit).toMatchObject({ reason: "poweroff", code: 0 });
    expect(lines().slice(2)).toEqual(["Shutdown requested (poweroff): closing my disks.", "Goodbye."]);
    expect(service.tools.read(`${paths.frontend}/state`)).toBe(CLOSED);
    expect(service.tools.read(`${paths.backend}/state`)).toBe(CLOSED);
    // The request was taken: the node is empty again.
    expect(service.tools.read(`/local/domain/${unikernel.domid}/control/shutdown`)).toBe("");
  });

  test("stays up through unknown requests and a disk unplugged and plugged again; reboot is its own reason", () => {
    const { hv, service, unikernel, disk, lines } = setup(8192);
    service.devices.add(disk);
    hv.whenIdle(() => service.requestShutdown(unikernel.domid, "dance"));
    // xl block-detach: the backend is asked to close, the ends close while the unikernel runs, then the device goes.
    hv.whenIdle(() => service.devices.askToClose(disk));
    let unplugged = "";
    hv.whenIdle(() => (unplugged = service.devices.unplug(disk)));
    hv.whenIdle(() => service.devices.add(disk));
    hv.whenIdle(() => service.requestShutdown(unikernel.domid, "reboot"));
    runMain(hv, unikernel);

    expect(lines().slice(1)).toEqual([
      "Disk xvda (vbd 51712) connected: 4 MiB (4194304 bytes, 512-byte sectors).",
      'Ignoring shutdown request "dance".',
      "Disk xvda (vbd 51712) disconnected.",
      "Disk xvda (vbd 51712) connected: 4 MiB (4194304 bytes, 512-byte sectors).",
      "Shutdown requested (reboot): closing my disks.",
      "Goodbye.",
    ]);
    expect(unplugged).toBe("closed");
    expect(unikernel.exit).toMatchObject({ reason: "reboot", code: 1 });
    expect(service.tools.read(`${devicePaths(disk).backend}/state`)).toBe(CLOSED);
  });

  test("xl save: suspends, and after the restore its disk connects again; then powers off", () => {
    const { hv, service, unikernel, disk, lines } = setup();
    const paths = service.devices.add(disk);
    const ends = () => [paths.frontend, paths.backend].map((end) => service.tools.read(`${end}/state`));
    const ring = () => service.tools.read(`${paths.frontend}/event-channel`);
    let before = "";
    let after: string[] = [];
    hv.whenIdle(() => {
      before = ring();
      service.requestShutdown(unikernel.domid, "suspend");
    });
    hv.whenIdle(() => {
      after = [...ends(), ring()];
      service.requestShutdown(unikernel.domid, "poweroff");
    });
    runMain(hv, unikernel);
    // Connected again after the restore, on a ring published anew.
    expect(after.slice(0, 2)).toEqual(["4", "4"]);
    expect(after[2]).not.toBe(before);
    expect(lines().slice(1)).toEqual([
      "Disk xvda (vbd 51712) connected: 1 MiB (1048576 bytes, 512-byte sectors).",
      "Suspending.",
      "Resumed.",
      "Shutdown requested (poweroff): closing my disks.",
      "Goodbye.",
    ]);
    expect(unikernel.exit).toMatchObject({ reason: "poweroff", code: 0 });
    expect(service.tools.read(`${devicePaths(disk).backend}/state`)).toBe(CLOSED);
  });

  test("with no disk it greets and waits; a domain without a store crashes naming the failed step", () => {
    const { hv, service, unikernel, lines } = setup();
    hv.whenIdle(() => service.requestShutdown(unikernel.domid, "halt"));
    runMain(hv, unikernel);
    expect(lines()).toEqual([
      `Hello from a Wasm unikernel on Xen: I am domain ${unikernel.domid}.`,
      "Shutdown requested (halt): closing my disks.",
      "Goodbye.",
    ]);
    expect(unikernel.exit).toMatchObject({ reason: "poweroff", code: 0 });

    const bare = new Hypervisor(); // no xenstored: the store page is there, its port is not
    const lonely = loadUnikernel(bare, "lonely", engine);
    runMain(bare, lonely);
    expect(lonely.exit).toMatchObject({ reason: "crash", message: "main failed: -19" });
  });
});
