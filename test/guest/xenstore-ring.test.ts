// XenStore end to end: build/xenbus.wasm's client over its store ring, the
// toolstack's introduction, and the simulated xenstored's ring transport,
// all on one simulated hypervisor.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startXenstore, type XenstoreOptions, type XenstoreService } from "../../host/dom0/toolstack.js";
import { listenUnix } from "../../host/dom0/xenstored/socket.js";
import { encodeMessage, strings, XsType } from "../../host/dom0/xenstored/wire.js";
import { EVTCHNSTAT, HVM_PARAM, XENSTORE, XENSTORE_ERROR, xenstore_domain_interface } from "../../host/xen/abi.js";
import { STORE_GFN } from "../../host/xen/builder.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { type XenStore, xenstore } from "../../runtime/xenstore.js";
import { debianPackage } from "../../tools/debian.js";
import { engines } from "../support/engines.js";
import { peer } from "../support/peer.js";
import { perms } from "../support/perms.js";
import { bootXenbus, type Xenbus } from "../support/xenbus.js";

const XENSTORE_RING = xenstore_domain_interface.fields;
const [ENOENT, EIO, E2BIG, EAGAIN, EACCES, EBUSY, EINVAL] = [2, 5, 7, 11, 13, 16, 22];
const SERVER_FEATURES = 15; // RECONNECTION | ERROR | WATCHDEPTH | DOMID_ANY

