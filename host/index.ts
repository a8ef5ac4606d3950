// The simulated Xen's public surface: the hypervisor, dom0's xenstored and
// toolstack, the backends it runs for guests, and Xen's ABI constants and
// struct layouts.

export { DomainExit } from "../runtime/hypervisor.js";
export { ConsoleBackend, startConsoleBackend } from "./dom0/console-backend.js";
export { DeviceStateMonitor, describeTransition, type StateTransition, stateName } from "./dom0/device-monitor.js";
export {
  type DeviceId,
  DeviceManager,
  type DevicePaths,
  type DeviceSpec,
  devicePaths,
  type UnplugOutcome,
} from "./dom0/devices.js";
export { startXenstore, type XenstoreOptions, XenstoreService } from "./dom0/toolstack.js";
export {
  LocalClient,
  listenUnix,
  type SocketListener,
  XenStored,
  type XenStoredOptions,
  xenstoredStream,
} from "./dom0/xenstored/index.js";
export { type BlkbackDomain, type BlkbackDomainOptions, startBlkbackDomain } from "./system/blkback-domain.js";
export { createGuestDomain, type GuestDomain } from "./system/guest-domain.js";
export * as abi from "./xen/abi.js";
export { Domain, WasmDomain } from "./xen/domain.js";
export { Hypervisor, type HypervisorOptions, type SuspendOutcome } from "./xen/hypervisor.js";
export { GrantError, NativeDomain, XenError } from "./xen/native.js";
export { SimulationError } from "./xen/sched.js";
