// A block-backend driver domain, as the demo runs one, for the tests and the
// bench: build/xenbus.wasm booted in a domain of its own (introduced, with
// its console), one disk image in its memory, its backend bus serving vbds.
import { BlkBack, type Disk } from "../../runtime/blk.js";
import type { Xenbus } from "../../runtime/boot.js";
import type { Engine } from "../../runtime/engine.js";
import type { XenstoreService } from "../dom0/toolstack.js";
import type { QuotaName } from "../dom0/xenstored/quota.js";
import type { WasmDomain } from "../xen/domain.js";
import { createGuestDomain } from "./guest-domain.js";

export interface BlkbackDomainOptions {
  name?: string;
  /** Disk size in 512-byte sectors. */
  sectors?: number;
  /** max-ring-page-order offered to frontends. */
  maxRingPageOrder?: number;
  /**
   * XenStore quotas for the domain instead of C xenstored's defaults. Its
   * bus watches two nodes per device and it owns about a dozen nodes per
   * device, so the defaults (128 watches, 1000 nodes) stop it at 63 and
   * about 80 devices; a host running a driver domain for many guests raises
   * them, as `xenstore-control quota-set` does.
   */
  quotas?: Partial<Record<QuotaName, number>>;
  /** The Wasm engine the domain runs in (default V8). */
  engine?: Engine;
}

export interface BlkbackDomain {
  guest: Xenbus<WasmDomain>;
  back: BlkBack;
  disk: Disk;
  domid: number;
}

export function startBlkbackDomain(service: XenstoreService, options: BlkbackDomainOptions = {}): BlkbackDomain {
  const guest = createGuestDomain(service, options.name ?? "blkback", options.engine).guest;
  for (const [name, value] of Object.entries(options.quotas ?? {})) {
    service.xenstored.quotas.set(name as QuotaName, value, guest.domid);
  }
  const rc = guest.exports.xs_init();
  if (rc !== 0) throw new Error(`${guest.name}: xs_init returned ${rc}`);
  const back = new BlkBack(guest).start(options.maxRingPageOrder ?? 2);
  return { guest, back, disk: back.createDisk(options.sectors ?? 2048), domid: guest.domid };
}
