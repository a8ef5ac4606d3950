// The exports of build/xenbus.wasm, typed for the host side (loadGuest<XenbusExports>).
//
// Conventions: results are 0 or a negative Xen errno (-EINVAL, ...), except the
// grant map/unmap/copy functions, whose failures are Xen's negative GNTST_*
// statuses. Ports, refs, domids and guest addresses are plain numbers; a
// domid that does not fit domid_t (16 bits) is refused before it reaches Xen.
// Nothing here traps on a bad argument. Only functions are listed: the
// exported globals (BLK_INFO_SIZE, ...) and memory are the runtime's.

export interface XenbusExports {
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

  /** Lets `domid` access our frame `gfn`: the grant ref (≥ 8), or -ENOSPC / -EINVAL / -ENODEV. */
  gnttab_grant_access(domid: number, gfn: number, readonly: boolean): number;
  /** Revokes a grant. 0; -EBUSY while the peer has it mapped (the grant stays valid); -EINVAL for a ref not granted. */
  gnttab_end_access(ref: number): number;
  /** Refs still available to gnttab_grant_access. */
  gnttab_free_refs(): number;
  /** Pages left as holes after an unmap because Xen refused to populate them again (0 normally); never reused. */
  gnttab_hole_pages(): number;
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

  /**
   * Suspends the domain for save/restore (SCHEDOP_shutdown, SHUTDOWN_suspend)
   * after dispatching queued watch events. 0: resumed after a restore, the
   * store connection set up again (new port from the HVM params, watches
   * registered again, open transactions stale: -EAGAIN) and the console, if
   * connected, on its new port and cleared rings. 1: the toolstack
   * cancelled, everything as before. -EBUSY while a XenStore request or watch
   * handler is under way; other -errno when the hypercall failed, or when
   * after a resume the store or console is unusable or watches were lost (xs_lost_watches).
   */
  xen_suspend(): number;

  // XenStore (typed wrappers: runtime/xenstore.ts). Strings go in as a
  // pointer and byte length of UTF-8 (a value: any bytes) anywhere in linear
  // memory; a list of strings (permissions such as "n0" "r5", CONTROL
  // parameters) as one buffer of NUL-terminated strings. Results come out
  // into `out`, which must be a page_alloc page. Each returns the byte count
  // of the whole result (or 0), or -errno: xenstored's error (-ENOENT,
  // -EACCES, -EAGAIN, ...), -ENODEV before xs_init, -EFAULT for an argument
  // outside memory, -EINVAL for an `out` that is not a page_alloc page or a
  // malformed list, -EIO once xenstored stopped serving (ring `error`),
  // -EAGAIN when the connection was restarted under the request (retry).
  // `tx` is a transaction handle, or 0 for none.
  //
  // Long results: a result longer than a page (a directory listing that
  // took DIRECTORY_PART requests) has only its first page written to `out`;
  // the returned length says how much there is, and xs_result(offset, out)
  // copies the page starting at `offset` of that same result, until the
  // next export that produces one.

