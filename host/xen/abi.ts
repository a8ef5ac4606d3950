// Xen's public ABI as the hypervisor reads it: the constants and x86_64 struct
// layouts of Xen's C headers, under their C names. The hypervisor code uses
// these objects directly, and HOST_LAYOUTS / HOST_CONSTANTS are derived from
// the same objects, so the layout test checks exactly what the simulation runs.

export interface StructLayout<F extends string = string> {
  sizeof: number;
  fields: Record<F, number>;
}

function struct<F extends string>(sizeof: number, fields: Record<F, number>): StructLayout<F> {
  return { sizeof, fields };
}

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

// Hypercall sub-commands
export const EVTCHNOP = { bind_interdomain: 0, close: 3, send: 4, status: 5, alloc_unbound: 6, unmask: 9 } as const;
export const GNTTABOP = { map_grant_ref: 0, unmap_grant_ref: 1, setup_table: 2, copy: 5, query_size: 6 } as const;
export const XENMEM = { decrease_reservation: 1, populate_physmap: 6, add_to_physmap: 7 } as const;
export const XENMAPSPACE = { shared_info: 0, grant_table: 1, gmfn: 2 } as const;
export const XENMAPIDX = { grant_table_status: 0x80000000 } as const;
export const HVMOP = { set_param: 0, get_param: 1 } as const;
export const HVM_PARAM = {
  CALLBACK_IRQ: 0,
  STORE_PFN: 1,
  STORE_EVTCHN: 2,
  CONSOLE_PFN: 17,
  CONSOLE_EVTCHN: 18,
} as const;
export const SCHEDOP = { yield: 0, block: 1, shutdown: 2, poll: 3 } as const;
export const SHUTDOWN = { poweroff: 0, reboot: 1, suspend: 2, crash: 3 } as const;
export const CONSOLEIO = { write: 0, read: 1 } as const;
export const XENVER = { version: 0, extraversion: 1 } as const;
export const DOMID = { FIRST_RESERVED: 0x7ff0, SELF: 0x7ff0 } as const;

export const EVTCHNSTAT = { closed: 0, unbound: 1, interdomain: 2, pirq: 3, virq: 4, ipi: 5 } as const;

// Grant table v1
export const GTF = {
  invalid: 0,
  permit_access: 1,
  accept_transfer: 2,
  type_mask: 3,
  readonly: 4,
  reading: 8,
  writing: 16,
  sub_page: 256,
} as const;
export const GNTMAP = { device_map: 1, host_map: 2, readonly: 4, application_map: 8, contains_pte: 16 } as const;
export const GNTCOPY = { source_gref: 1, dest_gref: 2 } as const;
export const GNTST = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
} as const;

/** XenBus device states (io/xenbus.h): the value of each end's `state` node. */
export const XENBUS_STATE = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;

/** Sizes fixed by the headers. */
export const XEN_LIMITS = {
  HVM_NR_PARAMS: 39,
  EVTCHN_2L_NR_CHANNELS: 4096, // 64 selector bits × 64-bit words
  XEN_EXTRAVERSION_LEN: 16,
} as const;

/** The errno values hypercalls return (negated), from xen/errno.h. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  ENOSPC: 28,
  ENOSYS: 38,
} as const;

// Struct layouts (x86_64). Nested union members are named by their C path.
export const vcpu_info = struct(64, {
  evtchn_upcall_pending: 0,
  evtchn_upcall_mask: 1,
  evtchn_pending_sel: 8,
  arch: 16,
  time: 32,
});
/** vcpu_info.time: the vcpu's clock; `version` is odd while the hypervisor updates it. */
export const vcpu_time_info = struct(32, {
  version: 0,
  tsc_timestamp: 8,
  system_time: 16,
  tsc_to_system_mul: 24,
  tsc_shift: 28,
});
export const shared_info = struct(3136, {
  vcpu_info: 0,
  evtchn_pending: 2048,
  evtchn_mask: 2560,
  wc_version: 3072,
  wc_sec: 3076,
  wc_nsec: 3080,
  wc_sec_hi: 3084,
  arch: 3088,
});
export const evtchn_alloc_unbound = struct(8, { dom: 0, remote_dom: 2, port: 4 });
export const evtchn_bind_interdomain = struct(12, { remote_dom: 0, remote_port: 4, local_port: 8 });
export const evtchn_send = struct(4, { port: 0 });
export const evtchn_close = struct(4, { port: 0 });
export const evtchn_unmask = struct(4, { port: 0 });
export const evtchn_status = struct(24, {
  dom: 0,
  port: 4,
  status: 8,
  vcpu: 12,
  "u.unbound.dom": 16,
  "u.interdomain.dom": 16,
  "u.interdomain.port": 20,
  "u.virq": 16,
});
export const grant_entry_v1 = struct(8, { flags: 0, domid: 2, frame: 4 });
export const gnttab_map_grant_ref = struct(32, {
  host_addr: 0,
  flags: 8,
  ref: 12,
  dom: 16,
  status: 18,
  handle: 20,
  dev_bus_addr: 24,
});
export const gnttab_unmap_grant_ref = struct(24, { host_addr: 0, dev_bus_addr: 8, handle: 16, status: 20 });
export const gnttab_setup_table = struct(24, { dom: 0, nr_frames: 4, status: 8, frame_list: 16 });
export const gnttab_query_size = struct(16, { dom: 0, nr_frames: 4, max_nr_frames: 8, status: 12 });
export const gnttab_copy = struct(40, {
  "source.u.ref": 0,
  "source.u.gmfn": 0,
  "source.domid": 8,
  "source.offset": 10,
  "dest.u.ref": 16,
  "dest.u.gmfn": 16,
  "dest.domid": 24,
  "dest.offset": 26,
  len: 32,
  flags: 34,
  status: 36,
});
export const xen_add_to_physmap = struct(24, { domid: 0, size: 2, space: 4, idx: 8, gpfn: 16 });
export const xen_memory_reservation = struct(32, {
  extent_start: 0,
  nr_extents: 8,
  extent_order: 16,
  mem_flags: 20,
  domid: 24,
});
export const xen_hvm_param = struct(16, { domid: 0, index: 4, value: 8 });
export const sched_poll = struct(24, { ports: 0, nr_ports: 8, timeout: 16 });
export const sched_shutdown = struct(4, { reason: 0 });
/** The xenstore ring page (io/xs_wire.h; evtchn_port is the newest field, after error). */
export const xenstore_domain_interface = struct(2080, {
  req: 0,
  rsp: 1024,
  req_cons: 2048,
  req_prod: 2052,
  rsp_cons: 2056,
  rsp_prod: 2060,
  server_features: 2064,
  connection: 2068,
  error: 2072,
  evtchn_port: 2076,
});
/** Each ring's size, and the `connection` field: the guest sets RECONNECT, only xenstored sets CONNECTED again. */
export const XENSTORE = { RING_SIZE: 1024, CONNECTED: 0, RECONNECT: 1 } as const;
/** The ring's `error` field. */
export const XENSTORE_ERROR = { NONE: 0, COMM: 1, RINGIDX: 2, PROTO: 3 } as const;

