// Event channels, Xen's 2-level ABI. Each domain has a table of ports; a port
// is free, reserved (port 0), unbound (reserved for one remote domain to bind)
// or interdomain (connected to a remote port). Delivery writes the domain's
// shared_info exactly as Xen does, so the guest's own upcall code reads it.

import { DOMID, ERRNO, EVTCHNSTAT, shared_info, vcpu_info } from "./abi.js";
import type { Domain, DomainDirectory } from "./domain.js";
import type { XenPage } from "./memory.js";

export type Channel =
  | { state: "reserved" }
  | { state: "unbound"; remoteDomid: number }
  | { state: "interdomain"; remoteDomid: number; remotePort: number };

/** vcpu0's event state in a shared_info page: the bitmaps are arrays of little-endian 64-bit words. */
export class SharedInfoEvents {
  constructor(private readonly page: XenPage) {}

  private testBit(base: number, bit: number): boolean {
    return (this.page.bytes()[base + (bit >> 3)]! & (1 << (bit & 7))) !== 0;
  }

  /** Sets or clears a bit; returns its previous value. */
  private writeBit(base: number, bit: number, value: boolean): boolean {
    const bytes = this.page.bytes();
    const index = base + (bit >> 3);
    const mask = 1 << (bit & 7);
    const previous = (bytes[index]! & mask) !== 0;
    bytes[index] = value ? bytes[index]! | mask : bytes[index]! & ~mask;
    return previous;
  }

  isPending(port: number): boolean {
    return this.testBit(shared_info.fields.evtchn_pending, port);
  }
  testAndSetPending(port: number): boolean {
    return this.writeBit(shared_info.fields.evtchn_pending, port, true);
  }
  clearPending(port: number): void {
    this.writeBit(shared_info.fields.evtchn_pending, port, false);
  }
  isMasked(port: number): boolean {
    return this.testBit(shared_info.fields.evtchn_mask, port);
  }
  testAndClearMask(port: number): boolean {
    return this.writeBit(shared_info.fields.evtchn_mask, port, false);
  }
  setMask(port: number, masked: boolean): void {
    this.writeBit(shared_info.fields.evtchn_mask, port, masked);
  }
  /** The lowest port below `limit` that is pending, unmasked and `wanted`, read a byte of the bitmaps at a time. */
  firstPendingUnmasked(limit: number, wanted: (port: number) => boolean): number | null {
    const bytes = this.page.bytes();
    const pending = shared_info.fields.evtchn_pending;
    const mask = shared_info.fields.evtchn_mask;
    for (let index = 0; index * 8 < limit; index++) {
      let bits = bytes[pending + index]! & ~bytes[mask + index]!;
      for (let bit = 0; bits !== 0; bit++, bits >>= 1) {
        const port = index * 8 + bit;
        if (bits & 1 && port < limit && wanted(port)) return port;
      }
    }
    return null;
  }
  /** Sets the vcpu's evtchn_pending_sel bit for the 64-port word holding `port`; returns its previous value. */
  testAndSetSelector(port: number): boolean {
    return this.writeBit(shared_info.fields.vcpu_info + vcpu_info.fields.evtchn_pending_sel, port >> 6, true);
  }

  get upcallPending(): boolean {
    return this.page.bytes()[shared_info.fields.vcpu_info + vcpu_info.fields.evtchn_upcall_pending] !== 0;
  }
  set upcallPending(value: boolean) {
    this.page.bytes()[shared_info.fields.vcpu_info + vcpu_info.fields.evtchn_upcall_pending] = value ? 1 : 0;
  }
  get upcallMasked(): boolean {
    return this.page.bytes()[shared_info.fields.vcpu_info + vcpu_info.fields.evtchn_upcall_mask] !== 0;
  }
  set upcallMasked(value: boolean) {
    this.page.bytes()[shared_info.fields.vcpu_info + vcpu_info.fields.evtchn_upcall_mask] = value ? 1 : 0;
  }
}

/** One domain's ports. `limit` bounds the port numbers (Xen's max_evtchn_port + 1). */
export class EventChannelTable {
  /** Only the ports in use: a table costs what its domain uses, not its limit (dom0's is 4096 ports). */
  private readonly channels = new Map<number, Channel>([[0, { state: "reserved" }]]); // as Xen: port 0 is never handed out

  constructor(
    readonly limit: number,
    readonly events: SharedInfoEvents,
  ) {}

  /** Xen's port_is_valid: a port number this domain may name at all. */
  isValid(port: number): boolean {
    return Number.isInteger(port) && port >= 0 && port < this.limit;
  }

  get(port: number): Channel | undefined {
    return this.isValid(port) ? this.channels.get(port) : undefined;
  }

  /** The lowest free port, or null when the table is full. */
  freePort(): number | null {
    for (let port = 1; port < this.limit; port++) if (!this.channels.has(port)) return port;
    return null;
  }

  set(port: number, channel: Channel | undefined): void {
    if (channel) this.channels.set(port, channel);
    else this.channels.delete(port);
  }

  /** Ports in use (not port 0), in order. */
  bound(): [number, Channel][] {
    return [...this.channels].filter(([, channel]) => channel.state !== "reserved").sort(([a], [b]) => a - b);
  }
}

/** A fault tests inject on a port's events (EventChannels.injectFault). */
export type EventFault = "drop" | "duplicate";

export interface ChannelStatus {
  status: number;
  /** The remote domain of an unbound or interdomain port. */
  remoteDomid?: number;
  /** The remote port of an interdomain port. */
  remotePort?: number;
}

