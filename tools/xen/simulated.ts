// The rig's scenario (tools/xen/dom0/) on the simulated Xen, recording what
// the rig records on real Xen under the same figure names, so the two can be
// compared (test/real-xen/real-xen.test.ts): each disk's XenBus states at both ends,
// in the order xenstored served the writes (its trace, as the rig reads C
// xenstored's), the nodes each end of xvda holds once Connected, and the
// self-checking unikernel's console lines.
//
// Where the real rig has Linux's xen-blkback and QEMU's qdisk, the simulated
// one has our Wasm blkback in a driver domain (host/system/blkback-domain.ts), as
// the real rig's driver domain has; the toolstack is ours instead of libxl.

import { type DeviceSpec, devicePaths } from "../../host/dom0/devices.js";
import { startXenstore, type XenstoreService } from "../../host/dom0/toolstack.js";
import { type XsMessage, XsType } from "../../host/dom0/xenstored/wire.js";
import { startBlkbackDomain } from "../../host/system/blkback-domain.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import type { Engine } from "../../runtime/engine.js";
import { loadUnikernel, runMain } from "../../runtime/unikernel.js";
import type { Figure } from "./report.js";

const XVDA = 51712;
const XVDB = 51728;
/** The rig's disks: 8 MiB each, 2 MiB for the self-checking unikernel. */
const SECTORS = 16384;
const CHECKS_SECTORS = 4096;

/** Each WRITE xenstored served, its path made absolute: [path, value]. */
class WriteTrace {
  readonly writes: [string, string][] = [];

  hear = (domid: number, request: XsMessage, reply: XsMessage): void => {
    if (request.type !== XsType.WRITE || reply.type === XsType.ERROR) return;
    const text = new TextDecoder().decode(request.payload);
    const split = text.indexOf("\0");
    const path = text.slice(0, split);
    this.writes.push([path.startsWith("/") ? path : `/local/domain/${domid}/${path}`, text.slice(split + 1)]);
  };

  /** The values written to `path`, in order, space-separated (the rig's states_of). */
  valuesOf(path: string): string {
    return this.writes
      .filter(([written]) => written === path)
      .map(([, value]) => value)
      .join(" ");
  }
}

function figure(name: string, value: string, unit: string): Figure {
  return { name, value, unit };
}

function nodesOf(service: XenstoreService, path: string): string {
  return service.tools.directory(path).sort().join(" ");
}

/**
 * guest-unikernel.sh on the simulated Xen: build/unikernel.wasm with xvda and
 * xvdb, both Connected; xvda detached and attached again; then xl shutdown.
 */
export function simulateUnikernel(wasm: Uint8Array, engine?: Engine): Figure[] {
  const trace = new WriteTrace();
  const hv = new Hypervisor();
  const service = startXenstore(hv, { trace: trace.hear });
  const back = startBlkbackDomain(service, { engine, sectors: SECTORS, maxRingPageOrder: 4 });
  const second = back.back.createDisk(SECTORS);
  const unikernel = loadUnikernel(hv, "unikernel", wasm, engine);
  const disk = (devid: number, params: Record<string, string>): DeviceSpec => ({
    type: "vbd",
    devid,
    frontend: unikernel.domid,
    backend: back.domid,
    backendParams: params,
  });
  const xvda = disk(XVDA, back.disk.params);
  const xvdb = disk(XVDB, second.params);
  const a = devicePaths(xvda);
  const b = devicePaths(xvdb);
  const figures: Figure[] = [];
  service.devices.add(xvda);
  service.devices.add(xvdb);
  hv.whenIdle(() => {
    figures.push(figure("unikernel_xvda_frontend_nodes", nodesOf(service, a.frontend), "(XenStore nodes)"));
    figures.push(figure("unikernel_xvda_backend_nodes", nodesOf(service, a.backend), "(XenStore nodes)"));
    service.devices.askToClose(xvda); // xl block-detach
  });
  hv.whenIdle(() => service.devices.unplug(xvda));
  hv.whenIdle(() => service.devices.add(xvda)); // xl block-attach
  hv.whenIdle(() => service.requestShutdown(unikernel.domid, "poweroff"));
  runMain(hv, unikernel);
  figures.push(
    figure("unikernel_xvda_frontend_states", trace.valuesOf(`${a.frontend}/state`), "(XenBus states, in order)"),
    figure("unikernel_xvda_backend_states", trace.valuesOf(`${a.backend}/state`), "(XenBus states, in order)"),
    figure("unikernel_xvdb_frontend_states", trace.valuesOf(`${b.frontend}/state`), "(XenBus states, in order)"),
    figure("unikernel_xvdb_backend_states", trace.valuesOf(`${b.backend}/state`), "(XenBus states, in order)"),
  );
  return figures;
}

/**
 * guest-checks.sh on the simulated Xen: build/checks.wasm with one disk, dom0
 * playing its part; the guest's `check ...` console lines.
 */
export function simulateChecks(wasm: Uint8Array, engine?: Engine): string[] {
  const hv = new Hypervisor();
  const service = startXenstore(hv);
  const back = startBlkbackDomain(service, { engine, sectors: CHECKS_SECTORS });
  const second = back.back.createDisk(CHECKS_SECTORS);
  const checks = loadUnikernel(hv, "checks", wasm, engine);
  for (const [devid, params] of [
    [XVDA, back.disk.params],
    [XVDB, second.params],
  ] as const) {
    service.devices.add({ type: "vbd", devid, frontend: checks.domid, backend: back.domid, backendParams: params });
  }
  const log = service.console(checks.domid)!.log;
  const base = `/local/domain/${checks.domid}/data/check`;
  hv.whenIdle(() => {
    for (let i = 0; i < 120; i++)
      service.tools.write(`${base}/long/a-node-name-long-enough-that-120-of-them-pass-4096-bytes-${i}`, "");
    service.tools.write(`${base}/long-done`, "1");
  });
  hv.whenIdle(() => service.tools.write(`${base}/from-dom0`, "hello"));
  hv.whenIdle(() => service.tools.write(`${base}/conflict`, "dom0"));
  hv.whenIdle(() => service.requestShutdown(checks.domid, "poweroff"));
  runMain(hv, checks);
  return log.lines().filter((line) => line.startsWith("check"));
}
