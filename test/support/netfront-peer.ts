// A network frontend as a native domain of its own, for testing the Wasm
// netback as Xen's protocol has it (io/netif.h, docs/misc/xenstore-paths):
// it grants a transmit and a receive ring page per queue, offers one event
// channel per queue (or a tx and an rx one), writes tx-ring-ref, rx-ring-ref,
// event-channel(s), request-rx-copy and its features, and goes Connected.
// Receive buffers are pages it posts; frames go out as slots the test
// describes, honest (send) or as written (submit), so a test can lie about
// any field. Driven step by step: after each step the hypervisor runs and
// the responses are taken.
import { type DevicePaths, devicePaths } from "../../host/dom0/devices.js";
import type { XenstoreService } from "../../host/dom0/toolstack.js";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import {
  GTF,
  NETRXF,
  NETTXF,
  netif_extra_info,
  netif_rx_request,
  netif_rx_response,
  netif_tx_request,
  netif_tx_response,
  netif_tx_sring,
  PAGE_SIZE,
  XENBUS_STATE,
} from "../../host/xen/abi.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import type { NativeDomain } from "../../host/xen/native.js";
import { readDecimal, readOrNull } from "./store-read.js";

const FIRST_FREE_REF = 8;
const HEADER = netif_tx_sring.fields.ring;
const TX_SLOT = netif_tx_request.sizeof;
const RX_SLOT = netif_rx_response.sizeof;
const RING_SIZE = 256;
const REQ_PROD = netif_tx_sring.fields.req_prod;
const RSP_PROD = netif_tx_sring.fields.rsp_prod;
const RSP_EVENT = netif_tx_sring.fields.rsp_event;
/** Transmit data pages: one per slot of the largest packet a test sends. */
const TX_PAGES = 24;

/** One transmit slot as written: a request, or an extra-info segment. */
export type TxSlot =
  | { gref: number; offset: number; flags: number; id: number; size: number }
  | { extra: number; flags: number; gsoSize?: number; gsoType?: number };

export interface TxResponse {
  id: number;
  status: number;
}

/** A frame taken off the receive ring: its bytes (the slots' data joined), the first slot's flags, any extra-info type. */
export interface ReceivedFrame {
  data: Uint8Array;
  flags: number;
  slots: number;
  /** Each slot's status (bytes, or a negative NETIF_RSP_*). */
  statuses: number[];
  gsoSize?: number;
}

export interface NetfrontPeerOptions {
  backend: number;
  devid?: number;
  /** The MAC the toolstack gives the vif (backendParams.mac). */
  mac?: string;
  pages?: number;
}

export interface ConnectOptions {
  /** Queues (multi-queue-num-queues written when not 1). */
  queues?: number;
  split?: boolean;
  /** Frontend nodes to write besides (or instead of) the honest ones; null removes one. */
  nodes?: Record<string, string | null>;
  /** Receive buffers to post per queue before connecting. */
  rxBuffers?: number;
}

class Queue {
  txRing = 0;
  rxRing = 0;
  txRef = 0;
  rxRef = 0;
  txPort = 0;
  rxPort = 0;
  txProd = 0;
  txCons = 0;
  rxProd = 0;
  rxCons = 0;
  /** Posted receive buffers by id: the page. */
  readonly posted = new Map<number, number>();
  /** A frame being assembled from more_data slots. */
  partial: ReceivedFrame | null = null;
}

export class NetfrontPeer {
  readonly domain: NativeDomain;
  readonly paths: DevicePaths;
  readonly store: LocalClient;
  readonly devid: number;
  readonly txResponses: TxResponse[] = [];
  readonly received: ReceivedFrame[] = [];
  queues: Queue[] = [];
  private nextPage = 0;
  private nextRef = FIRST_FREE_REF;
  private readonly txPages: { gfn: number; ref: number }[] = [];
  /** Pages for receive buffers, each granted once, and which are free to post. */
  private readonly rxPages: { gfn: number; ref: number }[] = [];
  private readonly freeRx: number[] = [];
  private nextRxId = 0;
  private txHandler: (() => void) | null = null;

