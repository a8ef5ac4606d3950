// The module describes its own ABI: every struct layout and constant it was
// compiled with, as JSON, so a build can be checked against Xen's C headers
// (test/layouts.test.ts) and users can inspect what they ship (`npm run layouts`).
import * as abi from "./abi";
import * as layout from "./layout";

class JsonObject {
  private members: string[] = [];

  set(key: string, json: string): JsonObject {
    this.members.push(`"${key}":${json}`);
    return this;
  }

  number(key: string, value: i64): JsonObject {
    return this.set(key, value.toString());
  }

  toString(): string {
    return `{${this.members.join(",")}}`;
  }
}

function struct(size: u32, fields: JsonObject): string {
  return new JsonObject().number("sizeof", size).set("fields", fields.toString()).toString();
}

/** {"<struct>": {"sizeof": n, "fields": {"<field>": offset}}}, names as in Xen's headers. */
export function xen_abi_layouts(): string {
  const table = new JsonObject();
  table.set(
    "vcpu_info",
    struct(
      layout.vcpu_info.SIZE,
      new JsonObject()
        .number("evtchn_upcall_pending", layout.vcpu_info.evtchn_upcall_pending)
        .number("evtchn_upcall_mask", layout.vcpu_info.evtchn_upcall_mask)
        .number("evtchn_pending_sel", layout.vcpu_info.evtchn_pending_sel)
        .number("arch", layout.vcpu_info.arch)
        .number("time", layout.vcpu_info.time),
    ),
  );
  table.set(
    "vcpu_time_info",
    struct(
      layout.vcpu_time_info.SIZE,
      new JsonObject()
        .number("version", layout.vcpu_time_info.version)
        .number("tsc_timestamp", layout.vcpu_time_info.tsc_timestamp)
        .number("system_time", layout.vcpu_time_info.system_time)
        .number("tsc_to_system_mul", layout.vcpu_time_info.tsc_to_system_mul)
        .number("tsc_shift", layout.vcpu_time_info.tsc_shift),
    ),
  );
  table.set(
    "shared_info",
    struct(
      layout.shared_info.SIZE,
      new JsonObject()
        .number("vcpu_info", layout.shared_info.vcpu_info)
        .number("evtchn_pending", layout.shared_info.evtchn_pending)
        .number("evtchn_mask", layout.shared_info.evtchn_mask)
        .number("wc_version", layout.shared_info.wc_version)
        .number("wc_sec", layout.shared_info.wc_sec)
        .number("wc_nsec", layout.shared_info.wc_nsec)
        .number("wc_sec_hi", layout.shared_info.wc_sec_hi)
        .number("arch", layout.shared_info.arch),
    ),
  );
  table.set(
    "evtchn_alloc_unbound",
    struct(
      layout.evtchn_alloc_unbound.SIZE,
      new JsonObject()
        .number("dom", layout.evtchn_alloc_unbound.dom)
        .number("remote_dom", layout.evtchn_alloc_unbound.remote_dom)
        .number("port", layout.evtchn_alloc_unbound.port),
    ),
  );
  table.set(
    "evtchn_bind_interdomain",
    struct(
      layout.evtchn_bind_interdomain.SIZE,
      new JsonObject()
        .number("remote_dom", layout.evtchn_bind_interdomain.remote_dom)
        .number("remote_port", layout.evtchn_bind_interdomain.remote_port)
        .number("local_port", layout.evtchn_bind_interdomain.local_port),
    ),
  );
  table.set("evtchn_send", struct(layout.evtchn_send.SIZE, new JsonObject().number("port", layout.evtchn_send.port)));
  table.set(
    "evtchn_close",
    struct(layout.evtchn_close.SIZE, new JsonObject().number("port", layout.evtchn_close.port)),
  );
  table.set(
    "evtchn_unmask",
    struct(layout.evtchn_unmask.SIZE, new JsonObject().number("port", layout.evtchn_unmask.port)),
  );
  table.set(
    "evtchn_status",
    struct(
      layout.evtchn_status.SIZE,
      new JsonObject()
        .number("dom", layout.evtchn_status.dom)
        .number("port", layout.evtchn_status.port)
        .number("status", layout.evtchn_status.status)
        .number("vcpu", layout.evtchn_status.vcpu)
        .number("u.unbound.dom", layout.evtchn_status.unbound_dom)
        .number("u.interdomain.dom", layout.evtchn_status.interdomain_dom)
        .number("u.interdomain.port", layout.evtchn_status.interdomain_port)
        .number("u.virq", layout.evtchn_status.virq),
    ),
  );
  table.set(
    "grant_entry_v1",
    struct(
      layout.grant_entry_v1.SIZE,
      new JsonObject()
        .number("flags", layout.grant_entry_v1.flags)
        .number("domid", layout.grant_entry_v1.domid)
        .number("frame", layout.grant_entry_v1.frame),
    ),
  );
  table.set(
    "gnttab_map_grant_ref",
    struct(
      layout.gnttab_map_grant_ref.SIZE,
      new JsonObject()
        .number("host_addr", layout.gnttab_map_grant_ref.host_addr)
        .number("flags", layout.gnttab_map_grant_ref.flags)
        .number("ref", layout.gnttab_map_grant_ref.ref)
        .number("dom", layout.gnttab_map_grant_ref.dom)
        .number("status", layout.gnttab_map_grant_ref.status)
        .number("handle", layout.gnttab_map_grant_ref.handle)
        .number("dev_bus_addr", layout.gnttab_map_grant_ref.dev_bus_addr),
    ),
  );
  table.set(
    "gnttab_unmap_grant_ref",
    struct(
      layout.gnttab_unmap_grant_ref.SIZE,
      new JsonObject()
        .number("host_addr", layout.gnttab_unmap_grant_ref.host_addr)
        .number("dev_bus_addr", layout.gnttab_unmap_grant_ref.dev_bus_addr)
        .number("handle", layout.gnttab_unmap_grant_ref.handle)
        .number("status", layout.gnttab_unmap_grant_ref.status),
    ),
  );
  table.set(
    "gnttab_setup_table",
    struct(
      layout.gnttab_setup_table.SIZE,
      new JsonObject()
        .number("dom", layout.gnttab_setup_table.dom)
        .number("nr_frames", layout.gnttab_setup_table.nr_frames)
        .number("status", layout.gnttab_setup_table.status)
        .number("frame_list", layout.gnttab_setup_table.frame_list),
    ),
  );
  table.set(
    "gnttab_query_size",
    struct(
      layout.gnttab_query_size.SIZE,
      new JsonObject()
        .number("dom", layout.gnttab_query_size.dom)
        .number("nr_frames", layout.gnttab_query_size.nr_frames)
        .number("max_nr_frames", layout.gnttab_query_size.max_nr_frames)
        .number("status", layout.gnttab_query_size.status),
    ),
  );
  table.set(
    "gnttab_copy",
    struct(
      layout.gnttab_copy.SIZE,
      new JsonObject()
        .number("source.u.ref", layout.gnttab_copy.source_ref)
        .number("source.u.gmfn", layout.gnttab_copy.source_gmfn)
        .number("source.domid", layout.gnttab_copy.source_domid)
        .number("source.offset", layout.gnttab_copy.source_offset)
        .number("dest.u.ref", layout.gnttab_copy.dest_ref)
        .number("dest.u.gmfn", layout.gnttab_copy.dest_gmfn)
        .number("dest.domid", layout.gnttab_copy.dest_domid)
        .number("dest.offset", layout.gnttab_copy.dest_offset)
        .number("len", layout.gnttab_copy.len)
        .number("flags", layout.gnttab_copy.flags)
        .number("status", layout.gnttab_copy.status),
    ),
  );
  table.set(
    "xen_add_to_physmap",
    struct(
      layout.xen_add_to_physmap.SIZE,
      new JsonObject()
        .number("domid", layout.xen_add_to_physmap.domid)
        .number("size", layout.xen_add_to_physmap.size)
        .number("space", layout.xen_add_to_physmap.space)
        .number("idx", layout.xen_add_to_physmap.idx)
        .number("gpfn", layout.xen_add_to_physmap.gpfn),
    ),
  );
  table.set(
    "xen_memory_reservation",
    struct(
      layout.xen_memory_reservation.SIZE,
      new JsonObject()
        .number("extent_start", layout.xen_memory_reservation.extent_start)
        .number("nr_extents", layout.xen_memory_reservation.nr_extents)
        .number("extent_order", layout.xen_memory_reservation.extent_order)
        .number("mem_flags", layout.xen_memory_reservation.mem_flags)
        .number("domid", layout.xen_memory_reservation.domid),
    ),
  );
  table.set(
    "xen_hvm_param",
    struct(
      layout.xen_hvm_param.SIZE,
      new JsonObject()
        .number("domid", layout.xen_hvm_param.domid)
        .number("index", layout.xen_hvm_param.index)
        .number("value", layout.xen_hvm_param.value),
    ),
  );
  table.set(
    "sched_poll",
    struct(
      layout.sched_poll.SIZE,
      new JsonObject()
        .number("ports", layout.sched_poll.ports)
        .number("nr_ports", layout.sched_poll.nr_ports)
        .number("timeout", layout.sched_poll.timeout),
    ),
  );
  table.set(
    "sched_shutdown",
    struct(layout.sched_shutdown.SIZE, new JsonObject().number("reason", layout.sched_shutdown.reason)),
  );
  table.set(
    "xenstore_domain_interface",
    struct(
      layout.xenstore_domain_interface.SIZE,
      new JsonObject()
        .number("req", layout.xenstore_domain_interface.req)
        .number("rsp", layout.xenstore_domain_interface.rsp)
        .number("req_cons", layout.xenstore_domain_interface.req_cons)
        .number("req_prod", layout.xenstore_domain_interface.req_prod)
        .number("rsp_cons", layout.xenstore_domain_interface.rsp_cons)
        .number("rsp_prod", layout.xenstore_domain_interface.rsp_prod)
        .number("server_features", layout.xenstore_domain_interface.server_features)
        .number("connection", layout.xenstore_domain_interface.connection)
        .number("error", layout.xenstore_domain_interface.error)
        .number("evtchn_port", layout.xenstore_domain_interface.evtchn_port),
    ),
  );
  table.set(
    "xsd_sockmsg",
    struct(
      layout.xsd_sockmsg.SIZE,
      new JsonObject()
        .number("type", layout.xsd_sockmsg.type)
        .number("req_id", layout.xsd_sockmsg.req_id)
        .number("tx_id", layout.xsd_sockmsg.tx_id)
        .number("len", layout.xsd_sockmsg.len),
    ),
  );
  table.set(
    "xencons_interface",
    struct(
      layout.xencons_interface.SIZE,
      new JsonObject()
        .number("in", layout.xencons_interface.in_)
        .number("out", layout.xencons_interface.out)
        .number("in_cons", layout.xencons_interface.in_cons)
        .number("in_prod", layout.xencons_interface.in_prod)
        .number("out_cons", layout.xencons_interface.out_cons)
        .number("out_prod", layout.xencons_interface.out_prod),
    ),
  );
  table.set(
    "blkif_request_segment",
    struct(
      layout.blkif_request_segment.SIZE,
      new JsonObject()
        .number("gref", layout.blkif_request_segment.gref)
        .number("first_sect", layout.blkif_request_segment.first_sect)
        .number("last_sect", layout.blkif_request_segment.last_sect),
    ),
  );
  table.set(
    "blkif_request",
    struct(
      layout.blkif_request.SIZE,
      new JsonObject()
        .number("operation", layout.blkif_request.operation)
        .number("nr_segments", layout.blkif_request.nr_segments)
        .number("handle", layout.blkif_request.handle)
        .number("id", layout.blkif_request.id)
        .number("sector_number", layout.blkif_request.sector_number)
        .number("seg", layout.blkif_request.seg),
    ),
  );
  table.set(
    "blkif_response",
    struct(
      layout.blkif_response.SIZE,
      new JsonObject()
        .number("id", layout.blkif_response.id)
        .number("operation", layout.blkif_response.operation)
        .number("status", layout.blkif_response.status),
    ),
  );
  table.set(
    "blkif_sring",
    struct(
      layout.blkif_sring.SIZE,
      new JsonObject()
        .number("req_prod", layout.blkif_sring.req_prod)
        .number("req_event", layout.blkif_sring.req_event)
        .number("rsp_prod", layout.blkif_sring.rsp_prod)
        .number("rsp_event", layout.blkif_sring.rsp_event)
        .number("ring", layout.blkif_sring.ring),
    ),
  );
  table.set(
    "netif_tx_request",
    struct(
      layout.netif_tx_request.SIZE,
      new JsonObject()
        .number("gref", layout.netif_tx_request.gref)
        .number("offset", layout.netif_tx_request.offset)
        .number("flags", layout.netif_tx_request.flags)
        .number("id", layout.netif_tx_request.id)
        .number("size", layout.netif_tx_request.size),
    ),
  );
  table.set(
    "netif_tx_response",
    struct(
      layout.netif_tx_response.SIZE,
      new JsonObject().number("id", layout.netif_tx_response.id).number("status", layout.netif_tx_response.status),
    ),
  );
  table.set(
    "netif_rx_request",
    struct(
      layout.netif_rx_request.SIZE,
      new JsonObject().number("id", layout.netif_rx_request.id).number("gref", layout.netif_rx_request.gref),
    ),
  );
  table.set(
    "netif_rx_response",
    struct(
      layout.netif_rx_response.SIZE,
      new JsonObject()
        .number("id", layout.netif_rx_response.id)
        .number("offset", layout.netif_rx_response.offset)
        .number("flags", layout.netif_rx_response.flags)
        .number("status", layout.netif_rx_response.status),
    ),
  );
  return table.toString();
}

