// The simulated Xen: domains, their hypercalls, and the scheduler that runs
// them. dom0 is a privileged native domain created with the hypervisor; Wasm
// guests come in through the runtime (runtime/guest.ts, which is linked
// against GuestHypervisor), native services through createNativeDomain.
// Whoever cares about domains (dom0's toolstack) hears of them through
// onStart and onExit.
import type { GuestHypervisor, LinkedGuest } from "../../runtime/hypervisor.js";
import { DOMID, PAGE_SIZE, SHUTDOWN, XEN_LIMITS } from "./abi.js";
import { placeSpecialPages } from "./builder.js";
import { PageCoherence } from "./coherence.js";
import { type Domain, type DomainDirectory, type DomainLimits, WasmDomain } from "./domain.js";
import { EventChannels } from "./evtchn.js";
import { GrantTables } from "./gnttab.js";
import { createHypercalls, type XenImports } from "./hypercalls.js";
import { GuestMemory } from "./memory.js";
import { NativeDomain } from "./native.js";
import { Reservations } from "./reservation.js";
import { Scheduler, type SchedulerOptions, shutdownReasonName } from "./sched.js";

export interface HypervisorOptions extends Partial<SchedulerOptions>, Partial<DomainLimits> {
  /** Pages of memory each native domain gets (for pages it grants). */
  nativePages?: number;
}

/** What became of a domain that suspended itself: resumed after save/restore, or the suspend was cancelled. */
export type SuspendOutcome = "resumed" | "cancelled";

/**
 * The toolstack's part in a suspend, run synchronously inside the domain's
 * SCHEDOP_shutdown(SHUTDOWN_suspend) while the domain waits there.
 */
export type SuspendHandler = (domain: Domain) => SuspendOutcome;

export const DEFAULT_OPTIONS: Required<HypervisorOptions> = {
  spinLimit: 1000,
  maxSteps: 100_000,
  // xl's default max_event_channels (1023) plus the reserved port 0; 2-level allows up to 4096.
  maxPorts: 1024,
  maxGrantFrames: 32,
  // Maptrack handles per domain: xl's default max_maptrack_frames (1024 pages of
  // entries) holds far more; a driver domain mapping 16-page rings for 100 guests needs 1600.
  maxMappings: 65536,
  nativePages: 16,
};

export class Hypervisor implements DomainDirectory, GuestHypervisor<WasmDomain> {
  readonly options: Required<HypervisorOptions>;
  readonly coherence = new PageCoherence();
  readonly scheduler: Scheduler;
  readonly evtchn: EventChannels;
  readonly gnttab: GrantTables;
  readonly reservations: Reservations;
  readonly dom0: NativeDomain;
  private readonly byId = new Map<number, Domain>();
  private readonly startListeners: ((domain: WasmDomain) => void)[] = [];
  private readonly exitListeners: ((domain: Domain) => void)[] = [];
  /**
   * Who handles SHUTDOWN_suspend (the toolstack; startXenstore installs one).
   * With none, nobody could save the domain, so every suspend is cancelled
   * at once, as when a save fails before the domain was torn down.
   */
  suspendHandler: SuspendHandler | null = null;
  private nextDomid = 0;

  constructor(options: HypervisorOptions = {}) {
    this.options = { ...DEFAULT_OPTIONS, ...options };
    if (!(this.options.maxPorts > 0 && this.options.maxPorts <= XEN_LIMITS.EVTCHN_2L_NR_CHANNELS)) {
      throw new RangeError(`maxPorts must be 1..${XEN_LIMITS.EVTCHN_2L_NR_CHANNELS} for the 2-level ABI`);
    }
    this.scheduler = new Scheduler(
      () => this.domains(),
      this.coherence,
      this.options,
      (domain) => {
        for (const listener of this.exitListeners) listener(domain);
      },
    );
    this.evtchn = new EventChannels(this, (domain) => this.scheduler.noteEvent(domain));
    this.gnttab = new GrantTables(this, this.coherence);
    this.reservations = new Reservations(this, this.coherence, (domain, message) => this.domainCrash(domain, message));
    this.dom0 = this.createNativeDomain("Domain-0", { privileged: true });
  }

  domain(domid: number): Domain | undefined {
    return this.byId.get(domid);
  }

  /** Every domain, by domid. */
  domains(): Domain[] {
    return [...this.byId.values()];
  }

  /** Virtual time in ns. */
  get now(): number {
    return this.scheduler.now;
  }

  /** A Wasm guest's domain over `memory`; the runtime then links createHypercalls, sets its upcall and starts it. */
  createWasmDomain(name: string, memory: () => Uint8Array): WasmDomain {
    return this.add(new WasmDomain(this.allocateDomid(), name, false, new GuestMemory(memory), this.options));
  }

