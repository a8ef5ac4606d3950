// A block backend as a dom0 native service, for testing the guest's block
// frontend against a backend that lies. It speaks Xen's protocol (io/blkif.h,
// io/xenbus.h, docs/misc/xenstore-paths): features and InitWait, then on the
// frontend's Initialised it maps the ring-ref(s), binds the event channel,
// publishes the disk and goes Connected; it closes with the frontend and
// goes back to InitWait when the frontend starts over. Requests go to
// `onRequest`, which by default serves them honestly from an in-memory disk;
// a test swaps in a scenario (wrong ids, statuses, operations, duplicate
// responses, indices beyond what was pushed, garbage) and can write any
// `state` at any time. Nothing here knows the guest driver's internals.
//
// Reactions run from dom0's event handlers, as a real backend's would: ring
// events on the bound port, and store watch events as NativeBackend
// delivers them, so the frontend may block in a hypercall while this
// backend does its part.
import type { XenstoreService } from "../../host/dom0/toolstack.js";
import { BLKIF, BLKIF_OP, BLKIF_RSP, XENBUS_STATE } from "../../host/xen/abi.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import type { NativeGrantMapping } from "../../host/xen/native.js";
import { BackRing, BlkifSharedRing, type BlkRequest, type BlkResponse } from "./blkif-ring.js";
import { NativeBackend } from "./native-backend.js";
import { readDecimal, readOrNull } from "./store-read.js";

export const SECTOR_SIZE = 512;
const SECTORS_PER_PAGE = 4096 / SECTOR_SIZE;
const { Initialising, InitWait, Initialised, Connected, Closing, Closed } = XENBUS_STATE;

export interface HostileBlkbackOptions {
  /** The frontend domain; the device is vbd `devid` between it and dom0. */
  frontend: number;
  devid?: number;
  /** Disk size in sectors (of 512 bytes). */
  sectors?: number;
  /** max-ring-page-order to offer; none: single-page rings only. */
  maxRingPageOrder?: number;
}

/** What the backend saw go wrong with the frontend's side (a real one would dev_fatal). */
export type BlkbackFault = string;

export class HostileBlkback extends NativeBackend {
  readonly disk: Uint8Array;
  /** Every request taken off the ring, in order. */
  readonly requests: BlkRequest[] = [];
  /** What the frontend did wrong, in order. */
  readonly faults: BlkbackFault[] = [];
  /**
   * Called for each request taken off the ring; it may answer with
   * `respond` (any number of times), `serve`, or not at all. Responses are
   * pushed after each batch.
   */
  onRequest: (request: BlkRequest, backend: HostileBlkback) => void = (request, backend) =>
    backend.respond(backend.serve(request));
  /** Whether frontend state changes drive this backend's state (false: the test writes states itself). */
  followFrontend = true;
  ring: BackRing | null = null;
  /** dom0's end of the frontend's event channel while connected. */
  port: number | null = null;
  private ringMappings: NativeGrantMapping[] = [];

  constructor(
    hv: Hypervisor,
    service: XenstoreService,
    readonly options: HostileBlkbackOptions,
  ) {
    super(hv, service, "vbd", options.devid ?? 51712, options.frontend);
    this.disk = new Uint8Array((options.sectors ?? 2048) * SECTOR_SIZE);
  }

  /**
   * The toolstack adds the device, the backend publishes its features and
   * goes InitWait, and watches the frontend's state.
   */
  start(): this {
    const { backend } = this.paths;
    this.store.write(`${backend}/feature-flush-cache`, "1");
    if (this.options.maxRingPageOrder !== undefined)
      this.store.write(`${backend}/max-ring-page-order`, String(this.options.maxRingPageOrder));
    this.publish();
    return this;
  }

  /** Queues a response (pushed after the current batch, or by `push`). */
  respond(response: BlkResponse): void {
    this.ring!.respond(response);
  }

  /** Publishes queued responses and notifies the frontend. */
  push(): void {
    this.ring!.push();
    this.notify();
  }

  notify(): void {
    if (this.port !== null) this.dom0.evtchn.notify(this.port);
  }

