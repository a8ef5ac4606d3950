// The simulated Xen's public surface: the hypervisor, dom0's xenstored and
// toolstack, the backends it runs for guests, and Xen's ABI constants and
// struct layouts.

export { type BlkbackDomain, type BlkbackDomainOptions, startBlkbackDomain } from "./blkback-domain.js";
export { ConsoleBackend, startConsoleBackend } from "./console-backend.js";
export { DeviceStateMonitor, describeTransition, type StateTransition, stateName } from "./device-monitor.js";
export {
  type DeviceId,
  DeviceManager,
  type DevicePaths,
  type DeviceSpec,
  devicePaths,
  type UnplugOutcome,
} from "./devices.js";
export { Domain, WasmDomain } from "./domain.js";
export { createGuestDomain, type GuestDomain } from "./guest-domain.js";
export { Hypervisor, type HypervisorOptions, type SuspendOutcome } from "./hypervisor.js";
export { GrantError, NativeDomain, XenError } from "./native.js";
export { DomainExit, SimulationError } from "./sched.js";
export { startXenstore, type XenstoreOptions, XenstoreService } from "./toolstack.js";
export * as abi from "./xen/abi.js";
export { LocalClient, type WatchEvent } from "./xenstored/client.js";
export { XsError } from "./xenstored/errors.js";
export { XenStored, type XenStoredOptions } from "./xenstored/server.js";
export { listenUnix, type SocketListener } from "./xenstored/socket.js";
export { xenstoredStream } from "./xenstored/stream.js";
