// One behavioural suite for every XenstoreClient (runtime/xenstore-client.ts),
// so the three cannot drift apart: the guest module's wrapper on the
// simulated hypervisor, the client component over an in-process stream to
// the simulated xenstored, and dom0's LocalClient. Each runs as an
// unprivileged domain whose home dom0 made as libxl does: the same values,
// permissions, transactions, watch events and errno names from all three.
import { constants } from "node:os";
import { describe, expect, it } from "vitest";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { xenstoredStream } from "../../host/dom0/xenstored/stream.js";
import { strings, XsType } from "../../host/dom0/xenstored/wire.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { openXenstoreComponent } from "../../runtime/component.js";
import { xenstore } from "../../runtime/xenstore.js";
import { type Permission, XenStoreError, type XenstoreClient } from "../../runtime/xenstore-client.js";
import { bootXenbus } from "../support/xenbus.js";

interface Fixture {
  client: XenstoreClient;
  domid: number;
  /** Lets what the client's requests set off arrive (the guest's events come through its event channel). */
  settle(): void;
  /** nextEvent waits for an event (over a stream that can block) instead of giving undefined. */
  waitsForEvents: boolean;
}

/** An unprivileged domain's home on a bare xenstored: dom0's, readable by it; data/ its own. */
function homeOf(xenstored: XenStored, domid: number): void {
  const dom0 = new LocalClient(xenstored, 0);
  const home = `/local/domain/${domid}`;
  dom0.mkdir(`${home}/data`);
  dom0.setPerms(home, [
    { domid: 0, access: "none" },
    { domid, access: "read" },
  ]);
  dom0.setPerms(`${home}/data`, [{ domid, access: "none" }]);
  dom0.call(XsType.INTRODUCE, strings(String(domid), "1234", "5"));
}

const DOMID = 5;

const clients: { name: string; open: () => Fixture }[] = [
  {
    name: "the guest module's wrapper",
    open() {
      const hv = new Hypervisor();
      startXenstore(hv);
      const guest = bootXenbus(hv, "guest");
      return { client: xenstore(guest), domid: guest.domid, settle: () => hv.runUntilIdle(), waitsForEvents: false };
    },
  },
  {
    name: "the client component",
    open() {
      const xenstored = new XenStored();
      homeOf(xenstored, DOMID);
      const client = openXenstoreComponent(xenstoredStream(xenstored, DOMID));
      return { client, domid: DOMID, settle() {}, waitsForEvents: true };
    },
  },
  {
    name: "LocalClient",
    open() {
      const xenstored = new XenStored();
      homeOf(xenstored, DOMID);
      return { client: new LocalClient(xenstored, DOMID), domid: DOMID, settle() {}, waitsForEvents: false };
    },
  },
];

/** The errno name of the XenStoreError `run` throws; anything else fails the test. */
function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (!(error instanceof XenStoreError)) throw error;
    expect(constants.errno[error.code as keyof typeof constants.errno]).toBe(error.errno);
    return error.code;
  }
  throw new Error("expected a XenStoreError, got a result");
}

