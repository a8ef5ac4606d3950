// The XenStore client component (build/xenstore-client.wasm) in each of its
// hosts (V8 through jco's bindings, runtime/component.ts; wasmtime in this
// process, runtime/wasmtime-component.ts) against the simulated xenstored,
// over the in-process stream: every operation of the WIT's client interface,
// xenstored's errors as XenStoreErrors, and a stream's failures.
import { beforeAll, describe, expect, it } from "vitest";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { xenstoredStream } from "../../host/dom0/xenstored/stream.js";
import { encodeMessage, strings, XsType } from "../../host/dom0/xenstored/wire.js";
import { type ByteStream, type ComponentXenstore, StreamError } from "../../runtime/component.js";
import { XenStoreError } from "../../runtime/xenstore-client.js";
import { componentHosts } from "../support/component-hosts.js";

/** The host the tests below run the component in (describe.each sets it). */
let openXenstoreComponent: (stream: ByteStream) => ComponentXenstore;

function open(
  domid = 0,
  xenstored = new XenStored(),
): { xenstored: XenStored; xs: ComponentXenstore; types: number[] } {
  const stream = xenstoredStream(xenstored, domid);
  const types: number[] = [];
  const recording: ByteStream = {
    send(bytes) {
      // Every request goes out whole in one send: its header's type is its first word.
      types.push(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true));
      stream.send(bytes);
    },
    recv: (max) => stream.recv(max),
    close: () => stream.close(),
  };
  return { xenstored, xs: openXenstoreComponent(recording), types };
}

/** The code of the XenStoreError `run` throws; anything else fails the test. */
function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof XenStoreError) return error.code;
    throw error;
  }
  throw new Error("expected a XenStoreError, got a result");
}

