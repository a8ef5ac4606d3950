// A network backend as a dom0 native service, for testing the guest's network
// frontend against a backend that lies. It speaks Xen's protocol (io/netif.h,
// io/xenbus.h): offers and InitWait, then on the frontend's Connected (Linux's
// netfront goes there straight from Initialising) it maps each queue's rings,
// binds its channel(s) and goes Connected; it closes with the frontend.
// Transmitted packets are taken off the ring honestly (their slots, extra
// segments and data through the granted pages) and go to `onTransmit`, which
// by default answers each slot as Linux's netback does; frames are delivered
// into the frontend's posted receive buffers with `deliver`, and a test can
// write any receive response (`respond`) or index (`setRxRspProd`) instead.
// Nothing here knows the guest driver's internals.
import type { XenstoreService } from "../../host/dom0/toolstack.js";
import {
  NETIF_RSP,
  NETRXF,
  NETTXF,
  netif_rx_sring,
  netif_tx_sring,
  PAGE_SIZE,
  XEN_NETIF_EXTRA_FLAG,
  XEN_NETIF_EXTRA_TYPE,
  XENBUS_STATE,
} from "../../host/xen/abi.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import type { NativeGrantMapping } from "../../host/xen/native.js";
import { NativeBackend } from "./native-backend.js";
import { readDecimal, readOrNull } from "./store-read.js";

const { InitWait, Connected, Closing, Closed, Initialising } = XENBUS_STATE;
const HEADER = netif_tx_sring.fields.ring;
const TX_SLOT = netif_tx_sring.sizeof - HEADER;
const RX_SLOT = netif_rx_sring.sizeof - HEADER;
const RING_SIZE = 256;

export interface HostileNetbackOptions {
  /** The frontend domain; the device is vif `devid` between it and dom0. */
  frontend: number;
  devid?: number;
  /** What the backend offers (feature-rx-copy, feature-sg: yes; the others: no; multi-queue-max-queues: not written). */
  rxCopy?: boolean;
  sg?: boolean;
  gso?: boolean;
  split?: boolean;
  maxQueues?: number;
}

/** A transmit request slot as the frontend wrote it. */
export interface TxSlot {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}

/** A packet taken off a transmit ring: its data slots, its extra segments' raw bytes, and its data. */
export interface TxPacket {
  queue: number;
  slots: TxSlot[];
  extras: Uint8Array[];
  data: Uint8Array;
}

/** One receive response slot (and the data it says is in its buffer), or an extra segment's 8 bytes. */
export type RxSlot =
  | { id?: number; offset?: number; flags?: number; status: number; data?: Uint8Array }
  | { extra: Uint8Array };

/** A shared ring page as the backend maps it: the header's indices and raw slots (live, read afresh). */
class NetRing {
  constructor(
    readonly mapping: NativeGrantMapping,
    readonly slotSize: number,
  ) {}

  private view(): DataView {
    const page = this.mapping.bytes();
    return new DataView(page.buffer, page.byteOffset, PAGE_SIZE);
  }

  get(field: number): number {
    return this.view().getUint32(field, true);
  }

  set(field: number, value: number): void {
    this.view().setUint32(field, value >>> 0, true);
  }

  /** The slot at free-running index `index`. */
  slot(index: number): DataView {
    const page = this.mapping.bytes();
    return new DataView(page.buffer, page.byteOffset + HEADER + (index % RING_SIZE) * this.slotSize, this.slotSize);
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY from `old` to `now`. */
  pushResponses(old: number, now: number): boolean {
    this.set(netif_tx_sring.fields.rsp_prod, now);
    return (now - this.get(netif_tx_sring.fields.rsp_event)) >>> 0 < (now - old) >>> 0;
  }
}

class Queue {
  txCons = 0;
  txRsp = 0;
  rxCons = 0;
  rxRsp = 0;
  txPort = -1;
  rxPort = -1;

