// A block frontend as a native domain of its own, for testing the guest's
// block backend against a frontend that lies. It speaks Xen's protocol
// (io/blkif.h, io/xenbus.h, docs/misc/xenstore-paths): grants its ring
// page(s) to the backend, offers an event channel, writes ring-ref (or
// ring-page-order and ring-ref%u), event-channel and protocol, and goes
// Initialised. Every one of those can be replaced by a lie (an order beyond
// what the backend offers, refs that are not granted or belong to someone
// else, a channel that is not bound), and requests go on the ring exactly as
// the test writes them. It is driven by the test step by step: after each
// step the test runs the hypervisor (`run`) and looks at what came back.
//
// Its pages are its own memory; it grants them by writing its grant table
// as a guest would (Xen's gntshr for a native domain), and after writing a
// page it flushes it to the backend's mapped copies, as leaving the CPU does.
import { type DevicePaths, devicePaths } from "../../host/dom0/devices.js";
import type { XenstoreService } from "../../host/dom0/toolstack.js";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { GTF, PAGE_SIZE, XENBUS_STATE } from "../../host/xen/abi.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import type { NativeDomain } from "../../host/xen/native.js";
import { BlkifSharedRing, type BlkRequest, type BlkResponse, FrontRing } from "./blkif-ring.js";
import { readDecimal, readOrNull } from "./store-read.js";

/** Refs below this are the toolstack's (xenstore and console pages), as in a guest. */
const FIRST_FREE_REF = 8;

export interface HostileBlkfrontOptions {
  /** The backend domain; the device is vbd `devid` between this domain and it. */
  backend: number;
  devid?: number;
  /** Pages of memory (ring and data pages come from here). */
  pages?: number;
  /** Extra backend nodes for the toolstack to write (params, mode, ...). */
  backendParams?: Record<string, string>;
}

/** How `connect` sets the ring up; each field left out is done honestly. */
export interface ConnectLies {
  /** Pages in the ring (a power of two); written as ring-page-order unless 1 page and no order given. */
  ringPages?: number;
  /** The ring-page-order written, whatever the ring really has. */
  ringPageOrder?: string;
  /** The ring refs written instead of the granted ones. */
  ringRefs?: number[];
  /** The event-channel written instead of the offered port. */
  eventChannel?: string;
  protocol?: string;
  /** The state to switch to at the end (default Initialised). */
  state?: number;
}

export class HostileBlkfront {
  readonly domain: NativeDomain;
  readonly paths: DevicePaths;
  readonly store: LocalClient;
  /** Responses taken off the ring, in order. */
  readonly responses: BlkResponse[] = [];
  ring: FrontRing | null = null;
  /** Our port of the event channel offered to the backend. */
  port: number | null = null;
  ringPages: number[] = [];
  ringRefs: number[] = [];
  readonly devid: number;
  private nextPage = 0;
  private nextRef = FIRST_FREE_REF;

  constructor(
    private readonly hv: Hypervisor,
    service: XenstoreService,
    readonly options: HostileBlkfrontOptions,
  ) {
    this.domain = hv.createNativeDomain("hostile-blkfront", { pages: options.pages ?? 64 });
    this.devid = options.devid ?? 51712;
    this.paths = devicePaths({ type: "vbd", devid: this.devid, frontend: this.domain.domid, backend: options.backend });
    this.store = new LocalClient(service.xenstored, this.domain.domid);
    service.devices.add({
      type: "vbd",
      devid: this.devid,
      frontend: this.domain.domid,
      backend: options.backend,
      backendParams: options.backendParams,
    });
  }

  get domid(): number {
    return this.domain.domid;
  }

  /** A fresh page of our memory (gfn); pages are never handed out twice. */
  allocPage(): number {
    if (this.nextPage >= this.domain.memory.size / PAGE_SIZE) throw new Error("hostile-blkfront is out of pages");
    return this.nextPage++;
  }

  /** Our page `gfn`, with what the backend wrote to its mapped copy. */
  page(gfn: number): Uint8Array {
    return this.hv.memoryOf(this.domain).subarray(gfn * PAGE_SIZE, (gfn + 1) * PAGE_SIZE);
  }

