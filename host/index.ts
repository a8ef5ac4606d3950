// The simulated Xen's public surface: the hypervisor, dom0's xenstored and
// toolstack, the backends it runs for guests, and Xen's ABI constants and
// struct layouts.
export { Hypervisor, type HypervisorOptions, type SuspendOutcome } from "./hypervisor.js";
export { Domain, WasmDomain } from "./domain.js";
export { NativeDomain, XenError, GrantError } from "./native.js";
export { DomainExit, SimulationError } from "./sched.js";
export { startXenstore, XenstoreService, type XenstoreOptions } from "./toolstack.js";
export { createGuestDomain, type GuestDomain } from "./guest-domain.js";
export { startBlkbackDomain, type BlkbackDomain, type BlkbackDomainOptions } from "./blkback-domain.js";
export { startConsoleBackend, ConsoleBackend } from "./console-backend.js";
export { DeviceManager, devicePaths, type DeviceId, type DeviceSpec, type DevicePaths, type UnplugOutcome } from "./devices.js";
export { DeviceStateMonitor, describeTransition, stateName, type StateTransition } from "./device-monitor.js";
export { XenStored, type XenStoredOptions } from "./xenstored/server.js";
export { LocalClient, type WatchEvent } from "./xenstored/client.js";
export { XsError } from "./xenstored/errors.js";
export { listenUnix, type SocketListener } from "./xenstored/socket.js";
export { xenstoredStream } from "./xenstored/stream.js";
export * as abi from "./xen/abi.js";