  constructor(
    private readonly hv: Hypervisor,
    service: XenstoreService,
    readonly options: NetfrontPeerOptions,
  ) {
    this.domain = hv.createNativeDomain("netfront-peer", { pages: options.pages ?? 1024 });
    this.devid = options.devid ?? 0;
    const device = { type: "vif", devid: this.devid, frontend: this.domain.domid, backend: options.backend };
    this.paths = devicePaths(device);
    this.store = new LocalClient(service.xenstored, this.domain.domid);
    service.devices.add({ ...device, backendParams: options.mac ? { mac: options.mac } : undefined });
    for (let i = 0; i < TX_PAGES; i++) {
      const gfn = this.allocPage();
      this.txPages.push({ gfn, ref: this.grant(gfn) });
    }
  }

  get domid(): number {
    return this.domain.domid;
  }

  get backendState(): number | null {
    return readDecimal(this.store, `${this.paths.backend}/state`);
  }

  /** The backend's node `name`, or null. */
  backendNode(name: string): string | null {
    return readOrNull(this.store, `${this.paths.backend}/${name}`);
  }

  allocPage(): number {
    if (this.nextPage >= this.domain.memory.size / PAGE_SIZE) throw new Error("netfront-peer is out of pages");
    return this.nextPage++;
  }

  page(gfn: number): Uint8Array {
    return this.domain.memory.page(gfn)!;
  }

  grant(gfn: number, readonly = false): number {
    const ref = this.nextRef++;
    const entry = this.domain.grantTable.entry(ref);
    entry.setU32("frame", gfn);
    entry.setU16("domid", this.options.backend);
    entry.setU16("flags", GTF.permit_access | (readonly ? GTF.readonly : 0));
    return ref;
  }

  writeNode(name: string, value: string): void {
    this.store.write(`${this.paths.frontend}/${name}`, value);
  }

  switchState(state: number): void {
    this.writeNode("state", String(state));
  }

  /** Sets the queues up, publishes them and what we ask for, posts receive buffers, goes Connected, runs. */
  connect(options: ConnectOptions = {}): void {
    const count = options.queues ?? 1;
    this.queues = [];
    for (let i = 0; i < count; i++) {
      const q = new Queue();
      q.txRing = this.allocPage();
      q.rxRing = this.allocPage();
      for (const ring of [q.txRing, q.rxRing]) {
        const view = this.view(ring);
        view.setUint32(netif_tx_sring.fields.req_event, 1, true);
        view.setUint32(RSP_EVENT, 1, true);
      }
      q.txRef = this.grant(q.txRing);
      q.rxRef = this.grant(q.rxRing);
      q.txPort = this.domain.evtchn.bindUnboundPort(this.options.backend);
      q.rxPort = options.split ? this.domain.evtchn.bindUnboundPort(this.options.backend) : q.txPort;
      this.domain.evtchn.on(q.txPort, () => this.take());
      if (q.rxPort !== q.txPort) this.domain.evtchn.on(q.rxPort, () => this.take());
      this.queues.push(q);
      const dir = count === 1 ? "" : `queue-${i}/`;
      this.writeNode(`${dir}tx-ring-ref`, String(q.txRef));
      this.writeNode(`${dir}rx-ring-ref`, String(q.rxRef));
      if (options.split) {
        this.writeNode(`${dir}event-channel-tx`, String(q.txPort));
        this.writeNode(`${dir}event-channel-rx`, String(q.rxPort));
      } else this.writeNode(`${dir}event-channel`, String(q.txPort));
    }
    const nodes: Record<string, string | null> = {
      "request-rx-copy": "1",
      "feature-rx-notify": "1",
      "feature-sg": "1",
      "feature-gso-tcpv4": "1",
      ...(count === 1 ? {} : { "multi-queue-num-queues": String(count) }),
      ...options.nodes,
    };
    for (const [name, value] of Object.entries(nodes)) {
      if (value === null) this.store.rm(`${this.paths.frontend}/${name}`);
      else this.writeNode(name, value);
    }
    for (const q of this.queues) this.post(q, options.rxBuffers ?? 64);
    this.flush();
    this.switchState(XENBUS_STATE.Connected);
    this.run();
  }

