// The disks a block backend serves: images in this domain's own memory that
// the host creates and fills or checks through guest memory (blk_disk_create,
// blk_disk_image). A vbd names its disk by number in its backend `params`
// node ("0" for the first disk created).
//
// An image is memory grown for it alone, outside the heap and the page pool:
// page-aligned, so a page-aligned transfer never straddles two of its pages,
// and never handed to a peer (data moves with grant copies). A disk lives as
// long as the domain.
import { EINVAL, ENOMEM } from "../xen/abi";
import { DiskGeometry, isSectorSize, SECTOR_SHIFT, VDISK_KNOWN, VDISK_READONLY } from "./blkif";

/** The largest image: 256 MiB. */
export const MAX_DISK_SECTORS: u32 = 1 << (28 - SECTOR_SHIFT);
/** Disks one domain may create. */
export const MAX_DISKS: i32 = 16;

const WASM_PAGE_SHIFT: u32 = 16;

export class MemDisk {
  /** Flushes served: nothing to write back here, but the count shows the request arrived. */
  flushes: u32 = 0;

  constructor(
    /** The image's first byte: sector n is at image + n * 512. */
    readonly image: usize,
    readonly geometry: DiskGeometry,
    /** The VDISK_* bits published as `info`. */
    readonly info: u32,
  ) {}
}

const disks = new Array<MemDisk>();

/**
 * A zeroed disk of `sectors` 512-byte sectors in logical sectors of
 * `sectorSize` bytes, `info` its VDISK_* bits (VDISK_READONLY refuses
 * writes), `flush` whether it offers feature-flush-cache. Its number, or
 * -EINVAL (no sectors, more than MAX_DISK_SECTORS, a sector size that is not
 * a power of two from 512 to 4096, a size not a whole number of logical
 * sectors, unknown info bits, MAX_DISKS made already), or -ENOMEM.
 */
export function createDisk(sectors: u32, sectorSize: u32, info: u32, flush: bool): i32 {
  if (sectors == 0 || sectors > MAX_DISK_SECTORS || disks.length >= MAX_DISKS) return -EINVAL;
  if (!isSectorSize(sectorSize)) return -EINVAL;
  if ((sectors & ((sectorSize >> SECTOR_SHIFT) - 1)) != 0 || (info & ~VDISK_KNOWN) != 0) return -EINVAL;
  const bytes = usize(sectors) << SECTOR_SHIFT;
  const pages = i32((bytes + (1 << WASM_PAGE_SHIFT) - 1) >> WASM_PAGE_SHIFT);
  const first = memory.grow(pages);
  if (first < 0) return -ENOMEM;
  // Fresh memory is zeroed: the disk starts blank.
  const geometry = new DiskGeometry(sectors, sectorSize, (info & VDISK_READONLY) != 0, flush);
  disks.push(new MemDisk(usize(first) << WASM_PAGE_SHIFT, geometry, info));
  return disks.length - 1;
}

/** Disk number `index`, or null. */
export function diskAt(index: u64): MemDisk | null {
  return index < u64(disks.length) ? disks[i32(index)] : null;
}
