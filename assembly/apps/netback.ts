// netback.wasm: a network driver domain. Our Wasm netback serves the vifs
// the toolstack gives it (in xl, a guest's `vif = [ 'backend=netback,...' ]`
// with this domain started with `driver_domain=1`), and switches the frames
// between them with the bridge in this domain (assembly/drivers/
// netback-bridge.ts): it is the driver domain that owns the frames, as
// Linux's bridge does in dom0 or a driver domain, so the same module
// switches them on real Xen, where there is no host to hand them to.
//
// Run by a host as unikernel.wasm is (`main`), it says on its console when
// a vif connects and when it goes, with what moved, and stops on `xl
// shutdown`. The simulation boots it instead as it boots xenbus.wasm (whose
// exports it has too) and starts serving with netback_start.
import "../xen/panic"; // the abort handler named in asconfig.json
import { NetbackVif } from "../drivers/netback";
import { netback_start } from "../drivers/netback-exports";
import { XenbusStateConnected } from "../xen/abi";
import { currentBackendBus } from "../xenbus/bus";
import { addReporter, devicesOf, Reporter, say, serve, start } from "./basics";

export * from "../drivers/netback-exports";
export * from "../index";

export function main(): i32 {
  let rc = start();
  if (rc < 0) return rc;
  rc = netback_start();
  if (rc < 0) {
    say(`cannot serve vifs: error ${-rc}`);
    return rc;
  }
  say("Switching frames between the vifs the toolstack gives me.");
  addReporter(new Vifs());
  return serve();
}

/** Says when a vif connects and when it goes. */
class Vifs extends Reporter {
  /** The vifs we said are connected, by their backend node. */
  announced: Map<string, NetbackVif> = new Map<string, NetbackVif>();

  changed(): bool {
    const current = served();
    let connected = 0;
    for (let i = 0; i < current.length; i++) {
      const vif = current[i];
      const isConnected = vif.lifecycleState == XenbusStateConnected;
      if (isConnected != this.announced.has(vif.nodename)) return true;
      if (isConnected) connected++;
    }
    return connected != this.announced.size;
  }

  report(): void {
    const current = served();
    const connected = new Map<string, NetbackVif>();
    for (let i = 0; i < current.length; i++) {
      const vif = current[i];
      if (vif.lifecycleState != XenbusStateConnected) continue;
      connected.set(vif.nodename, vif);
      if (!this.announced.has(vif.nodename)) say(`Serving ${name(vif)}: ${vif.queues.length} queue(s).`);
    }
    const before = this.announced.values();
    for (let i = 0; i < before.length; i++) {
      const vif = before[i];
      if (connected.has(vif.nodename)) continue;
      say(
        `${name(vif)} went after ${vif.txPackets} frames from it (${vif.txBytes} bytes, ${vif.txErrors} dropped) ` +
          `and ${vif.rxPackets} to it (${vif.rxBytes} bytes, ${vif.rxDropped} dropped).`,
      );
    }
    this.announced = connected;
  }
}

function name(vif: NetbackVif): string {
  return `vif ${vif.id.slice(vif.id.indexOf("/") + 1)} of domain ${vif.otherendId}`;
}

function served(): NetbackVif[] {
  return devicesOf<NetbackVif>(currentBackendBus(), "vif");
}