  /** Posts `count` more receive buffers on queue `q` (fresh pages, granted once and reused). */
  post(q: Queue = this.queues[0]!, count = 1): void {
    for (let i = 0; i < count; i++) {
      let index = this.freeRx.pop();
      if (index === undefined) {
        const gfn = this.allocPage();
        index = this.rxPages.push({ gfn, ref: this.grant(gfn) }) - 1;
      }
      const id = this.nextRxId++ & 0xffff;
      const slot = this.slot(q.rxRing, q.rxProd++, RX_SLOT);
      slot.setUint16(netif_rx_request.fields.id, id, true);
      slot.setUint32(netif_rx_request.fields.gref, this.rxPages[index]!.ref, true);
      q.posted.set(id, index);
    }
    this.view(q.rxRing).setUint32(REQ_PROD, q.rxProd, true);
    this.flush();
  }

  /** An honest frame: its bytes in `fragments` slots (the first holding what the others leave), on queue `q`. */
  send(
    frame: Uint8Array,
    options: { fragments?: number[]; flags?: number; queue?: number; gsoSize?: number } = {},
  ): void {
    const sizes = options.fragments ?? [frame.length];
    const slots: TxSlot[] = [];
    let at = 0;
    sizes.forEach((size, i) => {
      const page = this.txPages[i]!;
      this.page(page.gfn).set(frame.subarray(at, at + size), 0);
      at += size;
      const more = i + 1 < sizes.length ? NETTXF.more_data : 0;
      const extra = i === 0 && options.gsoSize ? NETTXF.extra_info : 0;
      slots.push({
        gref: page.ref,
        offset: 0,
        flags: (i === 0 ? (options.flags ?? 0) : 0) | more | extra,
        id: i,
        size: i === 0 ? frame.length : size,
      });
      if (extra) slots.push({ extra: 1, flags: 0, gsoSize: options.gsoSize, gsoType: 1 });
    });
    this.submit(slots, options.queue);
  }

  /** The grant ref of transmit data page `i` (a test writes its data with txPage). */
  txRef(i: number): number {
    return this.txPages[i]!.ref;
  }

  txPage(i: number): Uint8Array {
    return this.page(this.txPages[i]!.gfn);
  }

  /** Slots on the transmit ring exactly as given; pushed, notified, run. */
  submit(slots: TxSlot[], queue = 0, push = true): void {
    const q = this.queues[queue]!;
    for (const s of slots) {
      const slot = this.slot(q.txRing, q.txProd++, TX_SLOT);
      if ("extra" in s) {
        slot.setUint8(netif_extra_info.fields.type, s.extra);
        slot.setUint8(netif_extra_info.fields.flags, s.flags);
        slot.setUint16(netif_extra_info.fields["u.gso.size"], s.gsoSize ?? 0, true);
        slot.setUint8(netif_extra_info.fields["u.gso.type"], s.gsoType ?? 0);
      } else {
        slot.setUint32(netif_tx_request.fields.gref, s.gref, true);
        slot.setUint16(netif_tx_request.fields.offset, s.offset, true);
        slot.setUint16(netif_tx_request.fields.flags, s.flags, true);
        slot.setUint16(netif_tx_request.fields.id, s.id, true);
        slot.setUint16(netif_tx_request.fields.size, s.size, true);
      }
    }
    if (push) this.setTxProd(q.txProd, queue);
  }

  /** Receive requests exactly as given (ids and refs of the test's choosing), published. */
  submitRx(requests: { id: number; gref: number }[], queue = 0): void {
    const q = this.queues[queue]!;
    for (const request of requests) {
      const slot = this.slot(q.rxRing, q.rxProd++, RX_SLOT);
      slot.setUint16(netif_rx_request.fields.id, request.id, true);
      slot.setUint32(netif_rx_request.fields.gref, request.gref, true);
    }
    this.setRxProd(q.rxProd, queue);
  }

  /** Transmit slots not yet answered. */
  txInFlight(queue = 0): number {
    const q = this.queues[queue]!;
    return q.txProd - q.txCons;
  }

  /** Publishes what submit(…, false) put on the transmit ring and notifies, without running the hypervisor. */
  pushTx(queue = 0): void {
    const q = this.queues[queue]!;
    this.view(q.txRing).setUint32(REQ_PROD, q.txProd, true);
    this.flush();
    this.domain.evtchn.notify(q.txPort);
  }

  /** `handler` runs each time transmit responses were taken (from our event handler, as a driver's would). */
  onTxResponses(handler: () => void): void {
    this.txHandler = handler;
  }