/** {"<NAME>": value} for every Xen constant the module was built with. */
export function xen_abi_constants(): string {
  return new JsonObject()
    .number("EVTCHNOP_bind_interdomain", abi.EVTCHNOP_bind_interdomain)
    .number("EVTCHNOP_close", abi.EVTCHNOP_close)
    .number("EVTCHNOP_send", abi.EVTCHNOP_send)
    .number("EVTCHNOP_status", abi.EVTCHNOP_status)
    .number("EVTCHNOP_alloc_unbound", abi.EVTCHNOP_alloc_unbound)
    .number("EVTCHNOP_unmask", abi.EVTCHNOP_unmask)
    .number("GNTTABOP_map_grant_ref", abi.GNTTABOP_map_grant_ref)
    .number("GNTTABOP_unmap_grant_ref", abi.GNTTABOP_unmap_grant_ref)
    .number("GNTTABOP_setup_table", abi.GNTTABOP_setup_table)
    .number("GNTTABOP_copy", abi.GNTTABOP_copy)
    .number("GNTTABOP_query_size", abi.GNTTABOP_query_size)
    .number("XENMEM_decrease_reservation", abi.XENMEM_decrease_reservation)
    .number("XENMEM_populate_physmap", abi.XENMEM_populate_physmap)
    .number("XENMEM_add_to_physmap", abi.XENMEM_add_to_physmap)
    .number("XENMAPSPACE_shared_info", abi.XENMAPSPACE_shared_info)
    .number("XENMAPSPACE_grant_table", abi.XENMAPSPACE_grant_table)
    .number("XENMAPSPACE_gmfn", abi.XENMAPSPACE_gmfn)
    .number("HVMOP_set_param", abi.HVMOP_set_param)
    .number("HVMOP_get_param", abi.HVMOP_get_param)
    .number("HVM_PARAM_STORE_PFN", abi.HVM_PARAM_STORE_PFN)
    .number("HVM_PARAM_STORE_EVTCHN", abi.HVM_PARAM_STORE_EVTCHN)
    .number("HVM_PARAM_CONSOLE_PFN", abi.HVM_PARAM_CONSOLE_PFN)
    .number("HVM_PARAM_CONSOLE_EVTCHN", abi.HVM_PARAM_CONSOLE_EVTCHN)
    .number("SCHEDOP_yield", abi.SCHEDOP_yield)
    .number("SCHEDOP_block", abi.SCHEDOP_block)
    .number("SCHEDOP_shutdown", abi.SCHEDOP_shutdown)
    .number("SCHEDOP_poll", abi.SCHEDOP_poll)
    .number("SHUTDOWN_poweroff", abi.SHUTDOWN_poweroff)
    .number("SHUTDOWN_reboot", abi.SHUTDOWN_reboot)
    .number("SHUTDOWN_suspend", abi.SHUTDOWN_suspend)
    .number("SHUTDOWN_crash", abi.SHUTDOWN_crash)
    .number("CONSOLEIO_write", abi.CONSOLEIO_write)
    .number("CONSOLEIO_read", abi.CONSOLEIO_read)
    .number("XENVER_version", abi.XENVER_version)
    .number("XENVER_extraversion", abi.XENVER_extraversion)
    .number("DOMID_SELF", abi.DOMID_SELF)
    .number("EVTCHNSTAT_closed", abi.EVTCHNSTAT_closed)
    .number("EVTCHNSTAT_unbound", abi.EVTCHNSTAT_unbound)
    .number("EVTCHNSTAT_interdomain", abi.EVTCHNSTAT_interdomain)
    .number("EVTCHNSTAT_pirq", abi.EVTCHNSTAT_pirq)
    .number("EVTCHNSTAT_virq", abi.EVTCHNSTAT_virq)
    .number("EVTCHNSTAT_ipi", abi.EVTCHNSTAT_ipi)
    .number("GTF_invalid", abi.GTF_invalid)
    .number("GTF_permit_access", abi.GTF_permit_access)
    .number("GTF_accept_transfer", abi.GTF_accept_transfer)
    .number("GTF_type_mask", abi.GTF_type_mask)
    .number("GTF_readonly", abi.GTF_readonly)
    .number("GTF_reading", abi.GTF_reading)
    .number("GTF_writing", abi.GTF_writing)
    .number("GNTMAP_device_map", abi.GNTMAP_device_map)
    .number("GNTMAP_host_map", abi.GNTMAP_host_map)
    .number("GNTMAP_readonly", abi.GNTMAP_readonly)
    .number("GNTCOPY_source_gref", abi.GNTCOPY_source_gref)
    .number("GNTCOPY_dest_gref", abi.GNTCOPY_dest_gref)
    .number("GNTST_okay", abi.GNTST_okay)
    .number("GNTST_general_error", abi.GNTST_general_error)
    .number("GNTST_bad_domain", abi.GNTST_bad_domain)
    .number("GNTST_bad_gntref", abi.GNTST_bad_gntref)
    .number("GNTST_bad_handle", abi.GNTST_bad_handle)
    .number("GNTST_bad_virt_addr", abi.GNTST_bad_virt_addr)
    .number("GNTST_bad_dev_addr", abi.GNTST_bad_dev_addr)
    .number("GNTST_no_device_space", abi.GNTST_no_device_space)
    .number("GNTST_permission_denied", abi.GNTST_permission_denied)
    .number("GNTST_bad_page", abi.GNTST_bad_page)
    .number("GNTST_bad_copy_arg", abi.GNTST_bad_copy_arg)
    .number("GNTST_address_too_big", abi.GNTST_address_too_big)
    .number("GNTST_eagain", abi.GNTST_eagain)
    .number("XENSTORE_RING_SIZE", abi.XENSTORE_RING_SIZE)
    .number("XENSTORE_PAYLOAD_MAX", abi.XENSTORE_PAYLOAD_MAX)
    .number("XENSTORE_ABS_PATH_MAX", abi.XENSTORE_ABS_PATH_MAX)
    .number("XENSTORE_REL_PATH_MAX", abi.XENSTORE_REL_PATH_MAX)
    .number("XENSTORE_SERVER_FEATURE_RECONNECTION", abi.XENSTORE_SERVER_FEATURE_RECONNECTION)
    .number("XENSTORE_SERVER_FEATURE_ERROR", abi.XENSTORE_SERVER_FEATURE_ERROR)
    .number("XENSTORE_CONNECTED", abi.XENSTORE_CONNECTED)
    .number("XENSTORE_RECONNECT", abi.XENSTORE_RECONNECT)
    .number("XENSTORE_ERROR_NONE", abi.XENSTORE_ERROR_NONE)
    .number("XENSTORE_ERROR_COMM", abi.XENSTORE_ERROR_COMM)
    .number("XENSTORE_ERROR_RINGIDX", abi.XENSTORE_ERROR_RINGIDX)
    .number("XENSTORE_ERROR_PROTO", abi.XENSTORE_ERROR_PROTO)
    .number("BLKIF_OP_READ", abi.BLKIF_OP_READ)
    .number("BLKIF_OP_WRITE", abi.BLKIF_OP_WRITE)
    .number("BLKIF_OP_FLUSH_DISKCACHE", abi.BLKIF_OP_FLUSH_DISKCACHE)
    .number("BLKIF_RSP_OKAY", abi.BLKIF_RSP_OKAY)
    .number("BLKIF_RSP_ERROR", abi.BLKIF_RSP_ERROR)
    .number("BLKIF_RSP_EOPNOTSUPP", abi.BLKIF_RSP_EOPNOTSUPP)
    .number("BLKIF_MAX_SEGMENTS_PER_REQUEST", abi.BLKIF_MAX_SEGMENTS_PER_REQUEST)
    .number("BLKIF_RING_SIZE", abi.BLKIF_RING_SIZE)
    .number("NETIF_TX_RING_SIZE", abi.NETIF_TX_RING_SIZE)
    .number("NETIF_RX_RING_SIZE", abi.NETIF_RX_RING_SIZE)
    .number("XenbusStateUnknown", abi.XenbusStateUnknown)
    .number("XenbusStateInitialising", abi.XenbusStateInitialising)
    .number("XenbusStateInitWait", abi.XenbusStateInitWait)
    .number("XenbusStateInitialised", abi.XenbusStateInitialised)
    .number("XenbusStateConnected", abi.XenbusStateConnected)
    .number("XenbusStateClosing", abi.XenbusStateClosing)
    .number("XenbusStateClosed", abi.XenbusStateClosed)
    .number("XenbusStateReconfiguring", abi.XenbusStateReconfiguring)
    .number("XenbusStateReconfigured", abi.XenbusStateReconfigured)
    .number("EPERM", abi.EPERM)
    .number("ENOENT", abi.ENOENT)
    .number("ESRCH", abi.ESRCH)
    .number("EIO", abi.EIO)
    .number("ENXIO", abi.ENXIO)
    .number("E2BIG", abi.E2BIG)
    .number("ENOEXEC", abi.ENOEXEC)
    .number("EBADF", abi.EBADF)
    .number("ECHILD", abi.ECHILD)
    .number("EAGAIN", abi.EAGAIN)
    .number("EWOULDBLOCK", abi.EWOULDBLOCK)
    .number("ENOMEM", abi.ENOMEM)
    .number("EACCES", abi.EACCES)
    .number("EFAULT", abi.EFAULT)
    .number("EBUSY", abi.EBUSY)
    .number("EEXIST", abi.EEXIST)
    .number("EXDEV", abi.EXDEV)
    .number("ENODEV", abi.ENODEV)
    .number("ENOTDIR", abi.ENOTDIR)
    .number("EISDIR", abi.EISDIR)
    .number("EINVAL", abi.EINVAL)
    .number("ENFILE", abi.ENFILE)
    .number("EMFILE", abi.EMFILE)
    .number("ENOSPC", abi.ENOSPC)
    .number("EROFS", abi.EROFS)
    .number("EMLINK", abi.EMLINK)
    .number("EDOM", abi.EDOM)
    .number("ERANGE", abi.ERANGE)
    .number("EDEADLK", abi.EDEADLK)
    .number("EDEADLOCK", abi.EDEADLOCK)
    .number("ENAMETOOLONG", abi.ENAMETOOLONG)
    .number("ENOLCK", abi.ENOLCK)
    .number("ENOSYS", abi.ENOSYS)
    .number("ENOTEMPTY", abi.ENOTEMPTY)
    .number("ENODATA", abi.ENODATA)
    .number("ETIME", abi.ETIME)
    .number("EBADMSG", abi.EBADMSG)
    .number("EOVERFLOW", abi.EOVERFLOW)
    .number("EILSEQ", abi.EILSEQ)
    .number("ENOTSOCK", abi.ENOTSOCK)
    .number("EMSGSIZE", abi.EMSGSIZE)
    .number("EOPNOTSUPP", abi.EOPNOTSUPP)
    .number("EADDRINUSE", abi.EADDRINUSE)
    .number("EADDRNOTAVAIL", abi.EADDRNOTAVAIL)
    .number("ENOBUFS", abi.ENOBUFS)
    .number("EISCONN", abi.EISCONN)
    .number("ENOTCONN", abi.ENOTCONN)
    .number("ETIMEDOUT", abi.ETIMEDOUT)
    .number("ECONNREFUSED", abi.ECONNREFUSED)
    .toString();
}