  constructor(
    readonly tx: NetRing,
    readonly rx: NetRing,
  ) {}
}

export class HostileNetback extends NativeBackend {
  /** What the frontend did wrong, in order. */
  readonly faults: string[] = [];
  /** Every packet taken off a transmit ring, in order. */
  readonly transmitted: TxPacket[] = [];
  /** Answers a packet's slots; the default answers NETIF_RSP_OKAY for each data slot and NULL for each extra. */
  onTransmit: (packet: TxPacket, backend: HostileNetback) => void = (packet, backend) => backend.answer(packet);
  queues: Queue[] = [];
  private mappings: NativeGrantMapping[] = [];
  private answering: Queue | null = null;

  constructor(
    hv: Hypervisor,
    service: XenstoreService,
    readonly options: HostileNetbackOptions,
  ) {
    super(hv, service, "vif", options.devid ?? 0, options.frontend);
  }

  /** Publishes the offers and InitWait, and watches the frontend's state. */
  start(): this {
    const { backend } = this.paths;
    const { rxCopy = true, sg = true, gso = false, split = false, maxQueues } = this.options;
    const flag = (name: string, on: boolean): void => this.store.write(`${backend}/${name}`, on ? "1" : "0");
    flag("feature-rx-copy", rxCopy);
    flag("feature-sg", sg);
    flag("feature-gso-tcpv4", gso);
    flag("feature-split-event-channels", split);
    if (maxQueues !== undefined) this.store.write(`${backend}/multi-queue-max-queues`, String(maxQueues));
    this.publish();
    return this;
  }

  /** The frontend's node `name`, or null. */
  front(name: string): string | null {
    return readOrNull(this.store, `${this.paths.frontend}/${name}`);
  }

  /** Receive requests the frontend has posted and this backend not yet used, on queue `q`. */
  rxAvailable(q = 0): number {
    const queue = this.queues[q]!;
    return (queue.rx.get(netif_rx_sring.fields.req_prod) - queue.rxCons) >>> 0;
  }

  /**
   * Delivers `frame` on queue `q` as Linux's netback does: one posted buffer a
   * page, from offset 0, the first slot with `flags` (NETRXF_*) and a GSO
   * segment after it when `gsoSize` is given. false when too few buffers are
   * posted (the frame is dropped).
   */
  deliver(frame: Uint8Array, options: { queue?: number; flags?: number; gsoSize?: number } = {}): boolean {
    const { queue = 0, flags = 0, gsoSize } = options;
    const chunks = Math.max(1, Math.ceil(frame.length / PAGE_SIZE));
    const extra = gsoSize === undefined ? 0 : 1;
    if (this.rxAvailable(queue) < chunks + extra) return false;
    const slots: RxSlot[] = [];
    for (let i = 0; i < chunks; i++) {
      const chunk = frame.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
      const more = i + 1 < chunks ? NETRXF.more_data : 0;
      const first = i === 0 ? flags | (extra ? NETRXF.extra_info : 0) : 0;
      slots.push({ flags: first | more, status: chunk.length, data: chunk });
      if (i === 0 && gsoSize !== undefined) slots.push({ extra: gsoExtra(gsoSize) });
    }
    this.respond(slots, queue);
    return true;
  }

  /**
   * Writes receive responses on queue `q`, one slot each, in the slots of the
   * next posted requests: a response echoes its request's id unless it says
   * otherwise, and its data (if any) is copied into the request's granted
   * page at its offset. Then pushes and notifies.
   */
  respond(slots: RxSlot[], q = 0): void {
    const queue = this.queues[q]!;
    const old = queue.rxRsp;
    for (const slot of slots) {
      const index = queue.rxCons++;
      const request = queue.rx.slot(index);
      const id = request.getUint16(0, true);
      const gref = request.getUint32(4, true);
      const rsp = queue.rx.slot(index);
      if ("extra" in slot) {
        new Uint8Array(rsp.buffer, rsp.byteOffset, RX_SLOT).set(slot.extra);
      } else {
        if (slot.data !== undefined && slot.data.length > 0) {
          const page = this.dom0.gnttab.mapGrantRef(this.options.frontend, gref, true);
          page.bytes().set(slot.data, slot.offset ?? 0);
          page.unmap();
        }
        rsp.setUint16(0, slot.id ?? id, true);
        rsp.setUint16(2, slot.offset ?? 0, true);
        rsp.setUint16(4, slot.flags ?? 0, true);
        rsp.setInt16(6, slot.status, true);
      }
      queue.rxRsp++;
    }
    if (queue.rx.pushResponses(old, queue.rxRsp)) this.dom0.evtchn.notify(queue.rxPort);
  }

