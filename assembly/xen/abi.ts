// Generated from assembly/xen/abi.json by tools/abi-generate.ts (npm run build): edit the declaration, not this file.
// Xen's ABI constants, under the names and with the values of its public headers.

// Xen's page (io/ring.h's XEN_PAGE_SHIFT): gfn = address >> PAGE_SHIFT.
export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 4096;

// Event channel hypercall sub-commands (event_channel.h).
export const EVTCHNOP_bind_interdomain: i32 = 0;
export const EVTCHNOP_close: i32 = 3;
export const EVTCHNOP_send: i32 = 4;
export const EVTCHNOP_status: i32 = 5;
export const EVTCHNOP_alloc_unbound: i32 = 6;
export const EVTCHNOP_unmask: i32 = 9;

// Grant table hypercall sub-commands (grant_table.h).
export const GNTTABOP_map_grant_ref: i32 = 0;
export const GNTTABOP_unmap_grant_ref: i32 = 1;
export const GNTTABOP_setup_table: i32 = 2;
export const GNTTABOP_copy: i32 = 5;
export const GNTTABOP_query_size: i32 = 6;

// Memory hypercall sub-commands (memory.h).
export const XENMEM_decrease_reservation: i32 = 1;
export const XENMEM_populate_physmap: i32 = 6;
export const XENMEM_add_to_physmap: i32 = 7;

// What XENMEM_add_to_physmap places (memory.h).
export const XENMAPSPACE_shared_info: i32 = 0;
export const XENMAPSPACE_grant_table: i32 = 1;
export const XENMAPSPACE_gmfn: i32 = 2;

// XENMAPSPACE_grant_table: this bit in idx asks for a status frame (memory.h).
export const XENMAPIDX_grant_table_status: u32 = 2147483648;

// HVM hypercall sub-commands (hvm/hvm_op.h).
export const HVMOP_set_param: i32 = 0;
export const HVMOP_get_param: i32 = 1;

// HVM parameters (hvm/params.h): where the toolstack put the store and console rings.
export const HVM_PARAM_CALLBACK_IRQ: i32 = 0;
export const HVM_PARAM_STORE_PFN: i32 = 1;
export const HVM_PARAM_STORE_EVTCHN: i32 = 2;
export const HVM_PARAM_CONSOLE_PFN: i32 = 17;
export const HVM_PARAM_CONSOLE_EVTCHN: i32 = 18;

// Scheduler hypercall sub-commands (sched.h).
export const SCHEDOP_yield: i32 = 0;
export const SCHEDOP_block: i32 = 1;
export const SCHEDOP_shutdown: i32 = 2;
export const SCHEDOP_poll: i32 = 3;

// SCHEDOP_shutdown reasons (sched.h).
export const SHUTDOWN_poweroff: i32 = 0;
export const SHUTDOWN_reboot: i32 = 1;
export const SHUTDOWN_suspend: i32 = 2;
export const SHUTDOWN_crash: i32 = 3;

// Console hypercall sub-commands (xen.h).
export const CONSOLEIO_write: i32 = 0;
export const CONSOLEIO_read: i32 = 1;

// Version hypercall sub-commands (version.h).
export const XENVER_version: i32 = 0;
export const XENVER_extraversion: i32 = 1;

// Reserved domain ids (xen.h): a domain names itself DOMID_SELF.
export const DOMID_FIRST_RESERVED: i32 = 32752;
export const DOMID_SELF: i32 = 32752;

// Event channel states (EVTCHNOP_status).
export const EVTCHNSTAT_closed: i32 = 0;
export const EVTCHNSTAT_unbound: i32 = 1;
export const EVTCHNSTAT_interdomain: i32 = 2;
export const EVTCHNSTAT_pirq: i32 = 3;
export const EVTCHNSTAT_virq: i32 = 4;
export const EVTCHNSTAT_ipi: i32 = 5;

// Grant table v1 entry flags (grant_table.h).
export const GTF_invalid: i32 = 0;
export const GTF_permit_access: i32 = 1;
export const GTF_accept_transfer: i32 = 2;
export const GTF_type_mask: i32 = 3;
export const GTF_readonly: i32 = 4;
export const GTF_reading: i32 = 8;
export const GTF_writing: i32 = 16;
export const GTF_sub_page: i32 = 256;

// GNTTABOP_map_grant_ref flags (grant_table.h).
export const GNTMAP_device_map: i32 = 1;
export const GNTMAP_host_map: i32 = 2;
export const GNTMAP_readonly: i32 = 4;
export const GNTMAP_application_map: i32 = 8;
export const GNTMAP_contains_pte: i32 = 16;

// GNTTABOP_copy flags (grant_table.h).
export const GNTCOPY_source_gref: i32 = 1;
export const GNTCOPY_dest_gref: i32 = 2;

