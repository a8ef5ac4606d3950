// Generated from assembly/xen/abi.json by tools/abi-generate.ts (npm run build): edit the declaration, not this file.
// Xen's public ABI as the hypervisor reads it: the constants and x86_64 struct layouts of Xen's C headers,
// under their C names (a constant group's members without its prefix: EVTCHNOP.send is EVTCHNOP_send).

export interface StructLayout<F extends string = string> {
  sizeof: number;
  fields: Record<F, number>;
}

/** Xen's page (io/ring.h's XEN_PAGE_SHIFT): gfn = address >> PAGE_SHIFT. */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;

/** Event channel hypercall sub-commands (event_channel.h). */
export const EVTCHNOP = {
  bind_interdomain: 0,
  close: 3,
  send: 4,
  status: 5,
  alloc_unbound: 6,
  unmask: 9,
} as const;

/** Grant table hypercall sub-commands (grant_table.h). */
export const GNTTABOP = {
  map_grant_ref: 0,
  unmap_grant_ref: 1,
  setup_table: 2,
  copy: 5,
  query_size: 6,
} as const;

/** Memory hypercall sub-commands (memory.h). */
export const XENMEM = {
  decrease_reservation: 1,
  populate_physmap: 6,
  add_to_physmap: 7,
} as const;

/** What XENMEM_add_to_physmap places (memory.h). */
export const XENMAPSPACE = {
  shared_info: 0,
  grant_table: 1,
  gmfn: 2,
} as const;

/** XENMAPSPACE_grant_table: this bit in idx asks for a status frame (memory.h). */
export const XENMAPIDX = {
  grant_table_status: 2147483648,
} as const;

/** HVM hypercall sub-commands (hvm/hvm_op.h). */
export const HVMOP = {
  set_param: 0,
  get_param: 1,
} as const;

/** HVM parameters (hvm/params.h): where the toolstack put the store and console rings. */
export const HVM_PARAM = {
  CALLBACK_IRQ: 0,
  STORE_PFN: 1,
  STORE_EVTCHN: 2,
  CONSOLE_PFN: 17,
  CONSOLE_EVTCHN: 18,
} as const;

/** Scheduler hypercall sub-commands (sched.h). */
export const SCHEDOP = {
  yield: 0,
  block: 1,
  shutdown: 2,
  poll: 3,
} as const;

/** SCHEDOP_shutdown reasons (sched.h). */
export const SHUTDOWN = {
  poweroff: 0,
  reboot: 1,
  suspend: 2,
  crash: 3,
} as const;

/** Console hypercall sub-commands (xen.h). */
export const CONSOLEIO = {
  write: 0,
  read: 1,
} as const;

/** Version hypercall sub-commands (version.h). */
export const XENVER = {
  version: 0,
  extraversion: 1,
} as const;

/** Reserved domain ids (xen.h): a domain names itself DOMID_SELF. */
export const DOMID = {
  FIRST_RESERVED: 32752,
  SELF: 32752,
} as const;

/** Event channel states (EVTCHNOP_status). */
export const EVTCHNSTAT = {
  closed: 0,
  unbound: 1,
  interdomain: 2,
  pirq: 3,
  virq: 4,
  ipi: 5,
} as const;

/** Grant table v1 entry flags (grant_table.h). */
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

/** GNTTABOP_map_grant_ref flags (grant_table.h). */
export const GNTMAP = {
  device_map: 1,
  host_map: 2,
  readonly: 4,
  application_map: 8,
  contains_pte: 16,
} as const;

/** GNTTABOP_copy flags (grant_table.h). */
export const GNTCOPY = {
  source_gref: 1,
  dest_gref: 2,
} as const;

/** Grant operation status codes (grant_table.h). */
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

/**
 * The xenstore ring and protocol (io/xs_wire.h); `connection`: the guest sets RECONNECT, only xenstored sets CONNECTED
 * again.
 */
export const XENSTORE = {
  RING_SIZE: 1024,
  CONNECTED: 0,
  RECONNECT: 1,
  PAYLOAD_MAX: 4096,
  ABS_PATH_MAX: 3072,
  REL_PATH_MAX: 2048,
  SERVER_FEATURE_RECONNECTION: 1,
  SERVER_FEATURE_ERROR: 2,
} as const;

/** The xenstore ring's `error` field (io/xs_wire.h). */
export const XENSTORE_ERROR = {
  NONE: 0,
  COMM: 1,
  RINGIDX: 2,
  PROTO: 3,
} as const;

/**
 * XenStore message types (io/xs_wire.h's enum xsd_sockmsg_type, newest; 20 was XS_RESTRICT, removed). Debian's headers
 * end at XS_DIRECTORY_PART: the newer types continue the enum after it, and the probe counts on from there.
 */
