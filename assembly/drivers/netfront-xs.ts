// The network frontend's XenStore side (io/netif.h), as Unikraft's
// netfront_xs.c is to its netfront.c: the `vif` driver of the frontend bus,
// connecting as Linux's xen-netfront does. attach reads the device's `mac`
// (refusing a device without a valid one) and its `mtu` as MirageOS does
// (the frontend's own node, 1500 when absent or unreadable). When the
// backend reaches InitWait we read its offers (feature-rx-copy is required;
// feature-sg, feature-gso-tcpv4, feature-split-event-channels,
// multi-queue-max-queues), set up the queues, publish their rings and
// channels with our requests in one transaction and switch straight to
// Connected, as Linux's netfront does; frames flow once the backend is
// Connected too. When the backend closes we tear down and close. The rings
// and the frames on them are netfront.ts's.
import {
  EINVAL,
  EOPNOTSUPP,
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialising,
  XenbusStateInitWait,
  XenbusStateUnknown,
} from "../xen/abi";
import { BusDevice, FoundDevice, registerFrontendDriver, XenbusDriver } from "../xenbus/bus";
import { devError, devFatal, endDeferredGrants, frontendClosed } from "../xenbus/client";
import { XsClient, XsTransactionBody } from "../xenstore/client";
import { XS_NO_TRANSACTION } from "../xenstore/wire";
import { parseDecimal64, parseFlag } from "./blkif";
import { MAX_QUEUES, NetfrontDevice, reportBroken, setUpQueues, teardown } from "./netfront";
import { DEFAULT_MTU, ETH_HLEN, parseMac } from "./netif";

/** What the application takes, set by net_start: each device asks for it when it connects. */
class FrontendOptions {
  /** Frames whose checksum the sender left blank (NETRXF_csum_blank): feature-no-csum-offload 0, else 1. */
  checksumOffload: bool = false;
  /** GSO frames of up to 64 KiB (feature-gso-tcpv4). */
  gso: bool = false;
  /** The most queues asked for, 1 to MAX_QUEUES. */
  maxQueues: u32 = 1;
}

const options = new FrontendOptions();

/** The smallest MTU believed (IPv4's minimum datagram); a smaller `mtu` is read as none. */
const MIN_MTU: u32 = 68;

/** Our requests, written with the queues: request-rx-copy ... feature-gso-tcpv4, in this order. */
const REQUESTS: string[] = [
  "request-rx-copy",
  "feature-rx-notify",
  "feature-sg",
  "feature-no-csum-offload",
  "feature-gso-tcpv4",
];

class PublishQueues extends XsTransactionBody {
  constructor(readonly dev: NetfrontDevice) {
    super();
  }

  run(store: XsClient, tx: u32): i32 {
    const dev = this.dev;
    const count = dev.queues.length;
    let rc = 0;
    for (let i = 0; i < count && rc == 0; i++) {
      const q = dev.queues[i];
      // One queue is written flat, as by a frontend that knows nothing of queues.
      const dir = (count == 1 ? dev.nodename : `${dev.nodename}/queue-${i}`) + "/";
      rc = store.writeInt(tx, dir + "tx-ring-ref", q.txRef);
      if (rc == 0) rc = store.writeInt(tx, dir + "rx-ring-ref", q.rxRef);
      if (rc == 0) rc = store.writeInt(tx, dir + (dev.split ? "event-channel-tx" : "event-channel"), q.txPort);
      if (rc == 0 && dev.split) rc = store.writeInt(tx, dir + "event-channel-rx", q.rxPort);
    }
    const node = dev.nodename + "/";
    if (rc == 0 && dev.maxQueues != 0) rc = store.writeInt(tx, node + "multi-queue-num-queues", count);
    const values: i32[] = [1, 1, 1, dev.rxChecksumOffload ? 0 : 1, dev.rxGso ? 1 : 0];
    for (let i = 0; i < REQUESTS.length && rc == 0; i++) rc = store.writeInt(tx, node + REQUESTS[i], values[i]);
    return rc;
  }
}

class NetfrontDriver extends XenbusDriver {
  newDevice(found: FoundDevice): BusDevice {
    return new NetfrontDevice(found, this);
  }

