// A block-backend driver domain for the whole-system tests, as the demo runs
// one: build/xenbus.wasm booted in a domain of its own (introduced, with its
// console), one disk image in its memory, its backend bus serving vbds.
import { createGuestDomain } from "../../host/guest-domain.js";
import type { XenstoreService } from "../../host/toolstack.js";
import { BlkBack, type Disk } from "../../runtime/blk.js";
import type { Xenbus } from "./xenbus.js";

export interface BlkbackDomainOptions {
  name?: string;
  /** Disk size in 512-byte sectors. */
  sectors?: number;
  /** max-ring-page-order offered to frontends. */
  maxRingPageOrder?: number;
}

export interface BlkbackDomain {
  guest: Xenbus;
  back: BlkBack;
  disk: Disk;
  domid: number;
}

export function startBlkbackDomain(service: XenstoreService, options: BlkbackDomainOptions = {}): BlkbackDomain {
  const guest = createGuestDomain(service, options.name ?? "blkback").guest;
  const rc = guest.exports.xs_init();
  if (rc !== 0) throw new Error(`${guest.name}: xs_init returned ${rc}`);
  const back = new BlkBack(guest).start(options.maxRingPageOrder ?? 2);
  return { guest, back, disk: back.createDisk(options.sectors ?? 2048), domid: guest.domid };
}
