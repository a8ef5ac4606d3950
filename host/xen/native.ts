// Native TypeScript services as domains (dom0's xenstored, toolstack and
// backends). They reach the hypervisor through interfaces modelled on Xen's
// user-space libraries, as QEMU's Xen emulation does: `evtchn` follows
// libxenevtchn, `gnttab` follows libxengnttab. The checks and errors are the
// hypercalls' own; failures throw XenError / GrantError instead of returning.

import { DOMID, ERRNO, GNTMAP, GNTST } from "./abi.js";
import { Domain, type DomainLimits } from "./domain.js";
import type { ChannelStatus, EventChannels } from "./evtchn.js";
import type { GrantTables } from "./gnttab.js";
import type { GuestMemory } from "./memory.js";
import type { Scheduler } from "./sched.js";

function nameOf(table: Record<string, number>, code: number): string {
  return Object.entries(table).find(([, value]) => value === code)?.[0] ?? String(code);
}

/** An event channel operation failed; `errno` is Xen's (positive). */
export class XenError extends Error {
  constructor(
    readonly errno: number,
    operation: string,
  ) {
    super(`${operation}: ${nameOf(ERRNO, errno)}`);
    this.name = "XenError";
  }
}

/** A grant operation failed with GNTST_<status>. */
export class GrantError extends Error {
  constructor(
    readonly status: number,
    operation: string,
  ) {
    super(`${operation}: GNTST_${nameOf(GNTST, status)}`);
    this.name = "GrantError";
  }
}

function check(result: number, operation: string): number {
  if (result < 0) throw new XenError(-result, operation);
  return result;
}

export interface NativeServices {
  evtchn: EventChannels;
  gnttab: GrantTables;
  scheduler: Scheduler;
}

/** A grant mapped by a native service: a live view of the granter's page. */
export interface NativeGrantMapping {
  readonly domid: number;
  readonly ref: number;
  readonly writable: boolean;
  /** The page, derived afresh on each call so it survives the granter's memory.grow. */
  bytes(): Uint8Array;
  unmap(): void;
}

export type EventHandler = (port: number) => void;

/** libxenevtchn for a native domain, plus per-port handlers the scheduler calls. */
export class NativeEvtchn {
  readonly handlers = new Map<number, EventHandler>();

  constructor(
    private readonly domain: NativeDomain,
    private readonly ops: EventChannels,
  ) {}

  /** xenevtchn_bind_unbound_port: a local port that `remoteDomid` may bind to. */
  bindUnboundPort(remoteDomid: number): number {
    return check(this.ops.allocUnbound(this.domain, DOMID.SELF, remoteDomid), "bind_unbound_port");
  }

  /** xc_evtchn_alloc_unbound (toolstack, privileged): an unbound port in `dom` for `remoteDomid`. */
  allocUnbound(dom: number, remoteDomid: number): number {
    return check(this.ops.allocUnbound(this.domain, dom, remoteDomid), "alloc_unbound");
  }

  bindInterdomain(remoteDomid: number, remotePort: number): number {
    return check(this.ops.bindInterdomain(this.domain, remoteDomid, remotePort), "bind_interdomain");
  }

  notify(port: number): void {
    check(this.ops.send(this.domain, port), "notify");
  }

  unmask(port: number): void {
    check(this.ops.unmask(this.domain, port), "unmask");
  }

  /** Closes the port and forgets its handler. */
  unbind(port: number): void {
    check(this.ops.close(this.domain, port), "unbind");
    this.handlers.delete(port);
  }

  status(dom: number, port: number): ChannelStatus {
    const status = this.ops.status(this.domain, dom, port);
    if (typeof status === "number") throw new XenError(-status, "status");
    return status;
  }

  /** Calls `handler` (from the scheduler) each time `port` is pending and unmasked; the pending bit is cleared first. */
  on(port: number, handler: EventHandler): void {
    this.handlers.set(port, handler);
  }

  /** The lowest port with a handler that is pending and unmasked. */
  nextPending(): number | null {
    const { events, limit } = this.domain.ports;
    return events.firstPendingUnmasked(limit, (port) => this.handlers.has(port));
  }
}

/** libxengnttab for a native domain: maps are live views, never copies. */
export class NativeGnttab {
  constructor(
    private readonly domain: NativeDomain,
    private readonly ops: GrantTables,
  ) {}

  mapGrantRef(domid: number, ref: number, writable: boolean): NativeGrantMapping {
    const flags = GNTMAP.host_map | (writable ? 0 : GNTMAP.readonly);
    const { status, mapping } = this.ops.map(this.domain, { dom: domid, ref, flags, hostAddr: null });
    if (!mapping) throw new GrantError(status, `map_grant_ref dom${domid} ref ${ref}`);
    const ops = this.ops;
    const domain = this.domain;
    return {
      domid,
      ref,
      writable,
      bytes: () => ops.livePage(mapping),
      unmap(): void {
        const result = ops.unmap(domain, mapping.handle, null, 0n);
        if (result !== GNTST.okay) throw new GrantError(result, `unmap_grant_ref dom${domid} ref ${ref}`);
      },
    };
  }
}

export class NativeDomain extends Domain {
  readonly kind = "native";
  readonly evtchn: NativeEvtchn;
  readonly gnttab: NativeGnttab;

  constructor(
    private readonly services: NativeServices,
    domid: number,
    name: string,
    privileged: boolean,
    memory: GuestMemory,
    limits: DomainLimits,
  ) {
    super(domid, name, privileged, memory, limits);
    this.evtchn = new NativeEvtchn(this, services.evtchn);
    this.gnttab = new NativeGnttab(this, services.gnttab);
  }

  hasWork(): boolean {
    return this.evtchn.nextPending() !== null;
  }

  deliver(): void {
    const port = this.evtchn.nextPending();
    if (port === null) return;
    this.ports.events.clearPending(port);
    const scheduler = this.services.scheduler;
    scheduler.enter(this);
    try {
      this.evtchn.handlers.get(port)!(port);
    } finally {
      scheduler.leave(this);
    }
  }
}