export const XS = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
  GET_FEATURE: 23,
  SET_FEATURE: 24,
  GET_QUOTA: 25,
  SET_QUOTA: 26,
  TYPE_COUNT: 27,
  INVALID: 65535,
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

/** Block request operations (io/blkif.h). */
export const BLKIF_OP = {
  READ: 0,
  WRITE: 1,
  WRITE_BARRIER: 2,
  FLUSH_DISKCACHE: 3,
  DISCARD: 5,
  INDIRECT: 6,
} as const;

/** Block response statuses (io/blkif.h). */
export const BLKIF_RSP = {
  OKAY: 0,
  ERROR: -1,
  EOPNOTSUPP: -2,
} as const;

/** Block ring sizes for one page (io/blkif.h, io/ring.h). */
export const BLKIF = {
  MAX_SEGMENTS_PER_REQUEST: 11,
  RING_SIZE: 32,
} as const;

/** Network ring sizes for one page (io/netif.h, io/ring.h). */
export const NETIF = {
  TX_RING_SIZE: 256,
  RX_RING_SIZE: 256,
} as const;

/**
 * Packet limits (io/netif.h): the slots a backend must take in one transmitted packet, and the largest transmitted
 * packet.
 */
export const XEN_NETIF = {
  NR_SLOTS_MIN: 18,
  MAX_TX_SIZE: 65535,
} as const;

/** Transmit request flags (io/netif.h). */
export const NETTXF = {
  csum_blank: 1,
  data_validated: 2,
  more_data: 4,
  extra_info: 8,
} as const;

/** Receive response flags (io/netif.h). */
export const NETRXF = {
  data_validated: 1,
  csum_blank: 2,
  more_data: 4,
  extra_info: 8,
  gso_prefix: 16,
} as const;

/** Transmit and receive response statuses (io/netif.h): NULL answers an extra-info slot. */
export const NETIF_RSP = {
  DROPPED: -2,
  ERROR: -1,
  OKAY: 0,
  NULL: 1,
} as const;

/** Extra-info segment types (io/netif.h): NONE is never valid, MAX is one past the last. */
export const XEN_NETIF_EXTRA_TYPE = {
  NONE: 0,
  GSO: 1,
  MCAST_ADD: 2,
  MCAST_DEL: 3,
  HASH: 4,
  MAX: 5,
} as const;

/** Extra-info segment flags (io/netif.h): MORE chains another segment. */
export const XEN_NETIF_EXTRA_FLAG = {
  MORE: 1,
} as const;

/** GSO types of a GSO extra-info segment (io/netif.h). */
export const XEN_NETIF_GSO_TYPE = {
  NONE: 0,
  TCPV4: 1,
  TCPV6: 2,
} as const;

/** Sizes fixed by the headers. */
export const XEN_LIMITS = {
  HVM_NR_PARAMS: 39,
  EVTCHN_2L_NR_CHANNELS: 4096,
  XEN_EXTRAVERSION_LEN: 16,
} as const;

/** Xen's errno values (errno.h); hypercalls return them negated. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  EWOULDBLOCK: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  EDEADLOCK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  ETIME: 62,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
} as const;

/** xen.h: a vcpu's event flags and clock, inside shared_info. */
export const vcpu_info = {
  sizeof: 64,
  fields: {
    evtchn_upcall_pending: 0,
    evtchn_upcall_mask: 1,
    evtchn_pending_sel: 8,
    arch: 16,
    time: 32,
  },
} satisfies StructLayout;

/** vcpu_info.time: Xen's clock for the vcpu; `version` is odd while Xen updates it. */
export const vcpu_time_info = {
  sizeof: 32,
  fields: {
    version: 0,
    tsc_timestamp: 8,
    system_time: 16,
    tsc_to_system_mul: 24,
    tsc_shift: 28,
  },
} satisfies StructLayout;

/** xen.h: the page Xen shares with the domain (XENMAPSPACE_shared_info). */
export const shared_info = {
  sizeof: 3136,
  fields: {
    vcpu_info: 0,
    evtchn_pending: 2048,
    evtchn_mask: 2560,
    wc_version: 3072,
    wc_sec: 3076,
    wc_nsec: 3080,
    wc_sec_hi: 3084,
    arch: 3088,
  },
} satisfies StructLayout;

export const evtchn_alloc_unbound = {
  sizeof: 8,
  fields: {
    dom: 0,
    remote_dom: 2,
    port: 4,
  },
} satisfies StructLayout;

export const evtchn_bind_interdomain = {
  sizeof: 12,
  fields: {
    remote_dom: 0,
    remote_port: 4,
    local_port: 8,
  },
} satisfies StructLayout;

