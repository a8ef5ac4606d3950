// A test-only device type for the backend lifecycle, in build/harness.wasm:
// "vlife" on the backend bus. Its ops do the ring work a real backend does
// (map the frontend's ring, bind its channel) and record each step in the
// test drivers' log; an event reads the u32 the frontend put at the start
// of its ring page and answers with an event back.
import { GNTST_okay } from "../xen/abi";
import { BackendDevice, BackendDriver, BackendOps, bindFrontendEvtchn, notifyFrontend } from "../xenbus/backend";
import { FoundDevice, registerBackendDriver, XenbusDriver } from "../xenbus/bus";
import { mapRingValloc, RingMapping, readRingRefs, unmapRingVfree } from "../xenbus/client";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { record } from "./bus-drivers";

/** The largest ring the test type offers (max-ring-page-order). */
const MAX_RING_PAGE_ORDER: u32 = 1;

class RingDevice extends BackendDevice {
  readonly ring: RingMapping = new RingMapping();
}

class RingOps extends BackendOps {
  newDevice(found: FoundDevice, driver: XenbusDriver): BackendDevice {
    return new RingDevice(found, driver, this);
  }

  init(dev: BackendDevice): i32 {
    record(`init ${dev.nodename}`);
    return dev.store.writeInt(XS_NO_TRANSACTION, `${dev.nodename}/max-ring-page-order`, MAX_RING_PAGE_ORDER);
  }

  initialise(dev: BackendDevice): i32 {
    const ring = changetype<RingDevice>(dev).ring;
    const refs = new Array<u32>();
    let rc = readRingRefs(dev, XS_NO_TRANSACTION, MAX_RING_PAGE_ORDER, refs);
    if (rc < 0) {
      record(`initialise-failed ${dev.nodename} ring-ref ${rc}`);
      return rc;
    }
    rc = mapRingValloc(dev, refs, ring);
    if (rc != GNTST_okay) {
      record(`initialise-failed ${dev.nodename} map ${rc}`);
      return rc < 0 ? rc : -rc;
    }
    const port = bindFrontendEvtchn(dev);
    if (port < 0) {
      unmapRingVfree(dev, ring.address);
      ring.address = 0;
      record(`initialise-failed ${dev.nodename} event-channel ${port}`);
      return port;
    }
    record(`initialise ${dev.nodename} pages ${refs.length} port ${port}`);
    return 0;
  }

  connected(dev: BackendDevice): void {
    record(`connected ${dev.nodename}`);
  }

  disconnect(dev: BackendDevice): void {
    const ring = changetype<RingDevice>(dev).ring;
    record(`disconnect ${dev.nodename} port ${dev.localPort} mapped ${ring.address != 0}`);
    if (ring.address != 0) unmapRingVfree(dev, ring.address);
    ring.address = 0;
  }

  event(dev: BackendDevice): void {
    const ring = changetype<RingDevice>(dev).ring;
    record(`event ${dev.nodename} ${load<u32>(ring.address)}`);
    notifyFrontend(dev);
  }

  frontendChanged(dev: BackendDevice, node: string): void {
    record(`frontend-changed ${dev.nodename} ${node} ${dev.otherendState}`);
  }

  backendChanged(dev: BackendDevice, node: string): void {
    if (node == "online") record(`backend-changed ${dev.nodename} online ${dev.online}`);
  }

  free(dev: BackendDevice): void {
    record(`free ${dev.nodename}`);
  }
}

/** The same ops, not waiting for the frontend's states. */
class IgnoreStateOps extends RingOps {
  constructor() {
    super();
    this.ignoreState = true;
  }
}

registerBackendDriver(new BackendDriver("vlife", new RingOps()));
registerBackendDriver(new BackendDriver("vlife-ignore", new IgnoreStateOps()));
