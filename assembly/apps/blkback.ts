// blkback.wasm: a block-backend driver domain. It starts as unikernel.wasm
// does, makes one disk in its own memory (DISK_MIB, blank but for a label in
// its last sector) and serves it, with our Wasm blkback, to any frontend the
// toolstack connects to it: in xl, the disk of another guest names this
// domain as its backend (`backend=blkback`, `target=0`: the `params` of a vbd
// is the number of one of our disks) and this domain is started with
// `driver_domain=1`. It says on its console when it starts serving a
// frontend and when that frontend goes, with what moved and a checksum of
// what the disk then begins with, so that dom0 can check the data a frontend
// wrote through it. `xl shutdown` stops it as it stops unikernel.wasm.
import "../xen/panic"; // the abort handler named in asconfig.json
import "../drivers/blkback-xs"; // registers the vbd driver with the backend bus
import { BlkbackDevice } from "../drivers/blkback";
import { SECTOR_SHIFT } from "../drivers/blkif";
import { createDisk, diskAt } from "../drivers/memdisk";
import { XenbusStateConnected } from "../xen/abi";
import { attachBackendBus, currentBackendBus } from "../xenbus/bus";
import * as xenstore from "../xenstore/ring";
import { addReporter, devicesOf, diskName, Reporter, say, serve, start } from "./basics";

const DISK_MIB: u32 = 8;
const SECTOR_SIZE: u32 = 512;
/** How much of the disk's beginning the checksum covers: what a frontend's first page-sized write puts there. */
const CHECKED_BYTES: u32 = 4096;

export function main(): i32 {
  let rc = start();
  if (rc < 0) return rc;
  const disk = createDisk((DISK_MIB << 20) >> SECTOR_SHIFT, SECTOR_SIZE, 0, true);
  if (disk < 0) return disk;
  labelLastSector(u32(disk));
  rc = attachBackendBus(xenstore.currentClient()!);
  if (rc < 0) {
    say(`cannot watch for frontends: error ${-rc}`);
    return rc;
  }
  say(`Serving disk ${disk} (${DISK_MIB} MiB) to the frontends the toolstack gives me.`);
  addReporter(new Frontends());
  return serve();
}

/** The last sector begins with a line a frontend can read to see that the disk is ours. */
function labelLastSector(disk: u32): void {
  const image = diskAt(disk)!;
  const last = image.image + (usize(image.geometry.sectors - 1) << SECTOR_SHIFT);
  const label = String.UTF8.encode(`xenbus-wasm blkback disk ${disk}, last sector\n`);
  memory.copy(last, changetype<usize>(label), label.byteLength);
}

/** Says when a frontend connects to one of our vbds and when it goes. */
class Frontends extends Reporter {
  /** The vbds we said are connected, by their backend node. */
  announced: Map<string, BlkbackDevice> = new Map<string, BlkbackDevice>();

  changed(): bool {
    const current = served();
    let connected = 0;
    for (let i = 0; i < current.length; i++) {
      const dev = current[i];
      const isConnected = dev.lifecycleState == XenbusStateConnected;
      if (isConnected != this.announced.has(dev.nodename)) return true;
      if (isConnected) connected++;
    }
    return connected != this.announced.size;
  }

  report(): void {
    const current = served();
    const connected = new Map<string, BlkbackDevice>();
    for (let i = 0; i < current.length; i++) {
      const dev = current[i];
      if (dev.lifecycleState != XenbusStateConnected) continue;
      connected.set(dev.nodename, dev);
      if (this.announced.has(dev.nodename)) continue;
      say(`Serving ${name(dev)}: ring of ${dev.ringPages} page(s).`);
    }
    const before = this.announced.values();
    for (let i = 0; i < before.length; i++) {
      const dev = before[i];
      if (connected.has(dev.nodename)) continue;
      const disk = dev.disk!;
      say(
        `${name(dev)} went after ${dev.requests} requests (${dev.bytes} bytes, ${disk.flushes} flushes); ` +
          `its disk's first ${CHECKED_BYTES} bytes have cksum ${cksum(disk.image, CHECKED_BYTES)}.`,
      );
    }
    this.announced = connected;
  }
}

function name(dev: BlkbackDevice): string {
  return `${diskName(dev.id.slice(dev.id.indexOf("/") + 1))} of domain ${dev.otherendId}`;
}

function served(): BlkbackDevice[] {
  return devicesOf<BlkbackDevice>(currentBackendBus(), "vbd");
}

/** POSIX cksum of `length` bytes at `at` (CRC-32, polynomial 0x04C11DB7, over the bytes then the length): what `cksum` prints first. */
function cksum(at: usize, length: u32): u32 {
  let crc: u32 = 0;
  for (let i: u32 = 0; i < length; i++) crc = crcByte(crc, load<u8>(at + i));
  for (let n = length; n != 0; n >>= 8) crc = crcByte(crc, u8(n & 0xff));
  return ~crc;
}

function crcByte(crc: u32, byte: u8): u32 {
  crc ^= u32(byte) << 24;
  for (let bit = 0; bit < 8; bit++) crc = (crc & 0x80000000) != 0 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  return crc;
}
