// The toolstack's device entries in xenstore, by Xen's conventions (libxl's
// libxl__device_generic_add and device removal; docs/misc/xenstore-paths):
// a frontend dir in the frontend domain's device/ and a backend dir in the
// backend domain's backend/, each owned by its end and readable by the other.
import type { Hypervisor } from "./hypervisor.js";
import type { LocalClient } from "./xenstored/client.js";
import { XsError } from "./xenstored/errors.js";

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

export function devicePaths(device: DeviceId): DevicePaths {
  return {
    frontend: `/local/domain/${device.frontend}/device/${device.type}/${device.devid}`,
    backend: `/local/domain/${device.backend}/backend/${device.type}/${device.frontend}/${device.devid}`,
  };
}

/** Adds, unplugs and removes devices' xenstore entries through the toolstack's (dom0) connection. */
export class DeviceManager {
  constructor(
    private readonly hv: Hypervisor,
    private readonly tools: LocalClient,
  ) {}

  /** Writes both dirs in one transaction, both ends in state Initialising; returns their paths. */
  add(device: DeviceSpec): DevicePaths {
    const paths = devicePaths(device);
    this.tools.inTransaction((tx) => {
      this.tools.mkdir(paths.frontend, tx);
      this.tools.setPerms(paths.frontend, [`n${device.frontend}`, `r${device.backend}`], tx);
      this.tools.mkdir(paths.backend, tx);
      this.tools.setPerms(paths.backend, [`n${device.backend}`, `r${device.frontend}`], tx);
      // The nodes below inherit their dir's perms (dom0 creates them as privileged).
      const frontendNodes = { backend: paths.backend, "backend-id": String(device.backend), state: String(XenbusState.Initialising) };
      const backendNodes = {
        frontend: paths.frontend,
        "frontend-id": String(device.frontend),
        online: "1",
        state: String(XenbusState.Initialising),
        ...device.backendParams,
      };
      for (const [name, value] of Object.entries(frontendNodes)) this.tools.write(`${paths.frontend}/${name}`, value, tx);
      for (const [name, value] of Object.entries(backendNodes)) this.tools.write(`${paths.backend}/${name}`, value, tx);
    });
    return paths;
  }

  /**
   * Hot-unplug as libxl does it: the backend is told to go (online 0,
   * state Closing), the hypervisor runs until the backend reports Closed or
   * the bound is reached, then both dirs are removed either way.
   */
  unplug(device: DeviceId, options: UnplugOptions = {}): UnplugOutcome {
    const paths = devicePaths(device);
    let outcome: UnplugOutcome = "forced";
    if (!options.force) {
      this.tools.inTransaction((tx) => {
        this.tools.write(`${paths.backend}/online`, "0", tx);
        this.tools.write(`${paths.backend}/state`, String(XenbusState.Closing), tx);
      });
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
   * Removes at once every device the domain is an end of: its frontends
   * (with their backends, wherever those are) and its backends (with their
   * frontends in other domains). Returns the devices' paths.
   */
  removeAll(domid: number): DevicePaths[] {
    const removed: DevicePaths[] = [];
    const frontends = `/local/domain/${domid}/device`;
    for (const type of this.list(frontends)) {
      for (const devid of this.list(`${frontends}/${type}`)) {
        const frontend = `${frontends}/${type}/${devid}`;
        removed.push({ frontend, backend: this.readOr(`${frontend}/backend`, "") });
      }
    }
    const backends = `/local/domain/${domid}/backend`;
    for (const type of this.list(backends)) {
      for (const frontendDomid of this.list(`${backends}/${type}`)) {
        for (const devid of this.list(`${backends}/${type}/${frontendDomid}`)) {
          const backend = `${backends}/${type}/${frontendDomid}/${devid}`;
          // A domain that is its own backend was already found as a frontend.
          if (!removed.some((paths) => paths.backend === backend)) {
            removed.push({ frontend: this.readOr(`${backend}/frontend`, ""), backend });
          }
        }
      }
    }
    for (const paths of removed) this.remove(paths);
    return removed;
  }

  private remove(paths: DevicePaths): void {
    this.tools.inTransaction((tx) => {
      for (const path of [paths.frontend, paths.backend]) {
        // rm of a missing node fails only when its parent is missing too; either way it is gone.
        if (path !== "") this.ignoringMissing(() => this.tools.rm(path, tx));
      }
    });
  }

  private backendState(backend: string): number {
    return Number(this.readOr(`${backend}/state`, ""));
  }

  private list(path: string): string[] {
    return this.ignoringMissing(() => this.tools.directory(path)) ?? [];
  }

  private readOr(path: string, fallback: string): string {
    return this.ignoringMissing(() => this.tools.read(path)) ?? fallback;
  }

  private ignoringMissing<T>(action: () => T): T | undefined {
    try {
      return action();
    } catch (error) {
      if (error instanceof XsError && error.errorName === "ENOENT") return undefined;
      throw error;
    }
  }
}
