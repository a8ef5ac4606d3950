// The network backend's XenStore side (io/netif.h), as Linux's xen-netback
// xenbus.c is to its netback.c: the `vif` operations of the backend
// lifecycle (assembly/xenbus/backend.ts). init reads the toolstack's `mac`
// and `handle` and publishes what we offer, as netback_probe does
// (feature-sg, feature-gso-tcpv4, feature-rx-copy, feature-rx-flip 0,
// feature-split-event-channels, multi-queue-max-queues); initialise reads
// what the frontend asks for (request-rx-copy, required; feature-sg,
// feature-gso-tcpv4, feature-rx-notify, feature-no-csum-offload;
// multi-queue-num-queues) and each queue's rings and channels, as Linux's
// connect() does, and has netback.ts map and bind them.
//
// A frontend that names no queue count uses one queue, its nodes at the top
// of its directory; with multi-queue-num-queues N (1 to MAX_QUEUES) queue i's
// are under queue-i/. Each queue has tx-ring-ref and rx-ring-ref (one page
// each) and event-channel, or event-channel-tx and event-channel-rx. Every
// failure is fatal (dev_fatal, Closing), as in Linux.
import { EINVAL, ENOENT, EOPNOTSUPP, ERANGE } from "../xen/abi";
import { BackendDevice, BackendDriver, BackendOps } from "../xenbus/backend";
import { FoundDevice, registerBackendDriver, XenbusBus, XenbusDriver } from "../xenbus/bus";
import { devFatal } from "../xenbus/client";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { connectQueue, kickVif, NetbackQueue, NetbackVif, netbackInit, startVif, stopVif } from "./netback";
import { macAt } from "./netback-bridge";
import { parseMac } from "./netif";

/** Queues a frontend may ask for (multi-queue-max-queues). */
export const MAX_QUEUES: u32 = 4;

class PublishFeatures extends XsTransactionBody {
  constructor(readonly dev: NetbackVif) {
    super();
  }

  run(store: XsClient, tx: u32): i32 {
    const node = this.dev.nodename;
    let rc = store.writeInt(tx, `${node}/feature-sg`, 1);
    if (rc == 0) rc = store.writeInt(tx, `${node}/feature-gso-tcpv4`, 1);
    if (rc == 0) rc = store.writeInt(tx, `${node}/feature-rx-copy`, 1);
    if (rc == 0) rc = store.writeInt(tx, `${node}/feature-rx-flip`, 0);
    if (rc == 0) rc = store.writeInt(tx, `${node}/feature-split-event-channels`, 1);
    if (rc == 0) rc = store.writeInt(tx, `${node}/multi-queue-max-queues`, MAX_QUEUES);
    return rc;
  }
}

/** The toolstack's MAC, parsed (netif.ts's parseMac writes its six bytes here). */
const mac = memory.data(8, 8);

/** The frontend's flag `name` (absent: false); -errno for a value that is not a number. */
function readFlag(vif: NetbackVif, name: string): i32 {
  const rc = vif.store.readU32(XS_NO_TRANSACTION, `${vif.otherendPath}/${name}`);
  if (rc == -ENOENT) return 0;
  if (rc < 0) return rc;
  return vif.store.number != 0 ? 1 : 0;
}

class NetbackOps extends BackendOps {
  newDevice(found: FoundDevice, driver: XenbusDriver): BackendDevice {
    return new NetbackVif(found, driver, this);
  }

  /** Reads the toolstack's `mac` and publishes what we offer. */
  init(dev: BackendDevice): i32 {
    const vif = dev as NetbackVif;
    let rc = netbackInit();
    if (rc < 0) {
      devFatal(vif, rc, "allocating the frame buffer");
      return rc;
    }
    rc = vif.store.read(XS_NO_TRANSACTION, `${vif.nodename}/mac`);
    if (rc == 0) rc = parseMac(vif.store.replyPayload(), vif.store.replyLength(), mac);
    if (rc < 0) {
      devFatal(vif, rc, `parsing ${vif.nodename}/mac`);
      return rc;
    }
    vif.mac = macAt(mac);
    rc = vif.store.runTransaction(new PublishFeatures(vif));
    if (rc < 0) devFatal(vif, rc, "writing features");
    return rc < 0 ? rc : 0;
  }

