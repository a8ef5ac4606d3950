// The toolstack's device entries in xenstore, by Xen's conventions (libxl's
// libxl__device_generic_add and device removal; docs/misc/xenstore-paths):
// a frontend dir in the frontend domain's device/ and a backend dir in the
// backend domain's backend/, each owned by its end and readable by the other.
//
// Either end may be hostile and owns its dir, so a path read from one (a
// frontend's `backend` node) is used only when it has the shape the
// convention gives that very device; anything else is left alone.
import { ignoringMissing } from "../../runtime/xenstore-client.js";
import type { Hypervisor } from "../xen/hypervisor.js";
import type { LocalClient } from "./xenstored/client.js";

/** XenbusState values (io/xenbus.h) the toolstack writes or waits for. */
export const XenbusState = { Initialising: 1, Closing: 5, Closed: 6 } as const;

/** Which device: its type ("vbd", "vif", "console", ...), its devid, and the domains at each end. */
export interface DeviceId {
  type: string;
  devid: number;
  frontend: number;
  backend: number;
}

/** A device to add: its id and the backend's device-specific nodes (for vbd: params, mode, type, ...). */
export interface DeviceSpec extends DeviceId {
  backendParams?: Record<string, string>;
}

export interface DevicePaths {
  frontend: string;
  backend: string;
}

export interface UnplugOptions {
  /** Remove at once, without asking the backend to close (libxl's force remove). */
  force?: boolean;
  /** How many runs of the hypervisor to wait for the backend to reach Closed before removing anyway. */
  maxWaitRuns?: number;
}

/** How a device went: its backend reached Closed, or it was removed without that. */
export type UnplugOutcome = "closed" | "forced";

const DEFAULT_MAX_WAIT_RUNS = 8;

/** The domain's device/ or backend/ dir at the start of a device path. */
const DEVICE_DIR = /^\/local\/domain\/\d+\/(device|backend)(?=\/)/;

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/** Whether `path` is, by the convention, the backend dir (in any domain) of frontend `frontendDomid`'s device `type`/`devid`. */
function isBackendOf(path: string, type: string, frontendDomid: number | string, devid: string): boolean {
  return /^\/local\/domain\/\d+\/backend\/(.*)$/.exec(path)?.[1] === `${type}/${frontendDomid}/${devid}`;
}

/** Whether `path` is, by the convention, the frontend dir of `frontendDomid`'s device `type`/`devid`. */
function isFrontendOf(path: string, type: string, frontendDomid: number | string, devid: string): boolean {
  return path === `/local/domain/${frontendDomid}/device/${type}/${devid}`;
}

/**
 * What libxl (4.17) also writes in a disk's frontend dir, as the rig saw it:
 * its devid, that it is a disk (not a cdrom), and that its backend is
 * trusted (a frontend may then skip bouncing data through its own pages).
 */
function libxlDiskFrontendNodes(devid: number): Record<string, string> {
  return { "virtual-device": String(devid), "device-type": "disk", trusted: "1" };
}

/**
 * What libxl (4.17) also writes in a disk's backend dir, as the rig saw it
 * (a `phy` disk served by a driver domain): how the disk is reached (type,
 * script, params, which the device's backendParams give), that it is
 * writable (mode "w"; access=ro writes "r"), a fixed disk, bootable, its
 * name, a disk rather than a cdrom, discard allowed, the Xen (not virtio)
 * protocol.
 */
function libxlDiskBackendNodes(devid: number): Record<string, string> {
  return {
    type: "phy",
    script: "/etc/xen/scripts/block",
    mode: "w",
    removable: "0",
    bootable: "1",
    dev: diskName(devid),
    "device-type": "disk",
    "discard-enable": "1",
    specification: "xen",
  };
}

/** The MAC a vif gets unless its spec names one: Xen's OUI (00:16:3e, which xl draws the rest for at random) and the frontend's domid and devid, so that runs repeat. */
export function vifMac(device: DeviceId): string {
  const bytes = [0x00, 0x16, 0x3e, (device.frontend >> 8) & 0x7f, device.frontend & 0xff, device.devid & 0xff];
  return bytes.map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}

/**
 * What libxl (4.17, libxl__set_xenstore_nic) writes in a vif's frontend
 * dir: its handle (the devid), its MAC (the one in the backend dir) and
 * the MTU (which MirageOS's and our netfront read there).
 */
function libxlNicFrontendNodes(device: DeviceSpec): Record<string, string> {
  return {
    handle: String(device.devid),
    mac: device.backendParams?.mac ?? vifMac(device),
    mtu: device.backendParams?.mtu ?? "1500",
  };
}

