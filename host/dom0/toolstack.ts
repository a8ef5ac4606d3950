// dom0's toolstack: the xenstored that starting domains are introduced to
// (libxl's job once a domain is built), each domain's console backend
// (xenconsoled's part), and what the toolstack does when a domain suspends
// itself.
import { HVM_PARAM, SHUTDOWN } from "../xen/abi.js";
import type { Domain } from "../xen/domain.js";
import type { Hypervisor, SuspendOutcome } from "../xen/hypervisor.js";
import { XenError } from "../xen/native.js";
import { type ConsoleBackend, startConsoleBackend } from "./console-backend.js";
import { DeviceManager, type DevicePaths } from "./devices.js";
import { LocalClient } from "./xenstored/client.js";
import { XsError } from "./xenstored/errors.js";
import { RingConnection, restartRings } from "./xenstored/ring.js";
import { XenStored, type XenStoredOptions } from "./xenstored/server.js";
import { strings, XsType } from "./xenstored/wire.js";

export interface XenstoreOptions {
  /** A domain other than dom0 with dom0's rights in xenstored (its --priv-domid). */
  privilegedDomid?: number;
  /** Watch events xenstored queues for a domain that does not read them before it drops more (1024). */
  maxQueuedWatchEvents?: number;
  /** Hears each request xenstored serves and its reply (XenStoredOptions.trace). */
  trace?: XenStoredOptions["trace"];
}

/** xenstored running in dom0, with the toolstack's own connection to it, and the domains' console backends. */
export class XenstoreService {
  readonly xenstored: XenStored;
  /** The toolstack's connection (dom0, privileged). */
  readonly tools: LocalClient;
  /** Devices' xenstore entries, written through `tools`. */
  readonly devices: DeviceManager;
  /** What the toolstack makes of a domain's suspend: save and restore it ("resumed"), or cancel it. */
  suspendOutcome: SuspendOutcome = "resumed";
  private readonly rings = new Map<number, RingConnection>();
  private readonly consoles = new Map<number, ConsoleBackend>();

  constructor(
    readonly hv: Hypervisor,
    options: XenstoreOptions = {},
  ) {
    this.xenstored = new XenStored({
      domainExists: (domid) => hv.domain(domid) !== undefined,
      introduce: (domid, gfn, port) => this.connectRing(domid, gfn, port),
      release: (domid) => this.releaseRing(domid),
      privilegedDomid: options.privilegedDomid,
      maxQueuedWatchEvents: options.maxQueuedWatchEvents,
      trace: options.trace,
    });
    this.tools = new LocalClient(this.xenstored, 0);
    this.devices = new DeviceManager(hv, this.tools);
  }

  /**
   * xl destroy: the domain's devices are removed at once (it will not close
   * them), then its home, then the domain itself; its exit releases it in
   * xenstored, which fires @releaseDomain. Returns the removed devices' paths.
   */
  destroyDomain(domid: number): DevicePaths[] {
    const removed = this.devices.removeAll(domid);
    this.tools.rm(`/local/domain/${domid}`);
    this.hv.destroyDomain(domid);
    return removed;
  }

  /** The console backend of an introduced domain with a console page, until the domain exits. */
  console(domid: number): ConsoleBackend | undefined {
    return this.consoles.get(domid);
  }

  /** The ring connection of an introduced domain. */
  ring(domid: number): RingConnection | undefined {
    return this.rings.get(domid);
  }

  /**
   * What libxl does for a built domain: an unbound port in the domain for
   * xenstored (HVM_PARAM_STORE_EVTCHN), the domain's home readable by it
   * (its name and domid in it) with data/, device/, error/ and
   * control/shutdown its own, then XS_INTRODUCE with the store gfn
   * and that port; and, as xenconsoled does for each new domain, a console
   * backend on its console page.
   */
  introduceDomain(domid: number): void {
    const domain = this.hv.domain(domid);
    if (!domain?.params.has(HVM_PARAM.STORE_PFN)) throw new Error(`dom${domid} has no store page`);
    this.allocateStorePort(domain);
    const home = `/local/domain/${domid}`;
    this.tools.mkdir(home);
    this.tools.setPerms(home, [
      { domid: 0, access: "none" },
      { domid, access: "read" },
    ]);
    this.tools.write(`${home}/name`, domain.name);
    this.tools.write(`${home}/domid`, String(domid));
    this.tools.mkdir(`${home}/control`);
    // The guest's own nodes, as libxl makes them: error/ is where its drivers
    // report (xenbus dev_error), control/shutdown where it takes shutdown requests.
    for (const own of ["data", "device", "error", "control/shutdown"]) {
      this.tools.mkdir(`${home}/${own}`);
      this.tools.setPerms(`${home}/${own}`, [{ domid, access: "none" }]);
    }
    this.introduceStore(domain);
    if (domain.params.has(HVM_PARAM.CONSOLE_PFN) && !this.consoles.has(domid)) {
      this.consoles.set(domid, startConsoleBackend(this.hv, domid));
    }
  }

  /**
   * xl shutdown / xl reboot: the request ("poweroff", "reboot", "halt",
   * "suspend") goes into the domain's control/shutdown, for the guest to act on.
   */
  requestShutdown(domid: number, request: string): void {
    this.tools.write(`/local/domain/${domid}/control/shutdown`, request);
  }

  /** The domain exited (or is destroyed): its console backend takes its last output and stops. */
  domainExited(domid: number): void {
    this.consoles.get(domid)?.stop();
    this.consoles.delete(domid);
    if (this.xenstored.isIntroduced(domid)) this.xenstored.releaseDomain(domid);
  }

