// dom0's PV console backend for one domain (xenconsoled's job): it drains
// the guest's `out` ring into a log on each event, and puts host input into
// `in`, keeping what does not fit until the guest has taken some. The page
// is mapped by gfn, as a privileged xenconsoled maps a guest's console page
// it has no grant for, and read as a live view that survives memory.grow.
//
// The indices are in the guest's memory: an impossible pair is ignored (the
// ring is left alone, as xenconsoled does) and counted in `badIndices`.
import { ConsoleLog } from "./console.js";
import type { Domain } from "./domain.js";
import type { Hypervisor } from "./hypervisor.js";
import type { NativeDomain } from "./native.js";
import { HVM_PARAM, xencons_interface } from "./xen/abi.js";

const RING = xencons_interface.fields;
const INPUT_SIZE = RING.out - RING.in;
const OUTPUT_SIZE = RING.in_cons - RING.out;

export class ConsoleBackend {
  /** What the guest wrote, in lines. */
  readonly log = new ConsoleLog();
  /** The guest's end of the channel, as HVM_PARAM_CONSOLE_EVTCHN tells it. */
  readonly guestPort: number;
  readonly localPort: number;
  /** Times the guest left impossible indices. */
  badIndices = 0;
  /** Host input the `in` ring had no room for yet. */
  private queued = new Uint8Array(0);
  private readonly encoder = new TextEncoder();

  constructor(private readonly dom0: NativeDomain, readonly guest: Domain, readonly gfn: number) {
    if (!guest.memory.page(gfn)) throw new Error(`${guest}: console page ${gfn} outside memory`);
    // The toolstack's part: a port in the guest for dom0, announced before the guest connects.
    this.guestPort = dom0.evtchn.allocUnbound(guest.domid, dom0.domid);
    this.localPort = dom0.evtchn.bindInterdomain(guest.domid, this.guestPort);
    guest.params.set(HVM_PARAM.CONSOLE_EVTCHN, BigInt(this.guestPort));
    dom0.evtchn.on(this.localPort, () => this.service());
  }

  /** Queues `text` (UTF-8) as keyboard input and sends what the ring has room for. */
  send(text: string | Uint8Array): void {
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

  private page(): Uint8Array {
    // Checked at construction, and memories never shrink.
    return this.guest.memory.page(this.gfn)!;
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
    const view = this.view();
    let cons = view.getUint32(RING.out_cons, true);
    const prod = view.getUint32(RING.out_prod, true);
    const unread = (prod - cons) >>> 0;
    if (unread === 0) return;
    if (unread > OUTPUT_SIZE) {
      this.badIndices++;
      return;
    }
    const page = this.page();
    const bytes = new Uint8Array(unread);
    for (let i = 0; i < unread; i++) bytes[i] = page[RING.out + ((cons + i) & (OUTPUT_SIZE - 1))]!;
    cons = (cons + unread) >>> 0;
    view.setUint32(RING.out_cons, cons, true);
    this.log.write(bytes);
    this.notify();
  }

  private pushInput(): void {
    if (this.queued.length === 0) return;
    const view = this.view();
    const cons = view.getUint32(RING.in_cons, true);
    let prod = view.getUint32(RING.in_prod, true);
    const used = (prod - cons) >>> 0;
    if (used > INPUT_SIZE) {
      this.badIndices++;
      return;
    }
    const count = Math.min(INPUT_SIZE - used, this.queued.length);
    if (count === 0) return;
    const page = this.page();
    for (let i = 0; i < count; i++) page[RING.in + ((prod + i) & (INPUT_SIZE - 1))] = this.queued[i]!;
    prod = (prod + count) >>> 0;
    view.setUint32(RING.in_prod, prod, true);
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
