// The PV console end to end: build/xenbus.wasm's frontend on its console
// page and port, and dom0's console backend, on one simulated hypervisor.
import { describe, expect, it } from "vitest";
import { type ConsoleBackend, startConsoleBackend } from "../../host/dom0/console-backend.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { EVTCHNSTAT, HVM_PARAM, SHUTDOWN, xencons_interface } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { guestConsole } from "../../runtime/console.js";
import { engines } from "../support/engines.js";
import { bootXenbus, type Xenbus } from "../support/xenbus.js";

const RING = xencons_interface.fields;
const [EIO, ENODEV] = [5, 19];
const PAGE_SIZE = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe.each(engines)("under $name", ({ engine }) => {
  /** A guest with dom0's console backend started for it and its console connected. */
  function connectedConsole() {
    const hv = new Hypervisor();
    const guest = bootXenbus(hv, "alpha", engine);
    const backend = startConsoleBackend(hv, guest.domid);
    expect(guest.exports.console_init()).toBe(0);
    const page = guest.exports.page_alloc();
    return { hv, guest, backend, page };
  }

  /** Writes `text` through console_write a page at a time; each call's result. */
  function write(guest: Xenbus, page: number, text: string): (number | undefined)[] {
    const bytes = encoder.encode(text);
    const results: (number | undefined)[] = [];
    for (let offset = 0; offset < bytes.length; offset += PAGE_SIZE) {
      const chunk = bytes.subarray(offset, offset + PAGE_SIZE);
      guest.memory().set(chunk, page);
      results.push(guest.exports.console_write(page, chunk.length));
    }
    return results;
  }

  /** Reads the guest's console input until `length` bytes arrived (letting the backend send more in between). */
  function readInput(hv: Hypervisor, guest: Xenbus, page: number, length: number): string {
    const bytes: number[] = [];
    for (let idle = 0; bytes.length < length && idle < 3; ) {
      const count = guest.exports.console_read(page)!;
      expect(count).toBeGreaterThanOrEqual(0);
      bytes.push(...guest.memory().subarray(page, page + count));
      idle = count === 0 ? idle + 1 : 0;
      hv.runUntilIdle();
    }
    return decoder.decode(new Uint8Array(bytes));
  }

  /** `count` numbered lines, so a lost, repeated or reordered byte shows. */
  function numberedLines(count: number, prefix: string): string[] {
    return Array.from(
      { length: count },
      (_, index) => `${prefix} ${String(index).padStart(4, "0")} ${"x".repeat(index % 50)}`,
    );
  }

  /** Where the guest moved its console page. */
  function consoleAddress(backend: ConsoleBackend): number {
    return backend.frame.gfn! * PAGE_SIZE;
  }

  function consoleView(guest: Xenbus, backend: ConsoleBackend): DataView {
    return new DataView(guest.memory().buffer, consoleAddress(backend), PAGE_SIZE);
  }

  describe("guest output", () => {
    it("reaches the backend's log, line by line", () => {
      const { hv, guest, backend, page } = connectedConsole();
      expect(write(guest, page, "hello\nworld\npartial")).toEqual([19]);
      hv.runUntilIdle();
      expect(backend.log.lines()).toEqual(["hello", "world", "partial"]);
    });

    it("longer than the ring: the writer waits for the backend, and every byte arrives in order", () => {
      const { hv, guest, backend, page } = connectedConsole();
      const lines = numberedLines(400, "out");
      const text = lines.map((line) => `${line}\n`).join("");
      expect(text.length).toBeGreaterThan(4 * 2048);
      const results = write(guest, page, text);
      expect(results.every((rc, index) => rc === Math.min(PAGE_SIZE, text.length - index * PAGE_SIZE))).toBe(true);
      hv.runUntilIdle();
      expect(backend.log.lines()).toEqual(lines);
      expect(guest.exit).toBeNull();
    });
  });

  describe("host input", () => {
    it("reaches the guest", () => {
      const { hv, guest, backend, page } = connectedConsole();
      backend.send("ls -l\n");
      hv.runUntilIdle();
      expect(readInput(hv, guest, page, 6)).toBe("ls -l\n");
      expect(guest.exports.console_read(page)).toBe(0);
    });

    it("longer than the ring: the rest waits in the backend until the guest takes some, and all arrives in order", () => {
      const { hv, guest, backend, page } = connectedConsole();
      const text = numberedLines(300, "in").join("\n");
      expect(text.length).toBeGreaterThan(8 * 1024);
      backend.send(text);
      expect(backend.pendingInput).toBeGreaterThan(0);
      hv.runUntilIdle();
      expect(readInput(hv, guest, page, text.length)).toBe(text);
      expect(backend.pendingInput).toBe(0);
    });

    it("sent before the guest connects is received once it does", () => {
      const hv = new Hypervisor();
      const guest = bootXenbus(hv, "alpha", engine);
      const backend = startConsoleBackend(hv, guest.domid);
      backend.send("early\n");
      hv.runUntilIdle();
      expect(guest.exports.console_init()).toBe(0);
      const page = guest.exports.page_alloc();
      expect(readInput(hv, guest, page, 6)).toBe("early\n");
    });
  });

  describe("a hostile backend", () => {
    it("impossible output indices: console_write fails with -EIO, no trap, nothing outside the page written", () => {
      const { guest, backend, page } = connectedConsole();
      const view = consoleView(guest, backend);
      view.setUint32(RING.out_cons, 0, true);
      view.setUint32(RING.out_prod, 0x8000_0000, true);
      const next = consoleAddress(backend) + PAGE_SIZE;
      const before = guest.memory().slice(next, next + PAGE_SIZE);
      expect(write(guest, page, "lost\n")).toEqual([-EIO]);
      expect(guest.memory().slice(next, next + PAGE_SIZE)).toEqual(before);
      expect(guest.exit).toBeNull();
    });

    it("impossible output indices while the writer waits: -EIO instead of waiting forever", () => {
      const { hv, guest, backend, page } = connectedConsole();
      // The backend's own event handler is replaced by one that leaves garbage.
      hv.dom0.evtchn.on(backend.localPort, () => {
        consoleView(guest, backend).setUint32(RING.out_cons, 0xdead_beef, true);
        hv.dom0.evtchn.notify(backend.localPort);
      });
      expect(write(guest, page, "y".repeat(3000))).toEqual([-EIO]);
      expect(guest.exit).toBeNull();
    });

    it("impossible input indices: console_read fails with -EIO, no trap", () => {
      const { hv, guest, backend, page } = connectedConsole();
      const view = consoleView(guest, backend);
      view.setUint32(RING.in_cons, 7, true);
      view.setUint32(RING.in_prod, 7 + 5000, true);
      hv.dom0.evtchn.notify(backend.localPort);
      hv.runUntilIdle();
      expect(guest.exports.console_read(page)).toBe(-EIO);
      expect(guest.exit).toBeNull();
    });
  });

  describe("without a console", () => {
    it("console_init gives -ENODEV when no port was given, and the exports -ENODEV before init", () => {
      const hv = new Hypervisor();
      const guest = bootXenbus(hv, "alpha", engine);
      const page = guest.exports.page_alloc();
      expect(guest.exports.console_write(page, 1)).toBe(-ENODEV);
      expect(guest.exports.console_read(page)).toBe(-ENODEV);
      expect(guest.exports.console_init()).toBe(-ENODEV);
    });

    it("the typed wrapper throws ConsoleError with the errno", () => {
      const hv = new Hypervisor();
      const guest = bootXenbus(hv, "alpha", engine);
      expect(() => guestConsole(guest)).toThrow(
        expect.objectContaining({ name: "ConsoleError", errno: ENODEV, code: "ENODEV" }),
      );
    });

    it("console_init gives -ENODEV when the toolstack placed no console page", () => {
      const hv = new Hypervisor();
      const guest = bootXenbus(hv, "alpha", engine);
      guest.domain.params.set(HVM_PARAM.CONSOLE_PFN, 0n);
      guest.domain.params.set(HVM_PARAM.CONSOLE_EVTCHN, 5n);
      expect(guest.exports.console_init()).toBe(-ENODEV);
    });
  });

  describe("the toolstack's console backend", () => {
    /** xenstored and the toolstack running, and a guest they introduced, with its console connected. */
    function introducedGuest() {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      const guest = bootXenbus(hv, "alpha", engine);
      const backend = service.console(guest.domid)!;
      const console = guestConsole(guest);
      const consolePort = () => Number(guest.domain.params.get(HVM_PARAM.CONSOLE_EVTCHN));
      return { hv, service, guest, backend, console, consolePort };
    }

    it("is started for every domain introduced to xenstored, and the guest's output reaches its log", () => {
      const { hv, service, guest, backend, console, consolePort } = introducedGuest();
      const second = bootXenbus(hv, "beta", engine);
      expect(service.console(second.domid)).toBeDefined();
      expect(service.console(second.domid)).not.toBe(backend);
      expect(consolePort()).toBe(backend.guestPort);
      console.write("hello from alpha\n");
      hv.runUntilIdle();
      expect(backend.log.lines()).toEqual(["hello from alpha"]);
      expect(guest.exports.evtchn_status(consolePort())).toBe(EVTCHNSTAT.interdomain);
    });

    it("after suspend and resume the guest finds the new port and rings, and output and input keep flowing", () => {
      const { hv, guest, backend, console, consolePort } = introducedGuest();
      backend.send("before\n");
      hv.runUntilIdle();
      // Written, and the backend not yet run: it must still arrive.
      console.write("last words before suspend\n");
      expect(guest.exports.xen_suspend()).toBe(0);
      // The restored domain's channels are all new (on Xen their numbers repeat: store 1, console 2).
      expect(guest.exports.evtchn_status(consolePort())).toBe(EVTCHNSTAT.interdomain);

      console.write("after resume\n");
      backend.send("after\n");
      hv.runUntilIdle();
      expect(backend.log.lines()).toEqual(["last words before suspend", "after resume"]);
      expect(console.read()).toBe("before\nafter\n");
      expect(backend.badIndices).toBe(0);
    });

    it("a cancelled suspend keeps the same port", () => {
      const { hv, service, guest, backend, console, consolePort } = introducedGuest();
      const oldPort = consolePort();
      service.suspendOutcome = "cancelled";
      expect(guest.exports.xen_suspend()).toBe(1);
      expect(consolePort()).toBe(oldPort);
      console.write("still here\n");
      hv.runUntilIdle();
      expect(backend.log.lines()).toEqual(["still here"]);
    });

    it("a guest that never connected its console connects after a resume to the new port", () => {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      const guest = bootXenbus(hv, "alpha", engine);
      expect(guest.exports.xen_suspend()).toBe(0);
      guestConsole(guest).write("late\n");
      hv.runUntilIdle();
      expect(service.console(guest.domid)!.log.lines()).toEqual(["late"]);
    });

    it("stops when the domain exits: its last output is taken, its port closed, input refused", () => {
      const { hv, service, guest, backend, console } = introducedGuest();
      console.write("crashing now\n");
      hv.scheduler.kill(guest.domain, { reason: "crash", code: SHUTDOWN.crash, message: "test" });
      expect(backend.stopped).toBe(true);
      expect(backend.log.lines()).toEqual(["crashing now"]);
      expect(hv.dom0.evtchn.status(0, backend.localPort).status).toBe(EVTCHNSTAT.closed);
      expect(service.console(guest.domid)).toBeUndefined();
      expect(() => backend.send("anyone?\n")).toThrow(/stopped/);
    });

    it("stops when the domain is destroyed, and the domain's ports go with it", () => {
      const { hv, service, guest, backend } = introducedGuest();
      service.destroyDomain(guest.domid);
      expect(backend.stopped).toBe(true);
      expect(hv.dom0.evtchn.status(0, backend.localPort).status).toBe(EVTCHNSTAT.closed);
      expect(service.console(guest.domid)).toBeUndefined();
      hv.runUntilIdle();
    });
  });
});