/** The console ring page (io/console.h): `in` is backend → guest, `out` guest → backend. */
export const xencons_interface = struct(3088, {
  in: 0,
  out: 1024,
  in_cons: 3072,
  in_prod: 3076,
  out_cons: 3080,
  out_prod: 3084,
});

/**
 * The block device ring (io/blkif.h): requests and responses share the ring's
 * 112-byte slots after the 64-byte header of io/ring.h; a ring of 2^order
 * pages holds BLKIF_RING_SIZE << order slots.
 */
export const blkif_request_segment = struct(8, { gref: 0, first_sect: 4, last_sect: 5 });
export const blkif_request = struct(112, {
  operation: 0,
  nr_segments: 1,
  handle: 2,
  id: 8,
  sector_number: 16,
  seg: 24,
});
export const blkif_response = struct(16, { id: 0, operation: 8, status: 10 });
export const blkif_sring = struct(176, { req_prod: 0, req_event: 4, rsp_prod: 8, rsp_event: 12, ring: 64 });
export const BLKIF_OP = { READ: 0, WRITE: 1, WRITE_BARRIER: 2, FLUSH_DISKCACHE: 3, DISCARD: 5, INDIRECT: 6 } as const;
export const BLKIF_RSP = { OKAY: 0, ERROR: -1, EOPNOTSUPP: -2 } as const;
export const BLKIF = { MAX_SEGMENTS_PER_REQUEST: 11, RING_SIZE: 32 } as const;

export const HOST_LAYOUTS: Record<string, StructLayout> = {
  vcpu_info,
  vcpu_time_info,
  shared_info,
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_send,
  evtchn_close,
  evtchn_unmask,
  evtchn_status,
  grant_entry_v1,
  gnttab_map_grant_ref,
  gnttab_unmap_grant_ref,
  gnttab_setup_table,
  gnttab_query_size,
  gnttab_copy,
  xen_add_to_physmap,
  xen_memory_reservation,
  xen_hvm_param,
  sched_poll,
  sched_shutdown,
  xenstore_domain_interface,
  xencons_interface,
  blkif_request_segment,
  blkif_request,
  blkif_response,
  blkif_sring,
};

/** Each group's C prefix: EVTCHNOP.send is EVTCHNOP_send in Xen's headers. */
const CONSTANT_GROUPS: [string, Record<string, number>][] = [
  ["EVTCHNOP_", EVTCHNOP],
  ["GNTTABOP_", GNTTABOP],
  ["XENMEM_", XENMEM],
  ["XENMAPSPACE_", XENMAPSPACE],
  ["XENMAPIDX_", XENMAPIDX],
  ["HVMOP_", HVMOP],
  ["HVM_PARAM_", HVM_PARAM],
  ["SCHEDOP_", SCHEDOP],
  ["SHUTDOWN_", SHUTDOWN],
  ["CONSOLEIO_", CONSOLEIO],
  ["XENVER_", XENVER],
  ["DOMID_", DOMID],
  ["EVTCHNSTAT_", EVTCHNSTAT],
  ["GTF_", GTF],
  ["GNTMAP_", GNTMAP],
  ["GNTCOPY_", GNTCOPY],
  ["GNTST_", GNTST],
  ["XENSTORE_", XENSTORE],
  ["XENSTORE_ERROR_", XENSTORE_ERROR],
  ["XenbusState", XENBUS_STATE],
  ["BLKIF_OP_", BLKIF_OP],
  ["BLKIF_RSP_", BLKIF_RSP],
  ["BLKIF_", BLKIF],
  ["", XEN_LIMITS],
  ["", ERRNO],
];

export const HOST_CONSTANTS: Record<string, number> = Object.fromEntries(
  CONSTANT_GROUPS.flatMap(([prefix, group]) => Object.entries(group).map(([name, value]) => [prefix + name, value])),
);

/** The name of a shutdown reason code (SHUTDOWN_*), or "unknown(<code>)". */
export function shutdownReasonName(code: number): string {
  const entry = Object.entries(SHUTDOWN).find(([, value]) => value === code);
  return entry ? entry[0] : `unknown(${code})`;
}