  /**
   * The runtime linked the guest: the domain takes its upcall and release,
   * gets its store and console pages as a PVH builder leaves them, and every
   * onStart listener hears of it.
   */
  startDomain(domain: WasmDomain, guest: LinkedGuest): void {
    domain.upcall = guest.upcall;
    domain.release = guest.release;
    placeSpecialPages(domain);
    for (const listener of this.startListeners) listener(domain);
  }

  /** Hears each Wasm guest's domain as it starts (dom0's toolstack introduces it to xenstored). */
  onStart(listener: (domain: WasmDomain) => void): void {
    this.startListeners.push(listener);
  }

  createNativeDomain(name: string, options: { privileged?: boolean; pages?: number } = {}): NativeDomain {
    const bytes = new Uint8Array((options.pages ?? this.options.nativePages) * PAGE_SIZE);
    // Xen builds dom0 with no max_evtchn_port of its own: every port the ABI has (two per guest it serves).
    const limits = options.privileged ? { ...this.options, maxPorts: XEN_LIMITS.EVTCHN_2L_NR_CHANNELS } : this.options;
    const services = { evtchn: this.evtchn, gnttab: this.gnttab, scheduler: this.scheduler };
    return this.add(
      new NativeDomain(
        services,
        this.allocateDomid(),
        name,
        options.privileged ?? false,
        new GuestMemory(bytes),
        limits,
      ),
    );
  }

  /** The `xen` import object for a Wasm guest's module. */
  hypercalls(domain: Domain): XenImports {
    return createHypercalls(this, domain);
  }

  /**
   * `domain`'s memory as host code (tests, the runtime's wrappers, a native
   * service outside its handlers) may look at it now: the pages it shares
   * brought up to date with what the domains that ran since it was last
   * looked at or ran wrote (coherence is lazy). Valid until a domain next runs.
   */
  memoryOf(domain: Domain): Uint8Array {
    this.coherence.updateForHost(domain);
    return domain.memory.bytes();
  }

  /** Runs every domain's pending work (upcalls, native handlers) until nothing is pending; returns the number of runs. */
  runUntilIdle(): number {
    return this.scheduler.runUntilIdle();
  }

  /** Queues something the outside world does, for when nothing in the simulation can run (Scheduler.whenIdle). */
  whenIdle(action: () => void): void {
    this.scheduler.whenIdle(action);
  }

  /**
   * SHUTDOWN_suspend: the domain stays alive, and the hypercall returns what
   * Xen's does, 0 in a domain resumed after save/restore, 1 when the suspend
   * was cancelled.
   */
  suspend(domain: Domain): number {
    const outcome = this.suspendHandler?.(domain) ?? "cancelled";
    return outcome === "cancelled" ? 1 : 0;
  }

  /** Hears each domain as it exits: shut down, crashed or destroyed. */
  onExit(listener: (domain: Domain) => void): void {
    this.exitListeners.push(listener);
  }

  /**
   * The toolstack's domain destruction: the domain's mappings are unmapped and
   * its ports closed (peers' ports become unbound, as in Xen), then it is gone.
   * Pages it granted stay valid for whoever still maps them.
   */
  destroyDomain(domid: number): void {
    const domain = this.byId.get(domid);
    if (!domain) return;
    if (this.scheduler.isOnStack(domain)) throw new Error(`${domain} is running and cannot be destroyed`);
    this.scheduler.kill(domain, { reason: "destroyed", code: -1, message: "" });
    for (const mapping of this.coherence.heldBy(domain)) this.gnttab.release(mapping);
    for (const [port] of domain.ports.bound()) this.evtchn.close(domain, port);
    this.byId.delete(domid);
    if (domain instanceof WasmDomain) domain.release?.();
  }

  crashDomain(domain: WasmDomain, message: string): void {
    this.scheduler.kill(domain, { reason: "crash", code: SHUTDOWN.crash, message });
  }

  shutdownDomain(domain: WasmDomain, code: number): void {
    this.scheduler.kill(domain, { reason: shutdownReasonName(code), code, message: "" });
  }

  /** Xen's domain_crash: the domain dies; if it is the one running, it unwinds now. */
  private domainCrash(domain: Domain, message: string): void {
    const info = { reason: "crash", code: -1, message };
    if (this.scheduler.current === domain) this.scheduler.exitRunning(domain, info);
    this.scheduler.kill(domain, info);
  }

  private allocateDomid(): number {
    if (this.nextDomid >= DOMID.FIRST_RESERVED) throw new Error("out of domain ids");
    return this.nextDomid++;
  }

  private add<D extends Domain>(domain: D): D {
    this.byId.set(domain.domid, domain);
    domain.publishTime(this.now);
    return domain;
  }
}
