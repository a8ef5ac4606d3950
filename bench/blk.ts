// Block devices through the whole stack, for `npm run bench`: a Wasm guest's
// blkfront, the blkif ring, the simulated hypervisor's event channels and
// grant copies, and a Wasm blkback driver domain serving a disk image in its
// memory, with dom0's xenstored and toolstack plugging the disk in. No test
// framework here.

import { startXenstore, type XenstoreService } from "../host/dom0/toolstack.js";
import { type BlkbackDomain, startBlkbackDomain } from "../host/system/blkback-domain.js";
import { createGuestDomain } from "../host/system/guest-domain.js";
import { Hypervisor } from "../host/xen/hypervisor.js";
import { BlkFront } from "../runtime/blk.js";
import type { Xenbus } from "../runtime/boot.js";
import type { Engine } from "../runtime/engine.js";

/** xvda's devid. */
const DEVID = 51712;
/** 4 KiB: one request of one page. */
const REQUEST_SECTORS = 8;
/** The disk the requests walk over: 16 MiB, so reads and writes touch all of it in turn. */
const DISK_SECTORS = 32768;
/** Rings of up to 16 pages, as Linux's blkback offers. */
const MAX_RING_PAGE_ORDER = 4;
/** Xen time a guest waits for its disk before the workload gives up. */
const OPEN_TIMEOUT_MS = 60_000;

/** The backend domain serves every guest, so it gets quotas for 100 devices (see BlkbackDomainOptions.quotas). */
const DRIVER_DOMAIN_QUOTAS = { watches: 1024, nodes: 16384 };

/** dom0's services and a block-backend domain serving one disk; its Wasm domains run in V8 unless `engine` says otherwise. */
class BlockHost {
  readonly hv = new Hypervisor();
  readonly service: XenstoreService = startXenstore(this.hv);
  readonly backend: BlkbackDomain;

  constructor(private readonly engine?: Engine) {
    this.backend = startBlkbackDomain(this.service, {
      sectors: DISK_SECTORS,
      maxRingPageOrder: MAX_RING_PAGE_ORDER,
      quotas: DRIVER_DOMAIN_QUOTAS,
      engine,
    });
  }

  /** A guest with its frontend bus up and the disk plugged in as xvda (not yet waited for). */
  plugGuest(name: string): BlkFront {
    const guest = createGuestDomain(this.service, name, this.engine).guest;
    const rc = guest.exports.xs_init();
    if (rc !== 0) throw new Error(`${name}: xs_init returned ${rc}`);
    const blk = new BlkFront(guest, 1).start();
    this.service.devices.add({
      type: "vbd",
      devid: DEVID,
      frontend: guest.domid,
      backend: this.backend.domid,
      backendParams: this.backend.disk.params,
    });
    return blk;
  }
}

/** One guest with a connected disk, doing 4 KiB requests through its raw blk_* exports. */
export class BlockGuest {
  private readonly blk: BlkFront;
  /** The block-backend domain serving the guest. */
  readonly backend: Xenbus;
  private next = 0;

  /** Both domains run in V8 unless `engine` says otherwise. */
  constructor(engine?: Engine) {
    const host = new BlockHost(engine);
    this.backend = host.backend.guest;
    this.blk = host.plugGuest("blkfront");
    this.blk.open(DEVID, OPEN_TIMEOUT_MS);
  }

  /** The guest whose blkfront makes the requests. */
  get frontend(): Xenbus {
    return this.blk.guest;
  }

  /** `n` 4 KiB reads, each a round trip to the backend: `n`, or 0 when one failed. */
  reads(n: number): number {
    return this.requests(n, (sector) =>
      this.blk.guest.exports.blk_read(DEVID, sector, REQUEST_SECTORS, this.blk.buffer),
    );
  }

  /** `n` 4 KiB writes, each a round trip to the backend: `n`, or 0 when one failed. */
  writes(n: number): number {
    return this.requests(n, (sector) =>
      this.blk.guest.exports.blk_write(DEVID, sector, REQUEST_SECTORS, this.blk.buffer),
    );
  }

  private requests(n: number, request: (sector: bigint) => number): number {
    for (let i = 0; i < n; i++) {
      if (request(BigInt(this.next)) !== 0) return 0;
      this.next = (this.next + REQUEST_SECTORS) % DISK_SECTORS;
    }
    return n;
  }
}

/**
 * Wall-clock ms from creating `guests` guests (boot, XenStore, frontend bus,
 * the toolstack plugging a disk into each) until every one's disk is
 * Connected, with dom0 and the backend domain already running; its Wasm
 * domains run in V8 unless `engine` says otherwise.
 */
export function bootToConnectedMs(guests: number, engine?: Engine): number {
  const host = new BlockHost(engine);
  const start = performance.now();
  const fronts: BlkFront[] = [];
  for (let i = 0; i < guests; i++) fronts.push(host.plugGuest(`guest${i}`));
  for (const blk of fronts) blk.open(DEVID, OPEN_TIMEOUT_MS);
  return performance.now() - start;
}