describe.each(componentHosts)(
  "the XenStore client component in $host over the simulated xenstored",
  ({ open: openInHost }) => {
    beforeAll(() => {
      openXenstoreComponent = openInHost;
    });

    it("writes and reads values: text, every byte value, empty", () => {
      const { xs } = open();
      xs.write("/data/text", "hello ✓");
      expect(xs.read("/data/text")).toBe("hello ✓");
      const binary = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) & 0xff);
      xs.write("/data/binary", binary);
      expect(xs.readBytes("/data/binary")).toEqual(binary);
      xs.write("/data/empty", "");
      expect(xs.readBytes("/data/empty")).toEqual(new Uint8Array(0));
    });

    it("makes, lists and removes nodes", () => {
      const { xs } = open();
      xs.mkdir("/tree/a");
      xs.write("/tree/b", "1");
      xs.write("/tree/a/deep", "2");
      expect(xs.directory("/tree").sort()).toEqual(["a", "b"]);
      expect(xs.directory("/tree/b")).toEqual([]);
      xs.rm("/tree/a");
      expect(xs.directory("/tree")).toEqual(["b"]);
      expect(codeOf(() => xs.read("/tree/a/deep"))).toBe("ENOENT");
    });

    it("lists a directory too long for one reply (hundreds of children, read with DIRECTORY_PART)", () => {
      const { xs, types } = open();
      const names = Array.from({ length: 400 }, (_, i) => `child-${String(i).padStart(4, "0")}-${"x".repeat(24)}`);
      const tx = xs.transactionStart();
      for (const name of names) xs.write(`/big/${name}`, "", tx);
      xs.transactionEnd(tx, true);
      expect(names.join("\0").length).toBeGreaterThan(4096);
      types.length = 0;
      expect(xs.directory("/big").sort()).toEqual(names);
      expect(types[0]).toBe(XsType.DIRECTORY);
      expect(types.filter((type) => type === XsType.DIRECTORY_PART).length).toBeGreaterThan(1);
    });

    it("maps xenstored's errors and its own to XenStoreError with the errno's name", () => {
      const { xs } = open();
      expect(codeOf(() => xs.read("/missing"))).toBe("ENOENT");
      const error = (() => {
        try {
          xs.read("/missing");
        } catch (thrown) {
          return thrown as XenStoreError;
        }
      })();
      expect(error).toMatchObject({ errno: 2, code: "ENOENT", message: "read /missing: ENOENT" });
      expect(codeOf(() => xs.write("/bad//name", "x"))).toBe("EINVAL");
      // A NUL would end the path early on the wire and make the rest a value: refused before sending.
      expect(codeOf(() => xs.write("/a\0/b", "x"))).toBe("EINVAL");
      expect(codeOf(() => xs.write("/big", "x".repeat(5000)))).toBe("E2BIG");
      xs.watch("/w", "token");
      expect(codeOf(() => xs.watch("/w", "token"))).toBe("EEXIST");
      expect(codeOf(() => xs.transactionEnd(99, true))).toBe("ENOENT");
    });

    it("answers EACCES to an unprivileged domain's stream", () => {
      const { xenstored, xs: dom0 } = open();
      dom0.write("/local/domain/5/secret", "x");
      dom0.setPerms("/local/domain/5/secret", [{ domid: 0, access: "none" }]);
      const { xs: guest } = open(5, xenstored);
      expect(codeOf(() => guest.read("/local/domain/5/secret"))).toBe("EACCES");
      expect(codeOf(() => guest.write("/elsewhere", "x"))).toBe("EACCES");
    });

    it("sets and gets permissions", () => {
      const { xs } = open();
      xs.write("/perms", "x");
      const perms = [
        { domid: 3, access: "none" },
        { domid: 5, access: "read" },
        { domid: 6, access: "write" },
        { domid: 7, access: "both" },
      ] as const;
      xs.setPerms("/perms", [...perms]);
      expect(xs.getPerms("/perms")).toEqual(perms);
    });

    it("delivers watch events, those that came during other requests first, and stops after unwatch", () => {
      const { xenstored, xs } = open();
      const { xs: other } = open(0, xenstored);
      xs.watch("/watched", "w1");
      expect(xs.nextEvent()).toEqual({ path: "/watched", token: "w1" });
      other.write("/watched/a", "1");
      other.write("/watched/b", "2");
      xs.write("/unrelated", "x");
      expect(xs.read("/watched/a")).toBe("1");
      expect(xs.nextEvent()).toEqual({ path: "/watched/a", token: "w1" });
      expect(xs.nextEvent()).toEqual({ path: "/watched/b", token: "w1" });
      xs.unwatch("/watched", "w1");
      other.write("/watched/c", "3");
      xs.watch("/second", "w2");
      expect(xs.nextEvent()).toEqual({ path: "/second", token: "w2" });
    });

    it("runs transactions: reads its own writes, commits, aborts, and reports a conflict as EAGAIN", () => {
      const { xenstored, xs } = open();
      const { xs: other } = open(0, xenstored);
      const tx = xs.transactionStart();
      expect(tx).toBeGreaterThan(0);
      xs.write("/t/value", "in tx", tx);
      expect(xs.read("/t/value", tx)).toBe("in tx");
      expect(codeOf(() => xs.read("/t/value"))).toBe("ENOENT");
      xs.transactionEnd(tx, true);
      expect(xs.read("/t/value")).toBe("in tx");

      const aborted = xs.transactionStart();
      xs.write("/t/value", "dropped", aborted);
      xs.transactionEnd(aborted, false);
      expect(xs.read("/t/value")).toBe("in tx");

      const conflicting = xs.transactionStart();
      xs.read("/t/value", conflicting);
      xs.write("/t/value", "mine", conflicting);
      other.write("/t/value", "theirs");
      expect(codeOf(() => xs.transactionEnd(conflicting, true))).toBe("EAGAIN");
      expect(xs.read("/t/value")).toBe("theirs");
    });

    it("gets a domain's home path", () => {
      const { xs } = open();
      expect(xs.getDomainPath(7)).toBe("/local/domain/7");
      expect(xs.getDomainPath(0)).toBe("/local/domain/0");
    });

    it("fails with EIO for good once the stream fails: closed, or a recv that could only wait forever", () => {
      const { xs } = open();
      xs.write("/x", "1");
      xs.close();
      expect(codeOf(() => xs.read("/x"))).toBe("EIO");
      expect(codeOf(() => xs.write("/x", "2"))).toBe("EIO");

      const { xs: waiting } = open();
      waiting.watch("/quiet", "q");
      waiting.nextEvent();
      expect(codeOf(() => waiting.nextEvent())).toBe("EIO");
      expect(codeOf(() => waiting.read("/quiet"))).toBe("EIO");
    });

    it("treats a stream that breaks its contract (more bytes than asked, or none) as failed", () => {
      for (const reply of [new Uint8Array(0), new Uint8Array(1 << 16)]) {
        const stream: ByteStream = {
          send: () => {},
          recv: () => reply,
          close: () => {},
        };
        const xs = openXenstoreComponent(stream);
        expect(codeOf(() => xs.read("/x"))).toBe("EIO");
        expect(codeOf(() => xs.read("/x"))).toBe("EIO");
      }
    });

    it("rethrows an exception of the stream's that is not a StreamError (a bug there) as itself", () => {
      const bug = new TypeError("the stream's own bug");
      const stream: ByteStream = {
        send: () => {
          throw bug;
        },
        recv: () => new Uint8Array(0),
        close: () => {},
      };
      expect(() => openXenstoreComponent(stream).mkdir("/x")).toThrow(bug);
    });

    it("passes a stream's own failure kinds through as EIO", () => {
      for (const kind of ["closed", "io"] as const) {
        const stream: ByteStream = {
          send: () => {
            throw new StreamError(kind, "test");
          },
          recv: () => new Uint8Array(0),
          close: () => {},
        };
        const xs = openXenstoreComponent(stream);
        expect(codeOf(() => xs.mkdir("/x"))).toBe("EIO");
      }
    });
  },
);

describe("xenstoredStream", () => {
  it("queues xenstored's replies for recv, gives at most max bytes at a time, and fails instead of waiting forever", () => {
    const xenstored = new XenStored();
    const stream = xenstoredStream(xenstored);
    stream.send(encodeMessage({ type: XsType.GET_DOMAIN_PATH, reqId: 9, txId: 0, payload: strings("4") }));
    const reply = encodeMessage({
      type: XsType.GET_DOMAIN_PATH,
      reqId: 9,
      txId: 0,
      payload: strings("/local/domain/4"),
    });
    const first = stream.recv(5);
    expect(first).toEqual(reply.subarray(0, 5));
    expect(stream.recv(4096)).toEqual(reply.subarray(5));
    expect(() => stream.recv(4096)).toThrow(expect.objectContaining({ name: "StreamError", kind: "io" }));
    stream.close();
    expect(() => stream.send(reply)).toThrow(expect.objectContaining({ kind: "closed" }));
    expect(() => stream.recv(1)).toThrow(expect.objectContaining({ kind: "closed" }));
  });
});