  /**
   * The toolstack's answer to a domain's SHUTDOWN_suspend (the hypervisor's
   * suspend handler, run while the domain waits in the hypercall). xenstored
   * learns that the domain shut down (@releaseDomain fires); then, unless
   * the suspend is cancelled, the domain is saved and restored as far as its
   * xenstore connection goes: the old connection is released (xenstored
   * drops its watches and transactions), the store page's rings start from
   * zero, a fresh port for xenstored replaces the old one in the domain
   * (HVM_PARAM_STORE_EVTCHN), the store and console pages are back at the
   * gfns of their HVM params (the guest moves them in again), shared_info
   * and the grant frames are out of its memory (the guest places them
   * again), and the domain is introduced again; its
   * console gets a fresh channel and a cleared page the same way. Either
   * way XS_RESUME tells xenstored the domain runs again. The backends of
   * the domain's devices are recreated, as libxl adds the devices again for
   * the restored domain: each backend sees its old device go and a new one
   * come (DeviceManager.recreate).
   *
   * A simplification: a real restore builds a new domain, in which the guest
   * finds no event channel, grant or mapping of the old one and sets up
   * everything again; here only the store's and the console's channels are
   * replaced, and the domain's other channels and grants survive.
   */
  suspend(domain: Domain): SuspendOutcome {
    const outcome = this.suspendOutcome;
    // A domain without a store (never introduced) has no connection to save.
    if (!this.xenstored.isIntroduced(domain.domid)) return outcome;
    this.xenstored.domainShutdown(domain.domid);
    if (outcome === "resumed") {
      // The image holds what is at the params' gfns; xenstored and xenconsoled look for the rings only there.
      const away = [...domain.specialPages].find(([gfn, page]) => page.gfn !== gfn);
      if (away) {
        // As `xl restore` on Xen 4.17: xenconsoled finds no console, libxl times out and destroys the domain.
        this.hv.scheduler.exitRunning(domain, {
          reason: "crash",
          code: SHUTDOWN.crash,
          message: `xl restore failed: the special page of gfn ${away[0]} was at ${away[1].gfn ?? "no gfn"} when the domain suspended`,
        });
      }
      this.restore(domain);
    }
    this.tools.call(XsType.RESUME, strings(String(domain.domid)));
    return outcome;
  }

  private restore(domain: Domain): void {
    const console = this.consoles.get(domain.domid);
    this.releaseRing(domain.domid);
    // The restored domain is a new one to Xen: none of the old event channels (their peers'
    // ends wait, unbound, as when a domain dies), its store and console pages at their params'
    // gfns, shared_info and its grant frames to be placed again.
    for (const [port] of domain.ports.bound()) this.hv.evtchn.close(domain, port);
    domain.restorePages();
    const page = domain.frame(Number(domain.params.get(HVM_PARAM.STORE_PFN)))!.bytes();
    restartRings(new DataView(page.buffer, page.byteOffset, page.byteLength));
    this.allocateStorePort(domain);
    console?.reconnect();
    this.devices.recreate(domain.domid);
    // Once the backends let go of the old grants: the new domain's grant table is empty.
    domain.grantTable.clearEntries();
    this.introduceStore(domain);
  }

  /** An unbound port in the domain for xenstored, given to the domain as HVM_PARAM_STORE_EVTCHN. */
  private allocateStorePort(domain: Domain): void {
    const port = this.hv.dom0.evtchn.allocUnbound(domain.domid, 0);
    domain.params.set(HVM_PARAM.STORE_EVTCHN, BigInt(port));
  }

  /** XS_INTRODUCE with the domain's store gfn and port. */
  private introduceStore(domain: Domain): void {
    const gfn = domain.params.get(HVM_PARAM.STORE_PFN)!;
    const port = domain.params.get(HVM_PARAM.STORE_EVTCHN)!;
    this.tools.call(XsType.INTRODUCE, strings(String(domain.domid), String(gfn), String(port)));
  }

  private releaseRing(domid: number): void {
    this.rings.get(domid)?.close();
    this.rings.delete(domid);
  }

  /** INTRODUCE's transport step: map the page, bind the port (a second INTRODUCE rebinds). */
  private connectRing(domid: number, gfn: number, port: number): void {
    const guest = this.hv.domain(domid);
    if (!guest) throw new XsError("ENOENT");
    this.releaseRing(domid);
    try {
      this.rings.set(domid, new RingConnection(this.xenstored, this.hv.dom0, guest, gfn, port));
    } catch (error) {
      if (error instanceof XenError) throw new XsError("EINVAL");
      throw error;
    }
  }
}

/**
 * Starts xenstored in dom0: from now on every guest domain that starts is
 * introduced to it (and gets a console backend), a domain that exits is
 * released (its console stopped, its ring closed, @releaseDomain fired),
 * and a domain that suspends itself is handled by XenstoreService.suspend.
 * The toolstack is the hypervisor's suspend handler; there is one.
 */
export function startXenstore(hv: Hypervisor, options: XenstoreOptions = {}): XenstoreService {
  if (hv.suspendHandler) throw new Error("xenstored is already running");
  const service = new XenstoreService(hv, options);
  hv.suspendHandler = (domain) => service.suspend(domain);
  hv.onStart((domain) => service.introduceDomain(domain.domid));
  hv.onExit((domain) => {
    if (domain.domid !== 0) service.domainExited(domain.domid);
  });
  return service;
}