export const evtchn_send = {
  sizeof: 4,
  fields: {
    port: 0,
  },
} satisfies StructLayout;

export const evtchn_close = {
  sizeof: 4,
  fields: {
    port: 0,
  },
} satisfies StructLayout;

export const evtchn_unmask = {
  sizeof: 4,
  fields: {
    port: 0,
  },
} satisfies StructLayout;

/** EVTCHNOP_status; `u` is a union: which member holds depends on `status`. */
export const evtchn_status = {
  sizeof: 24,
  fields: {
    dom: 0,
    port: 4,
    status: 8,
    vcpu: 12,
    "u.unbound.dom": 16,
    "u.interdomain.dom": 16,
    "u.interdomain.port": 20,
    "u.virq": 16,
  },
} satisfies StructLayout;

export const grant_entry_v1 = {
  sizeof: 8,
  fields: {
    flags: 0,
    domid: 2,
    frame: 4,
  },
} satisfies StructLayout;

export const gnttab_map_grant_ref = {
  sizeof: 32,
  fields: {
    host_addr: 0,
    flags: 8,
    ref: 12,
    dom: 16,
    status: 18,
    handle: 20,
    dev_bus_addr: 24,
  },
} satisfies StructLayout;

export const gnttab_unmap_grant_ref = {
  sizeof: 24,
  fields: {
    host_addr: 0,
    dev_bus_addr: 8,
    handle: 16,
    status: 20,
  },
} satisfies StructLayout;

export const gnttab_setup_table = {
  sizeof: 24,
  fields: {
    dom: 0,
    nr_frames: 4,
    status: 8,
    frame_list: 16,
  },
} satisfies StructLayout;

export const gnttab_query_size = {
  sizeof: 16,
  fields: {
    dom: 0,
    nr_frames: 4,
    max_nr_frames: 8,
    status: 12,
  },
} satisfies StructLayout;

/** GNTTABOP_copy: `source` and `dest` each name a grant reference or a gmfn (`u`). */
export const gnttab_copy = {
  sizeof: 40,
  fields: {
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
  },
} satisfies StructLayout;

export const xen_add_to_physmap = {
  sizeof: 24,
  fields: {
    domid: 0,
    size: 2,
    space: 4,
    idx: 8,
    gpfn: 16,
  },
} satisfies StructLayout;

/** XENMEM_decrease_reservation / populate_physmap: `extent_start` is a handle to `nr_extents` gfns. */
export const xen_memory_reservation = {
  sizeof: 32,
  fields: {
    extent_start: 0,
    nr_extents: 8,
    extent_order: 16,
    mem_flags: 20,
    domid: 24,
  },
} satisfies StructLayout;

export const xen_hvm_param = {
  sizeof: 16,
  fields: {
    domid: 0,
    index: 4,
    value: 8,
  },
} satisfies StructLayout;

export const sched_poll = {
  sizeof: 24,
  fields: {
    ports: 0,
    nr_ports: 8,
    timeout: 16,
  },
} satisfies StructLayout;

export const sched_shutdown = {
  sizeof: 4,
  fields: {
    reason: 0,
  },
} satisfies StructLayout;

/**
 * The xenstore ring page (io/xs_wire.h). evtchn_port is Xen 4.21's newest field, after `error`; Debian's headers stop
 * at `error`, so the probe lays it out after the installed struct.
 */
export const xenstore_domain_interface = {
  sizeof: 2080,
  fields: {
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
  },
} satisfies StructLayout;

/** The header of every XenStore message (io/xs_wire.h). */
export const xsd_sockmsg = {
  sizeof: 16,
  fields: {
    type: 0,
    req_id: 4,
    tx_id: 8,
    len: 12,
  },
} satisfies StructLayout;

/** The console ring page (io/console.h): `in` is backend → guest, `out` guest → backend. */
export const xencons_interface = {
  sizeof: 3088,
  fields: {
    in: 0,
    out: 1024,
    in_cons: 3072,
    in_prod: 3076,
    out_cons: 3080,
    out_prod: 3084,
  },
} satisfies StructLayout;

export const blkif_request_segment = {
  sizeof: 8,
  fields: {
    gref: 0,
    first_sect: 4,
    last_sect: 5,
  },
} satisfies StructLayout;

/** The block device ring (io/blkif.h): requests and responses share its 112-byte slots. */
export const blkif_request = {
  sizeof: 112,
  fields: {
    operation: 0,
    nr_segments: 1,
    handle: 2,
    id: 8,
    sector_number: 16,
    seg: 24,
  },
} satisfies StructLayout;

export const blkif_response = {
  sizeof: 16,
  fields: {
    id: 0,
    operation: 8,
    status: 10,
  },
} satisfies StructLayout;