  attach(dev: BusDevice): i32 {
    const net = dev as NetfrontDevice;
    const store = dev.store;
    let rc = store.read(XS_NO_TRANSACTION, `${dev.nodename}/mac`);
    if (rc >= 0) rc = parseMac(store.replyPayload(), store.replyLength(), changetype<usize>(net.mac));
    if (rc < 0) {
      devError(dev, rc, `parsing ${dev.nodename}/mac`);
      return rc;
    }
    net.mtu = DEFAULT_MTU;
    if (store.read(XS_NO_TRANSACTION, `${dev.nodename}/mtu`) == 0) {
      const mtu = parseDecimal64(store.replyPayload(), store.replyLength(), 0xffff - ETH_HLEN);
      if (mtu >= i64(MIN_MTU)) net.mtu = u32(mtu);
    }
    return 0;
  }

  otherendChanged(dev: BusDevice, state: i32): void {
    const net = dev as NetfrontDevice;
    reportBroken(net);
    endDeferredGrants();
    if (state == XenbusStateInitWait) {
      if (net.state == XenbusStateInitialising) talkToBackend(net);
    } else if (state == XenbusStateClosing) {
      closeFrontend(net);
    } else if (state == XenbusStateClosed || state == XenbusStateUnknown) {
      if (net.state != XenbusStateClosed && net.state != XenbusStateInitialising) closeFrontend(net);
    }
  }

  detach(dev: BusDevice): void {
    teardown(dev as NetfrontDevice);
  }

  /** After a restore: the old queues went with the saved connection; fresh ones once the backend is in InitWait. */
  resume(dev: BusDevice): i32 {
    const net = dev as NetfrontDevice;
    if (net.state != XenbusStateInitialising) return 0;
    teardown(net);
    if (net.otherendState == XenbusStateInitWait) talkToBackend(net);
    return 0;
  }
}

/** The backend's flag `name`: absent or not a number is 0, as Linux's xenbus_read_unsigned defaults it. */
function offered(dev: NetfrontDevice, name: string): bool {
  const store = dev.store;
  if (store.read(XS_NO_TRANSACTION, `${dev.otherendPath}/${name}`) < 0) return false;
  return parseFlag(store.replyPayload(), store.replyLength()) == 1;
}

/** Backend InitWait: its offers, the queues, the nodes that name them, then Connected. */
function talkToBackend(dev: NetfrontDevice): void {
  // A backend that went back to InitWait gets fresh queues.
  if (dev.queues.length != 0) teardown(dev);
  if (!offered(dev, "feature-rx-copy")) {
    devFatal(dev, -EOPNOTSUPP, "backend does not support copying receive path");
    return;
  }
  dev.sg = offered(dev, "feature-sg");
  dev.gso = offered(dev, "feature-gso-tcpv4");
  dev.split = offered(dev, "feature-split-event-channels");
  dev.rxChecksumOffload = options.checksumOffload;
  dev.rxGso = options.gso;
  const store = dev.store;
  dev.maxQueues = 0;
  if (store.read(XS_NO_TRANSACTION, `${dev.otherendPath}/multi-queue-max-queues`) == 0) {
    const max = parseDecimal64(store.replyPayload(), store.replyLength(), 0xffffffff);
    if (max > 0) dev.maxQueues = u32(max);
  }
  const count = dev.maxQueues == 0 ? 1 : min(dev.maxQueues, options.maxQueues);
  if (setUpQueues(dev, count) < 0) return;
  const rc = store.runTransaction(new PublishQueues(dev));
  if (rc < 0) {
    devFatal(dev, rc, "writing queue references");
    teardown(dev);
    return;
  }
  dev.bus.setState(dev, XenbusStateConnected);
}

/** Backend Closing, Closed or gone: release everything, then Closed. */
function closeFrontend(dev: NetfrontDevice): void {
  teardown(dev);
  if (dev.state != XenbusStateClosed) frontendClosed(dev);
}

/** Sets what devices ask for from their next connection on: 0, or -EINVAL for a queue count out of 1..MAX_QUEUES. */
export function setOptions(checksumOffload: bool, gso: bool, maxQueues: u32): i32 {
  if (maxQueues == 0 || maxQueues > MAX_QUEUES) return -EINVAL;
  options.checksumOffload = checksumOffload;
  options.gso = gso;
  options.maxQueues = maxQueues;
  return 0;
}

registerFrontendDriver(new NetfrontDriver("vif"));