  /** Grants `domid` access to our page `gfn`: the ref. */
  grant(gfn: number, domid = this.options.backend, readonly = false): number {
    const ref = this.nextRef++;
    const entry = this.domain.grantTable.entry(ref);
    entry.setU32("frame", gfn);
    entry.setU16("domid", domid);
    entry.setU16("flags", GTF.permit_access | (readonly ? GTF.readonly : 0));
    return ref;
  }

  /** Revokes a grant (as gnttab_end_foreign_access would, were the page not in use): whether it was unused. */
  endGrant(ref: number): boolean {
    const entry = this.domain.grantTable.entry(ref);
    if (entry.u16("flags") & (GTF.reading | GTF.writing)) return false;
    entry.setU16("flags", 0);
    return true;
  }

  /** The backend's `state`, or null when it cannot be read as a number. */
  get backendState(): number | null {
    return readDecimal(this.store, `${this.paths.backend}/state`);
  }

  readText(path: string): string | null {
    return readOrNull(this.store, path);
  }

  writeNode(name: string, value: string): void {
    this.store.write(`${this.paths.frontend}/${name}`, value);
  }

  switchState(state: number | string): void {
    this.writeNode("state", String(state));
  }

  /**
   * Sets the ring up and publishes it (each part honest unless `lies` says
   * otherwise), switches to Initialised, and runs the hypervisor.
   */
  connect(lies: ConnectLies = {}): void {
    const pages = lies.ringPages ?? 1;
    this.ringPages = Array.from({ length: pages }, () => this.allocPage());
    this.ringRefs = this.ringPages.map((gfn) => this.grant(gfn));
    const ringPages = this.ringPages;
    this.ring = new FrontRing(new BlkifSharedRing(() => ringPages.map((gfn) => this.page(gfn))));
    this.ring.shared.init();
    if (this.port !== null) this.domain.evtchn.unbind(this.port);
    this.port = this.domain.evtchn.bindUnboundPort(this.options.backend);
    this.domain.evtchn.on(this.port, () => this.takeResponses());
    // What an earlier connection published must not be read as this one's.
    for (const node of this.store.directory(this.paths.frontend)) {
      if (node.startsWith("ring-")) this.store.rm(`${this.paths.frontend}/${node}`);
    }
    const refs = lies.ringRefs ?? this.ringRefs;
    const order = lies.ringPageOrder ?? (pages === 1 && refs.length === 1 ? null : String(Math.log2(refs.length)));
    if (order === null) this.writeNode("ring-ref", String(refs[0]));
    else {
      this.writeNode("ring-page-order", order);
      refs.forEach((ref, i) => this.writeNode(`ring-ref${i}`, String(ref)));
    }
    this.writeNode("event-channel", lies.eventChannel ?? String(this.port));
    this.writeNode("protocol", lies.protocol ?? "x86_64-abi");
    this.flush();
    this.switchState(lies.state ?? XENBUS_STATE.Initialised);
    this.run();
  }

  /** Puts requests on the ring as given, publishes them, notifies and runs the hypervisor. */
  submit(...requests: BlkRequest[]): void {
    for (const request of requests) this.ring!.submit(request);
    this.ring!.push();
    this.kick();
  }

  /** Notifies the backend and runs the hypervisor (after the test wrote the ring itself). */
  kick(): void {
    this.flush();
    if (this.port !== null) this.domain.evtchn.notify(this.port);
    this.run();
  }

  /** Runs every domain until nothing is pending, then takes any responses. */
  run(): void {
    this.hv.runUntilIdle();
    this.takeResponses();
  }

  /** Closes as a frontend does: Closing, then Closed once the backend is; the ring and channel go. */
  close(): void {
    this.switchState(XENBUS_STATE.Closing);
    this.run();
    this.switchState(XENBUS_STATE.Closed);
    if (this.port !== null) this.domain.evtchn.unbind(this.port);
    this.port = null;
    this.ring = null;
    this.run();
  }

  /** Our writes reach the backend's mapped copies, as when this domain leaves the CPU. */
  private flush(): void {
    this.hv.coherence.flush(this.domain);
  }

  private takeResponses(): void {
    if (this.ring) this.responses.push(...this.ring.takeResponses());
  }
}