// Grant operation status codes (grant_table.h).
export const GNTST_okay: i32 = 0;
export const GNTST_general_error: i32 = -1;
export const GNTST_bad_domain: i32 = -2;
export const GNTST_bad_gntref: i32 = -3;
export const GNTST_bad_handle: i32 = -4;
export const GNTST_bad_virt_addr: i32 = -5;
export const GNTST_bad_dev_addr: i32 = -6;
export const GNTST_no_device_space: i32 = -7;
export const GNTST_permission_denied: i32 = -8;
export const GNTST_bad_page: i32 = -9;
export const GNTST_bad_copy_arg: i32 = -10;
export const GNTST_address_too_big: i32 = -11;
export const GNTST_eagain: i32 = -12;

// The xenstore ring and protocol (io/xs_wire.h); `connection`: the guest sets RECONNECT, only xenstored sets CONNECTED
// again.
export const XENSTORE_RING_SIZE: i32 = 1024;
export const XENSTORE_CONNECTED: i32 = 0;
export const XENSTORE_RECONNECT: i32 = 1;
export const XENSTORE_PAYLOAD_MAX: i32 = 4096;
export const XENSTORE_ABS_PATH_MAX: i32 = 3072;
export const XENSTORE_REL_PATH_MAX: i32 = 2048;
export const XENSTORE_SERVER_FEATURE_RECONNECTION: i32 = 1;
export const XENSTORE_SERVER_FEATURE_ERROR: i32 = 2;

// The xenstore ring's `error` field (io/xs_wire.h).
export const XENSTORE_ERROR_NONE: i32 = 0;
export const XENSTORE_ERROR_COMM: i32 = 1;
export const XENSTORE_ERROR_RINGIDX: i32 = 2;
export const XENSTORE_ERROR_PROTO: i32 = 3;

// XenStore message types (io/xs_wire.h's enum xsd_sockmsg_type, newest; 20 was XS_RESTRICT, removed). Debian's headers
// end at XS_DIRECTORY_PART: the newer types continue the enum after it, and the probe counts on from there.
export const XS_CONTROL: u32 = 0;
export const XS_DIRECTORY: u32 = 1;
export const XS_READ: u32 = 2;
export const XS_GET_PERMS: u32 = 3;
export const XS_WATCH: u32 = 4;
export const XS_UNWATCH: u32 = 5;
export const XS_TRANSACTION_START: u32 = 6;
export const XS_TRANSACTION_END: u32 = 7;
export const XS_INTRODUCE: u32 = 8;
export const XS_RELEASE: u32 = 9;
export const XS_GET_DOMAIN_PATH: u32 = 10;
export const XS_WRITE: u32 = 11;
export const XS_MKDIR: u32 = 12;
export const XS_RM: u32 = 13;
export const XS_SET_PERMS: u32 = 14;
export const XS_WATCH_EVENT: u32 = 15;
export const XS_ERROR: u32 = 16;
export const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
export const XS_RESUME: u32 = 18;
export const XS_SET_TARGET: u32 = 19;
export const XS_RESET_WATCHES: u32 = 21;
export const XS_DIRECTORY_PART: u32 = 22;
export const XS_GET_FEATURE: u32 = 23;
export const XS_SET_FEATURE: u32 = 24;
export const XS_GET_QUOTA: u32 = 25;
export const XS_SET_QUOTA: u32 = 26;
export const XS_TYPE_COUNT: u32 = 27;
export const XS_INVALID: u32 = 65535;

// XenBus device states (io/xenbus.h): the value of each end's `state` node.
export const XenbusStateUnknown: i32 = 0;
export const XenbusStateInitialising: i32 = 1;
export const XenbusStateInitWait: i32 = 2;
export const XenbusStateInitialised: i32 = 3;
export const XenbusStateConnected: i32 = 4;
export const XenbusStateClosing: i32 = 5;
export const XenbusStateClosed: i32 = 6;
export const XenbusStateReconfiguring: i32 = 7;
export const XenbusStateReconfigured: i32 = 8;

// Block request operations (io/blkif.h).
export const BLKIF_OP_READ: i32 = 0;
export const BLKIF_OP_WRITE: i32 = 1;
export const BLKIF_OP_WRITE_BARRIER: i32 = 2;
export const BLKIF_OP_FLUSH_DISKCACHE: i32 = 3;
export const BLKIF_OP_DISCARD: i32 = 5;
export const BLKIF_OP_INDIRECT: i32 = 6;

// Block response statuses (io/blkif.h).
export const BLKIF_RSP_OKAY: i32 = 0;
export const BLKIF_RSP_ERROR: i32 = -1;
export const BLKIF_RSP_EOPNOTSUPP: i32 = -2;

// Block ring sizes for one page (io/blkif.h, io/ring.h).
export const BLKIF_MAX_SEGMENTS_PER_REQUEST: i32 = 11;
export const BLKIF_RING_SIZE: i32 = 32;