/**
 * io/ring.h's shared ring header for blkif (64 bytes) and its first slot; a ring of 2^order pages holds BLKIF_RING_SIZE
 * << order slots.
 */
export const blkif_sring = {
  sizeof: 176,
  fields: {
    req_prod: 0,
    req_event: 4,
    rsp_prod: 8,
    rsp_event: 12,
    ring: 64,
  },
} satisfies StructLayout;

/**
 * Guest transmit (io/netif.h): a packet's first slot carries its total size, NETTXF_* flags and its first fragment's
 * page; NETTXF_more_data chains the next fragment, NETTXF_extra_info extra-info segments after the first.
 */
export const netif_tx_request = {
  sizeof: 12,
  fields: {
    gref: 0,
    offset: 4,
    flags: 6,
    id: 8,
    size: 10,
  },
} satisfies StructLayout;

/** One per transmit slot: `id` echoed and a NETIF_RSP_* status; NETIF_RSP_NULL in an extra-info segment's slot. */
export const netif_tx_response = {
  sizeof: 4,
  fields: {
    id: 0,
    status: 2,
  },
} satisfies StructLayout;

/**
 * An extra-info segment (XEN_NETIF_EXTRA_TYPE_*) in a transmit request's or receive response's slot; `u` is a union:
 * which member holds depends on `type`.
 */
export const netif_extra_info = {
  sizeof: 8,
  fields: {
    type: 0,
    flags: 1,
    "u.gso.size": 2,
    "u.gso.type": 4,
    "u.gso.pad": 5,
    "u.gso.features": 6,
    "u.mcast.addr": 2,
    "u.hash.type": 2,
    "u.hash.algorithm": 3,
    "u.hash.value": 4,
    "u.pad": 2,
  },
} satisfies StructLayout;

/**
 * Guest receive: a page the frontend grants for the backend to copy one fragment into; `id` is echoed in the response
 * in the same slot.
 */
export const netif_rx_request = {
  sizeof: 8,
  fields: {
    id: 0,
    pad: 2,
    gref: 4,
  },
} satisfies StructLayout;

/**
 * `status` is the fragment's size in bytes, or a negative NETIF_RSP_*; NETRXF_more_data chains the next slot,
 * NETRXF_extra_info extra-info segments after the first.
 */
export const netif_rx_response = {
  sizeof: 8,
  fields: {
    id: 0,
    offset: 2,
    flags: 4,
    status: 6,
  },
} satisfies StructLayout;

/** io/ring.h's shared ring header for netif transmit and its first 12-byte slot; one page holds NETIF_TX_RING_SIZE. */
export const netif_tx_sring = {
  sizeof: 76,
  fields: {
    req_prod: 0,
    req_event: 4,
    rsp_prod: 8,
    rsp_event: 12,
    ring: 64,
  },
} satisfies StructLayout;

/** io/ring.h's shared ring header for netif receive and its first 8-byte slot; one page holds NETIF_RX_RING_SIZE. */
export const netif_rx_sring = {
  sizeof: 72,
  fields: {
    req_prod: 0,
    req_event: 4,
    rsp_prod: 8,
    rsp_event: 12,
    ring: 64,
  },
} satisfies StructLayout;

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
  xsd_sockmsg,
  xencons_interface,
  blkif_request_segment,
  blkif_request,
  blkif_response,
  blkif_sring,
  netif_tx_request,
  netif_tx_response,
  netif_extra_info,
  netif_rx_request,
  netif_rx_response,
  netif_tx_sring,
  netif_rx_sring,
};

/** Each group's C prefix. */
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
  ["XS_", XS],
  ["XenbusState", XENBUS_STATE],
  ["BLKIF_OP_", BLKIF_OP],
  ["BLKIF_RSP_", BLKIF_RSP],
  ["BLKIF_", BLKIF],
  ["NETIF_", NETIF],
  ["XEN_NETIF_", XEN_NETIF],
  ["NETTXF_", NETTXF],
  ["NETRXF_", NETRXF],
  ["NETIF_RSP_", NETIF_RSP],
  ["XEN_NETIF_EXTRA_TYPE_", XEN_NETIF_EXTRA_TYPE],
  ["XEN_NETIF_EXTRA_FLAG_", XEN_NETIF_EXTRA_FLAG],
  ["XEN_NETIF_GSO_TYPE_", XEN_NETIF_GSO_TYPE],
  ["", XEN_LIMITS],
  ["", ERRNO],
];

/** Every constant under its C name. */
export const HOST_CONSTANTS: Record<string, number> = {
  PAGE_SHIFT,
  PAGE_SIZE,
  ...Object.fromEntries(
    CONSTANT_GROUPS.flatMap(([prefix, group]) => Object.entries(group).map(([name, value]) => [prefix + name, value])),
  ),
};
