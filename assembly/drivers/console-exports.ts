// Exports of the PV console frontend (see runtime/xenbus.ts for the convention).

import { EFAULT, EINVAL, ENODEV } from "../xen/abi";
import { inMemory, isUserPage } from "../xen/userpages";
import * as consoleFront from "./console";

/** Connects to the console page and port from the HVM params (after xen_boot). 0 or -errno; idempotent. */
export function console_init(): i32 {
  return consoleFront.connect();
}

/** Writes all of [data, data + len), waiting while the ring is full: `len`, or -errno. */
export function console_write(data: usize, len: u32): i32 {
  if (!consoleFront.connected()) return -ENODEV;
  if (!inMemory(data, len)) return -EFAULT;
  return consoleFront.write(data, len);
}

/** The input received so far (at most a page) into `out`, a page_alloc page: the count, 0 when none, or -errno. */
export function console_read(out: usize): i32 {
  if (!consoleFront.connected()) return -ENODEV;
  if (!isUserPage(out)) return -EINVAL;
  return consoleFront.read(out);
}
