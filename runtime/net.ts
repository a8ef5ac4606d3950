// A typed network frontend over a booted xenbus guest's net_* exports (see
// runtime/xenbus.ts for the raw convention): Ethernet frames sent and received
// as byte arrays through a buffer of contiguous page_alloc pages, and the
// vif's negotiated features and counters. Failures throw NetError carrying
// the errno.
import { allocPage, GuestCallError, type ResultCheck, resultCheck } from "./errors.js";
import type { Guest } from "./guest.js";
import type { XenbusExports } from "./xenbus.js";

const PAGE_SIZE = 4096;
/** Pages of the frame buffer: room for the largest frame (65535 bytes, with GSO). */
const FRAME_PAGES = 16;
const ETIMEDOUT = 110;

/** A net_* export failed; `errno` is the positive errno, `code` its name (EIO, ...). */
export class NetError extends GuestCallError {}

/** What the frontend asks of backends (net_start), from each vif's next connection on. */
export interface NetStartOptions {
  /** Take frames whose checksum the sender left blank (NETRXF_csum_blank): feature-no-csum-offload 0. */
  checksumOffload?: boolean;
  /** Take GSO frames of up to 64 KiB: feature-gso-tcpv4. */
  gso?: boolean;
  /** The most queues to ask for (1 to 4; 1 by default). */
  maxQueues?: number;
}

/** How a frame goes out (net_send). */
export interface SendOptions {
  /** NETTXF_csum_blank (1) and NETTXF_data_validated (2). */
  flags?: number;
  /** Segment it as TCPv4 (XEN_NETIF_GSO_TYPE_TCPV4) in segments of this many bytes; the backend must offer feature-gso-tcpv4. */
  gsoSize?: number;
}

/** A frame received, with its checksum and GSO details (net_rx_meta). */
export interface ReceivedFrame {
  data: Uint8Array;
  /** NETRXF_data_validated (1) and NETRXF_csum_blank (2). */
  flags: number;
  /** XEN_NETIF_GSO_TYPE_* (0: none) and the segment size. */
  gsoType: number;
  gsoSize: number;
}

/** A vif as the frontend sees it (net_info). */
export interface NetInfo {
  mac: string;
  mtu: number;
  /** What the backend offered. */
  sg: boolean;
  gsoTcpv4: boolean;
  splitEventChannels: boolean;
  /** What the frontend asked for. */
  checksumOffload: boolean;
  gso: boolean;
  state: number;
  backendState: number;
  queues: number;
  /** The backend's multi-queue-max-queues (0: not offered). */
  backendMaxQueues: number;
  backendId: number;
  txPackets: bigint;
  txBytes: bigint;
  txErrors: bigint;
  rxPackets: bigint;
  rxBytes: bigint;
  rxErrors: bigint;
  /** Malformed receive packets and transmit responses the frontend dropped. */
  malformed: bigint;
}

export class NetFront {
  private readonly x: XenbusExports;
  /** FRAME_PAGES contiguous page_alloc pages: frames go out from and come in to them. */
  readonly buffer: number;
  private readonly infoPage: number;
  private readonly check: ResultCheck;

  constructor(readonly guest: Guest<XenbusExports>) {
    this.x = guest.exports;
    this.check = resultCheck(guest, NetError);
    this.infoPage = allocPage(guest, "network info");
    this.buffer = allocPage(guest, "network frames");
    for (let i = 1; i < FRAME_PAGES; i++) {
      if (allocPage(guest, "network frames") !== this.buffer + i * PAGE_SIZE)
        throw new Error(`${guest.name}: page_alloc gave no run of ${FRAME_PAGES} pages`);
    }
  }

  /** Attaches the frontend bus: vifs are taken on as they appear. */
  start(options: NetStartOptions = {}): this {
    const { checksumOffload = false, gso = false, maxQueues = 1 } = options;
    this.check(this.x.net_start(checksumOffload, gso, maxQueues), "net_start");
    return this;
  }

  /** Blocks until the vif is Connected at both ends, at most `timeoutMs` of Xen's time. */
  open(devid: number, timeoutMs = 10_000): void {
    this.check(this.x.net_open(devid, timeoutMs), `net_open ${devid}`);
  }

  /** Closes the vif and blocks until it is Closed or gone. */
  close(devid: number, timeoutMs = 10_000): void {
    this.check(this.x.net_close(devid, timeoutMs), `net_close ${devid}`);
  }

  /** Sends one Ethernet frame (header included). */
  send(devid: number, frame: Uint8Array, options: SendOptions = {}): void {
    if (frame.length > FRAME_PAGES * PAGE_SIZE) throw new RangeError(`a ${frame.length}-byte frame`);
    this.guest.memory().set(frame, this.buffer);
    const { flags = 0, gsoSize = 0 } = options;
    const rc = this.x.net_send(devid, this.buffer, frame.length, flags, gsoSize, gsoSize === 0 ? 0 : 1);
    this.check(rc, `net_send ${devid} (${frame.length} bytes)`);
  }

  /** The next frame, waiting at most `timeoutMs` of Xen's time for one; null when none came. */
  receive(devid: number, timeoutMs = 0): ReceivedFrame | null {
    const rc = this.x.net_recv(devid, this.buffer, timeoutMs);
    if (rc === -ETIMEDOUT) return null;
    const length = this.check(rc, `net_recv ${devid}`);
    const meta = this.check(this.x.net_rx_meta(devid) >>> 0, `net_rx_meta ${devid}`);
    return {
      data: this.guest.memory().slice(this.buffer, this.buffer + length),
      flags: meta & 0xff,
      gsoType: (meta >>> 8) & 0xff,
      gsoSize: meta >>> 16,
    };
  }

  info(devid: number): NetInfo {
    this.check(this.x.net_info(devid, this.infoPage), `net_info ${devid}`);
    const view = new DataView(this.guest.memory().buffer, this.infoPage, 96);
    const mac = Array.from({ length: 6 }, (_, i) => view.getUint8(i).toString(16).padStart(2, "0")).join(":");
    const features = view.getUint32(12, true);
    const counter = (i: number): bigint => view.getBigUint64(40 + 8 * i, true);
    return {
      mac,
      mtu: view.getUint32(8, true),
      sg: (features & 1) !== 0,
      gsoTcpv4: (features & 2) !== 0,
      splitEventChannels: (features & 4) !== 0,
      checksumOffload: (features & 8) !== 0,
      gso: (features & 16) !== 0,
      state: view.getUint32(16, true),
      backendState: view.getUint32(20, true),
      queues: view.getUint32(24, true),
      backendMaxQueues: view.getUint32(28, true),
      backendId: view.getUint32(32, true),
      txPackets: counter(0),
      txBytes: counter(1),
      txErrors: counter(2),
      rxPackets: counter(3),
      rxBytes: counter(4),
      rxErrors: counter(5),
      malformed: counter(6),
    };
  }
}
