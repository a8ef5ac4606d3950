// The demo's network application, just enough IPv4 to show "ping": each
// guest has an address on 10.0.0.0/24, answers ARP requests for it and ICMP
// echo requests to it, and the pinging guest resolves its peer's MAC with ARP
// and sends echo requests, timing each reply. Frames go through the guests'
// Wasm netfronts (runtime/net.ts) and the Wasm netback's bridge.

const ETH_HLEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ARP_REQUEST = 1;
const ARP_REPLY = 2;
const IPPROTO_ICMP = 1;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const TTL = 64;
export const BROADCAST = "ff:ff:ff:ff:ff:ff";

/** "aa:bb:cc:dd:ee:ff" as 6 bytes, and back. */
export function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(":").map((byte) => Number.parseInt(byte, 16)));
}

function macText(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(":");
}

/** "10.0.0.2" as 4 bytes, and back. */
function ipBytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split(".").map(Number));
}

function ipText(bytes: Uint8Array): string {
  return Array.from(bytes).join(".");
}

/** The Internet checksum (RFC 1071) of `bytes`. */
export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ethernet(destination: string, source: string, type: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(ETH_HLEN + payload.length);
  frame.set(macBytes(destination), 0);
  frame.set(macBytes(source), 6);
  new DataView(frame.buffer).setUint16(12, type);
  frame.set(payload, ETH_HLEN);
  return frame;
}

/** An ARP packet (RFC 826) for IPv4 over Ethernet. */
export function arp(op: number, senderMac: string, senderIp: string, targetMac: string, targetIp: string): Uint8Array {
  const packet = new Uint8Array(28);
  const view = new DataView(packet.buffer);
  view.setUint16(0, 1); // Ethernet
  view.setUint16(2, ETHERTYPE_IPV4);
  packet[4] = 6;
  packet[5] = 4;
  view.setUint16(6, op);
  packet.set(macBytes(senderMac), 8);
  packet.set(ipBytes(senderIp), 14);
  packet.set(macBytes(targetMac), 18);
  packet.set(ipBytes(targetIp), 24);
  return ethernet(op === ARP_REQUEST ? BROADCAST : targetMac, senderMac, ETHERTYPE_ARP, packet);
}

/** An IPv4 packet carrying an ICMP echo request or reply with `data`. */
function icmpEcho(
  type: number,
  from: { mac: string; ip: string },
  to: { mac: string; ip: string },
  id: number,
  seq: number,
  data: Uint8Array,
): Uint8Array {
  const icmp = new Uint8Array(8 + data.length);
  const iv = new DataView(icmp.buffer);
  icmp[0] = type;
  iv.setUint16(4, id);
  iv.setUint16(6, seq);
  icmp.set(data, 8);
  iv.setUint16(2, checksum(icmp));
  const ip = new Uint8Array(20 + icmp.length);
  const v = new DataView(ip.buffer);
  ip[0] = 0x45;
  v.setUint16(2, ip.length);
  v.setUint16(4, seq);
  ip[8] = TTL;
  ip[9] = IPPROTO_ICMP;
  ip.set(ipBytes(from.ip), 12);
  ip.set(ipBytes(to.ip), 16);
  v.setUint16(10, checksum(ip.subarray(0, 20)));
  ip.set(icmp, 20);
  return ethernet(to.mac, from.mac, ETHERTYPE_IPV4, ip);
}

/** What a frame is, as far as this application cares. */
export type Parsed =
  | { kind: "arp"; op: number; senderMac: string; senderIp: string; targetIp: string }
  | {
      kind: "echo";
      type: number;
      fromMac: string;
      fromIp: string;
      toIp: string;
      id: number;
      seq: number;
      ttl: number;
      data: Uint8Array;
    }
  | { kind: "other" };

