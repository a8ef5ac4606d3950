// The engines guest suites run under (describe.each): V8 always, wasmtime
// when it can be had (off CI a missing wasmtime skips with a message; under
// CI=true it fails, as any peer does).
import type { Engine } from "../../runtime/engine.js";
import { v8Engine } from "../../runtime/v8.js";
import { wasmtimeEngine } from "../../runtime/wasmtime.js";
import { wasmtimeLibrary } from "../../tools/wasmtime.js";
import { peer } from "./peer.js";

const library = peer("wasmtime", wasmtimeLibrary);

export const engines: { name: string; engine: Engine }[] = [
  { name: "v8", engine: v8Engine },
  ...(library ? [{ name: "wasmtime", engine: wasmtimeEngine(library) }] : []),
];