  /** The honest answer: reads or writes the disk through the request's granted pages. */
  serve(request: BlkRequest): BlkResponse {
    const answer = (status: number): BlkResponse => ({ id: request.id, operation: request.operation, status });
    if (request.operation === BLKIF_OP.FLUSH_DISKCACHE) return answer(BLKIF_RSP.OKAY);
    if (request.operation !== BLKIF_OP.READ && request.operation !== BLKIF_OP.WRITE)
      return answer(BLKIF_RSP.EOPNOTSUPP);
    const nr = request.nrSegments;
    if (nr < 1 || nr > BLKIF.MAX_SEGMENTS_PER_REQUEST) return answer(BLKIF_RSP.ERROR);
    let sector = Number(request.sector);
    const total = request.segments.reduce((sum, seg) => sum + seg.lastSect - seg.firstSect + 1, 0);
    if (request.segments.some((seg) => seg.firstSect > seg.lastSect || seg.lastSect >= SECTORS_PER_PAGE))
      return answer(BLKIF_RSP.ERROR);
    if (request.sector + BigInt(total) > BigInt(this.disk.length / SECTOR_SIZE)) return answer(BLKIF_RSP.ERROR);
    const reading = request.operation === BLKIF_OP.READ;
    for (const seg of request.segments) {
      let mapping: NativeGrantMapping;
      try {
        mapping = this.dom0.gnttab.mapGrantRef(this.options.frontend, seg.gref, reading);
      } catch {
        this.faults.push(`request ${request.id}: segment gref ${seg.gref} does not map`);
        return answer(BLKIF_RSP.ERROR);
      }
      const page = mapping.bytes();
      const bytes = (seg.lastSect - seg.firstSect + 1) * SECTOR_SIZE;
      const inPage = seg.firstSect * SECTOR_SIZE;
      const onDisk = sector * SECTOR_SIZE;
      if (reading) page.set(this.disk.subarray(onDisk, onDisk + bytes), inPage);
      else this.disk.set(page.subarray(inPage, inPage + bytes), onDisk);
      mapping.unmap();
      sector += bytes / SECTOR_SIZE;
    }
    return answer(BLKIF_RSP.OKAY);
  }

  /** Removes the backend's watch and lets go of the ring and channel (the service stops). */
  stop(): void {
    this.disconnect();
    this.unwatch();
  }

  protected storeEvents(): void {
    if (this.store.takeEvents().length === 0 || !this.followFrontend) return;
    const front = this.frontendState;
    const own = this.state;
    if (front === null) {
      // The toolstack removed the device.
      this.disconnect();
    } else if ((front === Initialised || front === Connected) && own === InitWait) {
      this.disconnect();
      this.connect();
    } else if (front === Closing && own !== Closed) {
      this.disconnect();
      this.writeState(Closing);
    } else if (front === Closed) {
      this.disconnect();
      this.writeState(Closed);
    } else if (front === Initialising && own === Closed) {
      // The frontend starts over (blkback's "prepare for reconnect").
      this.disconnect();
      this.writeState(InitWait);
    }
  }

  /** Maps the frontend's ring, binds its channel, publishes the disk, goes Connected; or a fault and Closing. */
  private connect(): void {
    const fault = this.mapRing() ?? this.bindChannel();
    if (fault !== null) {
      this.faults.push(fault);
      this.disconnect();
      this.store.write(`/local/domain/0/error/backend/vbd/${this.options.frontend}/${this.devid}/error`, fault);
      this.writeState(Closing);
      return;
    }
    const { backend } = this.paths;
    this.store.write(`${backend}/sectors`, String(this.disk.length / SECTOR_SIZE));
    this.store.write(`${backend}/sector-size`, String(SECTOR_SIZE));
    this.store.write(`${backend}/info`, "0");
    this.writeState(Connected);
  }

  private mapRing(): BlkbackFault | null {
    const { frontend } = this.paths;
    const orderText = readOrNull(this.store, `${frontend}/ring-page-order`);
    const order = orderText === null ? 0 : Number(orderText);
    const max = this.options.maxRingPageOrder ?? 0;
    if (!Number.isInteger(order) || order < 0 || order > max) return `ring-page-order ${orderText} beyond ${max}`;
    const names = orderText === null ? ["ring-ref"] : Array.from({ length: 2 ** order }, (_, i) => `ring-ref${i}`);
    try {
      for (const name of names) {
        const ref = readDecimal(this.store, `${frontend}/${name}`);
        if (ref === null) return `no ${name}`;
        this.ringMappings.push(this.dom0.gnttab.mapGrantRef(this.options.frontend, ref, true));
      }
    } catch (error) {
      return `mapping the ring: ${(error as Error).message}`;
    }
    const mappings = this.ringMappings;
    this.ring = new BackRing(new BlkifSharedRing(() => mappings.map((mapping) => mapping.bytes())));
    return null;
  }

  private bindChannel(): BlkbackFault | null {
    const remote = readDecimal(this.store, `${this.paths.frontend}/event-channel`);
    if (remote === null) return "no event-channel";
    try {
      this.port = this.dom0.evtchn.bindInterdomain(this.options.frontend, remote);
    } catch (error) {
      return `binding event-channel ${remote}: ${(error as Error).message}`;
    }
    this.dom0.evtchn.on(this.port, () => this.ringEvent());
    return null;
  }

  private ringEvent(): void {
    const ring = this.ring;
    if (!ring) return;
    const answered = ring.rspProdPvt;
    do {
      for (let request = ring.take(); request !== null; request = ring.take()) {
        this.requests.push(request);
        this.onRequest(request, this);
      }
      if (ring.overflowed) this.faults.push("req_prod more than a ring ahead");
    } while (!ring.overflowed && ring.finalCheck());
    if (ring.rspProdPvt !== answered) this.push();
  }

  private disconnect(): void {
    if (this.port !== null) {
      this.dom0.evtchn.unbind(this.port);
      this.port = null;
    }
    for (const mapping of this.ringMappings) mapping.unmap();
    this.ringMappings = [];
    this.ring = null;
  }
}
