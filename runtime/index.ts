// The runtime's public surface: load a guest module into a simulated domain.
export { loadGuest, type Guest, type GuestExports, type LoadOptions } from "./guest.js";
export { type Engine, type EngineInstance, type HostFunction, GuestTrap } from "./engine.js";
export { v8Engine } from "./v8.js";
