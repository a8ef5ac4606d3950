// The runtime's public surface: load a guest module into a simulated domain,
// boot the packaged xenbus.wasm, and drive it through typed wrappers.

export {
  BlkBack,
  type BlkbackInfo,
  BlkError,
  BlkFront,
  type BlkInfo,
  Disk,
  type DiskOptions,
  SECTOR_SIZE,
} from "./blk.js";
export { bootXenbus, type Xenbus, xenbusWasm } from "./boot.js";
export { type ByteStream, ComponentXenstore, openXenstoreComponent, StreamError } from "./component.js";
export { type Console, ConsoleError, guestConsole } from "./console.js";
export { type Engine, type EngineInstance, GuestTrap, type HostFunction, type WasmValue } from "./engine.js";
export { errnoName, GuestCallError } from "./errors.js";
export { type Guest, type GuestExports, type LoadOptions, loadGuest } from "./guest.js";
export {
  DomainExit,
  type DomainExitInfo,
  type GuestHypervisor,
  type HostedDomain,
  type LinkedGuest,
} from "./hypervisor.js";
export {
  NetError,
  NetFront,
  type NetInfo,
  type NetStartOptions,
  type ReceivedFrame,
  type SendOptions,
} from "./net.js";
export { connectXenstored, xenstoredPaths } from "./socket-stream.js";
export { v8Engine } from "./v8.js";
export { type WasmtimeEngine, wasmtimeEngine } from "./wasmtime.js";
export { openXenstoreComponentInWasmtime, type WasmtimeComponentOptions } from "./wasmtime-component.js";
export type { XenbusExports } from "./xenbus.js";
export { type WatchStats, type XenStore, xenstore } from "./xenstore.js";
export {
  type Access,
  ignoringMissing,
  isErrno,
  type Permission,
  runTransaction,
  type TransactionId,
  type WatchEvent,
  XenStoreError,
  type XenstoreClient,
} from "./xenstore-client.js";
