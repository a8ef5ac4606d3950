// The XenBus buses (assembly/xenbus/bus.ts, FreeBSD sys/xen/xenbus/xenbusb.c)
// through the real module: build/harness.wasm guests (xenbus.wasm plus the
// test-only "vtest" drivers of assembly/testing/bus-drivers.ts) on the
// simulated Xen, with devices written by the toolstack's DeviceManager and
// the other end played by dom0 or by a second guest.
import { describe, expect, test } from "vitest";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import type { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { engines } from "../support/engines.js";
import { perms } from "../support/perms.js";
import { bootHarness, HarnessGuest } from "../support/xenbus.js";

const FRONTEND = 0;
const BACKEND = 1;
const EINVAL = -22;
const ENODEV = -19;
const ETIMEDOUT = -110;
const { Initialising, InitWait, Initialised, Connected, Closing, Closed } = XENBUS_STATE;

/** A harness guest and its bus as the exports describe it. */
class Guest extends HarnessGuest {
  /** Each attached device of the bus as the exports describe it. */
  devices(kind: number): { type: string; id: string; state: number; otherendState: number; otherendId: number }[] {
    const count = this.x.xenbus_bus_device_count(kind);
    expect(count).toBeGreaterThanOrEqual(0);
    return Array.from({ length: count }, (_, i) => ({
      type: this.text(this.x.xenbus_bus_device_type(kind, i, this.out)),
      id: this.text(this.x.xenbus_bus_device_id(kind, i, this.out)),
      state: this.x.xenbus_bus_device_state(kind, i),
      otherendState: this.x.xenbus_bus_device_otherend_state(kind, i),
      otherendId: this.x.xenbus_bus_device_otherend_id(kind, i),
    }));
  }
}

interface Setup {
  hv: Hypervisor;
  service: XenstoreService;
  dom0: LocalClient;
  front: Guest;
}

describe.each(engines)("under $name", ({ engine }) => {
  function setup(): Setup {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const front = new Guest(bootHarness(hv, "front", engine));
    return { hv, service, dom0: service.tools, front };
  }

  /** A vtest device of `front` whose backend is dom0 (played by the test). */
  function addDevice({ service, front }: Setup, devid = 1, type = "vtest") {
    return service.devices.add({ type, devid, frontend: front.domid, backend: 0 });
  }

  describe("attach and enumeration", () => {
    test("devices present at attach are enumerated: type, id, otherend from backend / backend-id, and its state watched", () => {
      const s = setup();
      const paths = addDevice(s);
      addDevice(s, 2);
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(ENODEV);
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      expect(s.front.devices(FRONTEND)).toEqual([
        { type: "vtest", id: "1", state: Initialising, otherendState: Initialising, otherendId: 0 },
        { type: "vtest", id: "2", state: Initialising, otherendState: Initialising, otherendId: 0 },
      ]);
      s.hv.runUntilIdle();
      const log = s.front.log();
      expect(log.slice(0, 2)).toEqual([
        `attach device/vtest/1 ${paths.backend} 0 ${Initialising}`,
        `attach device/vtest/2 ${paths.backend.replace(/1$/, "2")} 0 ${Initialising}`,
      ]);
      // Registration fires each device's otherend watch once.
      expect(log).toContain(`otherend device/vtest/1 ${Initialising}`);
      expect(log).toContain(`otherend device/vtest/2 ${Initialising}`);
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(2);
    });

    test("the backend bus: backend/<type>/<frontend-domid>/<id>, otherend from frontend / frontend-id", () => {
      const s = setup();
      const back = new Guest(bootHarness(s.hv, "back", engine));
      const paths = s.service.devices.add({ type: "vtest", devid: 7, frontend: s.front.domid, backend: back.domid });
      expect(back.x.xenbus_bus_attach(BACKEND)).toBe(0);
      s.hv.runUntilIdle();
      expect(back.devices(BACKEND)).toEqual([
        {
          type: "vtest",
          id: `${s.front.domid}/7`,
          state: InitWait,
          otherendState: Initialising,
          otherendId: s.front.domid,
        },
      ]);
      expect(back.log()[0]).toBe(
        `attach backend/vtest/${s.front.domid}/7 ${paths.frontend} ${s.front.domid} ${Initialising}`,
      );
      expect(s.dom0.read(`${paths.backend}/state`)).toBe(String(InitWait));
    });

    test("a device added later is found by the bus watch; one not in Initialising is ignored", () => {
      const s = setup();
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      const paths = addDevice(s, 3);
      s.hv.runUntilIdle();
      expect(s.front.devices(FRONTEND).map((dev) => dev.id)).toEqual(["3"]);
      expect(s.front.log()[0]).toBe(`attach device/vtest/3 ${paths.backend} 0 ${Initialising}`);

      // A device written straight in Connected is not new (one going away after closing looks so).
      s.service.tools.transaction((tx) => {
        const dir = `/local/domain/${s.front.domid}/device/vtest/4`;
        s.dom0.write(`${dir}/backend`, paths.backend, tx);
        s.dom0.write(`${dir}/backend-id`, "0", tx);
        s.dom0.write(`${dir}/state`, String(Connected), tx);
      });
      s.hv.runUntilIdle();
      expect(s.front.devices(FRONTEND).map((dev) => dev.id)).toEqual(["3"]);
    });

    test("a type without a driver is hidden, its state untouched, and not counted by the boot wait", () => {
      const s = setup();
      const paths = addDevice(s, 1, "vnone");
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      s.hv.runUntilIdle();
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Initialising));
      expect(s.front.x.xenbus_bus_boot_wait(FRONTEND, 10)).toBe(0);
    });

    test("an attach failure writes Closed and forgets the device, which is not found again while Closed", () => {
      const s = setup();
      const paths = addDevice(s);
      s.dom0.write(`${paths.frontend}/fail-attach`, "1");
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Closed));
      s.dom0.write(`${paths.frontend}/other`, "x");
      s.hv.runUntilIdle();
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      expect(s.front.log()).toEqual(["attach-failed device/vtest/1"]);
    });

    test("a device whose backend or backend-id is missing or unusable is not taken on", () => {
      const s = setup();
      const bad: [string, string][] = [
        ["backend-id", "abc"],
        ["backend-id", "70000"],
        ["backend", "relative/path"],
        ["backend", "/"],
      ];
      bad.forEach(([node, value], i) => {
        const paths = addDevice(s, 10 + i);
        s.dom0.write(`${paths.frontend}/${node}`, value);
      });
      const missing = addDevice(s, 20);
      s.dom0.rm(`${missing.frontend}/backend`);
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      expect(s.front.guest.console().filter((line) => line.includes("ignored"))).toHaveLength(5);
      // The states are untouched: nothing was attached.
      expect(s.dom0.read(`${missing.frontend}/state`)).toBe(String(Initialising));
    });
  });

  describe("per-device watches and state", () => {
    test("a device whose other end cannot be watched is reported, Closing, and detached", () => {
      const s = setup();
      const paths = addDevice(s);
      s.dom0.write(`${paths.frontend}/backend`, "/local/domain/0/not a path!");
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      expect(s.front.log()).toEqual([`attach device/vtest/1 /local/domain/0/not a path! 0 0`, "detach device/vtest/1"]);
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Closing));
      expect(s.dom0.read(`/local/domain/${s.front.domid}/error/device/vtest/1/error`)).toBe(
        "22 adding watch on /local/domain/0/not a path!/state",
      );
    });

    test("the other end's state reaches the driver, which walks the handshake", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.front.log();
      s.dom0.write(`${paths.backend}/state`, String(InitWait));
      s.hv.runUntilIdle();
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Initialised));
      s.dom0.write(`${paths.backend}/state`, String(Connected));
      s.hv.runUntilIdle();
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Connected));
      expect(s.front.devices(FRONTEND)[0]).toMatchObject({ state: Connected, otherendState: Connected });
      expect(s.front.log().filter((line) => line.startsWith("otherend"))).toEqual([
        `otherend device/vtest/1 ${InitWait}`,
        `otherend device/vtest/1 ${Connected}`,
      ]);
    });

    test("at most one event of the other end's state is pending: a burst reaches the driver once, with the last state", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.front.log();
      // The guest does not run between these writes: their events queue up.
      for (const state of [InitWait, Initialising, InitWait, Initialising, 7, 8, Initialising]) {
        s.dom0.write(`${paths.backend}/state`, String(state));
      }
      s.hv.runUntilIdle();
      expect(s.front.log().filter((line) => line.startsWith("otherend"))).toEqual([
        `otherend device/vtest/1 ${Initialising}`,
      ]);
    });

    test("a bogus state of the other end reads as Unknown", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.front.log();
      for (const bogus of ["9", "-1", "4x", "", "99999999999"]) {
        s.dom0.write(`${paths.backend}/state`, bogus);
        s.hv.runUntilIdle();
        expect(s.front.devices(FRONTEND)[0]!.otherendState).toBe(0);
      }
    });

    test("changes under the device's own directory reach the driver as the path below it; a state written by the toolstack is read back", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.front.log();
      // As FreeBSD's localend_changed: "/feature-x", "" for the directory itself.
      s.dom0.write(`${paths.frontend}/feature-x`, "1");
      s.hv.runUntilIdle();
      expect(s.front.log()).toEqual(["local /feature-x"]);
      s.dom0.write(`${paths.frontend}/queue-0/ring-ref`, "8");
      s.dom0.write(paths.frontend, "");
      s.hv.runUntilIdle();
      expect(s.front.log()).toEqual(["local /queue-0/ring-ref", "local "]);
      s.dom0.write(`${paths.frontend}/state`, String(Closing));
      s.hv.runUntilIdle();
      expect(s.front.devices(FRONTEND)[0]!.state).toBe(Closing);
    });

    test("a device whose state node disappears is torn down; its watches go with it", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.front.log();
      s.service.devices.unplug({ type: "vtest", devid: 1, frontend: s.front.domid, backend: 0 }, { force: true });
      s.hv.runUntilIdle();
      expect(s.front.log()).toContain("detach device/vtest/1");
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      // The otherend watch is gone: the (recreated) backend state is nobody's business now.
      s.dom0.write(`${paths.backend}/state`, String(Connected));
      s.hv.runUntilIdle();
      expect(s.front.log()).toEqual([]);
      // The same device added again is a new device.
      s.dom0.rm(paths.backend);
      addDevice(s);
      s.hv.runUntilIdle();
      expect(s.front.log()).toContain(`attach device/vtest/1 ${paths.backend} 0 ${Initialising}`);
    });

    test("a device whose state node this domain may no longer read is torn down, as one whose node is gone", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.front.log();
      s.dom0.setPerms(`${paths.frontend}/state`, perms("n0"));
      // Any change under the device makes the bus look at it again.
      s.dom0.write(`${paths.frontend}/poke`, "1");
      s.hv.runUntilIdle();
      expect(s.front.log()).toContain("detach device/vtest/1");
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      expect(s.front.guest.exit).toBeNull();
    });

    test("a state write after the toolstack removed the node is no error and does not recreate it", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      // The node goes, and the backend's Closing arrives before the guest sees the removal.
      s.dom0.rm(`${paths.frontend}/state`);
      s.dom0.write(`${paths.backend}/state`, String(Closing));
      s.hv.runUntilIdle();
      expect(s.dom0.directory(paths.frontend)).not.toContain("state");
      expect(s.front.x.xenbus_bus_device_count(FRONTEND)).toBe(0);
      expect(s.dom0.directory(`/local/domain/${s.front.domid}/error`)).toEqual([]);
    });

    test("device queries with a bad bus, index or output page are -errno", () => {
      const s = setup();
      addDevice(s);
      expect(s.front.x.xenbus_bus_attach(2)).toBe(EINVAL);
      expect(s.front.x.xenbus_bus_boot_wait(BACKEND, 1)).toBe(ENODEV);
      s.front.x.xenbus_bus_attach(FRONTEND);
      for (const index of [-1, 1, 0x7fffffff]) {
        expect(s.front.x.xenbus_bus_device_state(FRONTEND, index)).toBe(EINVAL);
        expect(s.front.x.xenbus_bus_device_otherend_id(FRONTEND, index)).toBe(EINVAL);
      }
      expect(s.front.x.xenbus_bus_device_type(FRONTEND, 0, 16)).toBe(EINVAL);
      expect(s.front.x.xenbus_bus_device_id(FRONTEND, 0, 0xfffffff0)).toBe(EINVAL);
    });
  });

  describe("boot wait", () => {
    test("returns once every connecting device is Connected (a backend guest on the same host)", () => {
      const s = setup();
      const back = new Guest(bootHarness(s.hv, "back", engine));
      const paths = s.service.devices.add({ type: "vtest", devid: 5, frontend: s.front.domid, backend: back.domid });
      expect(back.x.xenbus_bus_attach(BACKEND)).toBe(0);
      expect(s.front.x.xenbus_bus_attach(FRONTEND)).toBe(0);
      expect(s.front.x.xenbus_bus_boot_wait(FRONTEND, 1000)).toBe(0);
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Connected));
      expect(s.dom0.read(`${paths.backend}/state`)).toBe(String(Connected));
      expect(s.front.x.xenbus_bus_device_connecting(FRONTEND, 0)).toBe(0);
      expect(s.hv.now).toBe(0);
    });

    test("times out on Xen's system time and names the devices still waiting", () => {
      const s = setup();
      addDevice(s, 1);
      addDevice(s, 2);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      // dom0 connects device 2 only; device 1's backend never answers.
      const two = `/local/domain/0/backend/vtest/${s.front.domid}/2`;
      s.dom0.write(`${two}/state`, String(InitWait));
      s.hv.runUntilIdle();
      s.dom0.write(`${two}/state`, String(Connected));
      expect(s.front.x.xenbus_bus_boot_wait(FRONTEND, 250)).toBe(ETIMEDOUT);
      expect(s.hv.now).toBeGreaterThanOrEqual(250_000_000);
      const waiting = s.front.guest.console().filter((line) => line.includes("timeout waiting"));
      expect(waiting).toHaveLength(1);
      expect(waiting[0]).toContain("device/vtest/1 to connect: Initialising");
      expect(s.front.x.xenbus_bus_device_connecting(FRONTEND, 0)).toBe(1);
      expect(s.front.x.xenbus_bus_device_connecting(FRONTEND, 1)).toBe(0);
    });

    test("a device that closes no longer holds the boot", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.dom0.write(`${paths.backend}/state`, String(Closing));
      expect(s.front.x.xenbus_bus_boot_wait(FRONTEND, 100)).toBe(0);
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Closed));
    });
  });

  describe("suspend and resume", () => {
    test("after a restore each device re-reads its other end, is watched there, goes back to Initialising and resumes", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.dom0.write(`${paths.backend}/state`, String(InitWait));
      s.hv.runUntilIdle();
      s.dom0.write(`${paths.backend}/state`, String(Connected));
      s.hv.runUntilIdle();
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Connected));
      s.front.log();
      // The restored domain's backend is elsewhere (another backend domain).
      const other = s.hv.createNativeDomain("new-backend");
      const moved = `/local/domain/${other.domid}/backend/vtest/${s.front.domid}/1`;
      s.dom0.write(`${moved}/state`, String(InitWait));
      s.dom0.setPerms(`${moved}/state`, perms(`n${other.domid}`, `r${s.front.domid}`));
      s.dom0.write(`${paths.frontend}/backend`, moved);
      s.dom0.write(`${paths.frontend}/backend-id`, String(other.domid));
      s.hv.runUntilIdle();
      s.front.log();

      expect(s.front.x.xen_suspend()).toBe(0);
      const log = s.front.log();
      expect(log[0]).toBe("suspend device/vtest/1");
      expect(log).toContain(`resume device/vtest/1 ${moved} ${other.domid} ${Initialising}`);
      s.hv.runUntilIdle();
      // The new backend's InitWait, read at once through the re-registered watch, is answered.
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Initialised));
      expect(s.front.devices(FRONTEND)[0]).toMatchObject({ otherendId: other.domid, otherendState: InitWait });
      s.front.log();
      // The old backend is no longer watched.
      s.dom0.write(`${paths.backend}/state`, String(Closing));
      s.hv.runUntilIdle();
      expect(s.front.log().filter((line) => line.startsWith("otherend"))).toEqual([]);
    });

    test("a cancelled suspend only resumes the drivers", () => {
      const s = setup();
      const paths = addDevice(s);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.dom0.write(`${paths.frontend}/state`, String(Connected));
      s.hv.runUntilIdle();
      s.front.log();
      s.service.suspendOutcome = "cancelled";
      expect(s.front.x.xen_suspend()).toBe(1);
      expect(s.front.log()).toEqual([
        "suspend device/vtest/1",
        `resume device/vtest/1 ${paths.backend} 0 ${Connected}`,
      ]);
      expect(s.dom0.read(`${paths.frontend}/state`)).toBe(String(Connected));
    });

    test("a driver's failed resume is returned by xen_suspend, and the other devices still resume", () => {
      const s = setup();
      const one = addDevice(s, 1);
      addDevice(s, 2);
      s.front.x.xenbus_bus_attach(FRONTEND);
      s.hv.runUntilIdle();
      s.dom0.write(`${one.frontend}/fail-resume`, "1");
      s.hv.runUntilIdle();
      s.front.log();
      expect(s.front.x.xen_suspend()).toBe(-5);
      expect(s.front.log().filter((line) => line.startsWith("resume"))).toHaveLength(2);
    });
  });
});
