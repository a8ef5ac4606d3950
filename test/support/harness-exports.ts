// What build/harness.wasm exports besides xenbus.wasm's (assembly/harness.ts):
// the hooks the tests drive the guest with, typed for the host side. The
// conventions are runtime/xenbus.ts's.

export interface HarnessExports {
  /** The oldest entries of the test drivers' log that fit in `out` (a page_alloc page), one per line: the byte count. */
  harness_bus_log(out: number): number;

  /** Pointers to JSON strings (read with Guest.readString): the struct layouts and constants compiled in. */
  xen_abi_layouts(): number;
  xen_abi_constants(): number;

  /** From now on each event on `port` is answered by an event back on it. 0 or -EINVAL. */
  evtchn_bind_echo(port: number): number;
  /**
   * Blocks in SCHEDOP_block until `port` has seen `count` events in all,
   * dispatching as events arrive. 0, -EINVAL, -ENODEV, or the -errno with
   * which the hypervisor refused to block.
   */
  evtchn_wait(port: number, count: number): number;

  // XenBus driver helpers (assembly/xenbus/client.ts). A device is made
  // with xenbus_device and named by the handle it returns (-EINVAL for a bad
  // one). Strings go in as for XenStore; lists of refs or handles as u32s
  // anywhere in memory (a page of them at most), and come out as u32s into
  // `out`, a page_alloc page. A failure a helper reports is written as
  // "<errno> <message>" to error/<nodename>/error under the domain's home
  // and printed on the console; the fatal ones (watching, switching,
  // granting, binding, mapping) also switch the device to Closing.

  /**
   * A device whose node is `nodename` (relative to the domain's home), with
   * its other end at `otherend` (absolute) in domain `otherend_id`: its handle,
   * or -ENODEV before xs_init, -EFAULT, -EINVAL for a domid beyond 16 bits.
   */
  xenbus_device(
    nodename: number,
    nodename_len: number,
    otherend: number,
    otherend_len: number,
    otherend_id: number,
  ): number;
  /** The state the device last wrote (0, Unknown, until it writes one). */
  xenbus_device_state(dev: number): number;
  /** 1 once xenbus_frontend_closed ran on the device, else 0. */
  xenbus_device_down(dev: number): number;
  /** Events the device's watches have run (from the upcall). */
  xenbus_watch_events(dev: number): number;
  /** A pointer to the state's name (Guest.readString): "Unknown" … "Reconfigured", "INVALID" for anything else. */
  xenbus_strstate(state: number): number;
  /** Watches `path` under `token`; 0 or -errno (reported, the device then Closing). */
  xenbus_watch_path(dev: number, path: number, path_len: number, token: number, token_len: number): number;
  /** xenbus_watch_path on `dir`/`name`. */
  xenbus_watch_path_joined(
    dev: number,
    dir: number,
    dir_len: number,
    name: number,
    name_len: number,
    token: number,
    token_len: number,
  ): number;
  /**
   * Writes the device's `state` in a transaction, retried on conflicts;
   * nothing when it is the state last written. 0 whatever happens, as
   * Linux's xenbus_switch_state: a node that is gone is never created again
   * and nothing is reported; other failures are reported and the device
   * switched to Closing (once: no further switch when that fails too).
   * xenbus_device_state and xenbus_device_switch_error say how it went.
   */
  xenbus_switch_state(dev: number, state: number): number;
  /**
   * How the device's last xenbus_switch_state went: 0 when its state was
   * written (or was that state already), -ENOENT when the node was gone
   * (nothing written or reported), else the -errno it failed with (reported).
   */
  xenbus_device_switch_error(dev: number): number;
  /** Switches to Closed and marks the device down: 0, as xenbus_switch_state. */
  xenbus_frontend_closed(dev: number): number;
  /** Reports `err` (a -errno) with the message. 0, or -EINVAL / -EFAULT for bad arguments. */
  xenbus_dev_error(dev: number, err: number, message: number, message_len: number): number;
  /** xenbus_dev_error, then the switch to Closing. */
  xenbus_dev_fatal(dev: number, err: number, message: number, message_len: number): number;
  /**
   * Grants the other end the `pages` page_alloc pages from `ring` on, their
   * refs into `out`: the count, or -errno (-EINVAL for pages that are not
   * page_alloc's; a failed grant is reported, nothing is left granted).
   */
  xenbus_grant_ring(dev: number, ring: number, pages: number, out: number): number;
  /**
   * Publishes refs under the device's node in transaction `tx` (0: none):
   * `ring-ref` for one; `ring-page-order` and `ring-ref0`… for a power of two
   * up to 16. 0 or -errno.
   */
  xenbus_write_ring_refs(tx: number, dev: number, refs: number, count: number): number;
  /**
   * Reads the other end's ring refs into `out`: their count, or -errno
   * (-EINVAL for an order beyond `max_order` or 4, -ERANGE for a value that
   * is not a number, the read's error).
   */
  xenbus_read_ring_refs(tx: number, dev: number, max_order: number, out: number): number;
  /** A port the other end may bind: the port, or -errno (reported, the device then Closing). */
  xenbus_alloc_evtchn(dev: number): number;
  /** Binds the other end's `remote_port`: the local port, or -errno (reported, the device then Closing). */
  xenbus_bind_evtchn(dev: number, remote_port: number): number;
  /** Closes `port`: 0 or -errno (reported). */
  xenbus_free_evtchn(dev: number, port: number): number;
  /**
   * Maps the other end's refs on contiguous pages of the module's own: their
   * address, or a negative GNTST_* (reported, the device then Closing,
   * nothing left mapped) or -errno.
   */
  xenbus_map_ring_valloc(dev: number, refs: number, count: number): number;
  /**
   * Maps the other end's refs on the page_alloc pages from `address` on,
   * their handles into `out` (not one of those pages): GNTST_okay (0), or a
   * negative GNTST_* (reported, the device then Closing, nothing left mapped).
   */
  xenbus_map_ring(dev: number, refs: number, count: number, address: number, out: number): number;
  /** Unmaps a ring xenbus_map_ring_valloc mapped and frees its pages: 0, or a negative GNTST_* (reported). */
  xenbus_unmap_ring_vfree(dev: number, address: number): number;
  /** Unmaps the pages from `address` on, one per handle: 0, or the first negative GNTST_* (each reported). */
  xenbus_unmap_ring(dev: number, handles: number, count: number, address: number): number;
  /** The XenbusState in `path`/state: Unknown (0) when missing, unreadable or not a state (0…8 in decimal). */
  xenbus_read_driver_state(path: number, path_len: number): number;
}
