// The XenBus driver helpers end to end: build/harness.wasm guests (xenbus.wasm
// with the helpers as xenbus_* exports) as a frontend and a backend of one
// device, on the simulated Xen with its dom0 xenstored. Each behaviour of
// Linux drivers/xen/xenbus/xenbus_client.c is checked where the seed puts it: in the
// store (state and error nodes, as dom0 sees them), on the console, and in
// the event channel and grant tables.
import { beforeEach, describe, expect, test } from "vitest";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import type { LocalClient } from "../../host/dom0/xenstored/client.js";
import { GNTST, XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import type { Engine } from "../../runtime/engine.js";
import { beforeCommits, TRANSACTION_ATTEMPTS } from "../support/commits.js";
import { engines } from "../support/engines.js";
import { HelperGuest } from "../support/helper-guest.js";
import { perms } from "../support/perms.js";
import { bootHarness } from "../support/xenbus.js";

const PAGE = 4096;
const ENOENT = -2;
const EAGAIN = -11;
const EACCES = -13;
const EFAULT = -14;
const EINVAL = -22;
const ENOSPC = -28;
const ERANGE = -34;
/** Refs in the module's 4 grant frames, minus the toolstack's 8. */
const USABLE_REFS = 4 * 512 - 8;
const { Unknown, Initialising, Connected, Closing, Closed } = XENBUS_STATE;

interface Vif {
  hv: Hypervisor;
  service: XenstoreService;
  dom0: LocalClient;
  front: HelperGuest;
  back: HelperGuest;
  /** Each end's directory, absolute. */
  frontPath: string;
  backPath: string;
  /** Where each end's helpers report errors. */
  frontError: string;
  backError: string;
}

/**
 * Two guests and a vif between them, as libxl sets one up: each end's
 * directory its own and readable by the other, both in Initialising, and an
 * error/ directory in each home for the drivers' reports. Each guest has a
 * device for its end.
 */
function vif(engine: Engine): Vif {
  const hv = new Hypervisor();
  const service = startXenstore(hv);
  const dom0 = service.tools;
  const front = new HelperGuest(bootHarness(hv, "front", engine));
  const back = new HelperGuest(bootHarness(hv, "back", engine));
  const [f, b] = [front.guest.domid, back.guest.domid];
  const frontPath = `/local/domain/${f}/device/vif/0`;
  const backPath = `/local/domain/${b}/backend/vif/${f}/0`;
  const node = (path: string, value: string, entries: string[]) => {
    dom0.write(path, value);
    dom0.setPerms(path, perms(...entries));
  };
  for (const [path, perms] of [
    [frontPath, [`n${f}`, `r${b}`]],
    [`/local/domain/${b}/backend`, [`n${b}`]],
    [`/local/domain/${b}/backend/vif`, [`n${b}`]],
    [`/local/domain/${b}/backend/vif/${f}`, [`n${b}`]],
    [backPath, [`n${b}`, `r${f}`]],
  ] as const) {
    node(path, "", [...perms]);
  }
  node(`${frontPath}/backend`, backPath, [`n${f}`, `r${b}`]);
  node(`${frontPath}/backend-id`, String(b), [`n${f}`, `r${b}`]);
  node(`${frontPath}/state`, String(Initialising), [`n${f}`, `r${b}`]);
  node(`${backPath}/frontend`, frontPath, [`n${b}`, `r${f}`]);
  node(`${backPath}/frontend-id`, String(f), [`n${b}`, `r${f}`]);
  node(`${backPath}/state`, String(Initialising), [`n${b}`, `r${f}`]);
  front.device("device/vif/0", backPath, b);
  back.device(`backend/vif/${f}/0`, frontPath, f);
  return {
    hv,
    service,
    dom0,
    front,
    back,
    frontPath,
    backPath,
    frontError: `/local/domain/${f}/error/device/vif/0/error`,
    backError: `/local/domain/${b}/error/backend/vif/${f}/0/error`,
  };
}

/** Watches `path` from dom0 and returns a function that takes the events since (the registration's own dropped). */
function dom0Watch(dom0: LocalClient, path: string): () => string[] {
  const token = `t${path}`;
  dom0.watch(path, token);
  const take = () =>
    dom0
      .takeEvents()
      .filter((event) => event.token === token)
      .map((event) => event.path);
  take();
  return take;
}

describe.each(engines)("under $name", ({ engine }) => {
  describe("strstate", () => {
    test("names every XenbusState and calls anything else INVALID", () => {
      const { front } = vif(engine);
      const names = Array.from({ length: 9 }, (_, state) => front.guest.readString(front.x.xenbus_strstate(state)));
      expect(names).toEqual([
        "Unknown",
        "Initialising",
        "InitWait",
        "Initialised",
        "Connected",
        "Closing",
        "Closed",
        "Reconfiguring",
        "Reconfigured",
      ]);
      for (const state of [9, -1, 0x7fffffff])
        expect(front.guest.readString(front.x.xenbus_strstate(state))).toBe("INVALID");
    });
  });

  describe("read_driver_state", () => {
    let v: Vif;
    beforeEach(() => (v = vif(engine)));

    test("reads the other end's state", () => {
      for (let state = Unknown; state <= XENBUS_STATE.Reconfigured; state++) {
        v.dom0.write(`${v.backPath}/state`, String(state));
        expect(v.front.readDriverState(v.backPath)).toBe(state);
      }
    });

    test("is Unknown when there is no state node or no device", () => {
      v.dom0.rm(`${v.backPath}/state`);
      expect(v.front.readDriverState(v.backPath)).toBe(Unknown);
      expect(v.front.readDriverState("/local/domain/0/backend/vif/99/0")).toBe(Unknown);
    });

    test("is Unknown when the state cannot be read (no permission)", () => {
      v.dom0.setPerms(`${v.backPath}/state`, perms(`n${v.back.guest.domid}`));
      expect(v.front.readDriverState(v.backPath)).toBe(Unknown);
    });

    test("maps every value that is not a decimal XenbusState to Unknown, without trapping", () => {
      const garbage = [
        "",
        "abc",
        "4abc",
        " 4",
        "4 ",
        "+4",
        "-1",
        "-0",
        "9",
        "10",
        "4294967295",
        "4294967296",
        "99999999999999999999",
        "0x4",
        "4.0",
        "\u0664",
        "7".repeat(3000),
      ];
      for (const value of garbage) {
        v.dom0.write(`${v.backPath}/state`, value);
        expect(v.front.readDriverState(v.backPath), JSON.stringify(value)).toBe(Unknown);
      }
      for (const bytes of [
        [0xff, 0xfe, 0],
        [0x34, 0, 0x35],
        [0x34, 0, 0],
      ]) {
        v.back.xs.write(`backend/vif/${v.front.guest.domid}/0/state`, new Uint8Array(bytes));
        expect(v.front.readDriverState(v.backPath), String(bytes)).toBe(Unknown);
      }
      expect(v.front.guest.exit).toBeNull();
    });

    test("takes its path from anywhere in memory; a path outside memory is -EFAULT", () => {
      expect(v.front.x.xenbus_read_driver_state(v.front.guest.memory().length - 2, 8)).toBe(EFAULT);
      expect(v.front.x.xenbus_read_driver_state(0xfffffff0, 0x20)).toBe(EFAULT);
    });
  });

  describe("switch_state", () => {
    let v: Vif;
    beforeEach(() => (v = vif(engine)));

    test("writes the new state, and skips a switch to the state it last wrote (no watch fires)", () => {
      const stateChanges = dom0Watch(v.dom0, `${v.frontPath}/state`);
      expect(v.front.switchState(Connected)).toBe(0);
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Connected));
      expect(stateChanges()).toEqual([`${v.frontPath}/state`]);
      expect(v.front.x.xenbus_device_state(v.front.dev)).toBe(Connected);
      expect(v.front.x.xenbus_device_switch_error(v.front.dev)).toBe(0);

      expect(v.front.switchState(Connected)).toBe(0);
      expect(stateChanges()).toEqual([]);
    });

    test("writes inside a transaction and tries again when a conflicting write wins the commit", () => {
      const statePath = `${v.frontPath}/state`;
      const commits = beforeCommits(v.service, v.front.guest.domid, 1, () => v.dom0.write(statePath, "3"));
      expect(v.front.switchState(Connected)).toBe(0);
      expect(commits()).toBe(2);
      expect(v.dom0.read(statePath)).toBe(String(Connected));
      expect(v.dom0.directory(`/local/domain/${v.front.guest.domid}/error`)).toEqual([]);
    });

    test("gives up after a bounded number of conflicts, reports it, and its switch to Closing gives up too", () => {
      const statePath = `${v.frontPath}/state`;
      const commits = beforeCommits(v.service, v.front.guest.domid, Infinity, () => v.dom0.write(statePath, "1"));
      // 0, as the seed: the failure is reported, and the device says how it went.
      expect(v.front.switchState(Connected)).toBe(0);
      expect(v.front.x.xenbus_device_switch_error(v.front.dev)).toBe(EAGAIN);
      // Its own attempts, then those of the one switch to Closing that the failure asks for: no more.
      expect(commits()).toBe(2 * TRANSACTION_ATTEMPTS);
      expect(v.dom0.read(v.frontError)).toBe("11 ending transaction");
      expect(v.dom0.read(statePath)).toBe("1");
      expect(v.front.x.xenbus_device_state(v.front.dev)).toBe(Unknown);
      expect(v.front.guest.exit).toBeNull();
    });

    test("never creates a removed device node again, and neither fails nor reports", () => {
      v.dom0.rm(v.frontPath);
      expect(v.front.switchState(Connected)).toBe(0);
      expect(v.front.x.xenbus_device_switch_error(v.front.dev)).toBe(ENOENT);
      // A driver ported from Linux checks the result, and so writes no error node for a device going away.
      const err = v.front.switchState(Closed);
      if (err !== 0) v.front.devFatal(err, "switching to Closed");
      expect(v.front.x.xenbus_device_switch_error(v.front.dev)).toBe(ENOENT);
      expect(v.dom0.directory(`/local/domain/${v.front.guest.domid}/device/vif`)).toEqual([]);
      // A device going away is no failure: nothing is reported.
      expect(v.dom0.directory(`/local/domain/${v.front.guest.domid}/error`)).toEqual([]);
      expect(v.front.x.xenbus_device_state(v.front.dev)).toBe(Unknown);
    });

    test("a state node this end may no longer read is left alone and nothing is reported, as for a removed one", () => {
      v.dom0.setPerms(`${v.frontPath}/state`, perms("n0"));
      expect(v.front.switchState(Connected)).toBe(0);
      expect(v.front.x.xenbus_device_switch_error(v.front.dev)).toBe(EACCES);
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Initialising));
      expect(v.dom0.directory(`/local/domain/${v.front.guest.domid}/error`)).toEqual([]);
      expect(v.front.x.xenbus_device_state(v.front.dev)).toBe(Unknown);
    });

    test("overwrites a garbage state: the node is there, and it is ours", () => {
      v.dom0.write(`${v.frontPath}/state`, "garbage");
      expect(v.front.switchState(Connected)).toBe(0);
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Connected));
    });

    test("a write that fails is reported and switches to Closing once: that failing too ends it", () => {
      v.dom0.setPerms(`${v.frontPath}/state`, perms("n0", `r${v.front.guest.domid}`));
      const reports = dom0Watch(v.dom0, v.frontError);
      expect(v.front.switchState(Connected)).toBe(0);
      expect(v.front.x.xenbus_device_switch_error(v.front.dev)).toBe(EACCES);
      // One report for the switch, one for the switch to Closing it asked for.
      expect(reports()).toEqual([v.frontError, v.frontError]);
      expect(v.dom0.read(v.frontError)).toBe("13 writing new state");
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Initialising));
      expect(v.front.console().filter((line) => line.includes("writing new state"))).toEqual([
        "xenbus device/vif/0: 13 writing new state",
        "xenbus device/vif/0: 13 writing new state",
      ]);
      expect(v.front.guest.exit).toBeNull();
    });

    test("frontend_closed switches to Closed and marks the device down", () => {
      expect(v.front.x.xenbus_device_down(v.front.dev)).toBe(0);
      expect(v.front.x.xenbus_frontend_closed(v.front.dev)).toBe(0);
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Closed));
      expect(v.front.x.xenbus_device_down(v.front.dev)).toBe(1);
    });
  });

  describe("dev_error and dev_fatal", () => {
    let v: Vif;
    beforeEach(() => (v = vif(engine)));

    test('dev_error writes "<errno> <message>" to error/<nodename>/error and the console, and leaves the state', () => {
      expect(v.front.devError(-12, "allocating ring")).toBe(0);
      expect(v.dom0.read(v.frontError)).toBe("12 allocating ring");
      expect(v.front.console()).toContain("xenbus device/vif/0: 12 allocating ring");
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Initialising));
    });

    test("dev_fatal writes the error and switches to Closing, once", () => {
      const stateChanges = dom0Watch(v.dom0, `${v.frontPath}/state`);
      expect(v.front.devFatal(-5, "first")).toBe(0);
      expect(v.dom0.read(v.frontError)).toBe("5 first");
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Closing));
      expect(v.front.devFatal(-22, "second")).toBe(0);
      expect(v.dom0.read(v.frontError)).toBe("22 second");
      expect(stateChanges()).toEqual([`${v.frontPath}/state`]);
    });

    test("an error node that cannot be written is said on the console", () => {
      v.dom0.rm(`/local/domain/${v.front.guest.domid}/error`);
      expect(v.front.devError(-12, "allocating ring")).toBe(0);
      expect(v.front.console()).toContain(
        "xenbus device/vif/0: failed to write error node (13) for 12 allocating ring",
      );
    });

    test("bad arguments are errors, not traps", () => {
      expect(v.front.x.xenbus_dev_error(99, -1, ...v.front.text("x"))).toBe(EINVAL);
      expect(v.front.x.xenbus_dev_fatal(-1, -1, ...v.front.text("x"))).toBe(EINVAL);
      expect(v.front.x.xenbus_dev_error(v.front.dev, -1, 0xfffffff0, 100)).toBe(EFAULT);
      expect(v.front.x.xenbus_switch_state(7, Connected)).toBe(EINVAL);
      expect(v.front.x.xenbus_device_state(7)).toBe(EINVAL);
      expect(v.front.x.xenbus_device_switch_error(7)).toBe(EINVAL);
      expect(v.front.x.xenbus_frontend_closed(7)).toBe(EINVAL);
      expect(v.front.x.xenbus_device(0xfffffff0, 100, 0, 0, 1)).toBe(EFAULT);
      expect(v.front.x.xenbus_device(...v.front.text("device/vif/1"), 0, 0, 0x10000)).toBe(EINVAL);
      expect(v.front.guest.exit).toBeNull();
    });
  });

  describe("watch_path", () => {
    let v: Vif;
    beforeEach(() => (v = vif(engine)));

    test("runs the device's watch from the upcall for changes below the path", () => {
      const { front } = v;
      expect(front.x.xenbus_watch_path(front.dev, ...front.text(v.backPath), ...front.text("otherend", 1))).toBe(0);
      v.dom0.write(`${v.backPath}/state`, String(Connected));
      v.hv.runUntilIdle();
      // The event every new watch fires once, and the write.
      expect(front.x.xenbus_watch_events(front.dev)).toBe(2);
    });

    test("the joined variant watches <dir>/<name>", () => {
      const { front } = v;
      const rc = front.x.xenbus_watch_path_joined(
        front.dev,
        ...front.text(v.backPath),
        ...front.text("state", 1),
        ...front.text("otherend-state", 2),
      );
      expect(rc).toBe(0);
      v.dom0.write(`${v.backPath}/frontend-id`, "7");
      v.hv.runUntilIdle();
      // Nothing for this watch but the event every new watch fires once.
      expect(front.x.xenbus_watch_events(front.dev)).toBe(1);
      v.dom0.write(`${v.backPath}/state`, String(Connected));
      v.hv.runUntilIdle();
      expect(front.x.xenbus_watch_events(front.dev)).toBe(2);
    });

    test("a watch that cannot be added is fatal: reported, and the device Closing", () => {
      const { front } = v;
      expect(front.x.xenbus_watch_path(front.dev, ...front.text("bad//path"), ...front.text("t", 1))).toBe(EINVAL);
      expect(v.dom0.read(v.frontError)).toBe("22 adding watch on bad//path");
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Closing));
    });
  });

  describe("event channels", () => {
    let v: Vif;
    beforeEach(() => (v = vif(engine)));

    test("alloc_evtchn in one end, bind_evtchn in the other, events both ways, free_evtchn in both", () => {
      const { hv, front, back } = v;
      const frontPort = front.x.xenbus_alloc_evtchn(front.dev);
      expect(frontPort).toBeGreaterThan(0);
      const backPort = back.x.xenbus_bind_evtchn(back.dev, frontPort);
      expect(backPort).toBeGreaterThan(0);
      hv.runUntilIdle();
      const [frontSeen, backSeen] = [front.x.evtchn_event_count(frontPort), back.x.evtchn_event_count(backPort)];

      expect(front.x.evtchn_send(frontPort)).toBe(0);
      hv.runUntilIdle();
      expect(back.x.evtchn_event_count(backPort)).toBe(backSeen + 1);
      expect(back.x.evtchn_send(backPort)).toBe(0);
      hv.runUntilIdle();
      expect(front.x.evtchn_event_count(frontPort)).toBe(frontSeen + 1);

      expect(front.x.xenbus_free_evtchn(front.dev, frontPort)).toBe(0);
      expect(back.x.xenbus_free_evtchn(back.dev, backPort)).toBe(0);
      expect(v.dom0.directory(`/local/domain/${front.guest.domid}/error`)).toEqual([]);
    });

    test("free_evtchn of a closed port is reported but not fatal", () => {
      const { front } = v;
      const port = front.x.xenbus_alloc_evtchn(front.dev);
      expect(front.x.xenbus_free_evtchn(front.dev, port)).toBe(0);
      expect(front.x.xenbus_free_evtchn(front.dev, port)).toBe(EINVAL);
      expect(v.dom0.read(v.frontError)).toBe(`22 freeing event channel ${port}`);
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Initialising));
    });

    test("bind_evtchn to a port not offered is fatal", () => {
      const { back } = v;
      const rc = back.x.xenbus_bind_evtchn(back.dev, 4000);
      expect(rc).toBeLessThan(0);
      expect(v.dom0.read(v.backError)).toBe(`${-rc} binding to event channel 4000 from domain ${v.front.guest.domid}`);
      expect(v.dom0.read(`${v.backPath}/state`)).toBe(String(Closing));
    });

    test("alloc_evtchn that finds no free port is fatal", () => {
      const { front } = v;
      let ports = 0;
      while (front.x.evtchn_alloc_unbound(v.back.guest.domid) > 0) expect(++ports).toBeLessThan(5000);
      const rc = front.x.xenbus_alloc_evtchn(front.dev);
      expect(rc).toBe(ENOSPC);
      expect(v.dom0.read(v.frontError)).toBe("28 allocating event channel");
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Closing));
    });
  });

  /** `count` page_alloc pages of `driver`, one run of memory (a fresh guest's pool hands them out in order). */
  function ringPages(driver: HelperGuest, count: number): number {
    const pages = Array.from({ length: count }, () => driver.page());
    expect(pages).toEqual(pages.map((_, i) => pages[0]! + i * PAGE));
    return pages[0]!;
  }

  describe("grant_ring and the backend's map_ring", () => {
    let v: Vif;
    beforeEach(() => (v = vif(engine)));

    /** The frontend grants a ring of `count` pages, each page saying which it is, and publishes the refs. */
    function frontRing(count: number, tx = 0): { ring: number; refs: number[] } {
      const { front } = v;
      const ring = ringPages(front, count);
      for (let i = 0; i < count; i++) front.poke(ring + i * PAGE, `page ${i} of the ring`);
      expect(front.x.xenbus_grant_ring(front.dev, ring, count, front.out)).toBe(count);
      const refs = front.results(count);
      expect(front.x.xenbus_write_ring_refs(tx, front.dev, ...front.u32s(refs))).toBe(0);
      return { ring, refs };
    }

    /** The backend reads the refs the frontend published. */
    function backRefs(maxOrder = 4): number[] {
      const { back } = v;
      const count = back.x.xenbus_read_ring_refs(0, back.dev, maxOrder, back.out);
      expect(count).toBeGreaterThan(0);
      return back.results(count);
    }

    test("a one-page ring: ring-ref, mapped by the backend with the same bytes both ways", () => {
      const { front, back } = v;
      const { ring, refs } = frontRing(1);
      expect(v.dom0.read(`${v.frontPath}/ring-ref`)).toBe(String(refs[0]));
      expect(v.dom0.directory(v.frontPath)).not.toContain("ring-page-order");
      expect(backRefs()).toEqual(refs);

      const mapped = back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s(refs));
      expect(mapped).toBeGreaterThan(0);
      expect(back.peek(mapped, 18)).toBe("page 0 of the ring");
      back.poke(mapped + 100, "from the backend");
      expect(front.peek(ring + 100, 16)).toBe("from the backend");

      expect(front.x.gnttab_end_access(refs[0]!)).toBe(-16); // EBUSY: mapped
      expect(back.x.xenbus_unmap_ring_vfree(back.dev, mapped)).toBe(GNTST.okay);
      expect(front.x.gnttab_end_access(refs[0]!)).toBe(0);
    });

    test("an order-2 ring: ring-page-order and ring-ref0..3 in the frontend's transaction, mapped as one run", () => {
      const { front, back } = v;
      const tx = front.xs.transactionStart();
      const { ring, refs } = frontRing(4, tx);
      expect(v.dom0.directory(v.frontPath)).not.toContain("ring-page-order"); // not before the commit
      front.xs.transactionEnd(tx, true);
      expect(v.dom0.read(`${v.frontPath}/ring-page-order`)).toBe("2");
      expect([0, 1, 2, 3].map((i) => v.dom0.read(`${v.frontPath}/ring-ref${i}`))).toEqual(refs.map(String));
      expect(backRefs()).toEqual(refs);

      const mapped = back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s(refs));
      expect(mapped).toBeGreaterThan(0);
      for (let i = 0; i < 4; i++) expect(back.peek(mapped + i * PAGE, 18)).toBe(`page ${i} of the ring`);
      back.poke(mapped + 3 * PAGE + 200, "last page");
      expect(front.peek(ring + 3 * PAGE + 200, 9)).toBe("last page");

      expect(back.x.xenbus_unmap_ring_vfree(back.dev, mapped)).toBe(GNTST.okay);
      for (const ref of refs) expect(front.x.gnttab_end_access(ref)).toBe(0);
    });

    test("map_ring on the backend's own pages, then unmap_ring with the handles", () => {
      const { front, back } = v;
      const { ring, refs } = frontRing(2);
      const target = ringPages(back, 2);
      expect(back.x.xenbus_map_ring(back.dev, ...back.u32s(refs), target, back.out)).toBe(GNTST.okay);
      const handles = back.results(2);
      expect(back.peek(target + PAGE, 18)).toBe("page 1 of the ring");
      back.poke(target + PAGE + 50, "written");
      expect(front.peek(ring + PAGE + 50, 7)).toBe("written");
      expect(back.x.page_free(target)).toBe(-16); // EBUSY while mapped

      expect(back.x.xenbus_unmap_ring(back.dev, ...back.u32s(handles), target)).toBe(GNTST.okay);
      for (const ref of refs) expect(front.x.gnttab_end_access(ref)).toBe(0);
      expect(back.x.page_free(target)).toBe(0);
    });

    test("a bad ref fails the whole mapping: reported as the seed does, the device Closing, nothing left mapped", () => {
      const { front, back } = v;
      const { refs } = frontRing(2);
      const badRefs = [refs[0]!, 60000];
      const rc = back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s(badRefs));
      expect(rc).toBe(GNTST.bad_gntref);
      expect(v.dom0.read(v.backError)).toBe(`3 mapping in shared page 60000 from domain ${front.guest.domid}`);
      expect(v.dom0.read(`${v.backPath}/state`)).toBe(String(Closing));
      // The first page was mapped and is unmapped again: the frontend can end its grant.
      expect(front.x.gnttab_end_access(refs[0]!)).toBe(0);

      const target = ringPages(back, 2);
      expect(back.x.xenbus_map_ring(back.dev, ...back.u32s([refs[1]!, 60000]), target, back.out)).toBe(
        GNTST.bad_gntref,
      );
      expect(front.x.gnttab_end_access(refs[1]!)).toBe(0);
      expect(back.x.page_free(target)).toBe(0);
      expect(back.x.page_free(target + PAGE)).toBe(0);
    });

    test("a ref granted to someone else is refused too, and the pages go back to the pool", () => {
      const { front, back } = v;
      const ref = front.x.gnttab_grant_access(0, front.page() / PAGE, false);
      const lowestFree = back.page();
      expect(back.x.page_free(lowestFree)).toBe(0);
      expect(back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s([ref]))).toBe(GNTST.general_error);
      const { refs } = frontRing(1);
      const mapped = back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s(refs));
      expect(mapped).toBe(lowestFree); // the failed mapping gave its page back
      expect(back.x.xenbus_unmap_ring_vfree(back.dev, mapped)).toBe(GNTST.okay);
    });

    test("unmapping what is not mapped is reported, not fatal", () => {
      const { back } = v;
      const nowhere = back.page();
      expect(back.x.xenbus_unmap_ring_vfree(back.dev, nowhere)).toBe(GNTST.bad_virt_addr);
      expect(v.dom0.read(v.backError)).toBe(`2 can't find mapped virtual address ${nowhere}`);
      const rc = back.x.xenbus_unmap_ring(back.dev, ...back.u32s([77]), nowhere);
      expect(rc).toBeLessThan(0);
      expect(v.dom0.read(v.backError)).toBe(`${-rc} unmapping page at handle 77 error ${rc}`);
      expect(v.dom0.read(`${v.backPath}/state`)).toBe(String(Initialising));
    });

    test("a grant that fails takes back the ones made, is reported, and closes the device", () => {
      const { front } = v;
      const page = front.page();
      for (let i = 0; i < USABLE_REFS - 1; i++) front.x.gnttab_grant_access(v.back.guest.domid, page / PAGE, true);
      expect(front.x.gnttab_free_refs()).toBe(1);
      const ring = ringPages(front, 2);
      expect(front.x.xenbus_grant_ring(front.dev, ring, 2, front.out)).toBe(ENOSPC);
      expect(front.x.gnttab_free_refs()).toBe(1);
      expect(v.dom0.read(v.frontError)).toBe("28 granting access to ring page");
      expect(v.dom0.read(`${v.frontPath}/state`)).toBe(String(Closing));
    });

    test("a backend believes no ring-page-order beyond its maximum, and no ref that is not a number", () => {
      const { back } = v;
      v.front.xs.write(`device/vif/0/ring-page-order`, "5");
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 8, back.out)).toBe(EINVAL);
      v.front.xs.write(`device/vif/0/ring-page-order`, "2");
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 1, back.out)).toBe(EINVAL);
      v.front.xs.write(`device/vif/0/ring-page-order`, "two");
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 4, back.out)).toBe(ERANGE);
      v.front.xs.write(`device/vif/0/ring-page-order`, "1");
      v.front.xs.write(`device/vif/0/ring-ref0`, "8");
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 4, back.out)).toBe(ENOENT);
      v.front.xs.write(`device/vif/0/ring-ref1`, "-9");
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 4, back.out)).toBe(ERANGE);
      v.front.xs.write(`device/vif/0/ring-ref1`, "9");
      expect(back.x.xenbus_read_ring_refs(0, back.dev, 4, back.out)).toBe(2);
      expect(back.results(2)).toEqual([8, 9]);
    });

    test("ring-ref lists that are not a ring are refused", () => {
      const { front } = v;
      expect(front.x.xenbus_write_ring_refs(0, front.dev, ...front.u32s([]))).toBe(EINVAL);
      expect(front.x.xenbus_write_ring_refs(0, front.dev, ...front.u32s([8, 9, 10]))).toBe(EINVAL);
      expect(
        front.x.xenbus_write_ring_refs(0, front.dev, ...front.u32s(Array.from({ length: 32 }, (_, i) => 8 + i))),
      ).toBe(EINVAL);
      expect(v.dom0.directory(v.frontPath)).not.toContain("ring-ref");
    });

    test("only page_alloc pages are granted or mapped at, and results only go to them", () => {
      const { front, back } = v;
      expect(front.x.xenbus_grant_ring(front.dev, 0, 1, front.out)).toBe(EINVAL);
      expect(front.x.xenbus_grant_ring(front.dev, front.page(), 1, 4096)).toBe(EINVAL);
      expect(front.x.xenbus_grant_ring(front.dev, front.page(), 0, front.out)).toBe(EINVAL);
      const { refs } = frontRing(1);
      expect(back.x.xenbus_map_ring(back.dev, ...back.u32s(refs), PAGE, back.out)).toBe(EINVAL); // the module's data
      const target = back.page();
      expect(back.x.xenbus_map_ring(back.dev, ...back.u32s(refs), target, target)).toBe(EINVAL);
      expect(back.x.xenbus_map_ring_valloc(back.dev, 0xfffffff0, 8)).toBe(EFAULT);
      expect(back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s([]))).toBe(EINVAL);
      expect(back.x.xenbus_map_ring_valloc(back.dev, ...back.u32s(Array(17).fill(refs[0])))).toBe(EINVAL);
      expect(front.x.gnttab_end_access(refs[0]!)).toBe(0);
      expect(front.guest.exit).toBeNull();
      expect(back.guest.exit).toBeNull();
    });
  });
});
