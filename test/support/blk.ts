// What the block tests share: a backend and a frontend domain, data to move
// and the errno a call failed with.

import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkBack, BlkError, BlkFront } from "../../runtime/blk.js";
import type { Engine } from "../../runtime/engine.js";
import { bootXenbus, type Xenbus } from "./xenbus.js";

export interface BlkPair {
  hv: Hypervisor;
  service: XenstoreService;
  backDomain: Xenbus;
  frontDomain: Xenbus;
  /** Not started: the test chooses the ring order it offers. */
  back: BlkBack;
  /** Started: its bus takes the vbds plugged for it. */
  front: BlkFront;
}

/** A simulated Xen with xenstored and two guests of build/xenbus.wasm on its store: a block backend and a frontend. */
export function blkPair(engine: Engine): BlkPair {
  const hv = new Hypervisor();
  const service = startXenstore(hv);
  const backDomain = bootXenbus(hv, "blkback", engine);
  const frontDomain = bootXenbus(hv, "guest", engine);
  for (const domain of [backDomain, frontDomain]) {
    const rc = domain.exports.xs_init();
    if (rc !== 0) throw new Error(`${domain.name}: xs_init returned ${rc}`);
  }
  return {
    hv,
    service,
    backDomain,
    frontDomain,
    back: new BlkBack(backDomain),
    front: new BlkFront(frontDomain).start(),
  };
}

/** Patterns made so far, by length and seed: the fuzz targets write the same few thousands of times. */
const patterns = new Map<string, Uint8Array>();

/** `length` bytes of a pattern unique to `seed` (a copy the caller may change). */
export function pattern(length: number, seed: number): Uint8Array {
  const key = `${length}:${seed}`;
  let bytes = patterns.get(key);
  if (!bytes) {
    bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = (i * 131 + seed * 17 + (i >> 9)) & 0xff;
    if (patterns.size < 256) patterns.set(key, bytes);
  }
  return bytes.slice();
}

/** The errno a blk call failed with, or 0 when it succeeded. */
export function errnoOf(call: () => unknown): number {
  try {
    call();
    return 0;
  } catch (error) {
    if (error instanceof BlkError) return error.errno;
    throw error;
  }
}