/**
 * The event channel operations, shared by the hypercall decoder (Wasm guests)
 * and the native library interface. Results are Xen's: a port or 0 on
 * success, -errno on failure, in the order Xen checks.
 */
export class EventChannels {
  /** Injected faults, by "domid:port" of the receiving end. */
  private readonly faults = new Map<string, EventFault>();
  /** Events of a "duplicate" port, delivered again with the next event raised anywhere. */
  private echoes: [Domain, number][] = [];

  constructor(
    private readonly directory: DomainDirectory,
    /** Called whenever a port newly becomes pending anywhere (the scheduler's progress measure). */
    private readonly onEvent: (domain: Domain, port: number) => void,
  ) {}

  private resolve(caller: Domain, domid: number): number {
    return domid === DOMID.SELF ? caller.domid : domid;
  }

  allocUnbound(caller: Domain, dom: number, remoteDom: number): number {
    const domain = this.directory.domain(this.resolve(caller, dom));
    if (!domain) return -ERRNO.ESRCH;
    if (domain !== caller && !caller.privileged) return -ERRNO.EPERM;
    const port = domain.ports.freePort();
    if (port === null) return -ERRNO.ENOSPC;
    domain.ports.set(port, { state: "unbound", remoteDomid: this.resolve(caller, remoteDom) });
    return port;
  }

  bindInterdomain(caller: Domain, remoteDom: number, remotePort: number): number {
    const remote = this.directory.domain(this.resolve(caller, remoteDom));
    if (!remote) return -ERRNO.ESRCH;
    const localPort = caller.ports.freePort();
    if (localPort === null) return -ERRNO.ENOSPC;
    const channel = remote.ports.get(remotePort);
    if (channel?.state !== "unbound" || channel.remoteDomid !== caller.domid) return -ERRNO.EINVAL;
    caller.ports.set(localPort, { state: "interdomain", remoteDomid: remote.domid, remotePort });
    remote.ports.set(remotePort, { state: "interdomain", remoteDomid: caller.domid, remotePort: localPort });
    // As Xen: notifications sent to the unbound port were lost, so conservatively raise the new one.
    this.setPending(caller, localPort);
    return localPort;
  }

  send(caller: Domain, port: number): number {
    if (!caller.ports.isValid(port)) return -ERRNO.EINVAL;
    const channel = caller.ports.get(port);
    if (channel?.state === "unbound") return 0; // nobody to tell yet: dropped, as Xen does
    if (channel?.state !== "interdomain") return -ERRNO.EINVAL;
    const remote = this.directory.domain(channel.remoteDomid);
    if (remote) this.setPending(remote, channel.remotePort);
    return 0;
  }

  close(caller: Domain, port: number): number {
    const channel = caller.ports.get(port);
    if (!channel || channel.state === "reserved") return -ERRNO.EINVAL;
    if (channel.state === "interdomain") {
      // The peer's end goes back to waiting for us, as Xen leaves it.
      this.directory.domain(channel.remoteDomid)?.ports.set(channel.remotePort, {
        state: "unbound",
        remoteDomid: caller.domid,
      });
    }
    caller.ports.set(port, undefined);
    caller.ports.events.clearPending(port); // a later bind of this port must not see a stale event
    return 0;
  }

  unmask(caller: Domain, port: number): number {
    if (!caller.ports.isValid(port)) return -ERRNO.EINVAL;
    const events = caller.ports.events;
    if (events.testAndClearMask(port) && events.isPending(port) && !events.testAndSetSelector(port)) {
      events.upcallPending = true;
    }
    return 0;
  }

  status(caller: Domain, dom: number, port: number): ChannelStatus | number {
    const domain = this.directory.domain(this.resolve(caller, dom));
    if (!domain) return -ERRNO.ESRCH;
    if (domain !== caller && !caller.privileged) return -ERRNO.EPERM;
    if (!domain.ports.isValid(port)) return -ERRNO.EINVAL;
    const channel = domain.ports.get(port);
    switch (channel?.state) {
      case "unbound":
        return { status: EVTCHNSTAT.unbound, remoteDomid: channel.remoteDomid };
      case "interdomain":
        return { status: EVTCHNSTAT.interdomain, remoteDomid: channel.remoteDomid, remotePort: channel.remotePort };
      default:
        return { status: EVTCHNSTAT.closed };
    }
  }

  /**
   * Fault injection for tests, on the events raised for `domain`'s `port`:
   * "drop" loses them, as if never sent; "duplicate" raises each again with
   * the next event raised anywhere, once its handler has likely run; null
   * ends the fault.
   */
  injectFault(domain: Domain, port: number, fault: EventFault | null): void {
    if (fault) this.faults.set(`${domain.domid}:${port}`, fault);
    else this.faults.delete(`${domain.domid}:${port}`);
  }

  /** Raises `port` of `domain`, with the faults injected for it. */
  setPending(domain: Domain, port: number): void {
    const echoes = this.echoes;
    this.echoes = [];
    for (const [echoed, echoedPort] of echoes) this.deliver(echoed, echoedPort);
    const fault = this.faults.get(`${domain.domid}:${port}`);
    if (fault === "drop") return;
    if (fault === "duplicate") this.echoes.push([domain, port]);
    this.deliver(domain, port);
  }

  /** 2-level delivery: pending bit, then (unless masked) the selector bit and the vcpu's upcall flag. */
  private deliver(domain: Domain, port: number): void {
    const events = domain.ports.events;
    if (events.testAndSetPending(port)) return;
    this.onEvent(domain, port);
    if (!events.isMasked(port) && !events.testAndSetSelector(port)) events.upcallPending = true;
  }
}
