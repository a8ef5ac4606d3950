// build/unikernel.wasm, the default application, run as the native PVH host
// runs it (runtime/unikernel.ts): in a domain with a disk served by a Wasm
// block backend, it greets on its PV console, says when the disk connects
// and with what size, stays up, and answers `xl shutdown` by closing its
// disk and returning the reason. The toolstack acts while the unikernel is
// blocked, through the hypervisor's outside-world queue (whenIdle).

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { describe, expect, test } from "vitest";
import { type DeviceSpec, devicePaths } from "../../host/dom0/devices.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { XsType } from "../../host/dom0/xenstored/wire.js";
import { startBlkbackDomain } from "../../host/system/blkback-domain.js";
import { BLKIF_OP, BLKIF_RSP, XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { loadUnikernel, runMain } from "../../runtime/unikernel.js";
import { rw } from "../support/blkif-ring.js";
import { engines } from "../support/engines.js";
import { HostileBlkfront } from "../support/hostile-blkfront.js";

const CLOSED = "6";
const unikernelWasm = readFileSync(new URL("../../build/unikernel.wasm", import.meta.url));
const checksWasm = readFileSync(new URL("../../build/checks.wasm", import.meta.url));
const blkbackWasm = readFileSync(new URL("../../build/blkback.wasm", import.meta.url));
const XVDA = 51712;

describe.each(engines)("under $name", ({ engine }) => {
  function setup(sectors = 2048) {
    const hv = new Hypervisor();
    // The device errors the guests report (xenbus_dev_error writes error/<device path>/error).
    const errors: string[] = [];
    const service = startXenstore(hv, {
      trace: (_domid, request, reply) => {
        const [path, value] = new TextDecoder().decode(request.payload).split("\0");
        if (request.type === XsType.WRITE && reply.type !== XsType.ERROR && /(^|\/)error\//.test(path!))
          errors.push(`${path}: ${value}`);
      },
    });
    const back = startBlkbackDomain(service, { engine, sectors });
    const unikernel = loadUnikernel(hv, "unikernel", unikernelWasm, engine);
    const disk: DeviceSpec = {
      type: "vbd",
      devid: XVDA,
      frontend: unikernel.domid,
      backend: back.domid,
      backendParams: back.disk.params,
    };
    // xenconsoled's log of the unikernel, which outlives the domain.
    const log = service.console(unikernel.domid)!.log;
    return { hv, service, back, unikernel, disk, errors, lines: () => log.lines() };
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
    expect(lines().slice(2)).toEqual(["Shutdown requested (poweroff): closing my disks and vifs.", "Goodbye."]);
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
      "Shutdown requested (reboot): closing my disks and vifs.",
      "Goodbye.",
    ]);
    expect(unplugged).toBe("closed");
    expect(unikernel.exit).toMatchObject({ reason: "reboot", code: 1 });
    expect(service.tools.read(`${devicePaths(disk).backend}/state`)).toBe(CLOSED);
  });

  test("xl save: suspends, and after the restore its disk connects again; then powers off", () => {
    const { hv, service, back, unikernel, disk, errors, lines } = setup();
    const paths = service.devices.add(disk);
    const ends = () => [paths.frontend, paths.backend].map((end) => service.tools.read(`${end}/state`));
    const ring = () => service.tools.read(`${paths.frontend}/event-channel`);
    let after: string[] = [];
    let channel: unknown;
    hv.whenIdle(() => service.requestShutdown(unikernel.domid, "suspend"));
    hv.whenIdle(() => {
      after = ends();
      channel = unikernel.domain.ports.get(Number(ring()));
      service.requestShutdown(unikernel.domid, "poweroff");
    });
    runMain(hv, unikernel);
    // Connected again after the restore, on a channel of the restored domain (the old ones were
    // closed with the old domain; on Xen the new ones get the same numbers).
    expect(after).toEqual(["4", "4"]);
    expect(channel).toMatchObject({ state: "interdomain", remoteDomid: back.domid });
    // The old channel went with the old domain: the blkfront does not try to close it (which failed, as on Xen, with a device error).
    expect(errors).toEqual([]);
    expect(lines().slice(1)).toEqual([
      "Disk xvda (vbd 51712) connected: 1 MiB (1048576 bytes, 512-byte sectors).",
      "Suspending.",
      "Resumed.",
      "Shutdown requested (poweroff): closing my disks and vifs.",
      "Goodbye.",
    ]);
    expect(unikernel.exit).toMatchObject({ reason: "poweroff", code: 0 });
    expect(service.tools.read(`${devicePaths(disk).backend}/state`)).toBe(CLOSED);
  });

  test("checks.wasm: its self-check passes against our xenstored and block backend, dom0 acting as the rig does", () => {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const back = startBlkbackDomain(service, { engine, sectors: 2048 });
    const checks = loadUnikernel(hv, "checks", checksWasm, engine);
    const disk: DeviceSpec = {
      type: "vbd",
      devid: XVDA,
      frontend: checks.domid,
      backend: back.domid,
      backendParams: back.disk.params,
    };
    service.devices.add(disk);
    const log = service.console(checks.domid)!.log;
    const base = `/local/domain/${checks.domid}/data/check`;
    const exists = (path: string) =>
      service.tools.directory(dirname(path)).includes(path.slice(path.lastIndexOf("/") + 1));
    const dom0Saw: boolean[] = [];
    // dom0's part, each at the moment the guest waits for it.
    hv.whenIdle(() => {
      dom0Saw.push(exists(`${base}/ready/long`));
      for (let i = 0; i < 120; i++)
        service.tools.write(`${base}/long/a-node-name-long-enough-that-120-of-them-pass-4096-bytes-${i}`, "");
      service.tools.write(`${base}/long-done`, "1");
    });
    hv.whenIdle(() => {
      dom0Saw.push(exists(`${base}/ready/watch`));
      service.tools.write(`${base}/from-dom0`, "hello");
    });
    hv.whenIdle(() => {
      dom0Saw.push(exists(`${base}/ready/conflict`));
      service.tools.write(`${base}/conflict`, "dom0");
    });
    hv.whenIdle(() => service.requestShutdown(checks.domid, "poweroff"));
    runMain(hv, checks);

    expect(dom0Saw).toEqual([true, true, true]);
    const results = log.lines().filter((line) => line.startsWith("check "));
    expect(results.filter((line) => !/^check [a-z0-9.-]+: ok/.test(line))).toEqual([]);
    expect(results.map((line) => line.split(":")[0])).toEqual([
      "check xenstore.write-read",
      "check xenstore.mkdir-directory",
      "check xenstore.rm",
      "check xenstore.directory-long",
      "check xenstore.perms",
      "check xenstore.eacces",
      "check xenstore.watch-registration",
      "check xenstore.watch-dom0-write",
      "check xenstore.unwatch",
      "check xenstore.transaction-conflict",
      "check xenstore.get-domain-path",
      "check xenstore.features",
      "check xvda.pattern",
    ]);
    expect(log.lines()).toContain("checks: 13 passed, 0 failed");
    expect(service.tools.read(`${base}/conflict`)).toBe("guest after dom0");
    // What dom0 finds in the image: each sector starts with its line of the pattern.
    const image = back.disk.image();
    for (const sector of [0, 1, 777, 2047]) {
      const text = new TextDecoder().decode(image.subarray(sector * 512, sector * 512 + 40));
      expect(text).toBe(`xenbus-wasm xvda sector ${sector}\n`.padEnd(40, "."));
    }
    expect(checks.exit).toMatchObject({ reason: "poweroff" });
  });

  test("blkback.wasm: a driver domain serves its disk to a frontend and says what the frontend wrote (cksum), as the rig checks", () => {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const blkback = loadUnikernel(hv, "blkback", blkbackWasm, engine);
    const front = new HostileBlkfront(hv, service, { backend: blkback.domid, backendParams: { params: "0" } });
    const log = service.console(blkback.domid)!.log;
    const written = new TextEncoder().encode("rig-linux-xvda\n".repeat(274)).subarray(0, 4096);
    const target = front.allocPage();
    const states: (number | null)[] = [];
    // The frontend's steps, each once the driver domain has nothing left to do.
    hv.whenIdle(() => {
      states.push(front.backendState);
      front.connect();
    });
    hv.whenIdle(() => {
      states.push(front.backendState);
      const source = front.allocPage();
      front.page(source).set(written);
      front.submit(rw(BLKIF_OP.WRITE, 1n, 0n, [front.grant(source, blkback.domid, true)]));
    });
    // The disk's last sector (8 MiB: sector 16383), read into the first 512 bytes of a page.
    hv.whenIdle(() => {
      const request = rw(BLKIF_OP.READ, 2n, 16383n, [front.grant(target)]);
      front.submit({ ...request, segments: [{ ...request.segments[0], lastSect: 0 }] });
    });
    hv.whenIdle(() => {
      front.run(); // takes the responses
      front.switchState(XENBUS_STATE.Closing);
    });
    hv.whenIdle(() => {
      states.push(front.backendState);
      front.switchState(XENBUS_STATE.Closed);
    });
    hv.whenIdle(() => service.requestShutdown(blkback.domid, "poweroff"));
    runMain(hv, blkback);

    expect(states).toEqual([XENBUS_STATE.InitWait, XENBUS_STATE.Connected, XENBUS_STATE.Closing]);
    expect(front.responses).toEqual([
      { id: 1n, operation: BLKIF_OP.WRITE, status: BLKIF_RSP.OKAY },
      { id: 2n, operation: BLKIF_OP.READ, status: BLKIF_RSP.OKAY },
    ]);
    expect(new TextDecoder().decode(front.page(target).subarray(0, 44))).toBe(
      "xenbus-wasm blkback disk 0, last sector\n\0\0\0\0",
    );
    // What dom0's cksum says of the bytes the frontend wrote.
    const [expectedCksum] = execFileSync("cksum", { input: written, encoding: "utf8" }).split(" ");
    expect(log.lines()).toEqual([
      `Hello from a Wasm unikernel on Xen: I am domain ${blkback.domid}.`,
      "Serving disk 0 (8 MiB) to the frontends the toolstack gives me.",
      `Serving xvda (vbd 51712) of domain ${front.domid}: ring of 1 page(s).`,
      `xvda (vbd 51712) of domain ${front.domid} went after 2 requests (4608 bytes, 0 flushes); its disk's first 4096 bytes have cksum ${expectedCksum}.`,
      "Shutdown requested (poweroff): closing my disks.",
      "Goodbye.",
    ]);
    expect(blkback.exit).toMatchObject({ reason: "poweroff", code: 0 });
  });

  test("with no disk it greets and waits; a domain without a store crashes naming the failed step", () => {
    const { hv, service, unikernel, lines } = setup();
    hv.whenIdle(() => service.requestShutdown(unikernel.domid, "halt"));
    runMain(hv, unikernel);
    expect(lines()).toEqual([
      `Hello from a Wasm unikernel on Xen: I am domain ${unikernel.domid}.`,
      "Shutdown requested (halt): closing my disks and vifs.",
      "Goodbye.",
    ]);
    expect(unikernel.exit).toMatchObject({ reason: "poweroff", code: 0 });

    const bare = new Hypervisor(); // no xenstored: the store page is there, its port is not
    const lonely = loadUnikernel(bare, "lonely", unikernelWasm, engine);
    runMain(bare, lonely);
    expect(lonely.exit).toMatchObject({ reason: "crash", message: "main failed: -19" });
  });
});
