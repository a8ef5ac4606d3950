/*
 * Prints the x86_64 layout of every Xen struct xenbus-wasm uses, and the
 * constants it relies on, as compiled from Xen's own public headers:
 *   {"layouts": {"<struct>": {"sizeof": n, "fields": {"<field>": offset}}},
 *    "constants": {"<NAME>": value}}
 * The layout test compares this with the table the compiled guest exports.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/xs_wire.h>
#include <xen/io/console.h>
#include <xen/io/blkif.h>
#include <xen/io/netif.h>
#include <xen/io/xenbus.h>

#define XEN_PAGE_SIZE 4096

static const char *sep = "";

#define BEGIN(name, type) \
    printf("%s\n\"%s\":{\"sizeof\":%zu,\"fields\":{", sep, name, sizeof(type)); sep = ",";
#define FIELD(type, field) \
    printf("%s\"%s\":%zu", first ? "" : ",", #field, offsetof(type, field)); first = 0;
#define END() printf("}}"); first = 1;
#define CONST_AS(name, value) printf("%s\n\"%s\":%lld", sep, name, (long long)(value)); sep = ",";
#define CONST(name) CONST_AS(#name, name)

/* Xen 4.21 appended evtchn_port to the xenstore page; Debian's headers stop at
 * `error`. Laying the newest field after the installed struct lets the compiler
 * compute where it sits instead of us writing the number down. */
struct xenstore_domain_interface_newest {
    struct xenstore_domain_interface base;
    uint32_t evtchn_port;
};

