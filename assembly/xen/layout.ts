// Generated from assembly/xen/abi.json by tools/abi-generate.ts (npm run build): edit the declaration, not this file.
// Xen's x86_64 struct layouts: the byte offset of each field and the struct's SIZE, one namespace per
// C struct; a nested union's members are flattened (evtchn_status.u.interdomain.port → interdomain_port).

/** xen.h: a vcpu's event flags and clock, inside shared_info. */
export namespace vcpu_info {
  export const evtchn_upcall_pending: u32 = 0;
  export const evtchn_upcall_mask: u32 = 1;
  export const evtchn_pending_sel: u32 = 8;
  export const arch: u32 = 16;
  export const time: u32 = 32;
  export const SIZE: u32 = 64;
}

/** vcpu_info.time: Xen's clock for the vcpu; `version` is odd while Xen updates it. */
export namespace vcpu_time_info {
  export const version: u32 = 0;
  export const tsc_timestamp: u32 = 8;
  export const system_time: u32 = 16;
  export const tsc_to_system_mul: u32 = 24;
  export const tsc_shift: u32 = 28;
  export const SIZE: u32 = 32;
}

/** xen.h: the page Xen shares with the domain (XENMAPSPACE_shared_info). */
export namespace shared_info {
  export const vcpu_info: u32 = 0;
  export const evtchn_pending: u32 = 2048;
  export const evtchn_mask: u32 = 2560;
  export const wc_version: u32 = 3072;
  export const wc_sec: u32 = 3076;
  export const wc_nsec: u32 = 3080;
  export const wc_sec_hi: u32 = 3084;
  export const arch: u32 = 3088;
  export const SIZE: u32 = 3136;
}

export namespace evtchn_alloc_unbound {
  export const dom: u32 = 0;
  export const remote_dom: u32 = 2;
  export const port: u32 = 4;
  export const SIZE: u32 = 8;
}

export namespace evtchn_bind_interdomain {
  export const remote_dom: u32 = 0;
  export const remote_port: u32 = 4;
  export const local_port: u32 = 8;
  export const SIZE: u32 = 12;
}

export namespace evtchn_send {
  export const port: u32 = 0;
  export const SIZE: u32 = 4;
}

export namespace evtchn_close {
  export const port: u32 = 0;
  export const SIZE: u32 = 4;
}

export namespace evtchn_unmask {
  export const port: u32 = 0;
  export const SIZE: u32 = 4;
}

/** EVTCHNOP_status; `u` is a union: which member holds depends on `status`. */
export namespace evtchn_status {
  export const dom: u32 = 0;
  export const port: u32 = 4;
  export const status: u32 = 8;
  export const vcpu: u32 = 12;
  export const unbound_dom: u32 = 16;
  export const interdomain_dom: u32 = 16;
  export const interdomain_port: u32 = 20;
  export const virq: u32 = 16;
  export const SIZE: u32 = 24;
}

export namespace grant_entry_v1 {
  export const flags: u32 = 0;
  export const domid: u32 = 2;
  export const frame: u32 = 4;
  export const SIZE: u32 = 8;
}

export namespace gnttab_map_grant_ref {
  export const host_addr: u32 = 0;
  export const flags: u32 = 8;
  export const ref: u32 = 12;
  export const dom: u32 = 16;
  export const status: u32 = 18;
  export const handle: u32 = 20;
  export const dev_bus_addr: u32 = 24;
  export const SIZE: u32 = 32;
}

export namespace gnttab_unmap_grant_ref {
  export const host_addr: u32 = 0;
  export const dev_bus_addr: u32 = 8;
  export const handle: u32 = 16;
  export const status: u32 = 20;
  export const SIZE: u32 = 24;
}

export namespace gnttab_setup_table {
  export const dom: u32 = 0;
  export const nr_frames: u32 = 4;
  export const status: u32 = 8;
  export const frame_list: u32 = 16;
  export const SIZE: u32 = 24;
}

export namespace gnttab_query_size {
  export const dom: u32 = 0;
  export const nr_frames: u32 = 4;
  export const max_nr_frames: u32 = 8;
  export const status: u32 = 12;
  export const SIZE: u32 = 16;
}

/** GNTTABOP_copy: `source` and `dest` each name a grant reference or a gmfn (`u`). */
export namespace gnttab_copy {
  export const source_ref: u32 = 0;
  export const source_gmfn: u32 = 0;
  export const source_domid: u32 = 8;
  export const source_offset: u32 = 10;
  export const dest_ref: u32 = 16;
  export const dest_gmfn: u32 = 16;
  export const dest_domid: u32 = 24;
  export const dest_offset: u32 = 26;
  export const len: u32 = 32;
  export const flags: u32 = 34;
  export const status: u32 = 36;
  export const SIZE: u32 = 40;
}

export namespace xen_add_to_physmap {
  export const domid: u32 = 0;
  export const size: u32 = 2;
  export const space: u32 = 4;
  export const idx: u32 = 8;
  export const gpfn: u32 = 16;
  export const SIZE: u32 = 24;
}

/** XENMEM_decrease_reservation / populate_physmap: `extent_start` is a handle to `nr_extents` gfns. */
export namespace xen_memory_reservation {
  export const extent_start: u32 = 0;
  export const nr_extents: u32 = 8;
  export const extent_order: u32 = 16;
  export const mem_flags: u32 = 20;
  export const domid: u32 = 24;
  export const SIZE: u32 = 32;
}

export namespace xen_hvm_param {
  export const domid: u32 = 0;
  export const index: u32 = 4;
  export const value: u32 = 8;
  export const SIZE: u32 = 16;
}

export namespace sched_poll {
  export const ports: u32 = 0;
  export const nr_ports: u32 = 8;
  export const timeout: u32 = 16;
  export const SIZE: u32 = 24;
}

