// Frames between two Wasm guests through the whole stack, for `npm run bench`:
// each guest's netfront (build/xenbus.wasm), the netif rings, the simulated
// hypervisor's event channels and grant copies, and the Wasm network driver
// domain (build/netback.wasm) whose netback copies each frame out of the
// sender's pages and whose bridge switches it into the receiver's posted
// buffers, with dom0's xenstored and toolstack plugging the vifs in. No test
// framework here.
import { vifMac } from "../host/dom0/devices.js";
import { startXenstore } from "../host/dom0/toolstack.js";
import { createGuestDomain } from "../host/system/guest-domain.js";
import { startNetbackDomain } from "../host/system/netback-domain.js";
import { Hypervisor } from "../host/xen/hypervisor.js";
import type { Engine } from "../runtime/engine.js";
import { NetFront } from "../runtime/net.js";

const VIF = 0;
/**
 * Frames sent before the receiver reads them: the sender's 32 transmit
 * buffers, and fewer than the receiver's 64 receive buffers, which its
 * netfront keeps posted (beyond them the netback would drop).
 */
const BURST = 32;
/** Xen time the receiver waits for a frame before the workload gives up. */
const FRAME_TIMEOUT_MS = 10_000;
/** The largest frame without GSO at the vifs' MTU (1500): what the throughput lane sends. */
export const MTU_FRAME = 1514;

/** A run of a workload: frames that arrived intact, and the seconds of the part it times. */
export interface Timed {
  ops: number;
  seconds: number;
}

/** Two guests with a vif each on one network driver domain; its Wasm domains run in V8 unless `engine` says otherwise. */
export class NetPair {
  private readonly sender: NetFront;
  private readonly receiver: NetFront;
  private readonly hv = new Hypervisor();
  /** The receiver's MAC and the sender's. */
  private readonly to: string;
  private readonly from: string;

  constructor(engine?: Engine) {
    const service = startXenstore(this.hv);
    const net = startNetbackDomain(service, { engine });
    const [sender, receiver] = ["sender", "receiver"].map((name) => {
      const guest = createGuestDomain(service, name, engine).guest;
      const rc = guest.exports.xs_init();
      if (rc !== 0) throw new Error(`${name}: xs_init returned ${rc}`);
      service.devices.add({ type: "vif", devid: VIF, frontend: guest.domid, backend: net.domid });
      const front = new NetFront(guest).start();
      front.open(VIF, FRAME_TIMEOUT_MS);
      return front;
    }) as [NetFront, NetFront];
    this.sender = sender;
    this.receiver = receiver;
    // The receiver speaks first, so that the bridge has learned its MAC and sends it the sender's frames alone.
    const mac = vifMac({ type: "vif", devid: VIF, frontend: receiver.guest.domid, backend: net.domid });
    receiver.send(VIF, this.frame("ff:ff:ff:ff:ff:ff", mac, 60));
    this.hv.runUntilIdle();
    this.to = mac;
    this.from = vifMac({ type: "vif", devid: VIF, frontend: sender.guest.domid, backend: net.domid });
    while (sender.receive(VIF) !== null);
  }

  private frame(to: string, from: string, length: number): Uint8Array {
    const frame = new Uint8Array(length);
    frame.set(
      to.split(":").map((byte) => Number.parseInt(byte, 16)),
      0,
    );
    frame.set(
      from.split(":").map((byte) => Number.parseInt(byte, 16)),
      6,
    );
    frame[12] = 0x88;
    frame[13] = 0xb5;
    for (let i = 14; i < length; i++) frame[i] = i & 0xff;
    return frame;
  }

  /**
   * `n` frames of `length` bytes from the sender to the receiver, in bursts
   * of BURST, timing what `timed` names: "send" (the sender's net_send calls,
   * with the netback's work they wait for), "receive" (the receiver's
   * net_recv calls, the frames already on its ring) or "both". Frames that
   * did not arrive whole are not counted (0 when none did).
   */
  frames(n: number, length: number, timed: "send" | "receive" | "both"): Timed {
    const frame = this.frame(this.to, this.from, length);
    let ops = 0;
    let seconds = 0;
    for (let done = 0; done < n; done += BURST) {
      const burst = Math.min(BURST, n - done);
      let start = performance.now();
      for (let i = 0; i < burst; i++) this.sender.send(VIF, frame);
      this.hv.runUntilIdle();
      if (timed === "send") seconds += (performance.now() - start) / 1000;
      if (timed === "receive") start = performance.now();
      for (let i = 0; i < burst; i++) {
        const got = this.receiver.receive(VIF, FRAME_TIMEOUT_MS);
        if (got !== null && got.data.length === length && got.data[length - 1] === frame[length - 1]) ops++;
      }
      if (timed !== "send") seconds += (performance.now() - start) / 1000;
    }
    return { ops, seconds };
  }
}