/**
 * What libxl (4.17) writes in a vif's backend dir: the hotplug script
 * (vif-bridge, which adds the backend's interface to the bridge), the
 * frontend's MAC, the bridge, its handle, the vif type (not a QEMU-emulated
 * ioemu NIC) and the MTU. The device's backendParams may replace any of
 * them (a `mac` or `mtu` goes to both dirs).
 */
function libxlNicBackendNodes(device: DeviceSpec): Record<string, string> {
  return {
    script: "/etc/xen/scripts/vif-bridge",
    mac: vifMac(device),
    bridge: "xenbr0",
    handle: String(device.devid),
    type: "vif",
    mtu: "1500",
  };
}

/** xl's name for a disk's devid (xen-vbd-interface.txt): 51712 (major 202, minor 0) is xvda, 16 minors each. */
function diskName(devid: number): string {
  return devid >> 8 === 202 && (devid & 0xff) < 16 * 26
    ? `xvd${String.fromCharCode(0x61 + ((devid & 0xff) >> 4))}`
    : String(devid);
}

export function devicePaths(device: DeviceId): DevicePaths {
  return {
    frontend: `/local/domain/${device.frontend}/device/${device.type}/${device.devid}`,
    backend: `/local/domain/${device.backend}/backend/${device.type}/${device.frontend}/${device.devid}`,
  };
}

/** Adds, unplugs and removes devices' xenstore entries through the toolstack's (dom0) connection. */
export class DeviceManager {
  /** The devices added and not yet removed, by frontend path: the toolstack's config, as libxl keeps a domain's. */
  private readonly added = new Map<string, DeviceSpec>();

  constructor(
    private readonly hv: Hypervisor,
    private readonly tools: LocalClient,
  ) {}

  /**
   * Writes both dirs in one transaction, both ends in state Initialising;
   * returns their paths. Whatever a previous device (or a guest) left at
   * those paths is removed first, as libxl does, so no stale node (an old
   * ring-ref, a state) is taken for the new device's.
   */
  add(device: DeviceSpec): DevicePaths {
    const paths = devicePaths(device);
    this.tools.transaction((tx) => {
      for (const path of [paths.frontend, paths.backend]) ignoringMissing(() => this.tools.rm(path, tx));
      this.tools.mkdir(paths.frontend, tx);
      this.tools.setPerms(
        paths.frontend,
        [
          { domid: device.frontend, access: "none" },
          { domid: device.backend, access: "read" },
        ],
        tx,
      );
      // The nodes below inherit their dir's perms (dom0 creates them as privileged).
      const frontendNodes = {
        backend: paths.backend,
        "backend-id": String(device.backend),
        state: String(XenbusState.Initialising),
        ...(device.type === "vbd" ? libxlDiskFrontendNodes(device.devid) : {}),
        ...(device.type === "vif" ? libxlNicFrontendNodes(device) : {}),
      };
      for (const [name, value] of Object.entries(frontendNodes))
        this.tools.write(`${paths.frontend}/${name}`, value, tx);
      this.writeBackend(device, paths, tx);
    });
    this.added.set(paths.frontend, { ...device });
    return paths;
  }

  /**
   * A restore of domain `domid`: the backend of each device it is the
   * frontend of goes away, and once the backends have let them go (the
   * hypervisor runs until idle; the suspended domain itself does not run),
   * the same backend dirs are written again, so each backend sets a new
   * device up from Initialising, as for the new domain libxl restores into.
   * The frontend dirs stay, only their state back at Initialising (so no
   * new backend takes the old ring for the restored guest's): the guest
   * publishes its end anew. Returns the devices recreated.
   */
  recreate(domid: number): DeviceSpec[] {
    const devices = [...this.added.values()].filter((device) => device.frontend === domid);
    for (const device of devices) {
      const paths = devicePaths(device);
      this.tools.transaction((tx) => {
        this.removeWithEmptyParents(paths.backend, tx);
        this.tools.write(`${paths.frontend}/state`, String(XenbusState.Initialising), tx);
      });
    }
    this.hv.runUntilIdle();
    for (const device of devices) this.tools.transaction((tx) => this.writeBackend(device, devicePaths(device), tx));
    return devices;
  }

  /** The backend dir as a new device's, in state Initialising. */
  private writeBackend(device: DeviceSpec, paths: DevicePaths, tx: number): void {
    this.tools.mkdir(paths.backend, tx);
    this.tools.setPerms(
      paths.backend,
      [
        { domid: device.backend, access: "none" },
        { domid: device.frontend, access: "read" },
      ],
      tx,
    );
    const backendNodes = {
      frontend: paths.frontend,
      "frontend-id": String(device.frontend),
      online: "1",
      state: String(XenbusState.Initialising),
      ...(device.type === "vbd" ? libxlDiskBackendNodes(device.devid) : {}),
      ...(device.type === "vif" ? libxlNicBackendNodes(device) : {}),
      ...device.backendParams,
    };
    for (const [name, value] of Object.entries(backendNodes)) this.tools.write(`${paths.backend}/${name}`, value, tx);
  }

