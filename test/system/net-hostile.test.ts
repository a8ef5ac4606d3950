// The Wasm network backend against frontends that lie (test/support's
// NetfrontPeer writing slots and indices as the test says): what Linux's
// netback drops is dropped, answered NETIF_RSP_ERROR and counted; what it
// treats as fatal disables the vif (nothing more taken or delivered, the
// reason kept) until the frontend reconnects; negotiation it refuses is
// dev_fatal and Closing. Throughout, the driver domain does not trap, the
// other vifs go on exchanging frames, and a flood does not hold up the
// block device the domain serves beside the vifs for longer than a turn.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { createGuestDomain } from "../../host/system/guest-domain.js";
import { startNetbackDomain } from "../../host/system/netback-domain.js";
import { NETIF_RSP, NETTXF, XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkBack, BlkFront } from "../../runtime/blk.js";
import { engines } from "../support/engines.js";
import { BROADCAST, frame } from "../support/ethernet.js";
import { NetfrontPeer, type TxSlot } from "../support/netfront-peer.js";

const MAC_A = "00:16:3e:00:00:0a";
const MAC_B = "00:16:3e:00:00:0b";
const MAC_C = "00:16:3e:00:00:0c";
const { ERROR, NULL, OKAY } = NETIF_RSP;

describe.each(engines)("under $name", ({ engine }) => {
  function rig() {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const net = startNetbackDomain(service, { engine });
    const [a, b, c] = [MAC_A, MAC_B, MAC_C].map(
      (mac) => new NetfrontPeer(hv, service, { backend: net.domid, mac }),
    ) as [NetfrontPeer, NetfrontPeer, NetfrontPeer];
    for (const peer of [a, b, c]) peer.connect();
    /** b and c still switch frames both ways, and the domain lives. */
    const othersStillServed = () => {
      const [bFrames, cFrames] = [b.received.length, c.received.length];
      b.send(frame(MAC_C, MAC_B, 33));
      c.send(frame(MAC_B, MAC_C, 44));
      expect(c.received.length).toBe(cFrames + 1);
      expect(b.received.at(-1)!.data.length).toBe(58);
      expect(b.received.length).toBe(bFrames + 1);
      expect(net.guest.exit).toBeNull();
    };
    return { hv, service, net, a, b, c, othersStillServed };
  }

  /** Slot `i` of a's transmit pages at `offset`, `size` bytes. */
  const data = (a: NetfrontPeer, i: number, size: number, flags = 0, offset = 0): TxSlot => {
    a.txPage(i).set(frame(BROADCAST, MAC_A, 100).subarray(0, Math.min(size, 114, 4096 - offset)), offset);
    return { gref: a.txRef(i), offset, flags, id: 100 + i, size };
  };
  const more = NETTXF.more_data;

  describe("dropped, answered with errors and counted; the vif goes on", () => {
    const cases: [string, (a: NetfrontPeer) => TxSlot[], number[]][] = [
      ["a first slot smaller than an Ethernet header", (a) => [data(a, 0, 10)], [ERROR]],
      [
        "a fragment larger than what the first slot's size leaves",
        (a) => [data(a, 0, 100, more), data(a, 1, 200)],
        [ERROR, ERROR],
      ],
      [
        "more than XEN_NETIF_NR_SLOTS_MIN (18) fragments after the first slot",
        (a) => Array.from({ length: 20 }, (_, i) => data(a, i, i === 0 ? 20 * 20 : 20, i < 19 ? more : 0)),
        Array(20).fill(ERROR),
      ],
      [
        "a fragment that crosses its page (fatal in Linux)",
        (a) => [data(a, 0, 300, more), data(a, 1, 200, 0, 4000)],
        [ERROR, ERROR],
      ],
      ["a first slot that crosses its page (fatal in Linux)", (a) => [data(a, 0, 200, 0, 4000)], [ERROR]],
      [
        "an extra-info segment of type 0 (fatal in Linux)",
        (a) => [data(a, 0, 60, NETTXF.extra_info), { extra: 0, flags: 0 }],
        [ERROR, NULL],
      ],
      [
        "an extra-info segment of an unknown type (fatal in Linux)",
        (a) => [data(a, 0, 60, NETTXF.extra_info), { extra: 9, flags: 0 }],
        [ERROR, NULL],
      ],
      [
        "a GSO segment of size 0 (fatal in Linux)",
        (a) => [data(a, 0, 60, NETTXF.extra_info), { extra: 1, flags: 0, gsoSize: 0, gsoType: 1 }],
        [ERROR, NULL],
      ],
      [
        "a GSO segment of an unknown type (fatal in Linux)",
        (a) => [data(a, 0, 60, NETTXF.extra_info), { extra: 1, flags: 0, gsoSize: 1000, gsoType: 7 }],
        [ERROR, NULL],
      ],
      ["a grant ref never granted", (a) => [{ ...data(a, 0, 60), gref: 4000 }], [ERROR]],
      ["a grant ref beyond the table", (a) => [{ ...data(a, 0, 60), gref: 0xffffffff }], [ERROR]],
      [
        "a good first slot with a fragment whose grant is bad",
        (a) => [data(a, 0, 160, more), { ...data(a, 1, 60), gref: 3 }],
        [ERROR, ERROR],
      ],
    ];
    test.each(cases)("%s", (_name, slots, statuses) => {
      const { net, a, b, othersStillServed } = rig();
      const before = b.received.length;
      a.submit(slots(a));
      expect(a.txResponses.map((r) => r.status)).toEqual(statuses);
      expect(net.back.info(a.domid, 0)).toMatchObject({ txErrors: 1n, txPackets: 0n, fatal: "", fatalErrors: 0 });
      expect(b.received.length).toBe(before);
      // The ids are echoed, whatever they are.
      expect(a.txResponses[0]!.id).toBe(100);
      a.send(frame(BROADCAST, MAC_A, 70));
      expect(b.received.at(-1)!.data.length).toBe(84);
      othersStillServed();
    });

    test("a packet of 19 slots (18 fragments after the first) is taken; a multicast filter request is answered and goes nowhere", () => {
      const { net, a, b } = rig();
      a.submit(Array.from({ length: 19 }, (_, i) => data(a, i, i === 0 ? 19 * 20 : 20, i < 18 ? more : 0)));
      expect(a.txResponses.map((r) => r.status)).toEqual(Array(19).fill(OKAY));
      expect(b.received.at(-1)!.data.length).toBe(380);
      const before = b.received.length;
      a.submit([data(a, 0, 60, NETTXF.extra_info), { extra: 2, flags: 0 }]);
      expect(a.txResponses.slice(19).map((r) => r.status)).toEqual([OKAY, NULL]);
      expect(b.received.length).toBe(before);
      expect(net.back.info(a.domid, 0)).toMatchObject({ txPackets: 1n, txErrors: 0n, fatal: "" });
    });

    test("a receive buffer whose grant is bad: that frame fails (rxErrors), the next buffer takes the next", () => {
      const { net, a, b } = rig();
      // b's next posted buffer names a ref it never granted.
      const before = b.received.length;
      b.submitRx([{ id: 7, gref: 4000 }]);
      // The buffers b posted at connect come first: use them all up.
      for (let i = 0; i < 64; i++) a.send(frame(BROADCAST, MAC_A, 20));
      a.send(frame(BROADCAST, MAC_A, 21));
      const info = net.back.info(b.domid, 0);
      expect(info.rxErrors).toBe(1n);
      expect(b.received.length).toBe(before + 65);
      expect(b.received.at(-1)!.statuses).toEqual([ERROR]);
      expect(net.guest.exit).toBeNull();
    });
  });

  describe("fatal, as Linux's xenvif_fatal_tx_err: the vif is disabled until its frontend reconnects", () => {
    const cases: [string, (a: NetfrontPeer) => void, RegExp][] = [
      ["transmit indices beyond the ring", (a) => a.setTxProd(300), /impossible transmit ring indices/],
      [
        "a packet whose more_data points past what was pushed",
        (a) => a.submit([data(a, 0, 100, more)]),
        /runs past the 1 requests published/,
      ],
      [
        "a packet of more than 20 fragments",
        (a) => a.submit(Array.from({ length: 22 }, (_, i) => data(a, i, i === 0 ? 440 : 20, i < 21 ? more : 0))),
        /more than 20 fragments/,
      ],
      [
        "a missing extra-info segment",
        (a) => a.submit([data(a, 0, 60, NETTXF.extra_info)]),
        /runs past the 1 requests/,
      ],
      ["receive indices beyond the ring", (a) => a.setRxProd(a.queues[0]!.rxProd + 1000), /impossible receive ring/],
    ];
    test.each(cases)("%s", (_name, lie, reason) => {
      const { hv, net, a, b, othersStillServed } = rig();
      lie(a);
      // A frame for a (flooded) finds its receive ring, if that is what was broken.
      b.send(frame(BROADCAST, MAC_B, 10));
      const info = net.back.info(a.domid, 0);
      expect(info.fatal).toMatch(reason);
      expect(info.fatalErrors).toBe(1);
      // Linux's frontend stays Connected, and so does the backend: nothing was written.
      expect(a.backendState).toBe(XENBUS_STATE.Connected);
      const responses = a.txResponses.length;
      const frames = a.received.length;
      a.send(frame(BROADCAST, MAC_A, 50));
      b.send(frame(BROADCAST, MAC_B, 50));
      expect(a.txResponses.length).toBe(responses);
      expect(a.received.length).toBe(frames);
      othersStillServed();
      // A new connection is served.
      a.close();
      a.switchState(XENBUS_STATE.Initialising);
      hv.runUntilIdle();
      a.connect();
      expect(net.back.info(a.domid, 0)).toMatchObject({ fatal: "", fatalErrors: 1 });
      a.send(frame(MAC_B, MAC_A, 50));
      expect(b.received.at(-1)!.data.length).toBe(64);
    });
  });

  describe("negotiation the backend refuses: dev_fatal, Closing", () => {
    const cases: [string, Record<string, string | null>, number, RegExp][] = [
      ["no request-rx-copy", { "request-rx-copy": null }, 1, /does not ask for rx-copy/],
      ["request-rx-copy 0", { "request-rx-copy": "0" }, 1, /does not ask for rx-copy/],
      ["a queue count beyond the offer", { "multi-queue-num-queues": "5" }, 1, /requested 5 queues/],
      ["a queue count of 0", { "multi-queue-num-queues": "0" }, 1, /requested 0 queues/],
      ["a ring ref that is not a number", { "tx-ring-ref": "x1" }, 1, /ring-ref/],
      ["no event channel", { "event-channel": null }, 1, /event-channel/],
      ["an event channel not offered to us", { "event-channel": "999" }, 1, /binding to event channel 999/],
      ["a ring ref never granted", { "rx-ring-ref": "4000" }, 1, /mapping/],
    ];
    test.each(cases)("%s", (_name, nodes, queues, message) => {
      const { service, net, a, othersStillServed } = rig();
      a.close();
      a.switchState(XENBUS_STATE.Initialising);
      a.run();
      a.connect({ nodes, queues });
      expect(a.backendState).toBe(XENBUS_STATE.Closing);
      expect(
        service.tools.read(
          `/local/domain/${net.domid}/error/${a.paths.backend.replace(/^.*?backend/, "backend")}/error`,
        ),
      ).toMatch(message);
      othersStillServed();
    });
  });

  test("garbage on the transmit ring never traps the driver domain, and a reconnect is served", () => {
    const { hv, net, a, b, othersStillServed } = rig();
    const slot = fc.oneof(
      fc.record({
        gref: fc.oneof(fc.constant(a.txRef(0)), fc.constant(a.txRef(1)), fc.integer({ min: 0, max: 0xffffffff })),
        offset: fc.integer({ min: 0, max: 0xffff }),
        flags: fc.integer({ min: 0, max: 0xffff }),
        id: fc.integer({ min: 0, max: 0xffff }),
        size: fc.integer({ min: 0, max: 0xffff }),
      }),
      fc.record({
        extra: fc.integer({ min: 0, max: 255 }),
        flags: fc.integer({ min: 0, max: 255 }),
        gsoSize: fc.integer({ min: 0, max: 0xffff }),
        gsoType: fc.integer({ min: 0, max: 255 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(slot, { minLength: 1, maxLength: 30 }), (slots) => {
        a.submit(slots);
        expect(net.guest.exit).toBeNull();
        // Never more answers than slots pushed.
        expect(a.txResponses.length).toBeLessThanOrEqual(a.queues[0]!.txProd);
        if (net.back.info(a.domid, 0).fatal !== "") {
          a.close();
          a.switchState(XENBUS_STATE.Initialising);
          hv.runUntilIdle();
          a.txResponses.length = 0;
          a.connect();
        }
        a.send(frame(MAC_B, MAC_A, 30));
        expect(b.received.at(-1)!.data.length).toBe(44);
      }),
      { numRuns: 25 },
    );
    othersStillServed();
  });

  test("a flood from one vif does not starve the block device the same domain serves: it waits one turn (64 packets), not the ring", () => {
    const { hv, service, net, a } = rig();
    // The driver domain serves a disk too (netback.wasm has xenbus.wasm's block backend).
    const disk = new BlkBack(net.guest).start(0).createDisk(64);
    const guest = createGuestDomain(service, "disk-user", engine).guest;
    expect(guest.exports.xs_init()).toBe(0);
    const blk = new BlkFront(guest, 1).start();
    service.devices.add({
      type: "vbd",
      devid: 51712,
      frontend: guest.domid,
      backend: net.domid,
      backendParams: disk.params,
    });
    blk.open(51712);
    // Which grant copies the driver domain makes, in order: a flood packet's, or the disk's.
    const copies: string[] = [];
    const copy = hv.gnttab.copy.bind(hv.gnttab);
    hv.gnttab.copy = (caller, request) => {
      if (request.source.domid === a.domid) copies.push("net");
      if (request.dest.domid === guest.domid) copies.push("blk");
      return copy(caller, request);
    };
    // A full ring of frames, refilled each time it is answered, 20 rings in all, queued before the read.
    const flood = frame(MAC_C, MAC_A, 1000);
    let sent = 0;
    const fill = () => {
      for (; sent < 20 * 256 && a.txInFlight() < 256; sent++) a.submit([data(a, 0, flood.length)], 0, false);
      a.pushTx();
    };
    a.onTxResponses(() => {
      if (sent < 20 * 256) fill();
    });
    fill();
    disk.image().fill(0x5a, 0, 512);
    expect(blk.read(51712, 0, 1)[0]).toBe(0x5a);
    // The read was served after at most one turn's worth of the flood (TX_BUDGET packets), not after the ring.
    expect(copies.indexOf("blk")).toBeLessThanOrEqual(64);
    a.run();
    expect(net.back.info(a.domid, 0)).toMatchObject({ txPackets: BigInt(20 * 256), txErrors: 0n, fatal: "" });
    expect(net.guest.exit).toBeNull();
  });
});