int main(void)
{
    int first = 1;
    printf("{\"layouts\":{");

    BEGIN("vcpu_info", struct vcpu_info)
    FIELD(struct vcpu_info, evtchn_upcall_pending)
    FIELD(struct vcpu_info, evtchn_upcall_mask)
    FIELD(struct vcpu_info, evtchn_pending_sel)
    FIELD(struct vcpu_info, arch)
    FIELD(struct vcpu_info, time)
    END()
    BEGIN("vcpu_time_info", struct vcpu_time_info)
    FIELD(struct vcpu_time_info, version)
    FIELD(struct vcpu_time_info, tsc_timestamp)
    FIELD(struct vcpu_time_info, system_time)
    FIELD(struct vcpu_time_info, tsc_to_system_mul)
    FIELD(struct vcpu_time_info, tsc_shift)
    END()
    BEGIN("shared_info", struct shared_info)
    FIELD(struct shared_info, vcpu_info)
    FIELD(struct shared_info, evtchn_pending)
    FIELD(struct shared_info, evtchn_mask)
    FIELD(struct shared_info, wc_version)
    FIELD(struct shared_info, wc_sec)
    FIELD(struct shared_info, wc_nsec)
    FIELD(struct shared_info, wc_sec_hi)
    FIELD(struct shared_info, arch)
    END()

    BEGIN("evtchn_alloc_unbound", struct evtchn_alloc_unbound)
    FIELD(struct evtchn_alloc_unbound, dom)
    FIELD(struct evtchn_alloc_unbound, remote_dom)
    FIELD(struct evtchn_alloc_unbound, port)
    END()
    BEGIN("evtchn_bind_interdomain", struct evtchn_bind_interdomain)
    FIELD(struct evtchn_bind_interdomain, remote_dom)
    FIELD(struct evtchn_bind_interdomain, remote_port)
    FIELD(struct evtchn_bind_interdomain, local_port)
    END()
    BEGIN("evtchn_send", struct evtchn_send)
    FIELD(struct evtchn_send, port)
    END()
    BEGIN("evtchn_close", struct evtchn_close)
    FIELD(struct evtchn_close, port)
    END()
    BEGIN("evtchn_unmask", struct evtchn_unmask)
    FIELD(struct evtchn_unmask, port)
    END()
    BEGIN("evtchn_status", struct evtchn_status)
    FIELD(struct evtchn_status, dom)
    FIELD(struct evtchn_status, port)
    FIELD(struct evtchn_status, status)
    FIELD(struct evtchn_status, vcpu)
    FIELD(struct evtchn_status, u.unbound.dom)
    FIELD(struct evtchn_status, u.interdomain.dom)
    FIELD(struct evtchn_status, u.interdomain.port)
    FIELD(struct evtchn_status, u.virq)
    END()

    BEGIN("grant_entry_v1", struct grant_entry_v1)
    FIELD(struct grant_entry_v1, flags)
    FIELD(struct grant_entry_v1, domid)
    FIELD(struct grant_entry_v1, frame)
    END()
    BEGIN("gnttab_map_grant_ref", struct gnttab_map_grant_ref)
    FIELD(struct gnttab_map_grant_ref, host_addr)
    FIELD(struct gnttab_map_grant_ref, flags)
    FIELD(struct gnttab_map_grant_ref, ref)
    FIELD(struct gnttab_map_grant_ref, dom)
    FIELD(struct gnttab_map_grant_ref, status)
    FIELD(struct gnttab_map_grant_ref, handle)
    FIELD(struct gnttab_map_grant_ref, dev_bus_addr)
    END()
    BEGIN("gnttab_unmap_grant_ref", struct gnttab_unmap_grant_ref)
    FIELD(struct gnttab_unmap_grant_ref, host_addr)
    FIELD(struct gnttab_unmap_grant_ref, dev_bus_addr)
    FIELD(struct gnttab_unmap_grant_ref, handle)
    FIELD(struct gnttab_unmap_grant_ref, status)
    END()
    BEGIN("gnttab_setup_table", struct gnttab_setup_table)
    FIELD(struct gnttab_setup_table, dom)
    FIELD(struct gnttab_setup_table, nr_frames)
    FIELD(struct gnttab_setup_table, status)
    FIELD(struct gnttab_setup_table, frame_list)
    END()
    BEGIN("gnttab_query_size", struct gnttab_query_size)
    FIELD(struct gnttab_query_size, dom)
    FIELD(struct gnttab_query_size, nr_frames)
    FIELD(struct gnttab_query_size, max_nr_frames)
    FIELD(struct gnttab_query_size, status)
    END()
    BEGIN("gnttab_copy", struct gnttab_copy)
    FIELD(struct gnttab_copy, source.u.ref)
    FIELD(struct gnttab_copy, source.u.gmfn)
    FIELD(struct gnttab_copy, source.domid)
    FIELD(struct gnttab_copy, source.offset)
    FIELD(struct gnttab_copy, dest.u.ref)
    FIELD(struct gnttab_copy, dest.u.gmfn)
    FIELD(struct gnttab_copy, dest.domid)
    FIELD(struct gnttab_copy, dest.offset)
    FIELD(struct gnttab_copy, len)
    FIELD(struct gnttab_copy, flags)
    FIELD(struct gnttab_copy, status)
    END()

    BEGIN("xen_memory_reservation", struct xen_memory_reservation)
    FIELD(struct xen_memory_reservation, extent_start)
    FIELD(struct xen_memory_reservation, nr_extents)
    FIELD(struct xen_memory_reservation, extent_order)
    /* mem_flags since interface 0x00030209; the probe's default interface calls the same field address_bits. */
    printf(",\"mem_flags\":%zu", offsetof(struct xen_memory_reservation, address_bits));
    FIELD(struct xen_memory_reservation, domid)
    END()
    BEGIN("xen_add_to_physmap", struct xen_add_to_physmap)
    FIELD(struct xen_add_to_physmap, domid)
    FIELD(struct xen_add_to_physmap, size)
    FIELD(struct xen_add_to_physmap, space)
    FIELD(struct xen_add_to_physmap, idx)
    FIELD(struct xen_add_to_physmap, gpfn)
    END()
    BEGIN("xen_hvm_param", struct xen_hvm_param)
    FIELD(struct xen_hvm_param, domid)
    FIELD(struct xen_hvm_param, index)
    FIELD(struct xen_hvm_param, value)
    END()
    BEGIN("sched_poll", struct sched_poll)
    FIELD(struct sched_poll, ports)
    FIELD(struct sched_poll, nr_ports)
    FIELD(struct sched_poll, timeout)
    END()
    BEGIN("sched_shutdown", struct sched_shutdown)
    FIELD(struct sched_shutdown, reason)
    END()

    BEGIN("xenstore_domain_interface", struct xenstore_domain_interface_newest)
    FIELD(struct xenstore_domain_interface, req)
    FIELD(struct xenstore_domain_interface, rsp)
    FIELD(struct xenstore_domain_interface, req_cons)
    FIELD(struct xenstore_domain_interface, req_prod)
    FIELD(struct xenstore_domain_interface, rsp_cons)
    FIELD(struct xenstore_domain_interface, rsp_prod)
    FIELD(struct xenstore_domain_interface, server_features)
    FIELD(struct xenstore_domain_interface, connection)
    FIELD(struct xenstore_domain_interface, error)
    FIELD(struct xenstore_domain_interface_newest, evtchn_port)
    END()
    BEGIN("xsd_sockmsg", struct xsd_sockmsg)
    FIELD(struct xsd_sockmsg, type)
    FIELD(struct xsd_sockmsg, req_id)
    FIELD(struct xsd_sockmsg, tx_id)
    FIELD(struct xsd_sockmsg, len)
    END()
    BEGIN("xencons_interface", struct xencons_interface)
    FIELD(struct xencons_interface, in)
    FIELD(struct xencons_interface, out)
    FIELD(struct xencons_interface, in_cons)
    FIELD(struct xencons_interface, in_prod)
    FIELD(struct xencons_interface, out_cons)
    FIELD(struct xencons_interface, out_prod)
    END()

    BEGIN("blkif_request_segment", struct blkif_request_segment)
    FIELD(struct blkif_request_segment, gref)
    FIELD(struct blkif_request_segment, first_sect)
    FIELD(struct blkif_request_segment, last_sect)
    END()
    BEGIN("blkif_request", struct blkif_request)
    FIELD(struct blkif_request, operation)
    FIELD(struct blkif_request, nr_segments)
    FIELD(struct blkif_request, handle)
    FIELD(struct blkif_request, id)
    FIELD(struct blkif_request, sector_number)
    FIELD(struct blkif_request, seg)
    END()
    BEGIN("blkif_response", struct blkif_response)
    FIELD(struct blkif_response, id)
    FIELD(struct blkif_response, operation)
    FIELD(struct blkif_response, status)
    END()
    BEGIN("blkif_sring", struct blkif_sring)
    FIELD(struct blkif_sring, req_prod)
    FIELD(struct blkif_sring, req_event)
    FIELD(struct blkif_sring, rsp_prod)
    FIELD(struct blkif_sring, rsp_event)
    FIELD(struct blkif_sring, ring)
    END()

    BEGIN("netif_tx_request", struct netif_tx_request)
    FIELD(struct netif_tx_request, gref)
    FIELD(struct netif_tx_request, offset)
    FIELD(struct netif_tx_request, flags)
    FIELD(struct netif_tx_request, id)
    FIELD(struct netif_tx_request, size)
    END()
    BEGIN("netif_tx_response", struct netif_tx_response)
    FIELD(struct netif_tx_response, id)
    FIELD(struct netif_tx_response, status)
    END()
    BEGIN("netif_rx_request", struct netif_rx_request)
    FIELD(struct netif_rx_request, id)
    FIELD(struct netif_rx_request, gref)
    END()
    BEGIN("netif_rx_response", struct netif_rx_response)
    FIELD(struct netif_rx_response, id)
    FIELD(struct netif_rx_response, offset)
    FIELD(struct netif_rx_response, flags)
    FIELD(struct netif_rx_response, status)
    END()

    printf("},\"constants\":{");
    sep = "";
    /* Hypercall sub-commands */
    CONST(EVTCHNOP_bind_interdomain) CONST(EVTCHNOP_close) CONST(EVTCHNOP_send)
    CONST(EVTCHNOP_status) CONST(EVTCHNOP_alloc_unbound) CONST(EVTCHNOP_unmask)
    CONST(GNTTABOP_map_grant_ref) CONST(GNTTABOP_unmap_grant_ref) CONST(GNTTABOP_setup_table)
    CONST(GNTTABOP_copy) CONST(GNTTABOP_query_size)
    CONST(XENMEM_decrease_reservation) CONST(XENMEM_populate_physmap)
    CONST(XENMEM_add_to_physmap) CONST(XENMAPSPACE_shared_info) CONST(XENMAPSPACE_grant_table) CONST(XENMAPSPACE_gmfn)
    CONST(HVMOP_set_param) CONST(HVMOP_get_param)
    CONST(HVM_PARAM_STORE_PFN) CONST(HVM_PARAM_STORE_EVTCHN)
    CONST(HVM_PARAM_CONSOLE_PFN) CONST(HVM_PARAM_CONSOLE_EVTCHN)
    CONST(SCHEDOP_yield) CONST(SCHEDOP_block) CONST(SCHEDOP_shutdown) CONST(SCHEDOP_poll)
    CONST(SHUTDOWN_poweroff) CONST(SHUTDOWN_reboot) CONST(SHUTDOWN_suspend) CONST(SHUTDOWN_crash)
    CONST(CONSOLEIO_write) CONST(CONSOLEIO_read)
    CONST(XENVER_version) CONST(XENVER_extraversion)
    CONST(DOMID_SELF) CONST(DOMID_FIRST_RESERVED)
    CONST(XENMAPIDX_grant_table_status) CONST(HVM_PARAM_CALLBACK_IRQ) CONST(HVM_NR_PARAMS)
    CONST(EVTCHN_2L_NR_CHANNELS) CONST(XEN_EXTRAVERSION_LEN)
    /* Event channel states */
    CONST(EVTCHNSTAT_closed) CONST(EVTCHNSTAT_unbound) CONST(EVTCHNSTAT_interdomain)
    CONST(EVTCHNSTAT_pirq) CONST(EVTCHNSTAT_virq) CONST(EVTCHNSTAT_ipi)
    /* Grant table v1 */
    CONST(GTF_invalid) CONST(GTF_permit_access) CONST(GTF_accept_transfer) CONST(GTF_type_mask)
    CONST(GTF_readonly) CONST(GTF_reading) CONST(GTF_writing) CONST(GTF_sub_page)
    CONST(GNTMAP_device_map) CONST(GNTMAP_host_map) CONST(GNTMAP_readonly)
    CONST(GNTMAP_application_map) CONST(GNTMAP_contains_pte)
    CONST(GNTCOPY_source_gref) CONST(GNTCOPY_dest_gref)
    CONST(GNTST_okay) CONST(GNTST_general_error) CONST(GNTST_bad_domain) CONST(GNTST_bad_gntref)
    CONST(GNTST_bad_handle) CONST(GNTST_bad_virt_addr) CONST(GNTST_bad_dev_addr)
    CONST(GNTST_no_device_space) CONST(GNTST_permission_denied) CONST(GNTST_bad_page)
    CONST(GNTST_bad_copy_arg) CONST(GNTST_address_too_big) CONST(GNTST_eagain)
    /* Rings */
    CONST(XENSTORE_RING_SIZE) CONST(XENSTORE_PAYLOAD_MAX)
    CONST(XENSTORE_ABS_PATH_MAX) CONST(XENSTORE_REL_PATH_MAX)
    CONST(XENSTORE_SERVER_FEATURE_RECONNECTION) CONST(XENSTORE_SERVER_FEATURE_ERROR)
    CONST(XENSTORE_CONNECTED) CONST(XENSTORE_RECONNECT)
    CONST(XENSTORE_ERROR_NONE) CONST(XENSTORE_ERROR_COMM) CONST(XENSTORE_ERROR_RINGIDX) CONST(XENSTORE_ERROR_PROTO)
    CONST(BLKIF_OP_READ) CONST(BLKIF_OP_WRITE) CONST(BLKIF_OP_FLUSH_DISKCACHE)
    CONST(BLKIF_OP_WRITE_BARRIER) CONST(BLKIF_OP_DISCARD) CONST(BLKIF_OP_INDIRECT)
    CONST(BLKIF_RSP_OKAY) CONST(BLKIF_RSP_ERROR) CONST(BLKIF_RSP_EOPNOTSUPP)
    CONST(BLKIF_MAX_SEGMENTS_PER_REQUEST)
    CONST_AS("BLKIF_RING_SIZE", __CONST_RING_SIZE(blkif, XEN_PAGE_SIZE))
    CONST_AS("NETIF_TX_RING_SIZE", __CONST_RING_SIZE(netif_tx, XEN_PAGE_SIZE))
    CONST_AS("NETIF_RX_RING_SIZE", __CONST_RING_SIZE(netif_rx, XEN_PAGE_SIZE))
    /* XenBus device states */
    CONST(XenbusStateUnknown) CONST(XenbusStateInitialising) CONST(XenbusStateInitWait)
    CONST(XenbusStateInitialised) CONST(XenbusStateConnected) CONST(XenbusStateClosing)
    CONST(XenbusStateClosed) CONST(XenbusStateReconfiguring) CONST(XenbusStateReconfigured)
    /* Xen's errno values, as hypercalls return them (negated) */
#define XEN_ERRNO(name, value) CONST_AS(#name, value)
#include <xen/errno.h>
    printf("}}\n");
    return 0;
}
