// dom0's PV console backend for one domain (xenconsoled's job): it drains
// the guest's `out` ring into a log on each event, and puts host input into
// `in`, keeping what does not fit until the guest has taken some. The page
// is mapped by gfn, as a privileged xenconsoled maps a guest's console page
// it has no grant for (holding the frame, which it follows when the guest
// moves the page), and read as a live view that survives memory.grow.
// The toolstack starts one for every domain it introduces to xenstored,
// reconnects it when the domain is restored, and stops it when the domain
// exits (host/dom0/toolstack.ts).
//
// The indices are in the guest's memory: an impossible pair is ignored (the
// ring is left alone, as xenconsoled does) and counted in `badIndices`.

import { HVM_PARAM, xencons_interface } from "../xen/abi.js";
import { ConsoleLog } from "../xen/console.js";
import type { Domain } from "../xen/domain.js";
import type { Hypervisor } from "../xen/hypervisor.js";
import type { Frame } from "../xen/memory.js";
import type { NativeDomain } from "../xen/native.js";
import { type ByteRingLayout, putBytes, takeBytes } from "./byte-ring.js";

const RING = xencons_interface.fields;
const INPUT: ByteRingLayout = { data: RING.in, size: RING.out - RING.in, cons: RING.in_cons, prod: RING.in_prod };
const OUTPUT: ByteRingLayout = {
  data: RING.out,
  size: RING.in_cons - RING.out,
  cons: RING.out_cons,
  prod: RING.out_prod,
};

export class ConsoleBackend {
  /** What the guest wrote, in lines. */
  readonly log = new ConsoleLog();
  /** The guest's end of the channel, as HVM_PARAM_CONSOLE_EVTCHN tells it. */
  guestPort = 0;
  localPort = 0;
  /** Times the guest left impossible indices. */
  badIndices = 0;
  /** Stopped: the domain exited; the port is closed and input is refused. */
  stopped = false;
  /** Host input the `in` ring had no room for yet. */
  private queued = new Uint8Array(0);
  private readonly encoder = new TextEncoder();

  /** The console page as the backend found it at `gfn`. */
  readonly frame: Frame;

  constructor(
    private readonly dom0: NativeDomain,
    readonly guest: Domain,
    readonly gfn: number,
  ) {
    const frame = guest.frame(gfn);
    if (!frame) throw new Error(`${guest}: no console page at gfn ${gfn}`);
    this.frame = frame;
    this.openChannel();
  }

  /**
   * The domain was saved and restored: what it wrote before suspending is
   * taken, then the restored domain gets a fresh channel (a new port in
   * HVM_PARAM_CONSOLE_EVTCHN) and a cleared page, as Xen's restore clears
   * the console page; input still queued goes out on the new rings. The
   * guest's old port stays open (and unbound) for the toolstack to close.
   */
  reconnect(): void {
    if (this.stopped) return;
    this.drainOutput();
    this.dom0.evtchn.unbind(this.localPort);
    this.page().fill(0);
    this.openChannel();
    this.pushInput();
  }

  /** The domain exited: its last output is taken, then the port closed; nothing is sent any more. */
  stop(): void {
    if (this.stopped) return;
    this.drainOutput();
    this.stopped = true;
    this.dom0.evtchn.unbind(this.localPort);
    this.queued = new Uint8Array(0);
  }

  /** Queues `text` (UTF-8) as keyboard input and sends what the ring has room for. */
  send(text: string | Uint8Array): void {
    if (this.stopped) throw new Error(`${this.guest}: its console was stopped`);
    const bytes = typeof text === "string" ? this.encoder.encode(text) : text;
    const joined = new Uint8Array(this.queued.length + bytes.length);
    joined.set(this.queued);
    joined.set(bytes, this.queued.length);
    this.queued = joined;
    this.pushInput();
  }

  /** Bytes of input still waiting for room in the ring. */
  get pendingInput(): number {
    return this.queued.length;
  }

  /** The toolstack's part: a port in the guest for dom0, bound and announced before the guest connects. */
  private openChannel(): void {
    this.guestPort = this.dom0.evtchn.allocUnbound(this.guest.domid, this.dom0.domid);
    this.localPort = this.dom0.evtchn.bindInterdomain(this.guest.domid, this.guestPort);
    this.guest.params.set(HVM_PARAM.CONSOLE_EVTCHN, BigInt(this.guestPort));
    this.dom0.evtchn.on(this.localPort, () => this.service());
  }

  private page(): Uint8Array {
    return this.frame.bytes();
  }

  private view(): DataView {
    const page = this.page();
    return new DataView(page.buffer, page.byteOffset, page.byteLength);
  }

  /** The event handler: the guest produced output, or consumed input. */
  private service(): void {
    this.drainOutput();
    this.pushInput();
  }

  private drainOutput(): void {
    const bytes = takeBytes(this.view(), OUTPUT);
    if (bytes === null) {
      this.badIndices++;
      return;
    }
    if (bytes.length === 0) return;
    this.log.write(bytes);
    this.notify();
  }

  private pushInput(): void {
    if (this.queued.length === 0) return;
    const count = putBytes(this.view(), INPUT, this.queued);
    if (count < 0) {
      this.badIndices++;
      return;
    }
    if (count === 0) return;
    this.queued = this.queued.slice(count);
    this.notify();
  }

  private notify(): void {
    this.dom0.evtchn.notify(this.localPort);
  }
}

/**
 * Starts dom0's console backend for `domid`, whose console page the toolstack
 * placed (HVM_PARAM_CONSOLE_PFN): before the guest calls console_init.
 */
export function startConsoleBackend(hv: Hypervisor, domid: number): ConsoleBackend {
  const guest = hv.domain(domid);
  if (!guest) throw new Error(`no domain ${domid}`);
  const pfn = guest.params.get(HVM_PARAM.CONSOLE_PFN);
  if (pfn === undefined) throw new Error(`${guest}: no console page`);
  return new ConsoleBackend(hv.dom0, guest, Number(pfn));
}