describe.each(clients)("$name as a XenstoreClient", ({ open }) => {
  function setup() {
    const fixture = open();
    return { ...fixture, xs: fixture.client, data: `/local/domain/${fixture.domid}/data` };
  }

  it("writes and reads values: text as UTF-8 strings, any bytes exactly, empty", () => {
    const { xs, data } = setup();
    xs.write(`${data}/text`, "hello ✓");
    expect(xs.read(`${data}/text`)).toBe("hello ✓");
    expect(xs.readBytes(`${data}/text`)).toEqual(new TextEncoder().encode("hello ✓"));
    const binary = Uint8Array.from([0, 1, 0x6e, 0, 0xff, 0xfe]);
    xs.write(`${data}/binary`, binary);
    expect(xs.readBytes(`${data}/binary`)).toEqual(binary);
    expect(xs.read(`${data}/binary`)).toBe("\0\u0001n\0\ufffd\ufffd");
    xs.write(`${data}/empty`, "");
    expect(xs.read(`${data}/empty`)).toBe("");
    expect(xs.readBytes(`${data}/empty`)).toEqual(new Uint8Array(0));
  });

  it("makes, lists and removes nodes (rm takes everything below)", () => {
    const { xs, data } = setup();
    xs.mkdir(`${data}/tree/a`);
    xs.write(`${data}/tree/b`, "1");
    xs.write(`${data}/tree/a/deep`, "2");
    expect(xs.directory(`${data}/tree`).sort()).toEqual(["a", "b"]);
    expect(xs.directory(`${data}/tree/b`)).toEqual([]);
    expect(xs.read(`${data}/tree/a`)).toBe("");
    xs.mkdir(`${data}/tree/a`);
    expect(xs.read(`${data}/tree/a/deep`)).toBe("2");
    xs.rm(`${data}/tree/a`);
    expect(xs.directory(`${data}/tree`)).toEqual(["b"]);
    expect(codeOf(() => xs.read(`${data}/tree/a/deep`))).toBe("ENOENT");
  });

  it("gives permissions as records, the first naming the owner, and enforces them", () => {
    const { xs, data, domid } = setup();
    xs.write(`${data}/node`, "v");
    expect(xs.getPerms(`${data}/node`)).toEqual([{ domid, access: "none" }]);
    const shared: Permission[] = [
      { domid, access: "read" },
      { domid: 0, access: "write" },
    ];
    xs.setPerms(`${data}/node`, shared);
    expect(xs.getPerms(`${data}/node`)).toEqual(shared);
    // Only a privileged domain may give a node away.
    expect(codeOf(() => xs.setPerms(`${data}/node`, [{ domid: 0, access: "none" }]))).toBe("EPERM");
    // Its home is dom0's: it may read it, not write in it or change who may.
    const home = `/local/domain/${domid}`;
    expect(xs.getPerms(home)).toEqual([
      { domid: 0, access: "none" },
      { domid, access: "read" },
    ]);
    expect(codeOf(() => xs.write(`${home}/mine`, "x"))).toBe("EACCES");
    expect(codeOf(() => xs.setPerms(home, shared))).toBe("EACCES");
  });

  it("keeps a transaction's changes to itself until it commits; an abort drops them", () => {
    const { xs, data } = setup();
    const tx = xs.transactionStart();
    expect(tx).toBeGreaterThan(0);
    xs.write(`${data}/t`, "in tx", tx);
    expect(xs.read(`${data}/t`, tx)).toBe("in tx");
    expect(codeOf(() => xs.read(`${data}/t`))).toBe("ENOENT");
    xs.transactionEnd(tx, true);
    expect(xs.read(`${data}/t`)).toBe("in tx");

    const aborted = xs.transactionStart();
    xs.write(`${data}/t`, "dropped", aborted);
    xs.transactionEnd(aborted, false);
    expect(xs.read(`${data}/t`)).toBe("in tx");
    expect(codeOf(() => xs.transactionEnd(aborted, true))).toBe("ENOENT");
  });

  it("fails a conflicting commit with EAGAIN; transaction(body) runs the body again until it commits", () => {
    const { xs, data } = setup();
    xs.write(`${data}/counter`, "0");
    const tx = xs.transactionStart();
    xs.write(`${data}/counter`, String(Number(xs.read(`${data}/counter`, tx)) + 1), tx);
    xs.write(`${data}/counter`, "10");
    expect(codeOf(() => xs.transactionEnd(tx, true))).toBe("EAGAIN");
    expect(xs.read(`${data}/counter`)).toBe("10");

    let runs = 0;
    const result = xs.transaction((t) => {
      runs++;
      const next = Number(xs.read(`${data}/counter`, t)) + 1;
      xs.write(`${data}/counter`, String(next), t);
      if (runs === 1) xs.write(`${data}/counter`, "20");
      return next;
    });
    expect([runs, result, xs.read(`${data}/counter`)]).toEqual([2, 21, "21"]);

    // A body that fails aborts its transaction and passes its error on; one that keeps conflicting gives up.
    expect(
      codeOf(() =>
        xs.transaction((t) => {
          xs.write(`${data}/counter`, "lost", t);
          xs.read(`${data}/missing`, t);
        }),
      ),
    ).toBe("ENOENT");
    expect(xs.read(`${data}/counter`)).toBe("21");
    let attempts = 0;
    const conflicting = () =>
      xs.transaction((t) => {
        attempts++;
        xs.write(`${data}/counter`, "mine", t);
        xs.write(`${data}/counter`, "theirs");
      }, 3);
    expect(codeOf(conflicting)).toBe("EAGAIN");
    expect([attempts, xs.read(`${data}/counter`)]).toEqual([3, "theirs"]);
  });

  it("fires a watch at once with its own path, then for each change below it, until unwatched", () => {
    const { xs, data, settle, waitsForEvents } = setup();
    xs.watch(`${data}/w`, "first");
    settle();
    expect(xs.nextEvent()).toEqual({ path: `${data}/w`, token: "first" });
    xs.write(`${data}/w/a`, "1");
    xs.write(`${data}/elsewhere`, "1");
    xs.rm(`${data}/w/a`);
    settle();
    expect(xs.nextEvent()).toEqual({ path: `${data}/w/a`, token: "first" });
    expect(xs.nextEvent()).toEqual({ path: `${data}/w/a`, token: "first" });
    xs.unwatch(`${data}/w`, "first");
    xs.write(`${data}/w/b`, "2");
    xs.watch(`${data}/other`, "second");
    settle();
    expect(xs.nextEvent()).toEqual({ path: `${data}/other`, token: "second" });
    // The component over an in-process stream would wait for ever: its xenstoredStream fails instead (EIO).
    if (!waitsForEvents) expect(xs.nextEvent()).toBeUndefined();
    expect(codeOf(() => xs.unwatch(`${data}/w`, "first"))).toBe("ENOENT");
  });

  it("fails with xenstored's errno names, and carries on", () => {
    const { xs, data } = setup();
    expect(codeOf(() => xs.read(`${data}/missing`))).toBe("ENOENT");
    expect(codeOf(() => xs.directory(`${data}/missing`))).toBe("ENOENT");
    expect(codeOf(() => xs.write(`${data}/bad//name`, "x"))).toBe("EINVAL");
    expect(codeOf(() => xs.mkdir(`${data}/bad name`))).toBe("EINVAL");
    expect(codeOf(() => xs.setPerms(`${data}/missing`, [{ domid: 0, access: "none" }]))).toBe("ENOENT");
    expect(codeOf(() => xs.transactionEnd(999, true))).toBe("ENOENT");
    expect(codeOf(() => xs.read(`${data}/missing`, 999))).toBe("ENOENT");
    expect(xs.getDomainPath(7)).toBe("/local/domain/7");
    xs.write(`${data}/after`, "fine");
    expect(xs.read(`${data}/after`)).toBe("fine");
  });
});
