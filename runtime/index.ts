// The runtime's public surface: load a guest module into a simulated domain,
// boot the packaged xenbus.wasm, and drive it through typed wrappers.
export { loadGuest, type Guest, type GuestExports, type LoadOptions } from "./guest.js";
export { type Engine, type EngineInstance, type HostFunction, type WasmValue, GuestTrap } from "./engine.js";
export { v8Engine } from "./v8.js";
export { wasmtimeEngine, type WasmtimeEngine } from "./wasmtime.js";
export { bootXenbus, xenbusWasm, type Xenbus } from "./boot.js";
export type { XenbusExports } from "./xenbus.js";
export { errnoName, GuestCallError } from "./errors.js";
export { xenstore, XenStoreError, type XenStore, type WatchEvent, type WatchStats } from "./xenstore.js";
export {
  openXenstoreComponent, ComponentXenstore, StreamError, type ByteStream, type Permission,
  type WatchEvent as ComponentWatchEvent,
} from "./component.js";
export { openXenstoreComponentInWasmtime, type WasmtimeComponentOptions } from "./wasmtime-component.js";
export { connectXenstored, xenstoredPaths } from "./socket-stream.js";
export { guestConsole, ConsoleError, type Console } from "./console.js";
export { BlkFront, BlkBack, Disk, BlkError, SECTOR_SIZE, type BlkInfo, type BlkbackInfo, type DiskOptions } from "./blk.js";
