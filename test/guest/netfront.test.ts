// The network frontend (assembly/drivers/netfront.ts) of build/xenbus.wasm against
// dom0's hostile network backend (test/support/hostile-netback.ts): Linux's
// connection sequence and the nodes it writes, mac and mtu, frames both ways
// in one slot and in many, split event channels and several queues, checksum
// and GSO details passed through, and a backend that lies: malformed receive
// packets and transmit responses are dropped and counted, an impossible
// index breaks the device, and nothing traps.
import fc from "fast-check";
import { beforeEach, describe, expect, test } from "vitest";
import type { DevicePaths } from "../../host/dom0/devices.js";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { NETIF_RSP, NETRXF, NETTXF, XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { NetFront, type NetStartOptions } from "../../runtime/net.js";
import { engines } from "../support/engines.js";
import { gsoExtra, HostileNetback, type HostileNetbackOptions } from "../support/hostile-netback.js";
import { bootXenbus, type Xenbus } from "../support/xenbus.js";

const MAC = "00:16:3e:12:34:56";
const { Connected, Closed } = XENBUS_STATE;

/** An Ethernet frame of `length` bytes to `to` from our MAC, its payload counting from `seed`. */
function frame(length: number, seed = 0, to = "ff:ff:ff:ff:ff:ff"): Uint8Array {
  const bytes = new Uint8Array(length);
  bytes.set(to.split(":").map((x) => Number.parseInt(x, 16)));
  bytes.set(
    MAC.split(":").map((x) => Number.parseInt(x, 16)),
    6,
  );
  bytes[12] = 0x08;
  for (let i = 14; i < length; i++) bytes[i] = (seed + i) & 0xff;
  return bytes;
}

describe.each(engines)("under $name", ({ engine }) => {
  describe("netfront against dom0's hostile backend", () => {
    let hv: Hypervisor;
    let service: XenstoreService;
    let guest: Xenbus;

    beforeEach(() => {
      hv = new Hypervisor();
      service = startXenstore(hv);
      guest = bootXenbus(hv, "front", engine);
      expect(guest.exports.xs_init()).toBe(0);
    });

    /** Adds vif 0 (frontend nodes `nodes`), starts the backend and the frontend; opens unless `open` is false. */
    function plug(
      options: Partial<HostileNetbackOptions> = {},
      start: NetStartOptions = {},
      nodes: Record<string, string> = { mac: MAC },
      open = true,
    ): { back: HostileNetback; net: NetFront; paths: DevicePaths } {
      const paths = service.devices.add({ type: "vif", devid: 0, frontend: guest.domid, backend: 0 });
      for (const [name, value] of Object.entries(nodes)) service.tools.write(`${paths.frontend}/${name}`, value);
      const back = new HostileNetback(hv, service, { frontend: guest.domid, ...options }).start();
      hv.runUntilIdle();
      const net = new NetFront(guest).start(start);
      if (open) net.open(0);
      return { back, net, paths };
    }

    test("connects as Linux's netfront does: rings, channel and requests published, straight to Connected", () => {
      const { back, net } = plug();
      expect(Number(back.front("tx-ring-ref"))).toBeGreaterThanOrEqual(8);
      expect(Number(back.front("rx-ring-ref"))).toBeGreaterThanOrEqual(8);
      expect(Number(back.front("event-channel"))).toBeGreaterThan(0);
      expect(back.front("event-channel-tx")).toBeNull();
      expect(back.front("multi-queue-num-queues")).toBeNull();
      expect(
        ["request-rx-copy", "feature-rx-notify", "feature-sg", "feature-no-csum-offload", "feature-gso-tcpv4"].map(
          (name) => back.front(name),
        ),
      ).toEqual(["1", "1", "1", "1", "0"]);
      expect(net.info(0)).toMatchObject({
        mac: MAC,
        mtu: 1500,
        sg: true,
        gsoTcpv4: false,
        splitEventChannels: false,
        state: Connected,
        backendState: Connected,
        queues: 1,
        backendMaxQueues: 0,
        backendId: 0,
      });
      expect(back.rxAvailable()).toBe(64);
      expect(back.faults).toEqual([]);
    });

    test("mtu is the frontend's node as MirageOS reads it (1500 when absent, as above, or unreadable)", () => {
      const { net } = plug({}, {}, { mac: MAC, mtu: "1500x" });
      expect(net.info(0).mtu).toBe(1500);
      expect(() => net.send(0, frame(1515))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    });

    test("a backend without feature-rx-copy is refused, as Linux refuses it", () => {
      const { back, net } = plug({ rxCopy: false }, {}, { mac: MAC }, false);
      expect(() => net.open(0)).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(service.tools.read(`/local/domain/${guest.domid}/error/device/vif/0/error`)).toBe(
        "95 backend does not support copying receive path",
      );
      expect(back.front("tx-ring-ref")).toBeNull();
    });

    test("a device without a valid mac is refused (Closed, the error reported)", () => {
      const { back, net } = plug({}, {}, { mac: "00:16:3e:12:34" }, false);
      expect(() => net.open(0, 100)).toThrow(expect.objectContaining({ code: "ETIMEDOUT" }));
      expect(back.front("state")).toBe(String(Closed));
      expect(service.tools.read(`/local/domain/${guest.domid}/error/device/vif/0/error`)).toBe(
        "22 parsing device/vif/0/mac",
      );
    });

    test("frames go out and come in, one slot each", () => {
      const { back, net } = plug();
      const out = frame(60, 1);
      net.send(0, out);
      hv.runUntilIdle();
      expect(back.transmitted.map((p) => [p.data, p.slots.length, p.slots[0]!.flags])).toEqual([[out, 1, 0]]);
      const incoming = frame(1514, 2, MAC);
      expect(back.deliver(incoming)).toBe(true);
      expect(net.receive(0)).toEqual({ data: incoming, flags: 0, gsoType: 0, gsoSize: 0 });
      expect(net.receive(0)).toBeNull();
      expect(back.rxAvailable()).toBe(64);
      expect(net.info(0)).toMatchObject({ txPackets: 1n, txBytes: 60n, rxPackets: 1n, rxBytes: 1514n, malformed: 0n });
    });

    test("with feature-sg and a 9000-byte MTU, frames span pages: the first slot carries the total", () => {
      const { back, net } = plug({}, {}, { mac: MAC, mtu: "9000" });
      const out = frame(9014, 3);
      net.send(0, out);
      hv.runUntilIdle();
      const [packet] = back.transmitted;
      expect(packet!.data).toEqual(out);
      expect(packet!.slots.map((s) => [s.size, s.flags, s.offset])).toEqual([
        [9014, NETTXF.more_data, 0],
        [4096, NETTXF.more_data, 0],
        [822, 0, 0],
      ]);
      const incoming = frame(9014, 4, MAC);
      back.deliver(incoming);
      expect(net.receive(0)?.data).toEqual(incoming);
      expect(() => net.send(0, frame(9015))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
      expect(() => net.send(0, frame(13))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    });

    test("without feature-sg a frame must fit one page", () => {
      const { net } = plug({ sg: false }, {}, { mac: MAC, mtu: "9000" });
      expect(net.info(0).sg).toBe(false);
      net.send(0, frame(4096));
      expect(() => net.send(0, frame(4097))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
    });

    test("split event channels and two queues of the four offered: queue-N nodes, frames on either queue", () => {
      const { back, net } = plug({ split: true, maxQueues: 4 }, { maxQueues: 2 });
      expect(back.front("multi-queue-num-queues")).toBe("2");
      expect(back.front("tx-ring-ref")).toBeNull();
      expect(back.front("event-channel")).toBeNull();
      for (const q of [0, 1]) {
        const tx = Number(back.front(`queue-${q}/event-channel-tx`));
        const rx = Number(back.front(`queue-${q}/event-channel-rx`));
        expect(tx).toBeGreaterThan(0);
        expect(rx).not.toBe(tx);
        expect(Number(back.front(`queue-${q}/rx-ring-ref`))).toBeGreaterThanOrEqual(8);
      }
      expect(net.info(0)).toMatchObject({ queues: 2, backendMaxQueues: 4, splitEventChannels: true });
      expect(back.queues).toHaveLength(2);
      back.deliver(frame(100, 5, MAC), { queue: 1 });
      back.deliver(frame(100, 6, MAC), { queue: 0 });
      const got = [net.receive(0)?.data, net.receive(0)?.data];
      expect(got).toContainEqual(frame(100, 5, MAC));
      expect(got).toContainEqual(frame(100, 6, MAC));
      // Each conversation keeps to one queue; every frame gets out.
      for (let i = 0; i < 8; i++) net.send(0, frame(60, i, `02:00:00:00:00:0${i}`));
      hv.runUntilIdle();
      expect(back.transmitted).toHaveLength(8);
      expect(back.faults).toEqual([]);
    });

    test("checksum and GSO details pass through both ways when asked for and offered", () => {
      const { back, net } = plug({ gso: true }, { checksumOffload: true, gso: true });
      expect([back.front("feature-no-csum-offload"), back.front("feature-gso-tcpv4")]).toEqual(["0", "1"]);
      const big = frame(20000, 7, MAC);
      back.deliver(big, { flags: NETRXF.csum_blank | NETRXF.data_validated, gsoSize: 1448 });
      expect(net.receive(0)).toEqual({ data: big, flags: 3, gsoType: 1, gsoSize: 1448 });
      const out = frame(20000, 8);
      net.send(0, out, { flags: NETTXF.csum_blank | NETTXF.data_validated, gsoSize: 1448 });
      hv.runUntilIdle();
      const [packet] = back.transmitted;
      expect(packet!.data).toEqual(out);
      expect(packet!.extras).toEqual([gsoExtra(1448)]);
      expect(packet!.slots[0]!.flags).toBe(
        NETTXF.csum_blank | NETTXF.data_validated | NETTXF.extra_info | NETTXF.more_data,
      );
      expect(net.info(0)).toMatchObject({ gsoTcpv4: true, checksumOffload: true, gso: true });
    });

    test("GSO the backend did not offer is refused; frames above the MTU need it", () => {
      const { net } = plug();
      expect(() => net.send(0, frame(2000), { gsoSize: 1448 })).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(() => net.send(0, frame(1515))).toThrow(expect.objectContaining({ code: "EMSGSIZE" }));
      expect(guest.exports.net_send(0, net.buffer, 60, 4, 0, 0)).toBe(-22); // NETTXF_more_data is the driver's
      expect(guest.exports.net_send(0, 0xffff0000, 60, 0, 0, 0)).toBe(-14);
      expect(guest.exports.net_recv(0, net.buffer + 17, 0)).toBe(-22);
      expect(guest.exports.net_send(7, net.buffer, 60, 0, 0, 0)).toBe(-19);
    });

    test("malformed receive packets are dropped and counted, never read beyond their pages; good ones still come", () => {
      const { back, net } = plug();
      const data = frame(60, 9, MAC);
      back.respond([{ status: 60, data, id: 99 }]); // not its slot's id
      back.respond([{ status: 200, offset: 4000, data: data.subarray(0, 14) }]); // beyond the page
      back.respond([{ status: 60, flags: 0x20, data }]); // an unknown flag
      back.respond([{ status: 60, flags: NETRXF.extra_info, data }, { extra: gsoExtra(0) }]); // a GSO size of 0
      back.respond([
        { status: 60, flags: NETRXF.extra_info, data },
        { extra: new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]) },
      ]);
      back.respond(Array.from({ length: 19 }, (_, i) => ({ status: 60, flags: i < 18 ? NETRXF.more_data : 0, data })));
      back.respond([{ status: 10, data }]); // shorter than an Ethernet header
      back.respond([{ status: NETIF_RSP.ERROR }]);
      back.deliver(frame(64, 10, MAC));
      expect(net.receive(0)?.data).toEqual(frame(64, 10, MAC));
      expect(net.receive(0)).toBeNull();
      expect(net.info(0)).toMatchObject({ rxPackets: 1n, malformed: 7n, rxErrors: 1n, state: Connected });
      // Every buffer was posted again.
      expect(back.rxAvailable()).toBe(64);
    });

    test("any bytes in receive responses: no trap, every buffer posted again, and the ring stays in step", () => {
      const { back, net } = plug({}, {}, { mac: MAC, mtu: "9000" });
      // Mostly plausible responses (the slot's id, sizes near a page, the chain flags), every field sometimes anything.
      const slot = fc.oneof(
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc
          .record({
            flags: fc.oneof(
              fc.constantFrom(0, NETRXF.more_data, NETRXF.extra_info),
              fc.integer({ min: 0, max: 0xffff }),
            ),
            status: fc.oneof(fc.integer({ min: -2, max: 4096 }), fc.integer({ min: -32768, max: 32767 })),
            offset: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
          })
          .map((r) => ({ ...r, data: new Uint8Array(0) })),
      );
      let round = 0;
      fc.assert(
        fc.property(fc.array(slot, { minLength: 1, maxLength: 24 }), (slots) => {
          back.respond(slots.map((s) => (s instanceof Uint8Array ? { extra: s } : s)));
          let frames = 0;
          while (net.receive(0) !== null) frames++;
          expect(frames).toBeLessThanOrEqual(slots.length);
          expect(back.rxAvailable()).toBe(64);
          const good = frame(100 + (round % 900), round++, MAC);
          expect(back.deliver(good)).toBe(true);
          expect(net.receive(0)?.data).toEqual(good);
          expect(net.info(0)).toMatchObject({ state: Connected, backendState: Connected });
        }),
        { numRuns: 150 },
      );
      expect(net.info(0).malformed).toBeGreaterThan(0n);
    });

    test("a receive packet cut short at rsp_prod is dropped; the next one comes", () => {
      const { back, net } = plug();
      back.respond([{ status: 60, flags: NETRXF.more_data, data: frame(60) }]);
      expect(net.receive(0)).toBeNull();
      back.deliver(frame(70, 11, MAC));
      expect(net.receive(0)?.data).toEqual(frame(70, 11, MAC));
      expect(net.info(0).malformed).toBe(1n);
    });

    test("a receive index beyond the posted requests breaks the device (EIO, reported, Closing); the guest goes on", () => {
      const { back, net } = plug();
      back.setRxRspProd(1000);
      expect(() => net.receive(0)).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(() => net.send(0, frame(60))).toThrow(expect.objectContaining({ code: "EIO" }));
      expect(service.tools.read(`/local/domain/${guest.domid}/error/device/vif/0/error`)).toBe(
        "5 receive response index beyond the requests pushed",
      );
      hv.runUntilIdle();
      expect(back.front("state")).toBe(String(Closed));
      expect(guest.exports.xs_init()).toBe(0);
    });

    test("transmit responses with unknown ids or undefined statuses are dropped and counted; errors are counted", () => {
      const { back, net } = plug();
      const answers = [999, "status", "error", "dup"];
      back.onTransmit = (packet, backend) => {
        const answer = answers.shift();
        const id = packet.slots[0]!.id;
        if (answer === 999) backend.txRespond(999, NETIF_RSP.OKAY);
        else if (answer === "status") backend.txRespond(id, 7);
        else if (answer === "error") backend.txRespond(id, NETIF_RSP.ERROR);
        // An id in range that no request in flight has: no more than 4 of the 32 buffers are ever out here.
        else if (answer === "dup") backend.txRespond(id === 0 ? 31 : 0, NETIF_RSP.OKAY);
        else backend.answer(packet);
      };
      // More frames than transmit buffers: those answered honestly come back for reuse.
      for (let i = 0; i < 60; i++) {
        net.send(0, frame(60, i));
        hv.runUntilIdle();
      }
      expect(back.transmitted).toHaveLength(60);
      expect(net.info(0)).toMatchObject({ txPackets: 60n, txErrors: 1n, malformed: 3n, state: Connected });
    });

    test("a flood of frames waits on the ring: XenStore stays usable, and the frames come in order", () => {
      const { back, net } = plug();
      let delivered = 0;
      while (back.deliver(frame(60 + (delivered % 50), delivered, MAC))) delivered++;
      expect(delivered).toBe(64);
      expect(guest.exports.xs_init()).toBe(0);
      for (let i = 0; i < delivered; i++) expect(net.receive(0)?.data).toEqual(frame(60 + (i % 50), i, MAC));
      expect(back.rxAvailable()).toBe(64);
    });

    test("closing ends every grant and channel (the frontend's grant refs all free again); opening again reconnects", () => {
      const before = guest.exports.gnttab_free_refs();
      const { back, net } = plug({ split: true });
      expect(guest.exports.gnttab_free_refs()).toBe(before - 2 - 32 - 64);
      net.close(0);
      hv.runUntilIdle();
      expect([back.front("state"), back.state]).toEqual([String(Closed), Closed]);
      expect(guest.exports.gnttab_free_refs()).toBe(before);
      expect(() => net.send(0, frame(60))).toThrow(expect.objectContaining({ code: "ENODEV" }));
      // Opened again, it connects anew (the backend resets for it) and frames flow.
      net.open(0);
      expect(net.info(0)).toMatchObject({ state: Connected, backendState: Connected, txPackets: 0n });
      net.send(0, frame(60, 12));
      hv.runUntilIdle();
      expect(back.transmitted.at(-1)?.data).toEqual(frame(60, 12));
      back.deliver(frame(61, 13, MAC));
      expect(net.receive(0)?.data).toEqual(frame(61, 13, MAC));
    });
  });
});