export namespace sched_shutdown {
  export const reason: u32 = 0;
  export const SIZE: u32 = 4;
}

/**
 * The xenstore ring page (io/xs_wire.h). evtchn_port is Xen 4.21's newest field, after `error`; Debian's headers stop
 * at `error`, so the probe lays it out after the installed struct.
 */
export namespace xenstore_domain_interface {
  export const req: u32 = 0;
  export const rsp: u32 = 1024;
  export const req_cons: u32 = 2048;
  export const req_prod: u32 = 2052;
  export const rsp_cons: u32 = 2056;
  export const rsp_prod: u32 = 2060;
  export const server_features: u32 = 2064;
  export const connection: u32 = 2068;
  export const error: u32 = 2072;
  export const evtchn_port: u32 = 2076;
  export const SIZE: u32 = 2080;
}

/** The header of every XenStore message (io/xs_wire.h). */
export namespace xsd_sockmsg {
  export const type: u32 = 0;
  export const req_id: u32 = 4;
  export const tx_id: u32 = 8;
  export const len: u32 = 12;
  export const SIZE: u32 = 16;
}

/** The console ring page (io/console.h): `in` is backend → guest, `out` guest → backend. */
export namespace xencons_interface {
  export const in_: u32 = 0;
  export const out: u32 = 1024;
  export const in_cons: u32 = 3072;
  export const in_prod: u32 = 3076;
  export const out_cons: u32 = 3080;
  export const out_prod: u32 = 3084;
  export const SIZE: u32 = 3088;
}

export namespace blkif_request_segment {
  export const gref: u32 = 0;
  export const first_sect: u32 = 4;
  export const last_sect: u32 = 5;
  export const SIZE: u32 = 8;
}

/** The block device ring (io/blkif.h): requests and responses share its 112-byte slots. */
export namespace blkif_request {
  export const operation: u32 = 0;
  export const nr_segments: u32 = 1;
  export const handle: u32 = 2;
  export const id: u32 = 8;
  export const sector_number: u32 = 16;
  export const seg: u32 = 24;
  export const SIZE: u32 = 112;
}

export namespace blkif_response {
  export const id: u32 = 0;
  export const operation: u32 = 8;
  export const status: u32 = 10;
  export const SIZE: u32 = 16;
}

/**
 * io/ring.h's shared ring header for blkif (64 bytes) and its first slot; a ring of 2^order pages holds BLKIF_RING_SIZE
 * << order slots.
 */
export namespace blkif_sring {
  export const req_prod: u32 = 0;
  export const req_event: u32 = 4;
  export const rsp_prod: u32 = 8;
  export const rsp_event: u32 = 12;
  export const ring: u32 = 64;
  export const SIZE: u32 = 176;
}

/**
 * Guest transmit (io/netif.h): a packet's first slot carries its total size, NETTXF_* flags and its first fragment's
 * page; NETTXF_more_data chains the next fragment, NETTXF_extra_info extra-info segments after the first.
 */
export namespace netif_tx_request {
  export const gref: u32 = 0;
  export const offset: u32 = 4;
  export const flags: u32 = 6;
  export const id: u32 = 8;
  export const size: u32 = 10;
  export const SIZE: u32 = 12;
}

/** One per transmit slot: `id` echoed and a NETIF_RSP_* status; NETIF_RSP_NULL in an extra-info segment's slot. */
export namespace netif_tx_response {
  export const id: u32 = 0;
  export const status: u32 = 2;
  export const SIZE: u32 = 4;
}

/**
 * An extra-info segment (XEN_NETIF_EXTRA_TYPE_*) in a transmit request's or receive response's slot; `u` is a union:
 * which member holds depends on `type`.
 */
export namespace netif_extra_info {
  export const type: u32 = 0;
  export const flags: u32 = 1;
  export const gso_size: u32 = 2;
  export const gso_type: u32 = 4;
  export const gso_pad: u32 = 5;
  export const gso_features: u32 = 6;
  export const mcast_addr: u32 = 2;
  export const hash_type: u32 = 2;
  export const hash_algorithm: u32 = 3;
  export const hash_value: u32 = 4;
  export const pad: u32 = 2;
  export const SIZE: u32 = 8;
}

/**
 * Guest receive: a page the frontend grants for the backend to copy one fragment into; `id` is echoed in the response
 * in the same slot.
 */
export namespace netif_rx_request {
  export const id: u32 = 0;
  export const pad: u32 = 2;
  export const gref: u32 = 4;
  export const SIZE: u32 = 8;
}

/**
 * `status` is the fragment's size in bytes, or a negative NETIF_RSP_*; NETRXF_more_data chains the next slot,
 * NETRXF_extra_info extra-info segments after the first.
 */
export namespace netif_rx_response {
  export const id: u32 = 0;
  export const offset: u32 = 2;
  export const flags: u32 = 4;
  export const status: u32 = 6;
  export const SIZE: u32 = 8;
}

/** io/ring.h's shared ring header for netif transmit and its first 12-byte slot; one page holds NETIF_TX_RING_SIZE. */
export namespace netif_tx_sring {
  export const req_prod: u32 = 0;
  export const req_event: u32 = 4;
  export const rsp_prod: u32 = 8;
  export const rsp_event: u32 = 12;
  export const ring: u32 = 64;
  export const SIZE: u32 = 76;
}

/** io/ring.h's shared ring header for netif receive and its first 8-byte slot; one page holds NETIF_RX_RING_SIZE. */
export namespace netif_rx_sring {
  export const req_prod: u32 = 0;
  export const req_event: u32 = 4;
  export const rsp_prod: u32 = 8;
  export const rsp_event: u32 = 12;
  export const ring: u32 = 64;
  export const SIZE: u32 = 72;
}