describe.each(engines)("under $name", ({ engine }) => {
  function setupWith(options: XenstoreOptions, ...names: string[]) {
    const hv = new Hypervisor();
    const service = startXenstore(hv, options);
    const guests = names.map((name) => bootXenbus(hv, name, engine));
    return { hv, service, dom0: service.tools, guests, stores: guests.map((guest) => xenstore(guest)) };
  }

  function setup(...names: string[]) {
    return setupWith({}, ...names);
  }

  /** The guest's store page (wherever the guest moved it) and port, as the toolstack gave them. */
  function storeRing(guest: Xenbus) {
    const port = Number(guest.domain.params.get(HVM_PARAM.STORE_EVTCHN)!);
    const view = () => guest.domain.specialPages.get(STORE_GFN)!.view;
    return { port, view };
  }

  /** One guest with a watch on data/w whose first event is taken, and an open transaction. */
  function watchingInTransaction() {
    const { hv, service, dom0, guests, stores } = setup("alpha");
    const [guest, xs] = [guests[0]!, stores[0]!];
    const home = `/local/domain/${guest.domid}`;
    xs.watch("data/w", "tok");
    xs.takeEvents();
    return { hv, service, dom0, guest, xs, home, tx: xs.transactionStart() };
  }

  const errno = (code: number) => expect.objectContaining({ errno: code });

  /**
   * Runs `action` from inside xenstored while it serves a request that
   * changes `path`, before the reply goes out: a dom0 connection watches
   * `path`, and the action runs as its event is sent.
   */
  function whileServingChangeOf(service: XenstoreService, path: string, action: () => void): void {
    let armed = false;
    const conn = service.xenstored.connect(0, (bytes) => {
      const isEvent = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) === XsType.WATCH_EVENT;
      if (armed && isEvent) {
        armed = false;
        action();
      }
    });
    service.xenstored.receive(
      conn,
      encodeMessage({ type: XsType.WATCH, reqId: 1, txId: 0, payload: strings(path, "hook") }),
    );
    armed = true; // past the event every new watch fires at once
  }

  /** A reconnection someone else in the guest asked for: `connection` set, xenstored told. */
  function reconnectionByAnother(hv: Hypervisor, service: XenstoreService, guest: Xenbus): void {
    storeRing(guest).view().setUint32(XENSTORE_RING.connection, XENSTORE.RECONNECT, true);
    hv.evtchn.setPending(hv.dom0, service.ring(guest.domid)!.localPort);
  }

  describe("introduction by the toolstack", () => {
    it("gives the guest its store port and home, and announces it on @introduceDomain", () => {
      const hv = new Hypervisor();
      const service = startXenstore(hv);
      service.tools.watch("@introduceDomain", "intro");
      service.tools.takeEvents();
      const guest = bootXenbus(hv, "alpha", engine);
      expect(service.tools.takeEvents()).toEqual([{ path: "@introduceDomain", token: "intro" }]);
      expect(service.tools.callString(XsType.IS_DOMAIN_INTRODUCED, String(guest.domid))).toBe("T");
      expect(guest.domain.params.get(HVM_PARAM.STORE_EVTCHN)).toBeGreaterThan(0n);
      expect(service.tools.getPerms(`/local/domain/${guest.domid}`)).toEqual(perms("n0", `r${guest.domid}`));
      expect(service.tools.getPerms(`/local/domain/${guest.domid}/data`)).toEqual(perms(`n${guest.domid}`));
      // Advertised before any traffic, as xenstore-ring.txt requires.
      expect(storeRing(guest).view().getUint32(XENSTORE_RING.server_features, true) & 3).toBe(3);
    });

    it("releases a domain that exits: its ring closes and @releaseDomain fires", () => {
      const { hv, dom0, guests } = setup("alpha");
      dom0.watch("@releaseDomain", "gone");
      dom0.takeEvents();
      hv.destroyDomain(guests[0]!.domid);
      expect(dom0.takeEvents()).toEqual([{ path: "@releaseDomain", token: "gone" }]);
      expect(dom0.callString(XsType.IS_DOMAIN_INTRODUCED, String(guests[0]!.domid))).toBe("F");
    });
  });

  describe("the guest's client over the ring", () => {
    it("knows its home path and reads what the toolstack wrote there", () => {
      const { guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      expect(xs.getDomainPath(guest.domid)).toBe(`/local/domain/${guest.domid}`);
      expect(xs.read("name")).toBe("alpha");
      expect(xs.read("domid")).toBe(String(guest.domid));
      expect(xs.directory(`/local/domain/${guest.domid}`).sort()).toEqual([
        "control",
        "data",
        "device",
        "domid",
        "error",
        "name",
      ]);
      expect(xs.directory("control")).toEqual(["shutdown"]);
    });

    it("writes, reads, makes directories, lists and removes", () => {
      const { dom0, guests, stores } = setup("alpha");
      const [home, xs] = [`/local/domain/${guests[0]!.domid}`, stores[0]!];
      xs.write("data/greeting", "hello, xenstore");
      expect(xs.read("data/greeting")).toBe("hello, xenstore");
      expect(dom0.read(`${home}/data/greeting`)).toBe("hello, xenstore");
      xs.mkdir("data/dir/sub");
      xs.write(`${home}/data/dir/value`, new Uint8Array([0, 1, 255]));
      expect([...xs.readBytes("data/dir/value")]).toEqual([0, 1, 255]);
      expect(xs.directory("data/dir").sort()).toEqual(["sub", "value"]);
      xs.rm("data/dir");
      expect(() => xs.read("data/dir/value")).toThrow(errno(ENOENT));
      expect(xs.directory("data")).toEqual(["greeting"]);
      // A value larger than a 1 KiB ring (within the node-size quota) wraps both rings.
      const big = "v".repeat(2000);
      xs.write("data/big", big);
      expect(xs.read("data/big")).toBe(big);
    });

    it("gets EACCES for dom0's node until dom0 grants read access", () => {
      const { dom0, guests, stores } = setup("alpha");
      const [domid, xs] = [guests[0]!.domid, stores[0]!];
      dom0.write("/tool/secret", "42");
      expect(() => xs.read("/tool/secret")).toThrow(errno(EACCES));
      dom0.setPerms("/tool/secret", perms("n0", `r${domid}`));
      expect(xs.read("/tool/secret")).toBe("42");
      expect(() => xs.write("/tool/secret", "43")).toThrow(errno(EACCES));
      expect(() => xs.write("name", "renamed")).toThrow(errno(EACCES));
    });

    it("commits a transaction, and gets EAGAIN when dom0 changed what it read", () => {
      const { dom0, guests, stores } = setup("alpha");
      const [home, xs] = [`/local/domain/${guests[0]!.domid}`, stores[0]!];
      xs.write("data/counter", "1");

      const tx = xs.transactionStart();
      expect(tx).toBeGreaterThan(0);
      xs.write("data/counter", String(Number(xs.read("data/counter", tx)) + 1), tx);
      expect(dom0.read(`${home}/data/counter`)).toBe("1"); // isolated until committed
      xs.transactionEnd(tx, true);
      expect(dom0.read(`${home}/data/counter`)).toBe("2");

      const conflicted = xs.transactionStart();
      const seen = Number(xs.read("data/counter", conflicted));
      dom0.write(`${home}/data/counter`, "100");
      xs.write("data/counter", String(seen + 1), conflicted);
      expect(() => xs.transactionEnd(conflicted, true)).toThrow(errno(EAGAIN));
      expect(xs.read("data/counter")).toBe("100");

      const aborted = xs.transactionStart();
      xs.write("data/counter", "0", aborted);
      xs.transactionEnd(aborted, false);
      expect(xs.read("data/counter")).toBe("100");
    });

    it("fires a watch on registration and on dom0's writes, delivered through the upcall", () => {
      const { hv, dom0, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      const home = `/local/domain/${guest.domid}`;
      xs.watch("data/watched", "tok");
      expect(xs.takeEvents()).toEqual([{ path: "data/watched", token: "tok" }]);

      dom0.write(`${home}/data/watched/child`, "x");
      dom0.write(`${home}/data/elsewhere`, "y");
      // The guest is idle: its upcall takes the event off the ring.
      hv.runUntilIdle();
      const { view } = storeRing(guest);
      expect(view().getUint32(XENSTORE_RING.rsp_cons, true)).toBe(view().getUint32(XENSTORE_RING.rsp_prod, true));
      expect(xs.takeEvents()).toEqual([{ path: "data/watched/child", token: "tok" }]);

      xs.unwatch("data/watched", "tok");
      dom0.write(`${home}/data/watched`, "z");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([]);
    });

    it("holds back what the reply ring cannot take and resumes as the guest consumes", () => {
      const { hv, dom0, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      xs.watch("data/w", "tok");
      xs.takeEvents();
      // 50 events of 27 bytes each: more than the 1 KiB ring holds while the guest is not running.
      for (let i = 0; i < 50; i++) dom0.write(`/local/domain/${guest.domid}/data/w`, String(i));
      const { view } = storeRing(guest);
      expect(view().getUint32(XENSTORE_RING.rsp_prod, true) - view().getUint32(XENSTORE_RING.rsp_cons, true)).toBe(
        1024,
      );
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual(Array.from({ length: 50 }, () => ({ path: "data/w", token: "tok" })));
      expect(xs.read("data/w")).toBe("49");
    });

    it("keeps two guests apart", () => {
      const { guests, stores } = setup("alpha", "beta");
      const [a, b] = guests as [Xenbus, Xenbus];
      const [xsA, xsB] = stores as [XenStore, XenStore];
      xsA.write("data/secret", "alpha's");
      xsB.write("data/secret", "beta's");
      expect(xsA.read("data/secret")).toBe("alpha's");
      expect(xsB.read("data/secret")).toBe("beta's");
      expect(() => xsB.read(`/local/domain/${a.domid}/data/secret`)).toThrow(errno(EACCES));
      expect(() => xsB.write(`/local/domain/${a.domid}/data/secret`, "mine")).toThrow(errno(EACCES));
      expect(() => xsA.directory(`/local/domain/${b.domid}`)).toThrow(errno(EACCES));
      expect(xsA.read("data/secret")).toBe("alpha's");
    });

    it("reconnects: a partial packet is dropped, watches are registered again and go on firing, transactions go stale", () => {
      const { hv, dom0, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      const home = `/local/domain/${guest.domid}`;
      xs.watch("data/w", "tok");
      xs.takeEvents();
      const tx = xs.transactionStart();
      xs.write("data/in-tx", "pending", tx);

      // Half a header, taken by xenstored: without the reset it would swallow the next request.
      const { view, port } = storeRing(guest);
      const prod = view().getUint32(XENSTORE_RING.req_prod, true);
      for (let i = 0; i < 8; i++) view().setUint8(XENSTORE_RING.req + ((prod + i) & 1023), 0x41);
      view().setUint32(XENSTORE_RING.req_prod, prod + 8, true);
      guest.exports.evtchn_send(port);
      hv.runUntilIdle();
      expect(view().getUint32(XENSTORE_RING.req_cons, true)).toBe(prod + 8);

      xs.reconnect();
      expect(view().getUint32(XENSTORE_RING.connection, true)).toBe(0);
      expect(xs.lostWatches()).toBe(0);
      // Registered again, the watch fires once, as a new one does.
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      dom0.write(`${home}/data/w`, "changed");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);

      // xenstored dropped the transaction; the guest says so without asking it.
      expect(() => dom0.read(`${home}/data/in-tx`)).toThrow();
      expect(() => xs.read("data/in-tx", tx)).toThrow(errno(EAGAIN));
      expect(() => xs.transactionEnd(tx, true)).toThrow(errno(EAGAIN));
      expect(() => xs.transactionEnd(tx, true)).toThrow(errno(ENOENT));
      xs.write("data/after", "works");
      expect(xs.read("data/after")).toBe("works");
    });

    it("a transaction gone stale in a reconnection is started over by a retrying transaction", () => {
      const { guests, stores } = setup("alpha");
      const xs = stores[0]!;
      xs.write("data/counter", "1");
      let runs = 0;
      const result = xs.transaction((tx) => {
        runs++;
        const next = Number(xs.read("data/counter", tx)) + 1;
        if (runs === 1) xs.reconnect();
        xs.write("data/counter", String(next), tx);
        return next;
      });
      expect([result, runs]).toEqual([2, 2]);
      expect(xs.read("data/counter")).toBe("2");
      expect(guests[0]!.exit).toBeNull();
    });

    it("reports the watches it could not register again, and keeps the others", () => {
      const { hv, dom0, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      xs.watch("data/a", "a");
      xs.watch("data/b", "b");
      xs.takeEvents();
      dom0.call(XsType.SET_QUOTA, strings(String(guest.domid), "watches", "1"));
      expect(() => xs.reconnect()).toThrow(errno(E2BIG));
      expect(xs.lostWatches()).toBe(1);
      expect(xs.takeEvents()).toEqual([{ path: "data/a", token: "a" }]);
      dom0.write(`/local/domain/${guest.domid}/data/a`, "1");
      dom0.write(`/local/domain/${guest.domid}/data/b`, "1");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([{ path: "data/a", token: "a" }]);
    });

    it("a request waiting when xenstored sets `error` returns -EIO at once; reconnecting recovers", () => {
      const { service, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      xs.watch("data/w", "tok");
      xs.takeEvents();
      whileServingChangeOf(service, `/local/domain/${guest.domid}/data/x`, () => {
        // The guest's response index goes wrong: xenstored cannot put the reply on the ring and stops with RINGIDX.
        const { view } = storeRing(guest);
        view().setUint32(XENSTORE_RING.rsp_cons, view().getUint32(XENSTORE_RING.rsp_prod, true) + 2000, true);
      });
      expect(() => xs.write("data/x", "1")).toThrow(errno(EIO));
      expect(xs.ringError()).toBe(XENSTORE_ERROR.RINGIDX);
      expect(() => xs.read("data/x")).toThrow(errno(EIO));
      expect(guest.exit).toBeNull();

      xs.reconnect();
      expect(xs.ringError()).toBe(0);
      expect(xs.read("data/x")).toBe("1");
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
    });

    it("a request under which someone else restarts the connection returns -EAGAIN; watches are registered again, transactions stale", () => {
      const { hv, service, dom0, guest, xs, home, tx } = watchingInTransaction();
      whileServingChangeOf(service, `${home}/data/x`, () => reconnectionByAnother(hv, service, guest));
      expect(() => xs.write("data/x", "1")).toThrow(errno(EAGAIN));
      expect(storeRing(guest).view().getUint32(XENSTORE_RING.connection, true)).toBe(XENSTORE.CONNECTED);
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      expect(() => xs.write("data/y", "1", tx)).toThrow(errno(EAGAIN));
      dom0.write(`${home}/data/w`, "v");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      xs.write("data/x", "2");
      expect(xs.read("data/x")).toBe("2");
    });

    it("a restart by someone else while the guest is idle is noticed by its upcall, which registers the watches again", () => {
      const { hv, service, dom0, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      xs.watch("data/w", "tok");
      xs.takeEvents();
      reconnectionByAnother(hv, service, guest);
      hv.runUntilIdle();
      expect(storeRing(guest).view().getUint32(XENSTORE_RING.connection, true)).toBe(XENSTORE.CONNECTED);
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      dom0.write(`/local/domain/${guest.domid}/data/w`, "v");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
    });
  });

  describe("the rest of the client's operations", () => {
    it("permissions: read as strings, set by the owner, enforced for another domain (EACCES)", () => {
      const { guests, stores } = setup("alpha", "beta");
      const [a, b] = guests as [Xenbus, Xenbus];
      const [xsA, xsB] = stores as [XenStore, XenStore];
      const shared = `/local/domain/${a.domid}/data/shared`;
      xsA.write("data/shared", "x");
      expect(xsA.getPerms("data/shared")).toEqual(perms(`n${a.domid}`));
      expect(() => xsB.read(shared)).toThrow(errno(EACCES));
      expect(() => xsB.getPerms(shared)).toThrow(errno(EACCES));

      xsA.setPerms("data/shared", perms(`n${a.domid}`, `r${b.domid}`));
      expect(xsA.getPerms("data/shared")).toEqual(perms(`n${a.domid}`, `r${b.domid}`));
      expect(xsB.read(shared)).toBe("x");
      expect(xsB.getPerms(shared)).toEqual(perms(`n${a.domid}`, `r${b.domid}`));
      expect(() => xsB.write(shared, "y")).toThrow(errno(EACCES));
      expect(() => xsB.setPerms(shared, perms(`n${b.domid}`))).toThrow(errno(EACCES));
      // Checked in the guest before anything is sent (a malformed entry only the raw export can be given).
      const x = a.exports;
      const [path, entries] = [x.page_alloc(), x.page_alloc()];
      const [pathBytes, entryBytes] = [new TextEncoder().encode("data/shared"), new TextEncoder().encode("x1\0")];
      a.memory().set(pathBytes, path);
      a.memory().set(entryBytes, entries);
      expect(x.xs_set_perms(0, path, pathBytes.length, entries, entryBytes.length)).toBe(-EINVAL);
      expect(() => xsA.setPerms("data/shared", [])).toThrow(errno(EINVAL));
    });

    it("rm_tree removes a node and everything below it; exists tells nodes that are there", () => {
      const { dom0, guests, stores } = setup("alpha", "beta");
      const [a, xs] = [guests[0]!, stores[0]!];
      for (const path of ["data/tree/a/b/c", "data/tree/a/d", "data/tree/e", "data/kept"]) xs.write(path, "v");
      expect(xs.exists("data/tree/a/b")).toBe(true);
      xs.rmTree("data/tree");
      expect(xs.exists("data/tree")).toBe(false);
      expect(xs.exists("data/tree/a/b/c")).toBe(false);
      expect(xs.directory("data")).toEqual(["kept"]);
      expect(() => dom0.read(`/local/domain/${a.domid}/data/tree`)).toThrow();
      expect(() => xs.rmTree("data/tree")).toThrow(errno(ENOENT));

      xs.write("data/tree/x/y", "v");
      const tx = xs.transactionStart();
      xs.rmTree("data/tree", tx);
      expect(xs.exists("data/tree")).toBe(true); // not yet committed
      xs.transactionEnd(tx, true);
      expect(xs.exists("data/tree")).toBe(false);
      // A node it may not list does not exist for it, as the seed's xs_exists: no error an `if` would take for true.
      expect(stores[1]!.exists(`/local/domain/${a.domid}/data/kept`)).toBe(false);
    });

    it("lists a directory too long for one message: DIRECTORY_PART, and a result of several pages", () => {
      const { dom0, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      const names = Array.from({ length: 600 }, (_, i) => `child-${String(i).padStart(3, "0")}-${"n".repeat(40)}`);
      dom0.mkdir("/tool/many");
      dom0.setPerms("/tool/many", perms("n0", `r${guest.domid}`));
      for (const name of names) dom0.write(`/tool/many/${name}`, "");
      // One DIRECTORY reply cannot hold the listing.
      expect(() => dom0.directory("/tool/many")).toThrow(expect.objectContaining({ code: "E2BIG" }));
      expect(xs.directory("/tool/many").sort()).toEqual(names);

      // The raw convention: the whole length returned, the first page in `out`, later pages through xs_result.
      const x = guest.exports;
      const [path, out] = [x.page_alloc(), x.page_alloc()];
      const bytes = new TextEncoder().encode("/tool/many");
      guest.memory().set(bytes, path);
      const length = x.xs_directory(0, path, bytes.length, out);
      expect(length).toBe(names.reduce((sum, name) => sum + name.length + 1, 0));
      expect(length).toBeGreaterThan(6 * 4096);
      expect(x.xs_result(4096, out)).toBe(4096);
      expect(x.xs_result(length - 10, out)).toBe(10);
      expect(x.xs_result(length, out)).toBe(0);
      expect(x.xs_result(0, path + 1)).toBe(-EINVAL);
    });

    it("reset_watches makes xenstored and the guest forget watches, queued events and transactions", () => {
      const { hv, dom0, guests, stores } = setup("alpha");
      const [guest, xs] = [guests[0]!, stores[0]!];
      xs.watch("data/w", "tok");
      const tx = xs.transactionStart();
      xs.resetWatches();
      expect(xs.takeEvents()).toEqual([]);
      dom0.write(`/local/domain/${guest.domid}/data/w`, "v");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([]);
      expect(() => xs.write("data/x", "1", tx)).toThrow(errno(EAGAIN));
      xs.watch("data/w", "tok"); // the token is free again
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
    });

    it("control, features and quotas for a privileged guest; EACCES for the others", () => {
      const { hv, guests, stores } = setupWith({ privilegedDomid: 1 }, "tools", "plain");
      const [tools, plain] = guests as [Xenbus, Xenbus];
      const [xs, xsPlain] = stores as [XenStore, XenStore];
      expect(tools.domid).toBe(1);

      expect(xs.control("help").split("\n")).toContain("check");
      expect(xs.control("log", ["on"])).toBe("OK\0");
      expect(() => xs.control("no-such-command")).toThrow(errno(EINVAL));
      expect(() => xsPlain.control("help")).toThrow(errno(EACCES));

      expect(xs.getFeature()).toBe(SERVER_FEATURES);
      expect(xs.getFeature(plain.domid)).toBe(SERVER_FEATURES);
      expect(() => xs.setFeature(plain.domid, 1)).toThrow(errno(EBUSY)); // introduced already
      const later = hv.createNativeDomain("not yet introduced");
      xs.setFeature(later.domid, 1);
      expect(xs.getFeature(later.domid)).toBe(1);
      expect(() => xsPlain.getFeature()).toThrow(errno(EACCES));

      expect(xs.quotaNames()).toEqual(expect.arrayContaining(["nodes", "watches", "transactions"]));
      expect(xs.getQuota("watches")).toBe(128);
      xs.setQuota("watches", 1, plain.domid);
      expect(xs.getQuota("watches", plain.domid)).toBe(1);
      expect(xs.getQuota("watches")).toBe(128);
      xsPlain.watch("data/one", "one");
      expect(() => xsPlain.watch("data/two", "two")).toThrow(errno(E2BIG));
      expect(() => xsPlain.getQuota("watches")).toThrow(errno(EACCES));
      expect(() => xsPlain.setQuota("watches", 100, plain.domid)).toThrow(errno(EACCES));
      expect(() => xs.getQuota("no-such-quota")).toThrow(errno(EINVAL));
    });
  });

  describe("suspend and resume", () => {
    /** A guest with a watch that has fired and an open transaction, and dom0 watching @releaseDomain. */
    function suspendable() {
      const { hv, service, dom0, guest, xs, home, tx } = watchingInTransaction();
      xs.write("data/in-tx", "1", tx);
      dom0.watch("@releaseDomain", "released");
      dom0.takeEvents();
      const port = () => Number(guest.domain.params.get(HVM_PARAM.STORE_EVTCHN));
      return { hv, service, dom0, guest, xs, home, tx, port, oldPort: port() };
    }

    it("a cancelled suspend returns 1 and leaves everything as it was", () => {
      const { hv, service, dom0, guest, xs, home, tx, port, oldPort } = suspendable();
      service.suspendOutcome = "cancelled";
      expect(guest.exports.xen_suspend()).toBe(1);
      expect(guest.exit).toBeNull();
      expect(port()).toBe(oldPort);
      expect(dom0.takeEvents()).toEqual([{ path: "@releaseDomain", token: "released" }]);
      xs.write("data/more", "2", tx);
      xs.transactionEnd(tx, true);
      expect(dom0.read(`${home}/data/in-tx`)).toBe("1");
      expect(xs.takeEvents()).toEqual([]);
      dom0.write(`${home}/data/w`, "v");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
    });

    it("a resumed domain returns 0 with a new store port: watches fire again, old transactions are stale", () => {
      const { hv, dom0, guest, xs, home, tx, port } = suspendable();
      expect(guest.exports.xen_suspend()).toBe(0);
      expect(guest.exit).toBeNull();
      // A channel of the restored domain (on Xen its number repeats: the store's is 1 again).
      expect(guest.exports.evtchn_status(port())).toBe(EVTCHNSTAT.interdomain);
      expect(dom0.takeEvents()).toEqual([{ path: "@releaseDomain", token: "released" }]);

      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      dom0.write(`${home}/data/w`, "v");
      hv.runUntilIdle();
      expect(xs.takeEvents()).toEqual([{ path: "data/w", token: "tok" }]);
      expect(() => xs.transactionEnd(tx, true)).toThrow(errno(EAGAIN));
      expect(() => dom0.read(`${home}/data/in-tx`)).toThrow();
      xs.transaction((next) => xs.write("data/in-tx", "2", next));
      expect(dom0.read(`${home}/data/in-tx`)).toBe("2");

      // XS_RESUME re-armed @releaseDomain: the next suspend is announced too.
      expect(guest.exports.xen_suspend()).toBe(0);
      expect(dom0.takeEvents()).toEqual([{ path: "@releaseDomain", token: "released" }]);
      expect(xs.read("data/in-tx")).toBe("2");
    });

    it("is refused with EBUSY while a request is under way, as is a reconnection", () => {
      const { service, guest, xs, home } = suspendable();
      const refused: (number | undefined)[] = [];
      whileServingChangeOf(service, `${home}/data/x`, () => {
        refused.push(guest.exports.xen_suspend(), guest.exports.xs_reconnect());
      });
      xs.write("data/x", "1");
      expect(refused).toEqual([-EBUSY, -EBUSY]);
      expect(xs.read("data/x")).toBe("1");
    });

    it("without a toolstack to save it, a suspend is cancelled", () => {
      const hv = new Hypervisor();
      const guest = bootXenbus(hv, "alone", engine);
      expect(guest.exports.xen_suspend()).toBe(1);
      expect(guest.exit).toBeNull();
    });
  });

  describe("a hostile guest's ring", () => {
    /** Writes `bytes` into the guest's request ring and signals, as a guest that bypasses its client would. */
    function inject(hv: Hypervisor, guest: Xenbus, bytes: Uint8Array): void {
      const { view, port } = storeRing(guest);
      const prod = view().getUint32(XENSTORE_RING.req_prod, true);
      bytes.forEach((byte, i) => view().setUint8(XENSTORE_RING.req + ((prod + i) & 1023), byte));
      view().setUint32(XENSTORE_RING.req_prod, prod + bytes.length, true);
      guest.exports.evtchn_send(port);
      hv.runUntilIdle();
    }

    it("gets `error` RINGIDX for impossible request indices; others are not disturbed; reconnecting recovers", () => {
      const { hv, service, dom0, guests, stores } = setup("hostile", "bystander");
      const [hostile, bystander] = guests as [Xenbus, Xenbus];
      const [xsHostile, xsBystander] = stores as [XenStore, XenStore];
      xsBystander.write("data/safe", "kept");
      const { view, port } = storeRing(hostile);
      view().setUint32(XENSTORE_RING.req_prod, view().getUint32(XENSTORE_RING.req_cons, true) + 5000, true);
      hostile.exports.evtchn_send(port);
      hv.runUntilIdle();

      expect(service.ring(hostile.domid)!.error).toBe(XENSTORE_ERROR.RINGIDX);
      expect(xsHostile.ringError()).toBe(XENSTORE_ERROR.RINGIDX);
      expect(() => xsHostile.read("name")).toThrow(errno(EIO));
      expect(hostile.exit).toBeNull();

      expect(xsBystander.read("data/safe")).toBe("kept");
      expect(dom0.read(`/local/domain/${bystander.domid}/data/safe`)).toBe("kept");

      xsHostile.reconnect();
      expect(xsHostile.ringError()).toBe(0);
      expect(xsHostile.read("name")).toBe("hostile");
    });

    it("gets `error` PROTO for an oversize length and RINGIDX for impossible reply indices", () => {
      const { hv, service, dom0, guests, stores } = setup("hostile", "bystander");
      const [hostile, bystander] = guests as [Xenbus, Xenbus];
      const header = new DataView(new ArrayBuffer(16));
      header.setUint32(0, XsType.READ, true);
      header.setUint32(12, 5000, true);
      inject(hv, hostile, new Uint8Array(header.buffer));
      expect(service.ring(hostile.domid)!.error).toBe(XENSTORE_ERROR.PROTO);
      expect(service.ring(hostile.domid)!.serving).toBe(false);

      // The bystander corrupts its reply ring's consumer index, then dom0 fires its watch.
      const xs = stores[1]!;
      xs.watch("data/w", "tok");
      xs.takeEvents();
      const { view } = storeRing(bystander);
      view().setUint32(XENSTORE_RING.rsp_cons, view().getUint32(XENSTORE_RING.rsp_prod, true) + 2000, true);
      dom0.write(`/local/domain/${bystander.domid}/data/w`, "x");
      expect(service.ring(bystander.domid)!.error).toBe(XENSTORE_ERROR.RINGIDX);
      hv.runUntilIdle();

      // xenstored itself is unharmed.
      dom0.write("/still/up", "yes");
      expect(dom0.read("/still/up")).toBe("yes");
      expect(dom0.call(XsType.GET_DOMAIN_PATH, strings("7")).length).toBeGreaterThan(0);
    });

    it("random request bytes never break xenstored or another guest", () => {
      const { hv, dom0, guests, stores } = setup("hostile", "bystander");
      let seed = 12345;
      const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      for (let round = 0; round < 20; round++) {
        inject(hv, guests[0]!, Uint8Array.from({ length: 1 + (random() % 64) }, random));
        stores[1]!.write("data/round", String(round));
      }
      expect(stores[1]!.read("data/round")).toBe("19");
      expect(dom0.read(`/local/domain/${guests[1]!.domid}/data/round`)).toBe("19");
    });
  });

  const tools = peer("Debian's xenstore-utils", () => {
    const libraries = ["libxenstore4", "libxentoolcore1"].map((name) =>
      join(debianPackage(name), "usr/lib/x86_64-linux-gnu"),
    );
    return { bin: join(debianPackage("xenstore-utils"), "usr/bin"), libraryPath: libraries.join(":") };
  });

  describe.skipIf(!tools)("Debian's tools and a guest share one xenstored", () => {
    it("xenstore-read through the socket sees what the guest wrote over its ring", async () => {
      const { guests, service, stores } = setup("alpha");
      stores[0]!.write("data/hello", "from the ring");
      const directory = mkdtempSync(join(tmpdir(), "xenstore-ring-"));
      const socket = join(directory, "socket");
      const listener = await listenUnix(service.xenstored, socket);
      try {
        const { stdout } = await promisify(execFile)(
          join(tools!.bin, "xenstore-read"),
          [`/local/domain/${guests[0]!.domid}/data/hello`],
          {
            env: { ...process.env, XENSTORED_PATH: socket, LD_LIBRARY_PATH: tools!.libraryPath },
            timeout: 10_000,
          },
        );
        expect(stdout).toBe("from the ring\n");
      } finally {
        await listener.close();
        rmSync(directory, { recursive: true, force: true });
      }
    });
  });
});
