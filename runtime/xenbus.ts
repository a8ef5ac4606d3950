// The exports of build/xenbus.wasm, typed for the host side (loadGuest<XenbusExports>).
//
// Conventions: results are 0 or a negative Xen errno (-EINVAL, ...), except the
// grant map/unmap/copy functions, whose failures are Xen's negative GNTST_*
// statuses. Ports, refs, domids and guest addresses are plain numbers; a
// domid that does not fit domid_t (16 bits) is refused before it reaches Xen.
// Nothing here traps on a bad argument. Only functions are listed: the
// exported globals (xen_special_base/pages) and memory are the runtime's.

export interface XenbusExports {
  /** Pointers to JSON strings (read with Guest.readString): the struct layouts and constants compiled in. */
  xen_abi_layouts(): number;
  xen_abi_constants(): number;

  /**
   * Maps shared_info and sets up the grant table (4 frames, or Xen's maximum
   * if smaller). 0, or the -errno / GNTST_* of the failed step. Idempotent:
   * a second call returns 0; a failed call may be retried. Until it succeeds
   * evtchn_mask/unmask/wait and gnttab_grant_access/end_access return -ENODEV.
   */
  xen_boot(): number;
  /** The event upcall; the hypervisor calls it when events are pending and the guest is not running. */
  xen_upcall(): void;

  /** A new unbound port that `remote_dom` may bind to: the port, or -errno. */
  evtchn_alloc_unbound(remote_dom: number): number;
  /** Binds to `remote_port` (unbound, offered to us) of `remote_dom`: the local port, or -errno. */
  evtchn_bind_interdomain(remote_dom: number, remote_port: number): number;
  /** Notifies the other end of `port`. 0 or -errno (Xen's -EINVAL for a port that is not open). */
  evtchn_send(port: number): number;
  /** Closes `port` and drops its handler. 0 or -errno (-EINVAL when already closed). */
  evtchn_close(port: number): number;
  /** Holds back delivery: events stay pending in shared_info. 0, -EINVAL (port ≥ 4096), -ENODEV. */
  evtchn_mask(port: number): number;
  /** Resumes delivery through Xen, which raises an event that arrived while masked. 0 or -errno. */
  evtchn_unmask(port: number): number;
  /** EVTCHNSTAT_* of `port`, or -errno; then evtchn_status_remote_* give its peer. */
  evtchn_status(port: number): number;
  /** From the last successful evtchn_status: the peer domain (unbound or interdomain). */
  evtchn_status_remote_dom(): number;
  /** From the last successful evtchn_status: the peer port (interdomain only). */
  evtchn_status_remote_port(): number;
  /** Events the upcall has delivered on `port` since it was allocated or bound (0 for ports ≥ 4096). */
  evtchn_event_count(port: number): number;
  /** From now on each event on `port` is answered by an event back on it. 0 or -EINVAL. */
  evtchn_bind_echo(port: number): number;
  /**
   * Blocks in SCHEDOP_block until `port` has seen `count` events in all,
   * dispatching as events arrive. 0, -EINVAL, -ENODEV, or the -errno with
   * which the hypervisor refused to block.
   */
  evtchn_wait(port: number, count: number): number;

  /** Lets `domid` access our frame `gfn`: the grant ref (≥ 8), or -ENOSPC / -EINVAL / -ENODEV. */
  gnttab_grant_access(domid: number, gfn: number, readonly: boolean): number;
  /** Revokes a grant. 0; -EBUSY while the peer has it mapped (the grant stays valid); -EINVAL for a ref not granted. */
  gnttab_end_access(ref: number): number;
  /** Refs still available to gnttab_grant_access. */
  gnttab_free_refs(): number;
  /**
   * Maps `domid`'s grant `ref` at `host_addr`, which must be a page_alloc page
   * (or lie beyond linear memory, which Xen then refuses): the handle (≥ 0),
   * or a negative GNTST_* status.
   */
  gnttab_map(domid: number, ref: number, host_addr: number, readonly: boolean): number;
  /** Undoes gnttab_map: GNTST_okay (0) or a negative GNTST_* status. */
  gnttab_unmap(host_addr: number, handle: number): number;
  /** Copies `len` bytes from `offset` in `domid`'s grant `ref` to `dest` (in a page_alloc page) through Xen: 0 or GNTST_*. */
  gnttab_copy_from(domid: number, ref: number, offset: number, dest: number, len: number): number;

  /** A zeroed page-aligned page outside the heap, or 0 when the pool is empty. */
  page_alloc(): number;
  /** Returns a page_alloc page: 0; -EINVAL for any other address; -EBUSY while it holds a mapping or a live grant names it. */
  page_free(page: number): number;
}