/** Reads ARP and ICMP echo frames, checking lengths and checksums; anything else (or broken) is "other". */
export function parse(frame: Uint8Array): Parsed {
  if (frame.length < ETH_HLEN) return { kind: "other" };
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const type = view.getUint16(12);
  const body = frame.subarray(ETH_HLEN);
  if (type === ETHERTYPE_ARP && body.length >= 28) {
    return {
      kind: "arp",
      op: view.getUint16(ETH_HLEN + 6),
      senderMac: macText(body.subarray(8, 14)),
      senderIp: ipText(body.subarray(14, 18)),
      targetIp: ipText(body.subarray(24, 28)),
    };
  }
  if (type !== ETHERTYPE_IPV4 || body.length < 28 || body[0] !== 0x45 || body[9] !== IPPROTO_ICMP)
    return { kind: "other" };
  const length = view.getUint16(ETH_HLEN + 2);
  if (length < 28 || length > body.length || checksum(body.subarray(0, 20)) !== 0) return { kind: "other" };
  const icmp = body.subarray(20, length);
  if (checksum(icmp) !== 0 || (icmp[0] !== ICMP_ECHO_REQUEST && icmp[0] !== ICMP_ECHO_REPLY)) return { kind: "other" };
  const iv = new DataView(icmp.buffer, icmp.byteOffset, icmp.length);
  return {
    kind: "echo",
    type: icmp[0]!,
    fromMac: macText(frame.subarray(6, 12)),
    fromIp: ipText(body.subarray(12, 16)),
    toIp: ipText(body.subarray(16, 20)),
    id: iv.getUint16(4),
    seq: iv.getUint16(6),
    ttl: body[8]!,
    data: icmp.subarray(8),
  };
}

/** A host on the demo's network: its MAC (the vif's) and IPv4 address. */
export interface Host {
  mac: string;
  ip: string;
}

/** The responder: the reply `host` sends to `frame` (an ARP request for its address, an echo request to it), or null. */
export function answer(host: Host, frame: Uint8Array): Uint8Array | null {
  const p = parse(frame);
  if (p.kind === "arp" && p.op === ARP_REQUEST && p.targetIp === host.ip)
    return arp(ARP_REPLY, host.mac, host.ip, p.senderMac, p.senderIp);
  if (p.kind === "echo" && p.type === ICMP_ECHO_REQUEST && p.toIp === host.ip)
    return icmpEcho(ICMP_ECHO_REPLY, host, { mac: p.fromMac, ip: p.fromIp }, p.id, p.seq, p.data);
  return null;
}

/** The pinger's side: an ARP request for `target`, and the MAC its reply names (null for another frame). */
export function arpRequest(host: Host, target: string): Uint8Array {
  return arp(ARP_REQUEST, host.mac, host.ip, "00:00:00:00:00:00", target);
}

export function arpReplyFrom(frame: Uint8Array, target: string): string | null {
  const p = parse(frame);
  return p.kind === "arp" && p.op === ARP_REPLY && p.senderIp === target ? p.senderMac : null;
}

/** An echo request of `size` bytes of ICMP data (56, as ping sends by default: 64 bytes of ICMP). */
export function echoRequest(from: Host, to: Host, id: number, seq: number, size = 56): Uint8Array {
  const data = Uint8Array.from({ length: size }, (_, i) => (i + seq) & 0xff);
  return icmpEcho(ICMP_ECHO_REQUEST, from, to, id, seq, data);
}

/** The echo reply to (`id`, `seq`) from `peer`, with the data sent: its ICMP bytes and TTL; null for another frame. */
export function echoReplyFrom(
  frame: Uint8Array,
  peer: Host,
  id: number,
  seq: number,
): { bytes: number; ttl: number } | null {
  const p = parse(frame);
  if (p.kind !== "echo" || p.type !== ICMP_ECHO_REPLY || p.fromIp !== peer.ip || p.id !== id || p.seq !== seq)
    return null;
  const expected = Uint8Array.from({ length: p.data.length }, (_, i) => (i + seq) & 0xff);
  if (!p.data.every((byte, i) => byte === expected[i])) return null;
  return { bytes: 8 + p.data.length, ttl: p.ttl };
}