  /** Publishes any rsp_prod on queue `q`'s receive ring (an index the frontend never made room for, say). */
  setRxRspProd(value: number, q = 0): void {
    const queue = this.queues[q]!;
    queue.rx.set(netif_rx_sring.fields.rsp_prod, value);
    this.dom0.evtchn.notify(queue.rxPort);
  }

  /** The default answer to a transmitted packet: OKAY for each data slot, NULL for each extra, in slot order. */
  answer(packet: TxPacket, status: number = NETIF_RSP.OKAY): void {
    const [first, ...rest] = packet.slots;
    this.txRespond(first!.id, status);
    for (const _ of packet.extras) this.txRespond(0, NETIF_RSP.NULL);
    for (const slot of rest) this.txRespond(slot.id, status);
  }

  /** Writes one transmit response (while onTransmit runs), pushed after the batch. */
  txRespond(id: number, status: number): void {
    const queue = this.answering!;
    const rsp = queue.tx.slot(queue.txRsp++);
    rsp.setUint16(0, id, true);
    rsp.setInt16(2, status, true);
  }

  protected storeEvents(): void {
    if (this.store.takeEvents().length === 0) return;
    const front = this.frontendState;
    const own = this.state;
    if (front === null) this.disconnect();
    else if (front === Connected && own === InitWait) this.connect();
    else if (front === Closing && own !== Closed) {
      this.disconnect();
      this.writeState(Closing);
    } else if (front === Closed) {
      this.disconnect();
      this.writeState(Closed);
    } else if (front === Initialising && own === Closed) this.writeState(InitWait);
  }

  private connect(): void {
    this.disconnect();
    const fault = this.connectQueues();
    if (fault !== null) {
      this.faults.push(fault);
      this.disconnect();
      this.writeState(Closing);
      return;
    }
    this.writeState(Connected);
  }

  private connectQueues(): string | null {
    if (this.front("request-rx-copy") !== "1") return "no request-rx-copy";
    const asked = readOrNull(this.store, `${this.paths.frontend}/multi-queue-num-queues`);
    const count = asked === null ? 1 : Number(asked);
    if (!(count >= 1 && count <= (this.options.maxQueues ?? 1))) return `multi-queue-num-queues ${asked}`;
    for (let i = 0; i < count; i++) {
      const dir = count === 1 ? this.paths.frontend : `${this.paths.frontend}/queue-${i}`;
      const number = (name: string): number | null => readDecimal(this.store, `${dir}/${name}`);
      const txRef = number("tx-ring-ref");
      const rxRef = number("rx-ring-ref");
      if (txRef === null || rxRef === null) return `${dir}: no ring refs`;
      const split = this.options.split === true;
      const txChannel = number(split ? "event-channel-tx" : "event-channel");
      const rxChannel = split ? number("event-channel-rx") : txChannel;
      if (txChannel === null || rxChannel === null) return `${dir}: no event channel`;
      if (!split && number("event-channel-tx") !== null) return `${dir}: split channels not offered`;
      let queue: Queue;
      try {
        const tx = this.dom0.gnttab.mapGrantRef(this.options.frontend, txRef, true);
        this.mappings.push(tx);
        const rx = this.dom0.gnttab.mapGrantRef(this.options.frontend, rxRef, true);
        this.mappings.push(rx);
        queue = new Queue(new NetRing(tx, TX_SLOT), new NetRing(rx, RX_SLOT));
        queue.txPort = this.dom0.evtchn.bindInterdomain(this.options.frontend, txChannel);
        queue.rxPort = split ? this.dom0.evtchn.bindInterdomain(this.options.frontend, rxChannel) : queue.txPort;
      } catch (error) {
        return `${dir}: ${(error as Error).message}`;
      }
      this.queues.push(queue);
      this.dom0.evtchn.on(queue.txPort, () => this.txEvent(queue));
    }
    return null;
  }

