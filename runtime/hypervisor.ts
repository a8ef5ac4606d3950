// What the runtime needs from a hypervisor to run a guest module: a domain
// for it, the `xen` imports the module is linked against, a scheduler that
// knows which domain runs (for upcalls and page coherence), and a way to end
// the domain. host/xen's Hypervisor implements it; the runtime imports
// nothing from the layers above it.
import type { HostFunction } from "./engine.js";

/** How a domain ended: its SCHEDOP_shutdown reason (or "crash" when the hypervisor killed it), and why. */
export interface DomainExitInfo {
  reason: string;
  code: number;
  message: string;
}

/** Thrown through a guest's stack when it shut down or was killed; the runtime catches it at the call boundary. */
export class DomainExit extends Error {
  constructor(
    readonly domid: number,
    readonly info: DomainExitInfo,
  ) {
    super(`dom${domid} exited (${info.reason})${info.message ? `: ${info.message}` : ""}`);
    this.name = "DomainExit";
  }
}

/** A Wasm guest's domain, as the runtime sees it. */
export interface HostedDomain {
  readonly domid: number;
  readonly name: string;
  readonly alive: boolean;
  /** How the domain ended, or null while it is alive. */
  readonly exit: DomainExitInfo | null;
  /** What the guest wrote with CONSOLEIO_write. */
  readonly console: { lines(): string[] };
}

/** What the runtime gives the hypervisor of a linked guest. */
export interface LinkedGuest {
  /** The guest's `xen_upcall` export, wrapped as a run of its domain; null if the module has none. */
  upcall: (() => void) | null;
  /** Frees the guest's engine instance; the hypervisor calls it when it destroys the domain. */
  release: () => void;
}

/** The hypervisor a guest module runs on; `D` is the kind of domain it makes (inferred from createWasmDomain). */
export interface GuestHypervisor<D extends HostedDomain = HostedDomain> {
  /** A new domain for a Wasm guest over the memory `memory` gives (empty until the module is instantiated). */
  createWasmDomain(name: string, memory: () => Uint8Array): D;
  /** The `xen` import object the guest's module is linked against. */
  hypercalls(domain: NoInfer<D>): Record<string, HostFunction>;
  /**
   * The domain's memory for the host to look at (a fresh view, valid until
   * the guest next runs): pages it shares with other domains show what
   * they wrote, as if the pages were shared. The memory `createWasmDomain`
   * was given may lag behind that: a hypervisor may bring shared pages up to
   * date only when someone is about to look.
   */
  memoryOf(domain: NoInfer<D>): Uint8Array;
  /**
   * The guest is linked: the domain takes its upcall, the builder gives it
   * its special pages, and the hypervisor announces it to whoever listens
   * (dom0's toolstack introduces it to xenstored).
   */
  startDomain(domain: NoInfer<D>, guest: LinkedGuest): void;
  destroyDomain(domid: number): void;
  /** The guest trapped, or its `main` failed: the domain ends as crashed (SHUTDOWN_crash). */
  crashDomain(domain: NoInfer<D>, message: string): void;
  /** The domain ends with the SHUTDOWN_* reason `code`, as SCHEDOP_shutdown would end it. */
  shutdownDomain(domain: NoInfer<D>, code: number): void;
  readonly scheduler: {
    /** Control passes to `domain` (a call into it begins). */
    enter(domain: NoInfer<D>): void;
    /** The call into `domain` returned (or unwound). */
    leave(domain: NoInfer<D>): void;
  };
}
