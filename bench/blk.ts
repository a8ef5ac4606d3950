// Block devices through the whole stack, for `npm run bench`: a Wasm guest's
// blkfront, the blkif ring, the simulated hypervisor's event channels and
// grant copies, and a Wasm blkback driver domain serving a disk image in its
// memory, with dom0's xenstored and toolstack plugging the disk in. No test
// framework here.
import { createGuestDomain } from "../host/guest-domain.js";
import { Hypervisor } from "../host/hypervisor.js";
import { startXenstore, type XenstoreService } from "../host/toolstack.js";
import { BlkBack, BlkFront, type Disk } from "../runtime/blk.js";

/** xvda's devid. */
const DEVID = 51712;
/** 4 KiB: one request of one page. */
const REQUEST_SECTORS = 8;
/** The disk the requests walk over: 16 MiB, so reads and writes touch all of it in turn. */
const DISK_SECTORS = 32768;
/** Xen time a guest waits for its disk before the workload gives up. */
const OPEN_TIMEOUT_MS = 60_000;

/**
 * The backend domain's XenStore quotas. Its bus watches two nodes per device
 * (the frontend's state and its own directory) and it owns about a dozen
 * nodes per device, so C xenstored's defaults (128 watches, 1000 nodes)
 * would stop it at 63 and about 80 devices. A host running a driver domain
 * for many guests raises them, as `xenstore-control quota-set` does.
 */
const DRIVER_DOMAIN_QUOTAS = { watches: 1024, nodes: 16384 } as const;

/** dom0's services and a block-backend domain serving one disk. */
class BlockHost {
  readonly hv = new Hypervisor();
  readonly service: XenstoreService = startXenstore(this.hv);
  readonly backend: BlkBack;
  readonly disk: Disk;

  constructor() {
    const backend = this.bootGuest("blkback");
    for (const [name, value] of Object.entries(DRIVER_DOMAIN_QUOTAS)) {
      this.service.xenstored.quotas.set(name as keyof typeof DRIVER_DOMAIN_QUOTAS, value, backend.domid);
    }
    this.backend = new BlkBack(backend).start();
    this.disk = this.backend.createDisk(DISK_SECTORS);
  }

  bootGuest(name: string) {
    const guest = createGuestDomain(this.service, name).guest;
    const rc = guest.exports.xs_init();
    if (rc !== 0) throw new Error(`${name}: xs_init returned ${rc}`);
    return guest;
  }

  /** A guest with its frontend bus up and the disk plugged in as xvda (not yet waited for). */
  plugGuest(name: string): BlkFront {
    const blk = new BlkFront(this.bootGuest(name), 1).start();
    this.service.devices.add({
      type: "vbd", devid: DEVID, frontend: blk.guest.domid, backend: this.backend.guest.domid, backendParams: this.disk.params,
    });
    return blk;
  }
}

/** One guest with a connected disk, doing 4 KiB requests through its raw blk_* exports. */
export class BlockGuest {
  private readonly blk: BlkFront;
  private next = 0;

  constructor() {
    const host = new BlockHost();
    this.blk = host.plugGuest("blkfront");
    this.blk.open(DEVID, OPEN_TIMEOUT_MS);
  }

  /** `n` 4 KiB reads, each a round trip to the backend: `n`, or 0 when one failed. */
  reads(n: number): number {
    return this.requests(n, (sector) => this.blk.guest.exports.blk_read(DEVID, sector, REQUEST_SECTORS, this.blk.buffer));
  }

  /** `n` 4 KiB writes, each a round trip to the backend: `n`, or 0 when one failed. */
  writes(n: number): number {
    return this.requests(n, (sector) => this.blk.guest.exports.blk_write(DEVID, sector, REQUEST_SECTORS, this.blk.buffer));
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
 * Connected, with dom0 and the backend domain already running.
 */
export function bootToConnectedMs(guests: number): number {
  const host = new BlockHost();
  const start = performance.now();
  const fronts: BlkFront[] = [];
  for (let i = 0; i < guests; i++) fronts.push(host.plugGuest(`guest${i}`));
  for (const blk of fronts) blk.open(DEVID, OPEN_TIMEOUT_MS);
  return performance.now() - start;
}
