// The Wasm network backend in its driver domain (build/netback.wasm),
// serving frontends that speak io/netif.h as Xen has it (test/support's
// NetfrontPeer, a native domain each): the vif entries the toolstack writes,
// what the backend offers and reads, frames switched by the bridge in the
// driver domain (flooded until learned, then to one port), multi-slot and
// GSO frames, split event channels and several queues, frames dropped when
// a frontend posted no buffers, and a reconnect.
import { describe, expect, test } from "vitest";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { startNetbackDomain } from "../../host/system/netback-domain.js";
import { NETIF_RSP, NETRXF, NETTXF, XENBUS_STATE } from "../../host/xen/abi.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { engines } from "../support/engines.js";
import { BROADCAST, frame } from "../support/ethernet.js";
import { NetfrontPeer } from "../support/netfront-peer.js";

const { Connected, Closed } = XENBUS_STATE;
const MAC_A = "00:16:3e:00:00:0a";
const MAC_B = "00:16:3e:00:00:0b";
const MAC_C = "00:16:3e:00:00:0c";

describe.each(engines)("under $name", ({ engine }) => {
  function rig(count = 2) {
    const hv = new Hypervisor();
    const service = startXenstore(hv);
    const net = startNetbackDomain(service, { engine });
    const macs = [MAC_A, MAC_B, MAC_C];
    const peers = Array.from(
      { length: count },
      (_, i) => new NetfrontPeer(hv, service, { backend: net.domid, mac: macs[i] }),
    );
    return { hv, service, net, peers };
  }

  test("the toolstack writes the vif as xl does; the backend offers what Linux's does and connects", () => {
    const { service, net, peers } = rig(1);
    const [a] = peers as [NetfrontPeer];
    const front = (name: string) => service.tools.read(`${a.paths.frontend}/${name}`);
    expect([front("backend"), front("backend-id"), front("handle"), front("mac")]).toEqual([
      a.paths.backend,
      String(net.domid),
      "0",
      MAC_A,
    ]);
    a.run();
    const offered = [
      "frontend-id",
      "online",
      "script",
      "mac",
      "bridge",
      "handle",
      "type",
      "mtu",
      "feature-sg",
      "feature-gso-tcpv4",
      "feature-rx-copy",
      "feature-rx-flip",
      "feature-split-event-channels",
      "multi-queue-max-queues",
      "hotplug-status",
    ].map((name) => [name, a.backendNode(name)]);
    expect(Object.fromEntries(offered)).toEqual({
      "frontend-id": String(a.domid),
      online: "1",
      script: "/etc/xen/scripts/vif-bridge",
      mac: MAC_A,
      bridge: "xenbr0",
      handle: "0",
      type: "vif",
      mtu: "1500",
      "feature-sg": "1",
      "feature-gso-tcpv4": "1",
      "feature-rx-copy": "1",
      "feature-rx-flip": "0",
      "feature-split-event-channels": "1",
      "multi-queue-max-queues": "4",
      "hotplug-status": "connected",
    });
    expect(a.backendState).toBe(XENBUS_STATE.InitWait);
    a.connect();
    expect(a.backendState).toBe(Connected);
    const info = net.back.info(a.domid, 0);
    expect(info).toMatchObject({
      queues: 1,
      splitEventChannels: false,
      mac: MAC_A,
      fatal: "",
      features: { sg: true, gsoTcpv4: true, rxNotify: true, noCsumOffload: false },
    });
  });

  test("a broadcast is flooded to every other vif; the answer goes to the one port its MAC was learned on", () => {
    const { net, peers } = rig(3);
    const [a, b, c] = peers as [NetfrontPeer, NetfrontPeer, NetfrontPeer];
    for (const peer of peers) peer.connect();
    const hello = frame(BROADCAST, MAC_A, 100);
    a.send(hello);
    expect(a.txResponses).toEqual([{ id: 0, status: NETIF_RSP.OKAY }]);
    expect(b.received.map((f) => f.data)).toEqual([hello]);
    expect(c.received.map((f) => f.data)).toEqual([hello]);
    expect(a.received).toEqual([]);
    const answer = frame(MAC_A, MAC_B, 60);
    b.send(answer);
    expect(a.received.map((f) => f.data)).toEqual([answer]);
    expect(c.received).toHaveLength(1);
    expect(net.back.bridge()).toMatchObject({ flooded: 1n, forwarded: 1n, macs: 2n });
    expect(net.back.info(a.domid, 0)).toMatchObject({ txPackets: 1n, txBytes: 114n, rxPackets: 1n, rxBytes: 74n });
    // A frame to a MAC learned on its own port goes nowhere.
    a.send(frame(MAC_A, MAC_C, 20));
    expect(net.back.bridge()).toMatchObject({ flooded: 1n, forwarded: 1n, macs: 3n });
    expect(a.received).toHaveLength(1);
  });

  test("a packet of several slots arrives whole; one larger than a page fills several receive buffers", () => {
    const { peers } = rig(2);
    const [a, b] = peers as [NetfrontPeer, NetfrontPeer];
    a.connect();
    b.connect();
    const jumbo = frame(BROADCAST, MAC_A, 9000 - 14);
    a.send(jumbo, { fragments: [1000, 4096, 3904], flags: NETTXF.csum_blank });
    expect(a.txResponses.map((r) => r.status)).toEqual([0, 0, 0]);
    expect(b.received).toHaveLength(1);
    const [got] = b.received;
    expect(got!.data).toEqual(jumbo);
    expect(got!.statuses).toEqual([4096, 4096, 808]);
    // A blank checksum is passed on as Linux's netback does: blank, the data validated.
    expect(got!.flags & (NETRXF.csum_blank | NETRXF.data_validated)).toBe(NETRXF.csum_blank | NETRXF.data_validated);
  });

  test("a GSO packet goes to a frontend that takes GSO with its extra-info segment, and is dropped for one that does not", () => {
    const { net, peers } = rig(3);
    const [a, b, c] = peers as [NetfrontPeer, NetfrontPeer, NetfrontPeer];
    a.connect();
    b.connect();
    c.connect({ nodes: { "feature-gso-tcpv4": null, "feature-sg": "0" } });
    const big = frame(BROADCAST, MAC_A, 6000, 0x0800);
    a.send(big, { fragments: [2000, 4014], gsoSize: 1448 });
    // The first slot, its extra (NULL), the second slot.
    expect(a.txResponses.map((r) => r.status)).toEqual([NETIF_RSP.OKAY, NETIF_RSP.NULL, NETIF_RSP.OKAY]);
    expect(b.received).toHaveLength(1);
    expect(b.received[0]!.gsoSize).toBe(1448);
    expect(b.received[0]!.data).toEqual(big);
    expect(c.received).toHaveLength(0);
    expect(net.back.info(c.domid, 0).rxDropped).toBe(1n);
  });

  test("split event channels and several queues: frames from every queue are switched", () => {
    const { net, peers } = rig(2);
    const [a, b] = peers as [NetfrontPeer, NetfrontPeer];
    a.connect({ queues: 3, split: true });
    b.connect({ queues: 2 });
    expect(net.back.info(a.domid, 0)).toMatchObject({ queues: 3, splitEventChannels: true });
    expect(net.back.info(b.domid, 0)).toMatchObject({ queues: 2, splitEventChannels: false });
    for (let queue = 0; queue < 3; queue++) a.send(frame(BROADCAST, MAC_A, 50 + queue), { queue });
    expect(b.received.map((f) => f.data.length)).toEqual([64, 65, 66]);
  });

  test("frames for a frontend that posted too few buffers are dropped and counted, and flow again once it posts", () => {
    const { net, peers } = rig(2);
    const [a, b] = peers as [NetfrontPeer, NetfrontPeer];
    a.connect();
    b.connect({ rxBuffers: 1 });
    a.send(frame(BROADCAST, MAC_A, 100));
    a.send(frame(BROADCAST, MAC_A, 100));
    a.send(frame(BROADCAST, MAC_A, 5000), { fragments: [4000, 1014] });
    expect(b.received).toHaveLength(1);
    expect(net.back.info(b.domid, 0)).toMatchObject({ rxPackets: 1n, rxDropped: 2n });
    b.post(undefined, 2);
    a.send(frame(BROADCAST, MAC_A, 5000), { fragments: [4000, 1014] });
    expect(b.received.map((f) => f.slots)).toEqual([1, 2]);
  });

  test("a frontend that closes and connects again is served again, its MACs learned anew", () => {
    const { hv, net, peers } = rig(2);
    const [a, b] = peers as [NetfrontPeer, NetfrontPeer];
    a.connect();
    b.connect();
    b.send(frame(BROADCAST, MAC_B, 10));
    a.close();
    expect(a.backendState).toBe(Closed);
    expect(net.back.info(a.domid, 0).queues).toBe(0);
    a.switchState(XENBUS_STATE.Initialising);
    hv.runUntilIdle();
    a.connect();
    expect(a.backendState).toBe(Connected);
    b.send(frame(MAC_A, MAC_B, 10));
    a.send(frame(MAC_B, MAC_A, 10));
    expect(a.received.at(-1)!.data.length).toBe(24);
    expect(b.received.map((f) => f.data.length)).toEqual([24]);
  });
});