// Network ring sizes for one page (io/netif.h, io/ring.h).
export const NETIF_TX_RING_SIZE: i32 = 256;
export const NETIF_RX_RING_SIZE: i32 = 256;

// Packet limits (io/netif.h): the slots a backend must take in one transmitted packet, and the largest transmitted
// packet.
export const XEN_NETIF_NR_SLOTS_MIN: i32 = 18;
export const XEN_NETIF_MAX_TX_SIZE: i32 = 65535;

// Transmit request flags (io/netif.h).
export const NETTXF_csum_blank: i32 = 1;
export const NETTXF_data_validated: i32 = 2;
export const NETTXF_more_data: i32 = 4;
export const NETTXF_extra_info: i32 = 8;

// Receive response flags (io/netif.h).
export const NETRXF_data_validated: i32 = 1;
export const NETRXF_csum_blank: i32 = 2;
export const NETRXF_more_data: i32 = 4;
export const NETRXF_extra_info: i32 = 8;
export const NETRXF_gso_prefix: i32 = 16;

// Transmit and receive response statuses (io/netif.h): NULL answers an extra-info slot.
export const NETIF_RSP_DROPPED: i32 = -2;
export const NETIF_RSP_ERROR: i32 = -1;
export const NETIF_RSP_OKAY: i32 = 0;
export const NETIF_RSP_NULL: i32 = 1;

// Extra-info segment types (io/netif.h): NONE is never valid, MAX is one past the last.
export const XEN_NETIF_EXTRA_TYPE_NONE: i32 = 0;
export const XEN_NETIF_EXTRA_TYPE_GSO: i32 = 1;
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: i32 = 2;
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: i32 = 3;
export const XEN_NETIF_EXTRA_TYPE_HASH: i32 = 4;
export const XEN_NETIF_EXTRA_TYPE_MAX: i32 = 5;

// Extra-info segment flags (io/netif.h): MORE chains another segment.
export const XEN_NETIF_EXTRA_FLAG_MORE: i32 = 1;

// GSO types of a GSO extra-info segment (io/netif.h).
export const XEN_NETIF_GSO_TYPE_NONE: i32 = 0;
export const XEN_NETIF_GSO_TYPE_TCPV4: i32 = 1;
export const XEN_NETIF_GSO_TYPE_TCPV6: i32 = 2;

// Sizes fixed by the headers.
export const HVM_NR_PARAMS: i32 = 39;
export const EVTCHN_2L_NR_CHANNELS: i32 = 4096;
export const XEN_EXTRAVERSION_LEN: i32 = 16;

// Xen's errno values (errno.h); hypercalls return them negated.
export const EPERM: i32 = 1;
export const ENOENT: i32 = 2;
export const ESRCH: i32 = 3;
export const EIO: i32 = 5;
export const ENXIO: i32 = 6;
export const E2BIG: i32 = 7;
export const ENOEXEC: i32 = 8;
export const EBADF: i32 = 9;
export const ECHILD: i32 = 10;
export const EAGAIN: i32 = 11;
export const EWOULDBLOCK: i32 = 11;
export const ENOMEM: i32 = 12;
export const EACCES: i32 = 13;
export const EFAULT: i32 = 14;
export const EBUSY: i32 = 16;
export const EEXIST: i32 = 17;
export const EXDEV: i32 = 18;
export const ENODEV: i32 = 19;
export const ENOTDIR: i32 = 20;
export const EISDIR: i32 = 21;
export const EINVAL: i32 = 22;
export const ENFILE: i32 = 23;
export const EMFILE: i32 = 24;
export const ENOSPC: i32 = 28;
export const EROFS: i32 = 30;
export const EMLINK: i32 = 31;
export const EDOM: i32 = 33;
export const ERANGE: i32 = 34;
export const EDEADLK: i32 = 35;
export const EDEADLOCK: i32 = 35;
export const ENAMETOOLONG: i32 = 36;
export const ENOLCK: i32 = 37;
export const ENOSYS: i32 = 38;
export const ENOTEMPTY: i32 = 39;
export const ENODATA: i32 = 61;
export const ETIME: i32 = 62;
export const EBADMSG: i32 = 74;
export const EOVERFLOW: i32 = 75;
export const EILSEQ: i32 = 84;
export const ENOTSOCK: i32 = 88;
export const EMSGSIZE: i32 = 90;
export const EOPNOTSUPP: i32 = 95;
export const EADDRINUSE: i32 = 98;
export const EADDRNOTAVAIL: i32 = 99;
export const ENOBUFS: i32 = 105;
export const EISCONN: i32 = 106;
export const ENOTCONN: i32 = 107;
export const ETIMEDOUT: i32 = 110;
export const ECONNREFUSED: i32 = 111;
