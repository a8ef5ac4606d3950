// The XenStore client's open transactions, by the handle the caller names
// each with. Handles are the client's own and never reused while open,
// because after a reset xenstored hands out its ids afresh: a stale handle
// must never name a new transaction (FreeBSD sys/xen/xenstore/xenstore.c
// passes xenstored's ids through; this is what survives a reconnection).
import { EAGAIN, ENOENT } from "../xen/abi";
import { XS_NO_TRANSACTION } from "./wire";

/** What a handle maps to once a reset made xenstored forget it (xenstored's ids are never 0). */
const STALE_TRANSACTION: u32 = 0;

export class TransactionHandles {
  /** Open handles, to xenstored's id (STALE_TRANSACTION once a reset dropped it). */
  private readonly ids: Map<u32, u32> = new Map<u32, u32>();
  private nextHandle: u32 = 1;

  /** A new handle for xenstored's transaction `id` (never 0). */
  open(id: u32): u32 {
    let handle = this.nextHandle;
    while (handle == XS_NO_TRANSACTION || this.ids.has(handle)) handle++;
    this.nextHandle = handle + 1;
    this.ids.set(handle, id);
    return handle;
  }

  /**
   * xenstored's id for `handle` (XS_NO_TRANSACTION for itself); -ENOENT for
   * a handle that names no transaction, -EAGAIN for a stale one.
   */
  idOf(handle: u32): i64 {
    if (handle == XS_NO_TRANSACTION) return XS_NO_TRANSACTION;
    if (!this.ids.has(handle)) return -ENOENT;
    const id = this.ids.get(handle);
    return id == STALE_TRANSACTION ? -EAGAIN : id;
  }

  close(handle: u32): void {
    this.ids.delete(handle);
  }

  /** Every open handle now names a transaction xenstored has forgotten. */
  staleAll(): void {
    const handles = this.ids.keys();
    for (let i = 0; i < handles.length; i++) this.ids.set(handles[i], STALE_TRANSACTION);
  }
}
