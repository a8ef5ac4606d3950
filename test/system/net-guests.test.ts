// Two Wasm guests (build/xenbus.wasm's netfront) exchanging frames through
// the Wasm network driver domain (build/netback.wasm's netback and bridge),
// with the vifs the toolstack writes as xl does: what the demo's ping does
// (ARP, then ICMP echo, answered by examples/demo/ping.ts's responder),
// full-MTU frames, checksum offload and GSO frames over several slots passed through,
// and a guest whose vif is unplugged and plugged again.
import { describe, expect, test } from "vitest";
import { answer, arpReplyFrom, arpRequest, echoReplyFrom, echoRequest, type Host } from "../../examples/demo/ping.js";
import { vifMac } from "../../host/dom0/devices.js";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { createGuestDomain } from "../../host/system/guest-domain.js";
import { startNetbackDomain } from "../../host/system/netback-domain.js";
import { NETRXF, NETTXF, XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { NetFront } from "../../runtime/net.js";
import { engines } from "../support/engines.js";
import { BROADCAST, frame } from "../support/ethernet.js";

describe.each(engines)("under $name", ({ engine }) => {
  function rig() {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const net = startNetbackDomain(service, { engine });
    const guests = ["guest1", "guest2"].map((name, i) => {
      const guest = createGuestDomain(service, name, engine).guest;
      expect(guest.exports.xs_init()).toBe(0);
      const vif = { type: "vif", devid: 0, frontend: guest.domid, backend: net.domid };
      service.devices.add(vif);
      const front = new NetFront(guest).start({ checksumOffload: true, gso: true });
      front.open(0);
      const host: Host = { mac: vifMac(vif), ip: `10.0.0.${i + 2}` };
      return { guest, front, host, vif };
    });
    return { hv, service, net, guests };
  }

  test("guest1 pings guest2: ARP resolves its MAC, each echo request is answered with its data", () => {
    const { net, guests } = rig();
    const [one, two] = guests as [(typeof guests)[0], (typeof guests)[0]];
    expect(one.front.info(0)).toMatchObject({ mac: one.host.mac, state: XENBUS_STATE.Connected, backendState: 4 });
    one.front.send(0, arpRequest(one.host, two.host.ip));
    const request = two.front.receive(0, 1000)!;
    two.front.send(0, answer(two.host, request.data)!);
    expect(arpReplyFrom(one.front.receive(0, 1000)!.data, two.host.ip)).toBe(two.host.mac);
    const peer = { mac: two.host.mac, ip: two.host.ip };
    for (let seq = 1; seq <= 3; seq++) {
      one.front.send(0, echoRequest(one.host, peer, 7, seq));
      const echo = two.front.receive(0, 1000)!;
      two.front.send(0, answer(two.host, echo.data)!);
      expect(echoReplyFrom(one.front.receive(0, 1000)!.data, peer, 7, seq)).toEqual({ bytes: 64, ttl: 64 });
    }
    // The ARP request was flooded; everything after it went to one learned port.
    expect(net.back.bridge()).toMatchObject({ flooded: 1n, forwarded: 7n, macs: 2n });
    expect(net.back.info(one.guest.domid, 0)).toMatchObject({ txPackets: 4n, rxPackets: 4n, txErrors: 0n });
  });

  test("a full-MTU frame, a blank checksum and a GSO frame over several slots arrive whole, with their details", () => {
    const { guests } = rig();
    const [one, two] = guests as [(typeof guests)[0], (typeof guests)[0]];
    const big = frame(BROADCAST, one.host.mac, 1500);
    one.front.send(0, big);
    expect(two.front.receive(0, 1000)!.data).toEqual(big);
    const blank = frame(BROADCAST, one.host.mac, 200, 0x0800);
    one.front.send(0, blank, { flags: NETTXF.csum_blank });
    const got = two.front.receive(0, 1000)!;
    expect(got.data).toEqual(blank);
    expect(got.flags & NETRXF.csum_blank).toBe(NETRXF.csum_blank);
    const gso = frame(BROADCAST, one.host.mac, 20000, 0x0800);
    one.front.send(0, gso, { gsoSize: 1448, flags: NETTXF.csum_blank });
    expect(two.front.receive(0, 1000)).toMatchObject({ data: gso, gsoType: 1, gsoSize: 1448 });
  });

  test("a vif unplugged and plugged again carries frames again", () => {
    const { hv, service, guests } = rig();
    const [one, two] = guests as [(typeof guests)[0], (typeof guests)[0]];
    expect(service.devices.unplug(two.vif)).toBe("closed");
    hv.runUntilIdle();
    service.devices.add(two.vif);
    two.front.open(0);
    one.front.send(0, frame(BROADCAST, one.host.mac, 100));
    expect(two.front.receive(0, 1000)!.data.length).toBe(114);
  });
});
