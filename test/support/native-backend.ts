// What the tests' native dom0 backends share (HostileBlkback, HostileNetback):
// the device's paths, dom0's own XenStore connection, and watch events on the
// frontend's state handled from the scheduler through an event dom0 sends
// itself (LocalClient.onWatchEvent), never inside xenstored, so the frontend
// may block in a hypercall while the backend does its part.
import { type DevicePaths, devicePaths } from "../../host/dom0/devices.js";
import type { XenstoreService } from "../../host/dom0/toolstack.js";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XENBUS_STATE } from "../../host/xen/abi.js";
import type { Hypervisor } from "../../host/xen/hypervisor.js";
import type { NativeDomain } from "../../host/xen/native.js";
import { readDecimal } from "./store-read.js";

export abstract class NativeBackend {
  readonly paths: DevicePaths;
  readonly store: LocalClient;
  protected readonly dom0: NativeDomain;
  private readonly kickPort: number;
  private readonly token: string;

  constructor(
    hv: Hypervisor,
    service: XenstoreService,
    type: string,
    readonly devid: number,
    frontend: number,
  ) {
    this.dom0 = hv.dom0;
    this.paths = devicePaths({ type, devid, frontend, backend: 0 });
    this.store = new LocalClient(service.xenstored, 0);
    this.token = `hostile-${type}:${this.paths.backend}`;
    const kicked = this.dom0.evtchn.bindUnboundPort(this.dom0.domid);
    this.kickPort = this.dom0.evtchn.bindInterdomain(this.dom0.domid, kicked);
    this.dom0.evtchn.on(kicked, () => this.storeEvents());
    this.store.onWatchEvent = () => this.dom0.evtchn.notify(this.kickPort);
  }

  /** The frontend's state changed (or the device went): what this backend does about it. */
  protected abstract storeEvents(): void;

  /** After the backend's own nodes: hotplug-status, InitWait, and a watch on the frontend's state. */
  protected publish(): void {
    this.store.write(`${this.paths.backend}/hotplug-status`, "connected");
    this.writeState(XENBUS_STATE.InitWait);
    this.store.watch(`${this.paths.frontend}/state`, this.token);
  }

  /** Writes this end's `state`: a XenbusState, or anything at all. */
  writeState(state: number | string): void {
    this.store.write(`${this.paths.backend}/state`, String(state));
  }

  get state(): number {
    return readDecimal(this.store, `${this.paths.backend}/state`) ?? -1;
  }

  get frontendState(): number | null {
    return readDecimal(this.store, `${this.paths.frontend}/state`);
  }

  /** Removes the backend's watch (the service stops). */
  protected unwatch(): void {
    this.store.unwatch(`${this.paths.frontend}/state`, this.token);
  }
}
