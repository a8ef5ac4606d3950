// The hosts the XenStore client component runs in, for the tests that run it
// under each: V8 through jco's bindings (runtime/component.ts), and wasmtime's
// component model in this process (runtime/wasmtime-component.ts) where the
// wasmtime wheel can be had.
import { type ByteStream, type ComponentXenstore, openXenstoreComponent } from "../../runtime/component.js";
import { openXenstoreComponentInWasmtime } from "../../runtime/wasmtime-component.js";
import { wasmtimeLibrary } from "../../tools/wasmtime.js";
import { peer } from "./peer.js";

export const wasmtimeComponentLibrary = peer("wasmtime", wasmtimeLibrary);

export const componentHosts: { host: string; open: (stream: ByteStream) => ComponentXenstore }[] = [
  { host: "V8", open: openXenstoreComponent },
  ...(wasmtimeComponentLibrary === undefined
    ? []
    : [
        {
          host: "wasmtime",
          open: (stream: ByteStream) => openXenstoreComponentInWasmtime(stream, { library: wasmtimeComponentLibrary }),
        },
      ]),
];
