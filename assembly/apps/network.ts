// The unikernel's network: serve() says when a vif connects (its MAC and
// address) or goes, answers pings on each connected vif, and closes the vifs
// at shutdown. A vif's address is the `ip` node of its backend directory,
// which libxl writes from the xl config's `vif = [ 'ip=...' ]` and Mini-OS's
// netfront reads as well; a vif without one is announced and not answered on.
import { parseDecimal64 } from "../drivers/blkif";
import { NetfrontDevice, recv, send } from "../drivers/netfront";
import "../drivers/netfront-xs"; // registers the vif driver with the frontend bus
import { XEN_NETIF_GSO_TYPE_NONE } from "../xen/abi";
import { closeDevice, currentFrontendBus } from "../xenbus/bus";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { addReporter, devicesClosed, devicesOf, Reporter, say } from "./basics";
import { PingHost } from "./ping-responder";

/** The largest frame taken: the vifs ask for no GSO, so a frame is at most the MTU and its header. */
const FRAME_ROOM: u32 = 65536;
/** One frame at a time, answered in place. */
const frame: usize = heap.alloc(FRAME_ROOM);

/** Our vifs, connected or not. */
export function vifs(): NetfrontDevice[] {
  return devicesOf<NetfrontDevice>(currentFrontendBus(), "vif");
}

class OurVifs extends Reporter {
  /** Devids of the vifs we said are connected, with the host answering on each (null: no address). */
  announced: Map<string, PingHost | null> = new Map<string, PingHost | null>();

  changed(): bool {
    const current = vifs();
    let connected = 0;
    for (let i = 0; i < current.length; i++) {
      const dev = current[i];
      if (dev.isConnected() != this.announced.has(dev.id)) return true;
      if (!dev.isConnected()) continue;
      connected++;
      if (framesWaiting(dev)) return true;
    }
    return connected != this.announced.size;
  }

  report(): void {
    const current = vifs();
    const connected = new Map<string, PingHost | null>();
    for (let i = 0; i < current.length; i++) {
      const dev = current[i];
      if (!dev.isConnected()) continue;
      const host = this.announced.has(dev.id) ? this.announced.get(dev.id) : announce(dev);
      connected.set(dev.id, host);
      if (host !== null) answerPings(dev, host);
    }
    const before = this.announced.keys();
    for (let i = 0; i < before.length; i++) {
      if (!connected.has(before[i])) say(`Network vif ${before[i]} disconnected.`);
    }
    this.announced = connected;
  }

  devices(): string {
    return "vifs";
  }

  close(): void {
    const current = vifs();
    for (let i = 0; i < current.length; i++) closeDevice(current[i]);
  }

  closed(): bool {
    return devicesClosed(vifs());
  }
}
addReporter(new OurVifs());

/** Says the vif is connected, with its MAC and address; the host that answers there, or null without an address. */
function announce(dev: NetfrontDevice): PingHost | null {
  const mac = macText(dev.mac);
  const store = dev.store;
  const address =
    store.read(XS_NO_TRANSACTION, `${dev.otherendPath}/ip`) < 0
      ? 0
      : parseIpv4(store.replyPayload(), store.replyLength());
  if (address == 0) {
    say(`Network vif ${dev.id} connected: mac ${mac}, no address (no ip in ${dev.otherendPath}).`);
    return null;
  }
  say(`Network vif ${dev.id} connected: mac ${mac}, answering pings at ${store.value}.`);
  return new PingHost(dev.mac, address);
}

/** Whether a frame waits on one of the vif's receive rings. */
function framesWaiting(dev: NetfrontDevice): bool {
  for (let i = 0; i < dev.queues.length; i++) if (dev.queues[i].rx!.unconsumedResponses() != 0) return true;
  return false;
}

/** Takes every frame waiting on the vif and sends the answer each needs. */
function answerPings(dev: NetfrontDevice, host: PingHost): void {
  while (true) {
    const length = recv(dev, frame, 0);
    if (length <= 0) return;
    const reply = host.answer(frame, u32(length), frame);
    if (reply != 0) send(dev, frame, reply, 0, 0, XEN_NETIF_GSO_TYPE_NONE);
  }
}

/** "00:16:3e:00:00:03". */
function macText(mac: StaticArray<u8>): string {
  const parts = new Array<string>(6);
  for (let i = 0; i < 6; i++) parts[i] = (mac[i] < 16 ? "0" : "") + mac[i].toString(16);
  return parts.join(":");
}

/**
 * The IPv4 address in [at, at + length) ("10.0.0.3") as the number
 * 0x0a000003; 0 for anything but four dot-separated decimal bytes of at most
 * three digits each (each parsed as strictly as every negotiated value).
 */
function parseIpv4(at: usize, length: u32): u32 {
  let address: u32 = 0;
  let start: u32 = 0;
  for (let part = 0; part < 4; part++) {
    let end = start;
    while (end < length && load<u8>(at + end) != 0x2e) end++;
    // The last part ends the value, each other at a dot.
    if ((part == 3) != (end == length) || end - start > 3) return 0;
    const value = parseDecimal64(at + start, end - start, 255);
    if (value < 0) return 0;
    address = (address << 8) | u32(value);
    start = end + 1;
  }
  return address;
}