  /** Connects through the store page and port of the HVM params (after xen_boot). 0 or -errno; idempotent. */
  xs_init(): number;
  /**
   * The ring reconnection protocol: xenstored drops requests in flight, watches
   * and transactions; the guest registers its watches again (each fires once)
   * and open transactions become stale (-EAGAIN). 0, -EBUSY while a request is
   * under way, or the first error registering a watch again (see xs_lost_watches).
   */
  xs_reconnect(): number;
  /** Watches the last reconnection or resume could not register again (dropped). */
  xs_lost_watches(): number;
  /** The ring's `error` field: 0, or the XENSTORE_ERROR_* with which xenstored stopped serving this domain. */
  xs_ring_error(): number;
  /** The page of the last result starting at byte `offset` into `out`: the count copied (0 past the end). */
  xs_result(offset: number, out: number): number;
  /** The node's value, raw, into `out`: its length. */
  xs_read(tx: number, path: number, path_len: number, out: number): number;
  xs_write(tx: number, path: number, path_len: number, value: number, value_len: number): number;
  xs_mkdir(tx: number, path: number, path_len: number): number;
  xs_rm(tx: number, path: number, path_len: number): number;
  /** Removes the node and all below it (outside a transaction, in one of its own, retried on conflicts). */
  xs_rm_tree(tx: number, path: number, path_len: number): number;
  /** 1 when the node exists, 0 when not or when it cannot be listed (no permission, ...); -ENODEV, -EFAULT. */
  xs_exists(tx: number, path: number, path_len: number): number;
  /** The children's names into `out`, each NUL-terminated: the byte length (possibly several pages). */
  xs_directory(tx: number, path: number, path_len: number, out: number): number;
  /** The node's permissions into `out`, each NUL-terminated ("n0", "r5"; the first names the owner). */
  xs_get_perms(tx: number, path: number, path_len: number, out: number): number;
  /** Sets permissions from NUL-terminated entries ("n5\0r0\0"); -EINVAL when malformed. */
  xs_set_perms(tx: number, path: number, path_len: number, perms: number, perms_len: number): number;
  /** Registers a watch; xenstored fires it once at once. Events are taken with xs_next_event; the newest 64 are kept. */
  xs_watch(path: number, path_len: number, token: number, token_len: number): number;
  /** Removes a watch and drops its events not yet taken. */
  xs_unwatch(path: number, path_len: number, token: number, token_len: number): number;
  /** Makes xenstored forget all this guest's watches and transactions (dropped in the guest too). */
  xs_reset_watches(): number;
  /** 0 or -errno; the handle is then read with xs_transaction_id (a u32). */
  xs_transaction_start(): number;
  xs_transaction_id(): number;
  /** Commits or aborts `tx`; -EAGAIN when a conflicting change won or a reset dropped it: retry the transaction. */
  xs_transaction_end(tx: number, commit: boolean): number;
  /** Domain `domid`'s home path into `out` (no NUL): its length. */
  xs_get_domain_path(domid: number, out: number): number;
  /** A CONTROL command with NUL-terminated parameters (privileged); its reply into `out`. */
  xs_control(command: number, command_len: number, parameters: number, parameters_len: number, out: number): number;
  /** XENSTORE_SERVER_FEATURE_* bits of `domid` (negative: the server's), privileged; 0 or -errno, then xs_number(). */
  xs_get_feature(domid: number): number;
  /** Sets the features offered to `domid`, before it is introduced (privileged). */
  xs_set_feature(domid: number, features: number): number;
  /** Quota `name` of `domid` (negative: the global default), privileged; 0 or -errno, then xs_number(). */
  xs_get_quota(domid: number, name: number, name_len: number): number;
  /** Sets quota `name` of `domid` (negative: the global default) to `value` (0: no limit); privileged. */
  xs_set_quota(domid: number, name: number, name_len: number, value: number): number;
  /** The quota names xenstored knows into `out`, each NUL-terminated. */
  xs_quota_names(out: number): number;
  /** The value of the last successful xs_get_feature / xs_get_quota (a u32). */
  xs_number(): number;
  /** The oldest watch event into `out` as path NUL token NUL: its length, 0 when none is queued. */
  xs_next_event(out: number): number;
  /** Watch events lost: malformed, for no watch of this guest, or pushed out of a bounded watch's queue (a u32). */
  xs_dropped_events(): number;
  /**
   * The watch `token` names, as three u32s into `out`: events queued, dropped
   * (oldest first, past its bound), and collapsed into one on its own path
   * (a watch that loses none, past its bound). 12, or -ENOENT for no such watch.
   */
  xs_watch_stats(token: number, token_len: number, out: number): number;

