// Typed block devices over a booted xenbus guest's blk_* exports (see
// runtime/xenbus.ts for the raw convention): a frontend's vbds read and
// written as byte arrays through a buffer of contiguous page_alloc pages, and
// a backend driver domain's disks, whose images the host sees in the
// domain's memory. Failures throw BlkError carrying the errno.
import { allocPage, GuestCallError, type ResultCheck, resultCheck } from "./errors.js";
import type { Guest } from "./guest.js";
import type { XenbusExports } from "./xenbus.js";

const PAGE_SIZE = 4096;
export const SECTOR_SIZE = 512;

/** A blk_* export failed; `errno` is the positive errno, `code` its name (EIO, ...). */
export class BlkError extends GuestCallError {}

/** A vbd as the frontend sees it (blk_info). */
export interface BlkInfo {
  /** 512-byte sectors. */
  sectors: bigint;
  sectorSize: number;
  /** VDISK_* bits: 1 cdrom, 2 removable, 4 read-only. */
  info: number;
  flush: boolean;
  state: number;
  backendState: number;
  ringPages: number;
  backendId: number;
  requests: bigint;
  bytes: bigint;
}

export class BlkFront {
  private readonly x: XenbusExports;
  /** `bufferPages` contiguous page_alloc pages: what one read or write moves at most. */
  readonly buffer: number;
  private readonly infoPage: number;

  private readonly check: ResultCheck;

  constructor(
    readonly guest: Guest<XenbusExports>,
    readonly bufferPages = 16,
  ) {
    this.x = guest.exports;
    this.check = resultCheck(guest, BlkError);
    this.infoPage = this.page();
    this.buffer = this.page();
    for (let i = 1; i < bufferPages; i++) {
      if (this.page() !== this.buffer + i * PAGE_SIZE)
        throw new Error(`${guest.name}: page_alloc gave no run of ${bufferPages} pages`);
    }
  }

  private page(): number {
    return allocPage(this.guest, "block I/O");
  }

  /** Attaches the frontend bus: vbds are taken on as they appear. */
  start(): this {
    this.check(this.x.blkfront_start(), "blkfront_start");
    return this;
  }

  /** Blocks until the vbd is Connected (reopening it if closed), at most `timeoutMs` of Xen's time. */
  open(devid: number, timeoutMs = 10_000): void {
    this.check(this.x.blk_open(devid, timeoutMs), `blk_open ${devid}`);
  }

  /** Closes the vbd and blocks until it is Closed or gone. */
  close(devid: number, timeoutMs = 10_000): void {
    this.check(this.x.blk_close(devid, timeoutMs), `blk_close ${devid}`);
  }

  info(devid: number): BlkInfo {
    this.check(this.x.blk_info(devid, this.infoPage), `blk_info ${devid}`);
    const view = new DataView(this.guest.memory().buffer, this.infoPage, 56);
    return {
      sectors: view.getBigUint64(0, true),
      sectorSize: view.getUint32(8, true),
      info: view.getUint32(12, true),
      flush: (view.getUint32(16, true) & 1) !== 0,
      state: view.getUint32(20, true),
      backendState: view.getUint32(24, true),
      ringPages: view.getUint32(28, true),
      backendId: view.getUint32(32, true),
      requests: view.getBigUint64(40, true),
      bytes: view.getBigUint64(48, true),
    };
  }

  /** `count` sectors from `sector`. */
  read(devid: number, sector: bigint | number, count: number): Uint8Array {
    this.fits(count * SECTOR_SIZE);
    this.check(this.x.blk_read(devid, BigInt(sector), count, this.buffer), `blk_read ${devid} ${sector}+${count}`);
    return this.guest.memory().slice(this.buffer, this.buffer + count * SECTOR_SIZE);
  }

  /** `data` (whole sectors) to `sector`. */
  write(devid: number, sector: bigint | number, data: Uint8Array): void {
    if (data.length % SECTOR_SIZE !== 0) throw new RangeError(`${data.length} bytes are not whole sectors`);
    this.fits(data.length);
    this.guest.memory().set(data, this.buffer);
    this.check(
      this.x.blk_write(devid, BigInt(sector), data.length / SECTOR_SIZE, this.buffer),
      `blk_write ${devid} ${sector}+${data.length / SECTOR_SIZE}`,
    );
  }

  flush(devid: number): void {
    this.check(this.x.blk_flush(devid), `blk_flush ${devid}`);
  }

  private fits(bytes: number): void {
    if (bytes > this.bufferPages * PAGE_SIZE)
      throw new RangeError(`${bytes} bytes do not fit the ${this.bufferPages}-page buffer`);
  }
}

/** A vbd as the backend sees it (blkback_info). */
export interface BlkbackInfo {
  requests: bigint;
  bytes: bigint;
  state: number;
  frontendState: number;
  ringPages: number;
}

export interface DiskOptions {
  /** Logical sector size in bytes (512 by default). */
  sectorSize?: number;
  /** VDISK_* bits (4: read-only). */
  info?: number;
  /** Offer feature-flush-cache (true by default). */
  flush?: boolean;
}

/** A disk a backend domain serves, its image in the domain's memory. */
export class Disk {
  constructor(
    private readonly backend: BlkBack,
    /** What a vbd's backend `params` node names. */
    readonly number: number,
    readonly sectors: number,
  ) {}

  /** The vbd backend nodes that select this disk (DeviceSpec.backendParams). */
  get params(): Record<string, string> {
    return { params: String(this.number) };
  }

  /** The image as a live view of the backend's memory (valid until the backend next runs). */
  image(): Uint8Array {
    const guest = this.backend.guest;
    const at = guest.exports.blk_disk_image(this.number);
    return guest.memory().subarray(at, at + this.sectors * SECTOR_SIZE);
  }

  flushes(): number {
    return this.backend.check(this.backend.guest.exports.blk_disk_flushes(this.number), "blk_disk_flushes");
  }
}

export class BlkBack {
  private readonly infoPage: number;
  /** The result of one of the backend's exports, or a BlkError. */
  readonly check: ResultCheck;

  constructor(readonly guest: Guest<XenbusExports>) {
    this.check = resultCheck(guest, BlkError);
    this.infoPage = allocPage(guest, "block backend info");
  }

  /** Serves vbds from now on, offering `maxRingPageOrder`. */
  start(maxRingPageOrder = 4): this {
    this.check(this.guest.exports.blkback_start(maxRingPageOrder), "blkback_start");
    return this;
  }

  createDisk(sectors: number, options: DiskOptions = {}): Disk {
    const { sectorSize = SECTOR_SIZE, info = 0, flush = true } = options;
    const number = this.check(this.guest.exports.blk_disk_create(sectors, sectorSize, info, flush), "blk_disk_create");
    return new Disk(this, number, sectors);
  }

  info(frontend: number, devid: number): BlkbackInfo {
    this.check(this.guest.exports.blkback_info(frontend, devid, this.infoPage), `blkback_info ${frontend}/${devid}`);
    const view = new DataView(this.guest.memory().buffer, this.infoPage, 32);
    return {
      requests: view.getBigUint64(0, true),
      bytes: view.getBigUint64(8, true),
      state: view.getUint32(16, true),
      frontendState: view.getUint32(20, true),
      ringPages: view.getUint32(24, true),
    };
  }
}