  /** What the frontend asks for, and each queue's rings and channels, mapped and bound (Linux's connect()). */
  initialise(dev: BackendDevice): i32 {
    const vif = dev as NetbackVif;
    const store = vif.store;
    const features = vif.features;
    let rc = readFlag(vif, "request-rx-copy");
    if (rc <= 0) {
      rc = rc < 0 ? rc : -EOPNOTSUPP;
      devFatal(vif, rc, "the frontend does not ask for rx-copy");
      return rc;
    }
    const sg = readFlag(vif, "feature-sg");
    const gso = readFlag(vif, "feature-gso-tcpv4");
    const notify = readFlag(vif, "feature-rx-notify");
    const noCsum = readFlag(vif, "feature-no-csum-offload");
    if (sg < 0 || gso < 0 || notify < 0 || noCsum < 0) {
      devFatal(vif, -ERANGE, "reading the frontend's features");
      return -ERANGE;
    }
    features.sg = sg == 1;
    features.gsoTcpv4 = gso == 1;
    features.rxNotify = notify == 1;
    features.noCsumOffload = noCsum == 1;
    rc = store.readU32(XS_NO_TRANSACTION, `${vif.otherendPath}/multi-queue-num-queues`);
    let count: u32 = 1;
    if (rc == 0) count = u32(store.number);
    else if (rc != -ENOENT) {
      devFatal(vif, rc, "reading multi-queue-num-queues");
      return rc;
    }
    if (count == 0 || count > MAX_QUEUES) {
      devFatal(vif, -EINVAL, `guest requested ${count} queues, exceeding the maximum of ${MAX_QUEUES}`);
      return -EINVAL;
    }
    stopVif(vif);
    for (let i: u32 = 0; i < count; i++) {
      const q = new NetbackQueue(vif, i);
      vif.queues.push(q);
      rc = this.connectQueue(q, count == 1 ? vif.otherendPath : `${vif.otherendPath}/queue-${i}`);
      if (rc < 0) {
        stopVif(vif);
        return rc;
      }
    }
    startVif(vif);
    return 0;
  }

  /** One queue's rings and channel(s) from the frontend's `dir`. */
  private connectQueue(q: NetbackQueue, dir: string): i32 {
    const vif = q.vif;
    const store = vif.store;
    let rc = store.readU32(XS_NO_TRANSACTION, `${dir}/tx-ring-ref`);
    const txRef = u32(store.number);
    if (rc == 0) rc = store.readU32(XS_NO_TRANSACTION, `${dir}/rx-ring-ref`);
    const rxRef = u32(store.number);
    if (rc < 0) {
      devFatal(vif, rc, `reading ${dir}/ring-ref`);
      return rc;
    }
    let rxEvtchn: i64 = -1;
    rc = store.readU32(XS_NO_TRANSACTION, `${dir}/event-channel`);
    let txEvtchn = u32(store.number);
    if (rc == -ENOENT) {
      rc = store.readU32(XS_NO_TRANSACTION, `${dir}/event-channel-tx`);
      txEvtchn = u32(store.number);
      if (rc == 0) rc = store.readU32(XS_NO_TRANSACTION, `${dir}/event-channel-rx`);
      rxEvtchn = store.number;
    }
    if (rc < 0) {
      devFatal(vif, rc, `reading ${dir}/event-channel(-tx/rx)`);
      return rc;
    }
    return connectQueue(q, txRef, rxRef, txEvtchn, rxEvtchn);
  }

  /** Packets the frontend queued before we were bound. */
  connected(dev: BackendDevice): void {
    kickVif(dev as NetbackVif);
  }

  /** The lifecycle unbinds only a channel bindFrontendEvtchn bound: our queues' go here, with the rings. */
  disconnect(dev: BackendDevice): void {
    stopVif(dev as NetbackVif);
  }
}

/** The device serving `frontend`'s vif `devid`, or null. */
export function findVif(bus: XenbusBus, frontend: u32, devid: u32): NetbackVif | null {
  const dev = bus.find("vif", `${frontend}/${devid}`);
  return dev === null ? null : (dev as NetbackVif);
}

registerBackendDriver(new BackendDriver("vif", new NetbackOps()));