  // The XenBus buses: `kind` 0 is the frontend bus (device/<type>/<id>), 1 the
  // backend bus (backend/<type>/<frontend-domid>/<id>); a device is named by
  // its index in the bus's attached devices (which changes as they come and go).
  /**
   * Attaches this domain's bus of `kind` with the drivers compiled in and
   * registered for it (registerFrontendDriver / registerBackendDriver):
   * devices waiting in Initialising are taken on, the bus is watched for
   * more. 0 (also when attached already), or -errno: -ENODEV before xs_init,
   * -EINVAL for another kind, the error registering the bus's watch.
   */
  xenbus_bus_attach(kind: number): number;
  /**
   * Blocks until every device that was connecting is Connected or Closed: 0,
   * or -ETIMEDOUT (-110) after `timeout_ms` of Xen's system time, with the
   * devices still waiting printed on the console; -ENODEV for a bus not attached.
   */
  xenbus_bus_boot_wait(kind: number, timeout_ms: number): number;
  /** The bus's attached devices, or -ENODEV for a bus not attached. */
  xenbus_bus_device_count(kind: number): number;
  /** Device `index`'s type ("vbd") into `out` (a page_alloc page): its length, or -EINVAL. */
  xenbus_bus_device_type(kind: number, index: number, out: number): number;
  /** Device `index`'s id ("51712"; "3/51712" on the backend bus) into `out`: its length, or -EINVAL. */
  xenbus_bus_device_id(kind: number, index: number, out: number): number;
  /** The state this end of device `index` last wrote (or read back from its node), or -EINVAL. */
  xenbus_bus_device_state(kind: number, index: number): number;
  /** The other end's state as the bus last read it, or -EINVAL. */
  xenbus_bus_device_otherend_state(kind: number, index: number): number;
  /** The other end's domid, or -EINVAL. */
  xenbus_bus_device_otherend_id(kind: number, index: number): number;
  /** 1 while device `index` holds the boot wait (not yet Connected or Closed), else 0; -EINVAL. */
  xenbus_bus_device_connecting(kind: number, index: number): number;
  /**
   * For a device the backend lifecycle runs: the frontend node changes it
   * dropped, more than 16 waiting at once (a frontend flooding its
   * directory); -EINVAL for any other device.
   */
  xenbus_bus_device_frontend_dropped(kind: number, index: number): number;

  // Block devices (io/blkif.h; typed wrapper: runtime/blk.ts). A vbd is named
  // by its devid (51712 for xvda). Sectors are 512 bytes whatever the disk's
  // logical sector size; `sector` is a u64 (a BigInt). Data buffers are
  // page_alloc pages, contiguous, as many as the sectors fill.
  /** Attaches the frontend bus (after xs_init): vbds are taken on as they appear. 0 or -errno; idempotent. */
  blkfront_start(): number;
  /**
   * Blocks until vbd `devid` is Connected, reopening it first if it was
   * closed (the backend resets for a new frontend). 0, or -errno: -ENODEV
   * before blkfront_start, -EIO when it closed instead of connecting,
   * -ETIMEDOUT (-110) after `timeout_ms` of Xen's system time.
   */
  blk_open(devid: number, timeout_ms: number): number;
  /** Closes vbd `devid` and blocks until it is Closed or gone: 0, or -ENODEV (no such device), -ETIMEDOUT. */
  blk_close(devid: number, timeout_ms: number): number;
  /**
   * Vbd `devid` as the frontend sees it into `out` (a page_alloc page), little-endian:
   * sectors u64, sector_size u32, info u32 (VDISK_*), features u32 (bit 0 flush), state u32,
   * backend state u32, ring pages u32, backend domid u32, 4 zero bytes, requests u64, bytes u64.
   * Its size (56), or -ENODEV / -EINVAL.
   */
  blk_info(devid: number, out: number): number;
  /**
   * Reads `count` sectors from `sector` into the pages at `buffer`. 0, or -errno: -ENODEV (no such
   * device, or not connected), -EINVAL (count 0 or beyond 2^20, a buffer not page_alloc's, a
   * transfer not aligned to the logical sector), -EIO (refused by the backend, e.g. beyond the
   * disk's end; or the device broke or went away), -EOPNOTSUPP, -ETIMEDOUT (no answer in 30 s
   * of Xen's system time: the device is given up).
   */
  blk_read(devid: number, sector: bigint, count: number, buffer: number): number;
  /** Writes `count` sectors from the pages at `buffer` to `sector`: as blk_read, and -EROFS (-30) for a read-only disk. */
  blk_write(devid: number, sector: bigint, count: number, buffer: number): number;
  /** Flushes the backend's write cache: 0, or -ENODEV, -EOPNOTSUPP (not offered), -EIO. */
  blk_flush(devid: number): number;

