// The toolstack's device entries: added, hot-unplugged and removed with a
// destroyed domain, on the simulated Xen and xenstored, read by dom0 and by
// a booted xenbus.wasm guest over its ring.
import { describe, expect, it } from "vitest";
import { type DeviceSpec, devicePaths } from "../../host/dom0/devices.js";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { encodeMessage, strings, XsType } from "../../host/dom0/xenstored/wire.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { xenstore } from "../../runtime/xenstore.js";
import { engines } from "../support/engines.js";
import { perms } from "../support/perms.js";
import { bootXenbus } from "../support/xenbus.js";

const EACCES = 13;
const errno = (code: number) => expect.objectContaining({ errno: code });

describe.each(engines)("under $name", ({ engine }) => {
  function setup(...names: string[]) {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const guests = names.map((name) => bootXenbus(hv, name, engine));
    return { hv, service, dom0: service.tools, guests, stores: guests.map((guest) => xenstore(guest)) };
  }

  describe("domains it hears of", () => {
    it("introduces each guest that starts once it runs, with a console; not one loaded before it started", () => {
      const hv = new Hypervisor();
      const before = bootXenbus(hv, "before", engine);
      const service = startXenstore(hv);
      const after = bootXenbus(hv, "after", engine);
      expect(service.xenstored.isIntroduced(before.domid)).toBe(false);
      expect(service.console(before.domid)).toBeUndefined();
      expect(service.xenstored.isIntroduced(after.domid)).toBe(true);
      expect(service.console(after.domid)).toBeDefined();
      expect(service.tools.read(`/local/domain/${after.domid}/name`)).toBe("after");
    });

    it("runs once per hypervisor", () => {
      const hv = new Hypervisor();
      startXenstore(hv);
      expect(() => startXenstore(hv)).toThrow("xenstored is already running");
    });
  });

  /** A disk in dom0 for the guest, as `xl block-attach` would describe it. */
  function disk(frontend: number): DeviceSpec {
    return {
      type: "vbd",
      devid: 51712,
      frontend,
      backend: 0,
      backendParams: { params: "/dev/vg/disk", mode: "w", type: "phy" },
    };
  }

  /**
   * A backend daemon in dom0 for `backend`: its xenstore watch on the state
   * wakes it through an event channel, so it acts when the hypervisor runs,
   * not inside xenstored. It records the `online` value it finds with each
   * Closing, and answers Closing with Closed if `answersClosing`.
   */
  function simulatedBackend(hv: Hypervisor, service: XenstoreService, backend: string, answersClosing: boolean) {
    const client = new LocalClient(service.xenstored, 0);
    const onlineAtClosing: string[] = [];
    const port = hv.dom0.evtchn.bindUnboundPort(0);
    hv.dom0.evtchn.on(port, () => {
      // Also woken when the device is removed, with no state left to read.
      if (!exists(client, `${backend}/state`) || client.read(`${backend}/state`) !== "5") return;
      onlineAtClosing.push(client.read(`${backend}/online`));
      if (answersClosing) client.write(`${backend}/state`, "6");
    });
    const watcher = service.xenstored.connect(0, (bytes) => {
      if (new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) === XsType.WATCH_EVENT)
        hv.evtchn.setPending(hv.dom0, port);
    });
    service.xenstored.receive(
      watcher,
      encodeMessage({ type: XsType.WATCH, reqId: 1, txId: 0, payload: strings(`${backend}/state`, "backend") }),
    );
    hv.runUntilIdle(); // past the event every new watch fires at once
    return { onlineAtClosing };
  }

  function exists(client: LocalClient, path: string): boolean {
    try {
      client.read(path);
      return true;
    } catch {
      return false;
    }
  }

  describe("adding a device", () => {
    it("writes the frontend and backend dirs with Xen's nodes and perms, and returns their paths", () => {
      const { service, dom0, guests } = setup("front");
      const domid = guests[0]!.domid;
      const paths = service.devices.add(disk(domid));
      expect(paths).toEqual({
        frontend: `/local/domain/${domid}/device/vbd/51712`,
        backend: `/local/domain/0/backend/vbd/${domid}/51712`,
      });
      expect(dom0.directory(paths.frontend).sort()).toEqual([
        "backend",
        "backend-id",
        "device-type",
        "state",
        "trusted",
        "virtual-device",
      ]);
      expect(dom0.read(`${paths.frontend}/backend`)).toBe(paths.backend);
      expect(dom0.read(`${paths.frontend}/backend-id`)).toBe("0");
      expect(dom0.read(`${paths.frontend}/state`)).toBe("1");
      expect(dom0.directory(paths.backend).sort()).toEqual([
        "bootable",
        "dev",
        "device-type",
        "discard-enable",
        "frontend",
        "frontend-id",
        "mode",
        "online",
        "params",
        "removable",
        "script",
        "specification",
        "state",
        "type",
      ]);
      expect(dom0.read(`${paths.backend}/frontend`)).toBe(paths.frontend);
      expect(dom0.read(`${paths.backend}/frontend-id`)).toBe(String(domid));
      expect(dom0.read(`${paths.backend}/online`)).toBe("1");
      expect(dom0.read(`${paths.backend}/state`)).toBe("1");
      expect(dom0.read(`${paths.backend}/params`)).toBe("/dev/vg/disk");
      for (const node of ["", "/backend", "/state"])
        expect(dom0.getPerms(`${paths.frontend}${node}`)).toEqual(perms(`n${domid}`, "r0"));
      for (const node of ["", "/frontend", "/state", "/mode"])
        expect(dom0.getPerms(`${paths.backend}${node}`)).toEqual(perms("n0", `r${domid}`));
    });

    it("lets the frontend guest read both dirs and write its own, but not the backend's", () => {
      const { service, guests, stores } = setup("front");
      const [guest, xs] = [guests[0]!, stores[0]!];
      const paths = service.devices.add(disk(guest.domid));
      expect(xs.directory(paths.frontend).sort()).toEqual([
        "backend",
        "backend-id",
        "device-type",
        "state",
        "trusted",
        "virtual-device",
      ]);
      expect(xs.read(`${paths.frontend}/backend`)).toBe(paths.backend);
      expect(xs.read(`${paths.backend}/state`)).toBe("1");
      expect(xs.read(`${paths.backend}/mode`)).toBe("w");
      xs.write(`${paths.frontend}/state`, "3");
      expect(() => xs.write(`${paths.backend}/state`, "4")).toThrow(errno(EACCES));
      expect(() => xs.write(`${paths.backend}/new-node`, "x")).toThrow(errno(EACCES));
    });

    it("keeps one guest out of another's devices", () => {
      const { service, guests, stores } = setup("front", "other");
      const paths = service.devices.add(disk(guests[0]!.domid));
      expect(() => stores[1]!.read(`${paths.backend}/state`)).toThrow(errno(EACCES));
    });

    it("first clears whatever was left at the device's paths, by the guest or an earlier device", () => {
      const { service, dom0, guests, stores } = setup("front");
      const domid = guests[0]!.domid;
      const stale = devicePaths(disk(domid));
      // The guest's own device/ dir is writable by it; dom0 left an old backend behind.
      stores[0]!.write(`${stale.frontend}/ring-ref`, "77");
      stores[0]!.write(`${stale.frontend}/state`, "4");
      dom0.write(`${stale.backend}/hotplug-status`, "connected");
      dom0.write(`${stale.backend}/state`, "4");
      const paths = service.devices.add(disk(domid));
      expect(dom0.directory(paths.frontend).sort()).toEqual([
        "backend",
        "backend-id",
        "device-type",
        "state",
        "trusted",
        "virtual-device",
      ]);
      expect(dom0.read(`${paths.frontend}/state`)).toBe("1");
      expect(dom0.getPerms(`${paths.frontend}/state`)).toEqual(perms(`n${domid}`, "r0"));
      expect(dom0.directory(paths.backend).sort()).toEqual([
        "bootable",
        "dev",
        "device-type",
        "discard-enable",
        "frontend",
        "frontend-id",
        "mode",
        "online",
        "params",
        "removable",
        "script",
        "specification",
        "state",
        "type",
      ]);
      expect(dom0.read(`${paths.backend}/state`)).toBe("1");
    });

    it("is seen by a dom0 watch on the frontend's device/ dir", () => {
      const { hv, service, dom0, guests } = setup("front");
      const device = `/local/domain/${guests[0]!.domid}/device`;
      dom0.watch(device, "hotplug");
      dom0.takeEvents();
      const paths = service.devices.add(disk(guests[0]!.domid));
      hv.runUntilIdle();
      const events = dom0.takeEvents();
      expect(events).toContainEqual({ path: paths.frontend, token: "hotplug" });
      expect(events.every((event) => event.path.startsWith(paths.frontend) && event.token === "hotplug")).toBe(true);
    });
  });

  describe("hot-unplug", () => {
    it("asks the backend to close (online 0, state Closing) and removes both dirs once it is Closed", () => {
      const { hv, service, dom0, guests } = setup("front");
      const device = disk(guests[0]!.domid);
      const paths = service.devices.add(device);
      const backend = simulatedBackend(hv, service, paths.backend, true);
      expect(service.devices.unplug(device)).toBe("closed");
      expect(backend.onlineAtClosing).toEqual(["0"]);
      expect(exists(dom0, paths.frontend)).toBe(false);
      expect(exists(dom0, paths.backend)).toBe(false);
    });

    it("removes the dirs anyway when the backend does not reach Closed within the bound", () => {
      const { hv, dom0, service, guests } = setup("front");
      const device = disk(guests[0]!.domid);
      const paths = service.devices.add(device);
      const backend = simulatedBackend(hv, service, paths.backend, false);
      expect(service.devices.unplug(device, { maxWaitRuns: 3 })).toBe("forced");
      expect(backend.onlineAtClosing).toEqual(["0"]);
      expect(exists(dom0, paths.frontend)).toBe(false);
      expect(exists(dom0, paths.backend)).toBe(false);
    });

    it("with force removes at once, without asking the backend", () => {
      const { hv, service, dom0, guests } = setup("front");
      const device = disk(guests[0]!.domid);
      const paths = service.devices.add(device);
      const backend = simulatedBackend(hv, service, paths.backend, true);
      expect(service.devices.unplug(device, { force: true })).toBe("forced");
      hv.runUntilIdle();
      expect(backend.onlineAtClosing).toEqual([]);
      expect(exists(dom0, paths.frontend)).toBe(false);
      expect(exists(dom0, paths.backend)).toBe(false);
    });
  });

  describe("removing a device", () => {
    it("removes the parents it leaves empty, up to but not including the domain's device/ and backend/ dirs", () => {
      const { service, dom0, guests } = setup("front", "other");
      const [front, other] = guests.map((guest) => guest.domid) as [number, number];
      const [first, second] = [disk(front), { ...disk(front), devid: 51728 }];
      for (const device of [first, second, disk(other)]) service.devices.add(device);

      service.devices.unplug(first, { force: true });
      expect(dom0.directory(`/local/domain/${front}/device/vbd`)).toEqual(["51728"]);
      expect(dom0.directory(`/local/domain/0/backend/vbd/${front}`)).toEqual(["51728"]);

      service.devices.unplug(second, { force: true });
      expect(dom0.directory(`/local/domain/${front}/device`)).toEqual([]);
      expect(dom0.directory("/local/domain/0/backend/vbd")).toEqual([String(other)]);

      service.devices.unplug(disk(other), { force: true });
      expect(dom0.directory("/local/domain/0/backend")).toEqual([]);
      expect(dom0.directory(`/local/domain/${other}/device`)).toEqual([]);
    });
  });

  describe("destroying a domain", () => {
    it("removes the devices it is either end of, then its home, and fires @releaseDomain", () => {
      const { hv, service, dom0, guests } = setup("front", "driver", "client");
      const [front, driver, client] = guests.map((guest) => guest.domid) as [number, number, number];
      const frontDisk = service.devices.add(disk(front));
      // `driver` is a driver domain: the backend of client's network device.
      const clientNic = { type: "vif", devid: 0, frontend: client, backend: driver };
      service.devices.add(clientNic);
      dom0.watch("@releaseDomain", "gone");
      dom0.takeEvents();

      expect(service.destroyDomain(front)).toEqual([frontDisk]);
      expect(service.destroyDomain(driver)).toEqual([devicePaths(clientNic)]);

      expect(dom0.takeEvents()).toEqual([
        { path: "@releaseDomain", token: "gone" },
        { path: "@releaseDomain", token: "gone" },
      ]);
      for (const gone of [
        frontDisk.backend,
        devicePaths(clientNic).frontend,
        `/local/domain/${front}`,
        `/local/domain/${driver}`,
      ]) {
        expect(exists(dom0, gone)).toBe(false);
      }
      expect(hv.domain(front)).toBeUndefined();
      expect(dom0.read(`/local/domain/${client}/name`)).toBe("client");
    });

    it("trusts no path a hostile frontend wrote: its `backend` node pointing at another device removes nothing of that device", () => {
      const { service, dom0, guests, stores } = setup("hostile", "victim");
      const [hostile, victim] = guests.map((guest) => guest.domid) as [number, number];
      const victimDisk = service.devices.add(disk(victim));
      const hostileDisk = service.devices.add(disk(hostile));
      stores[0]!.write(`${hostileDisk.frontend}/backend`, victimDisk.backend);
      expect(service.destroyDomain(hostile)).toEqual([{ frontend: hostileDisk.frontend, backend: "" }]);
      expect(dom0.read(`${victimDisk.backend}/state`)).toBe("1");
      expect(dom0.read(`${victimDisk.frontend}/state`)).toBe("1");
    });
  });
});
