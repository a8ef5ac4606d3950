// A backend that rewrites its state node each time the guest makes a
// XenStore request keeps the guest's watch handlers busy: the handler's own
// read of that state brings the next event. build/xenbus.wasm never collects
// garbage by itself (its host does, between outermost calls:
// runtime/guest.ts), so were the whole storm handled within one upcall, what
// each handler left would pile up until the storm ended (64,000 events grew
// the memory from 4 to 34 MB). The client runs a bounded number of handlers
// per upcall and leaves the rest to the next one, so once warm a storm
// four times longer leaves the guest's memory and heap where they were.
import { describe, expect, test } from "vitest";
import { footprint, warmedUp } from "../../bench/memory.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkFront } from "../../runtime/blk.js";
import { bootXenbus, type Xenbus } from "../../runtime/boot.js";
import { engines } from "../support/engines.js";

const DEVID = 51712;
const { InitWait, Initialised } = XENBUS_STATE;
/**
 * Events of each warm-up storm, at most how many come before the heap's
 * reach stays put for one, and events of the measured storm. A warm-up
 * storm spans more than COLLECT_EVERY upcalls of the client's
 * HANDLERS_PER_DISPATCH (64) handlers, so it reaches the most garbage the
 * guest ever holds between two collections.
 */
const STORM = { events: 8000, warmUps: 6, measured: 32_000 };

describe.each(engines)("under $name", ({ engine }) => {
  test(`a backend rewriting its state at each of the guest's requests, ${STORM.measured} times, leaves the guest's heap where it was`, () => {
    const hv = new Hypervisor();
    let guest: Xenbus | null = null;
    let backendState = "";
    /** Rewrites the backend's state still to come, and the guest's requests served. */
    let rewrites = 0;
    let requests = 0;
    const service = startXenstore(hv, {
      trace: (domid) => {
        if (domid !== guest?.domid) return;
        requests++;
        if (rewrites === 0) return;
        rewrites--;
        service.tools.write(backendState, String(InitWait));
      },
    });
    guest = bootXenbus(hv, "front", engine);
    expect(guest.exports.xs_init()).toBe(0);
    const paths = service.devices.add({ type: "vbd", devid: DEVID, frontend: guest.domid, backend: 0 });
    backendState = `${paths.backend}/state`;
    new BlkFront(guest).start();
    service.tools.write(backendState, String(InitWait));
    hv.runUntilIdle();
    expect(service.tools.read(`${paths.frontend}/state`)).toBe(String(Initialised));

    const storm = (events: number) => {
      rewrites = events;
      requests = 0;
      service.tools.write(backendState, String(InitWait));
      hv.runUntilIdle();
      // Each event's handler read the state once: the storm ran to its end.
      expect({ rewrites, requests }).toEqual({ rewrites: 0, requests: events + 1 });
    };
    const measure = () => footprint(guest.memory());
    const before = warmedUp(measure, () => storm(STORM.events), STORM.warmUps);
    storm(STORM.measured);
    expect(measure()).toEqual(before);
    expect(service.tools.read(`${paths.frontend}/state`)).toBe(String(Initialised));
    expect(guest.exit).toBeNull();
  });
});
