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
/**
 * Rings of up to 4 pages for the boots: the backend domain's page pool
 * (16384 pages, assembly/xen/pages.ts) holds 1000 guests' 4-page rings, not
 * their 16-page ones (the 991st guest's failed with ENOMEM).
 */
const BOOT_RING_PAGE_ORDER = 2;
/** Xen time a guest waits for its disk before the workload gives up. */
const OPEN_TIMEOUT_MS = 60_000;

/** The most guests a boot here plugs into the one backend domain; its XenStore quotas are sized for them. */
export const MAX_GUESTS = 1000;

/**
 * XenStore quotas for a block-backend domain serving `devices` vbds. C
 * xenstored's quotas are per domain, with defaults for all (128 watches,
 * 1000 nodes, 2.5 MiB) that dom0 raises for one domain with `xenstore-control
 * quota-set`; neither libxl nor xl sizes them for a driver domain, so the
 * host that runs one does, by what a device costs the backend: two watches
 * (the device's frontend state and the bus's own), a dozen nodes, and their
 * bytes, each doubled for slack, over the defaults for the domain itself.
 */
export function driverDomainQuotas(devices: number): { watches: number; nodes: number; memory: number } {
  return {
    watches: 128 + 4 * devices,
    nodes: 1000 + 24 * devices,
    memory: 2.5 * 1024 * 1024 + 4096 * devices,
  };
}

/** dom0's services and a block-backend domain serving one disk; its Wasm domains run in V8 unless `engine` says otherwise. */
class BlockHost {
  readonly hv = new Hypervisor();
  readonly service: XenstoreService = startXenstore(this.hv);
  readonly backend: BlkbackDomain;

  constructor(
    private readonly engine?: Engine,
    maxRingPageOrder = MAX_RING_PAGE_ORDER,
  ) {
    this.backend = startBlkbackDomain(this.service, {
      sectors: DISK_SECTORS,
      maxRingPageOrder,
      quotas: driverDomainQuotas(MAX_GUESTS),
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

/** What booting guests to Connected took. */
export interface BootFigures {
  /** Wall-clock ms from creating the first guest until every disk is Connected. */
  ms: number;
  /** CPU ms this process spent meanwhile (user + system: includes the garbage collector's threads). */
  cpuMs: number;
  /** Bytes of linear memory of all the guests together. */
  guestMemory: number;
  /** Bytes of the backend domain's linear memory (its disk image included). */
  backendMemory: number;
  /** The process's resident set size afterwards, bytes. */
  rss: number;
}

/**
 * Creates `guests` guests (boot, XenStore, frontend bus, the toolstack
 * plugging a disk into each) and waits until every one's disk is Connected,
 * with dom0 and the backend domain already running; its Wasm domains run in
 * V8 unless `engine` says otherwise.
 */
export function bootToConnected(guests: number, engine?: Engine): BootFigures {
  if (guests > MAX_GUESTS) throw new Error(`at most ${MAX_GUESTS} guests share the backend domain`);
  const host = new BlockHost(engine, BOOT_RING_PAGE_ORDER);
  const cpu = process.cpuUsage();
  const start = performance.now();
  const fronts: BlkFront[] = [];
  for (let i = 0; i < guests; i++) fronts.push(host.plugGuest(`guest${i}`));
  for (const blk of fronts) blk.open(DEVID, OPEN_TIMEOUT_MS);
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return {
    ms,
    cpuMs: (used.user + used.system) / 1000,
    guestMemory: fronts.reduce((sum, blk) => sum + blk.guest.memory().byteLength, 0),
    backendMemory: host.backend.guest.memory().byteLength,
    rss: process.memoryUsage().rss,
  };
}