  /** Takes every published transmit packet off `queue`'s ring. */
  private txEvent(queue: Queue): void {
    const ring = queue.tx;
    const old = queue.txRsp;
    this.answering = queue;
    const reqProd = (): number => ring.get(netif_tx_sring.fields.req_prod);
    while (queue.txCons !== reqProd()) {
      const packet = this.takePacket(queue, reqProd());
      if (packet === null) break;
      this.transmitted.push(packet);
      this.onTransmit(packet, this);
    }
    ring.set(netif_tx_sring.fields.req_event, queue.txCons + 1);
    this.answering = null;
    if (queue.txRsp !== old && ring.pushResponses(old, queue.txRsp)) this.dom0.evtchn.notify(queue.txPort);
  }

  /** The packet from queue.txCons on, read as Linux's netback does (fragments' data through their grants); null when cut short. */
  private takePacket(queue: Queue, prod: number): TxPacket | null {
    const ring = queue.tx;
    const read = (index: number): TxSlot => {
      const slot = ring.slot(index);
      return {
        gref: slot.getUint32(0, true),
        offset: slot.getUint16(4, true),
        flags: slot.getUint16(6, true),
        id: slot.getUint16(8, true),
        size: slot.getUint16(10, true),
      };
    };
    let index = queue.txCons;
    const slots = [read(index++)];
    const extras: Uint8Array[] = [];
    let more = (slots[0]!.flags & NETTXF.extra_info) !== 0;
    while (more) {
      if (index === prod) return this.cutShort(queue);
      const slot = ring.slot(index++);
      extras.push(new Uint8Array(slot.buffer.slice(slot.byteOffset, slot.byteOffset + 8)));
      more = (slot.getUint8(1) & XEN_NETIF_EXTRA_FLAG.MORE) !== 0;
    }
    while ((slots.at(-1)!.flags & NETTXF.more_data) !== 0) {
      if (index === prod) return this.cutShort(queue);
      slots.push(read(index++));
    }
    queue.txCons = index;
    // The first slot's size is the packet's; its own data is what the others leave.
    const total = slots[0]!.size;
    const sizes = slots.map((slot, i) =>
      i === 0 ? total - slots.slice(1).reduce((sum, s) => sum + s.size, 0) : slot.size,
    );
    const data = new Uint8Array(Math.max(total, 0));
    let at = 0;
    slots.forEach((slot, i) => {
      const size = sizes[i]!;
      if (size < 0 || slot.offset + size > PAGE_SIZE) {
        this.faults.push(`slot ${i}: offset ${slot.offset} size ${size}`);
        return;
      }
      const page = this.dom0.gnttab.mapGrantRef(this.options.frontend, slot.gref, false);
      data.set(page.bytes().subarray(slot.offset, slot.offset + size), at);
      page.unmap();
      at += size;
    });
    return { queue: this.queues.indexOf(queue), slots, extras, data };
  }

  private cutShort(queue: Queue): null {
    this.faults.push(`queue ${this.queues.indexOf(queue)}: a packet runs past req_prod`);
    return null;
  }

  private disconnect(): void {
    for (const queue of this.queues) {
      if (queue.rxPort !== queue.txPort) this.dom0.evtchn.unbind(queue.rxPort);
      this.dom0.evtchn.unbind(queue.txPort);
    }
    this.queues = [];
    for (const mapping of this.mappings) mapping.unmap();
    this.mappings = [];
  }
}

/** A GSO extra segment (XEN_NETIF_EXTRA_TYPE_GSO, TCPv4) of `size`-byte segments. */
export function gsoExtra(size: number, type = 1): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, XEN_NETIF_EXTRA_TYPE.GSO);
  view.setUint16(2, size, true);
  view.setUint8(4, type);
  return bytes;
}
