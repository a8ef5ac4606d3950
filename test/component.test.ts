// The XenStore client component (build/xenstore-client.wasm through its jco
// bindings, runtime/component.ts) against the simulated xenstored, over the
// in-process stream: every operation of the WIT's client interface.
import { describe, expect, it } from "vitest";
import { XenStored } from "../host/xenstored/server.js";
import { xenstoredStream } from "../host/xenstored/stream.js";
import { openXenstoreComponent, type ComponentXenstore } from "../runtime/component.js";
import { XenStoreError } from "../runtime/xenstore.js";

function open(domid = 0): { xenstored: XenStored; xs: ComponentXenstore } {
  const xenstored = new XenStored();
  return { xenstored, xs: openXenstoreComponent(xenstoredStream(xenstored, domid)) };
}

/** The XenStoreError `run` throws (its code), or a failure when it throws nothing or something else. */
function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof XenStoreError) return error.code;
    throw error;
  }
  throw new Error("expected a XenStoreError");
}

describe("the XenStore client component", () => {
  it("writes and reads values, text and binary", () => {
    const { xs } = open();
    xs.write("/data/text", "hello");
    expect(xs.readString("/data/text")).toBe("hello");
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
    xs.write("/data/binary", binary);
    expect(xs.read("/data/binary")).toEqual(binary);
    xs.write("/data/empty", "");
    expect(xs.read("/data/empty")).toEqual(new Uint8Array(0));
  });

  it("maps xenstored's errors to XenStoreError with the errno's name", () => {
    const { xs } = open();
    expect(codeOf(() => xs.read("/missing"))).toBe("ENOENT");
    expect(codeOf(() => xs.write("no-slash//double", "x"))).toBe("EINVAL");
  });
});