  // The network frontend (io/netif.h; typed wrapper: runtime/net.ts). A vif is
  // named by its devid. Frames go out from anywhere in linear memory and come
  // in to page_alloc pages, contiguous, room for net_frame_max bytes.
  /**
   * Attaches the frontend bus (after xs_init): vifs are taken on as they
   * appear, asking from their next connection on for frames with blank
   * checksums (`checksum_offload`), GSO frames (`gso`), and at most
   * `max_queues` queues (1…4). 0, or -EINVAL, -ENODEV (before xs_init).
   */
  net_start(checksum_offload: boolean, gso: boolean, max_queues: number): number;
  /** Blocks until vif `devid` is Connected at both ends: 0, or -ENODEV, -EIO (closed or broke instead), -ETIMEDOUT. */
  net_open(devid: number, timeout_ms: number): number;
  /** Closes vif `devid` and blocks until it is Closed or gone: 0, or -ENODEV, -ETIMEDOUT. */
  net_close(devid: number, timeout_ms: number): number;
  /** The largest frame vif `devid` sends or receives (MTU and header, 65535 with GSO), or -ENODEV. */
  net_frame_max(devid: number): number;
  /**
   * Sends the Ethernet frame at [frame, frame + len) with NETTXF_csum_blank (1) /
   * NETTXF_data_validated (2) `flags`, as GSO segments of `gso_size` when `gso_type` is 1
   * (TCPv4; 0: none). Waits while every transmit buffer is in flight. 0, or -errno:
   * -ENODEV, -EFAULT, -EINVAL, -EMSGSIZE, -EIO (broke), -ETIMEDOUT.
   */
  net_send(devid: number, frame: number, len: number, flags: number, gso_size: number, gso_type: number): number;
  /**
   * Waits at most `timeout_ms` of Xen's time for a frame and copies it to `out` (page_alloc
   * pages, room for net_frame_max): its length, or -ENODEV, -EINVAL, -EIO, -ETIMEDOUT.
   */
  net_recv(devid: number, out: number, timeout_ms: number): number;
  /** The last frame received: NETRXF checksum bits | GSO type << 8 | GSO size << 16 (read it unsigned), or -ENODEV. */
  net_rx_meta(devid: number): number;
  /**
   * Vif `devid` into `out` (a page_alloc page), little-endian: mac (6 bytes), 2 zero bytes, mtu
   * u32, features u32 (bits: sg, gso-tcpv4, split channels offered; checksum offload, GSO asked
   * for), state u32, backend state u32, queues u32, backend's max queues u32, backend domid
   * u32, 4 zero bytes, u64 counters: sent, bytes sent, transmit errors, received, bytes
   * received, receive errors, malformed dropped. Its size (96), or -ENODEV / -EINVAL.
   */
  net_info(devid: number, out: number): number;

  // The block backend, a driver domain serving disks in its own memory.
  /**
   * Starts serving vbds (after xs_init): init offers `max_ring_page_order`
   * (0…4) from now on, and the backend bus is attached. 0, or -EINVAL
   * (order beyond 4), -ENODEV (before xs_init); call again to change the offer.
   */
  blkback_start(max_ring_page_order: number): number;
  /**
   * A zeroed disk of `sectors` 512-byte sectors (at most 2^19: 256 MiB) in
   * logical sectors of `sector_size` (512…4096, a power of two, dividing the
   * size), `info` its VDISK_* bits (4: read-only; others published only),
   * feature-flush-cache offered if `flush`. Its number, which a vbd's backend
   * `params` node names ("0"), or -EINVAL / -ENOMEM (at most 16 disks).
   */
  blk_disk_create(sectors: number, sector_size: number, info: number, flush: boolean): number;
  /** Where the disk's image is in linear memory (sector n at image + 512 n), or 0 for no such disk. */
  blk_disk_image(disk: number): number;
  /** Flush requests the disk has served, or -ENODEV. */
  blk_disk_flushes(disk: number): number;
  /**
   * The backend's vbd `devid` of domain `frontend` into `out` (a page_alloc page), little-endian:
   * requests u64, bytes u64, state u32, frontend state u32, ring pages u32 (0 while not
   * connected), 4 zero bytes. Its size (32), or -ENODEV / -EINVAL.
   */
  blkback_info(frontend: number, devid: number, out: number): number;

  // The PV console (io/console.h) on the page and port of HVM_PARAM_CONSOLE_PFN / _EVTCHN.
  /** Connects to the console (after xen_boot): 0, -ENODEV without console params, -EINVAL for unusable ones; idempotent. */
  console_init(): number;
  /**
   * Writes all `len` bytes at `data`, blocking while the ring is full until
   * the backend takes some: `len`, or -errno (-ENODEV before console_init,
   * -EFAULT outside memory, -EIO for impossible ring indices).
   */
  console_write(data: number, len: number): number;
  /**
   * The input received so far, at most a page, into `out` (a page_alloc
   * page); never blocks: the count, 0 when none, or -errno (-ENODEV,
   * -EINVAL, -EIO once the backend left impossible indices).
   */
  console_read(out: number): number;
}
