// The toolstack's part in building a domain (libxl's job before boot), and
// the dom0 xenstored that domains are introduced to.
import type { Hypervisor } from "./hypervisor.js";
import { XenError } from "./native.js";
import { LocalClient } from "./xenstored/client.js";
import { XsError } from "./xenstored/errors.js";
import { RingConnection } from "./xenstored/ring.js";
import { XenStored } from "./xenstored/server.js";
import { XsType, strings } from "./xenstored/wire.js";
import { HVM_PARAM, PAGE_SHIFT, PAGE_SIZE } from "./xen/abi.js";

/** Special pages a module reserves (exported `xen_special_base` / `xen_special_pages`): store ring, then console ring. */
export interface SpecialPages {
  base: number;
  pages: number;
}

/**
 * Points the guest's HVM params at its xenstore and console pages, as a PVH
 * builder does; with xenstored running (startXenstore) the domain is then
 * introduced to it, as libxl does right after building.
 */
export function placeSpecialPages(hv: Hypervisor, domid: number, special: SpecialPages): void {
  const domain = hv.domain(domid);
  if (!domain) throw new Error(`no domain ${domid}`);
  if (special.base % PAGE_SIZE !== 0 || special.pages < 2) {
    throw new Error(`${domain}: special pages must be page-aligned and at least 2 (got base ${special.base}, ${special.pages} pages)`);
  }
  const storePfn = BigInt(special.base >>> PAGE_SHIFT);
  domain.params.set(HVM_PARAM.STORE_PFN, storePfn);
  domain.params.set(HVM_PARAM.CONSOLE_PFN, storePfn + 1n);
  services.get(hv)?.introduceDomain(domid);
}

export interface XenstoreOptions {
  /** A domain other than dom0 with dom0's rights in xenstored (its --priv-domid). */
  privilegedDomid?: number;
}

/** xenstored running in dom0, with the toolstack's own connection to it. */
export class XenstoreService {
  readonly xenstored: XenStored;
  /** The toolstack's connection (dom0, privileged). */
  readonly tools: LocalClient;
  private readonly rings = new Map<number, RingConnection>();

  constructor(private readonly hv: Hypervisor, options: XenstoreOptions = {}) {
    this.xenstored = new XenStored({
      domainExists: (domid) => hv.domain(domid) !== undefined,
      introduce: (domid, gfn, port) => this.connectRing(domid, gfn, port),
      release: (domid) => {
        this.rings.get(domid)?.close();
        this.rings.delete(domid);
      },
      privilegedDomid: options.privilegedDomid,
    });
    this.tools = new LocalClient(this.xenstored, 0);
  }

  /** The ring connection of an introduced domain. */
  ring(domid: number): RingConnection | undefined {
    return this.rings.get(domid);
  }

  /**
   * What libxl does for a built domain: an unbound port in the domain for
   * xenstored (HVM_PARAM_STORE_EVTCHN), the domain's home readable by it
   * with data/ and device/ its own, then XS_INTRODUCE with the store gfn
   * and that port.
   */
  introduceDomain(domid: number): void {
    const domain = this.hv.domain(domid);
    const gfn = domain?.params.get(HVM_PARAM.STORE_PFN);
    if (!domain || gfn === undefined) throw new Error(`dom${domid} has no store page`);
    const port = this.hv.dom0.evtchn.allocUnbound(domid, 0);
    domain.params.set(HVM_PARAM.STORE_EVTCHN, BigInt(port));
    const home = `/local/domain/${domid}`;
    this.tools.mkdir(home);
    this.tools.setPerms(home, ["n0", `r${domid}`]);
    this.tools.write(`${home}/name`, domain.name);
    for (const own of ["data", "device"]) {
      this.tools.mkdir(`${home}/${own}`);
      this.tools.setPerms(`${home}/${own}`, [`n${domid}`]);
    }
    this.tools.call(XsType.INTRODUCE, strings(String(domid), String(gfn), String(port)));
  }

  /** INTRODUCE's transport step: map the page, bind the port (a second INTRODUCE rebinds). */
  private connectRing(domid: number, gfn: number, port: number): void {
    const guest = this.hv.domain(domid);
    if (!guest) throw new XsError("ENOENT");
    this.rings.get(domid)?.close();
    this.rings.delete(domid);
    try {
      this.rings.set(domid, new RingConnection(this.xenstored, this.hv.dom0, guest, gfn, port));
    } catch (error) {
      if (error instanceof XenError) throw new XsError("EINVAL");
      throw error;
    }
  }
}

const services = new WeakMap<Hypervisor, XenstoreService>();

/**
 * Starts xenstored in dom0: from now on every domain whose special pages are
 * placed is introduced to it, and a domain that exits is released (its ring
 * closed, @releaseDomain fired).
 */
export function startXenstore(hv: Hypervisor, options: XenstoreOptions = {}): XenstoreService {
  if (services.has(hv)) throw new Error("xenstored is already running");
  const service = new XenstoreService(hv, options);
  services.set(hv, service);
  hv.onExit((domain) => {
    if (domain.domid !== 0 && service.xenstored.isIntroduced(domain.domid)) service.xenstored.releaseDomain(domain.domid);
  });
  return service;
}