  /** Writes req_prod of the transmit ring as given (any value), notifies, runs. */
  setTxProd(value: number, queue = 0): void {
    const q = this.queues[queue]!;
    this.view(q.txRing).setUint32(REQ_PROD, value >>> 0, true);
    this.kick(queue);
  }

  /** Writes req_prod of the receive ring as given. */
  setRxProd(value: number, queue = 0): void {
    this.view(this.queues[queue]!.rxRing).setUint32(REQ_PROD, value >>> 0, true);
    this.flush();
  }

  kick(queue = 0): void {
    this.flush();
    this.domain.evtchn.notify(this.queues[queue]!.txPort);
    this.run();
  }

  run(): void {
    this.hv.runUntilIdle();
    this.take();
  }

  /** Closes as a frontend does: Closing, then Closed once the backend is; the channels go. */
  close(): void {
    this.switchState(XENBUS_STATE.Closing);
    this.run();
    this.switchState(XENBUS_STATE.Closed);
    for (const q of this.queues) {
      // Buffers still posted come back for the next connection (the backend let go of them).
      this.freeRx.push(...q.posted.values());
      this.domain.evtchn.unbind(q.txPort);
      if (q.rxPort !== q.txPort) this.domain.evtchn.unbind(q.rxPort);
    }
    this.queues = [];
    this.run();
  }

  /** Responses and received frames off every queue; the receive responses' slots' buffers become free again. */
  private take(): void {
    for (const q of this.queues) {
      const tx = this.view(q.txRing);
      for (const prod = tx.getUint32(RSP_PROD, true); q.txCons !== prod; q.txCons++) {
        const slot = this.slot(q.txRing, q.txCons, TX_SLOT);
        this.txResponses.push({
          id: slot.getUint16(netif_tx_response.fields.id, true),
          status: slot.getInt16(netif_tx_response.fields.status, true),
        });
      }
      tx.setUint32(RSP_EVENT, q.txCons + 1, true);
      if (this.txHandler) this.txHandler();
      const rx = this.view(q.rxRing);
      let extraNext = false;
      for (const prod = rx.getUint32(RSP_PROD, true); q.rxCons !== prod; q.rxCons++) {
        const slot = this.slot(q.rxRing, q.rxCons, RX_SLOT);
        const id = slot.getUint16(netif_rx_response.fields.id, true);
        if (extraNext) {
          // The extra-info segment after a frame's first slot; the frame ends here unless that slot said more.
          extraNext = false;
          const frame = q.partial!;
          frame.gsoSize = slot.getUint16(netif_extra_info.fields["u.gso.size"], true);
          if (!(frame.flags & NETRXF.more_data)) {
            this.received.push(frame);
            q.partial = null;
          }
          continue;
        }
        const flags = slot.getUint16(netif_rx_response.fields.flags, true);
        const status = slot.getInt16(netif_rx_response.fields.status, true);
        const offset = slot.getUint16(netif_rx_response.fields.offset, true);
        const index = q.posted.get(id);
        q.posted.delete(id);
        const bytes =
          index === undefined || status < 0
            ? new Uint8Array()
            : this.page(this.rxPages[index]!.gfn).slice(offset, offset + status);
        if (index !== undefined) this.freeRx.push(index);
        const frame: ReceivedFrame = q.partial ?? { data: new Uint8Array(), flags, slots: 0, statuses: [] };
        const joined = new Uint8Array(frame.data.length + bytes.length);
        joined.set(frame.data);
        joined.set(bytes, frame.data.length);
        frame.data = joined;
        frame.slots++;
        frame.statuses.push(status);
        q.partial = frame;
        if (flags & NETRXF.extra_info) extraNext = true;
        if (!(flags & (NETRXF.more_data | NETRXF.extra_info))) {
          this.received.push(frame);
          q.partial = null;
        }
      }
      rx.setUint32(RSP_EVENT, q.rxCons + 1, true);
    }
    this.flush();
  }

  private view(gfn: number): DataView {
    const page = this.page(gfn);
    return new DataView(page.buffer, page.byteOffset, page.byteLength);
  }

  private slot(ring: number, index: number, size: number): DataView {
    const page = this.page(ring);
    return new DataView(page.buffer, page.byteOffset + HEADER + (index % RING_SIZE) * size, size);
  }

  private flush(): void {
    this.hv.coherence.flush(this.domain);
  }
}