  /**
   * Hot-unplug as libxl does it: the backend is told to go (online 0,
   * state Closing; askToClose), the hypervisor runs until the backend
   * reports Closed or the bound is reached, then both dirs are removed
   * either way. A frontend that is waiting (blocked on the host stack) can
   * only close while the domains run: askToClose first, then unplug once
   * it had the chance (Hypervisor.whenIdle).
   */
  unplug(device: DeviceId, options: UnplugOptions = {}): UnplugOutcome {
    const paths = devicePaths(device);
    let outcome: UnplugOutcome = "forced";
    if (!options.force) {
      // One asked already (askToClose) and Closed is not asked again, which would open it anew.
      if (this.backendState(paths.backend) !== XenbusState.Closed) this.askToClose(device);
      for (let run = 0; run <= (options.maxWaitRuns ?? DEFAULT_MAX_WAIT_RUNS); run++) {
        if (this.backendState(paths.backend) === XenbusState.Closed) {
          outcome = "closed";
          break;
        }
        this.hv.runUntilIdle();
      }
    }
    this.remove(paths);
    return outcome;
  }

  /**
   * The first step of unplug on its own: the backend is told to go (online
   * 0, state Closing), and the ends close while the domains run.
   */
  askToClose(device: DeviceId): void {
    const paths = devicePaths(device);
    this.tools.transaction((tx) => {
      this.tools.write(`${paths.backend}/online`, "0", tx);
      this.tools.write(`${paths.backend}/state`, String(XenbusState.Closing), tx);
    });
  }

  /**
   * Removes at once every device the domain is an end of: its frontends
   * (with their backends, wherever those are) and its backends (with their
   * frontends in other domains). Returns the devices' paths; an other end
   * whose path was unreadable or not that device's is left out ("").
   */
  removeAll(domid: number): DevicePaths[] {
    const removed: DevicePaths[] = [];
    const frontends = `/local/domain/${domid}/device`;
    for (const type of this.list(frontends)) {
      for (const devid of this.list(`${frontends}/${type}`)) {
        const frontend = `${frontends}/${type}/${devid}`;
        const backend = this.readOr(`${frontend}/backend`, "");
        removed.push({ frontend, backend: isBackendOf(backend, type, domid, devid) ? backend : "" });
      }
    }
    const backends = `/local/domain/${domid}/backend`;
    for (const type of this.list(backends)) {
      for (const frontendDomid of this.list(`${backends}/${type}`)) {
        for (const devid of this.list(`${backends}/${type}/${frontendDomid}`)) {
          const backend = `${backends}/${type}/${frontendDomid}/${devid}`;
          // A domain that is its own backend was already found as a frontend.
          if (!removed.some((paths) => paths.backend === backend)) {
            const frontend = this.readOr(`${backend}/frontend`, "");
            removed.push({ frontend: isFrontendOf(frontend, type, frontendDomid, devid) ? frontend : "", backend });
          }
        }
      }
    }
    for (const paths of removed) this.remove(paths);
    return removed;
  }

  private remove(paths: DevicePaths): void {
    for (const [frontend, device] of this.added) {
      if (frontend === paths.frontend || devicePaths(device).backend === paths.backend) this.added.delete(frontend);
    }
    this.tools.transaction((tx) => {
      for (const path of [paths.frontend, paths.backend]) if (path !== "") this.removeWithEmptyParents(path, tx);
    });
  }

  /**
   * Removes `path`, then each parent it leaves empty (backend/vbd/5,
   * backend/vbd), up to but not including the domain's device/ or backend/
   * dir, as libxl's xs_path_cleanup does.
   */
  private removeWithEmptyParents(path: string, tx: number): void {
    // rm of a missing node fails only when its parent is missing too; either way it is gone.
    ignoringMissing(() => this.tools.rm(path, tx));
    const top = DEVICE_DIR.exec(path)?.[0];
    if (top === undefined) return;
    for (let parent = dirname(path); parent.length > top.length; parent = dirname(parent)) {
      const children = ignoringMissing(() => this.tools.directory(parent, tx));
      if (children !== undefined && children.length > 0) return;
      ignoringMissing(() => this.tools.rm(parent, tx));
    }
  }

  private backendState(backend: string): number {
    return Number(this.readOr(`${backend}/state`, ""));
  }

  private list(path: string): string[] {
    return ignoringMissing(() => this.tools.directory(path)) ?? [];
  }

  private readOr(path: string, fallback: string): string {
    return ignoringMissing(() => this.tools.read(path)) ?? fallback;
  }
}
