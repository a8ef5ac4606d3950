// dom0's device-state monitor and the one-call guest domain, on the simulated
// Xen and xenstored with real xenbus.wasm guests writing their own nodes.
import { describe, expect, it } from "vitest";
import { DeviceStateMonitor, describeTransition, type StateTransition } from "../../host/dom0/device-monitor.js";
import type { DeviceSpec } from "../../host/dom0/devices.js";
import { startXenstore, XenstoreService } from "../../host/dom0/toolstack.js";
import { createGuestDomain } from "../../host/system/guest-domain.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { guestConsole } from "../../runtime/console.js";
import { xenstore } from "../../runtime/xenstore.js";
import { engines } from "../support/engines.js";

function disk(frontend: number): DeviceSpec {
  return { type: "vbd", devid: 51712, frontend, backend: 0 };
}

describe.each(engines)("under $name", ({ engine }) => {
  function setup() {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const { guest } = createGuestDomain(service, "front", engine);
    return { hv, service, guest, xs: xenstore(guest) };
  }

  const lines = (transitions: StateTransition[]) => transitions.map(describeTransition);

  describe("the device-state monitor", () => {
    it("reports every transition of both ends as it happens, with the domain, device and end", () => {
      const { hv, service, guest, xs } = setup();
      const seen: string[] = [];
      const monitor = new DeviceStateMonitor(service, {
        onTransition: (transition) => seen.push(describeTransition(transition)),
      });
      const paths = service.devices.add(disk(guest.domid));
      const [fe, be] = [`dom${guest.domid} vbd/51712 frontend`, `dom0 vbd/${guest.domid}/51712 backend`];
      expect(seen).toEqual([`${fe}: (new) → Initialising`, `${be}: (new) → Initialising`]);
      service.tools.write(`${paths.backend}/state`, "2");
      xs.write(`${paths.frontend}/state`, "3");
      // Two writes with nothing run in between are still two transitions.
      service.tools.write(`${paths.backend}/state`, "4");
      xs.write(`${paths.frontend}/state`, "4");
      hv.runUntilIdle();
      expect(seen.slice(2)).toEqual([
        `${be}: Initialising → InitWait`,
        `${fe}: Initialising → Initialised`,
        `${be}: InitWait → Connected`,
        `${fe}: Initialised → Connected`,
      ]);
      expect(lines(monitor.transitions)).toEqual(seen);
      expect(monitor.transitions[2]).toMatchObject({
        domid: 0,
        device: `vbd/${guest.domid}/51712`,
        end: "backend",
        from: "1",
        to: "2",
      });
      expect(monitor.state(`${paths.frontend}/state`)).toBe("4");
    });

    it("reports a removed device's ends as gone, and a write of the same value as nothing", () => {
      const { service, guest } = setup();
      const paths = service.devices.add(disk(guest.domid));
      const monitor = new DeviceStateMonitor(service);
      service.tools.write(`${paths.frontend}/state`, "1");
      service.devices.unplug(disk(guest.domid), { force: true });
      expect(lines(monitor.transitions)).toEqual([
        `dom${guest.domid} vbd/51712 frontend: Initialising → gone`,
        `dom0 vbd/${guest.domid}/51712 backend: Initialising → gone`,
      ]);
      expect(monitor.state(`${paths.frontend}/state`)).toBeNull();
    });

    it("shows what a hostile guest writes as text, and stamps virtual time unless given a clock", () => {
      const { hv, service, guest, xs } = setup();
      const paths = service.devices.add(disk(guest.domid));
      const monitor = new DeviceStateMonitor(service);
      xs.write(`${paths.frontend}/state`, "banana\n");
      expect(lines(monitor.transitions)).toEqual([`dom${guest.domid} vbd/51712 frontend: Initialising → "banana\\n"`]);
      expect(monitor.transitions[0]!.time).toBe(hv.now);
      let tick = 100;
      const clocked = new DeviceStateMonitor(service, { clock: () => tick++ });
      xs.write(`${paths.frontend}/state`, "6");
      expect(clocked.transitions.map((transition) => transition.time)).toEqual([100]);
    });

    it("stops reporting once stopped", () => {
      const { service, guest } = setup();
      const monitor = new DeviceStateMonitor(service);
      monitor.stop();
      service.devices.add(disk(guest.domid));
      expect(monitor.transitions).toEqual([]);
    });
  });

  describe("createGuestDomain", () => {
    it("boots a guest introduced to xenstored with its console backend, whose output reaches the log", () => {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      const { guest, console } = createGuestDomain(service, "hello", engine);
      expect(service.xenstored.isIntroduced(guest.domid)).toBe(true);
      expect(service.tools.read(`/local/domain/${guest.domid}/name`)).toBe("hello");
      guestConsole(guest).write("hello, world\n");
      hv.runUntilIdle();
      expect(console.log.lines()).toEqual(["hello, world"]);
    });

    it("refuses a toolstack that is not running on the guest's hypervisor", () => {
      const hv = new Hypervisor();
      expect(() => createGuestDomain(new XenstoreService(hv), "lost", engine)).toThrow(/startXenstore/);
    });
  });
});
