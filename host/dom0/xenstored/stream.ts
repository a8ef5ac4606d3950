// An in-process ByteStream into a XenStored, for tests and the demo: send
// hands the bytes to xenstored, which answers at once; its replies (and
// watch events) queue up for recv. Everything is synchronous, so a recv
// with nothing queued could only wait forever: it fails instead.
import { type ByteStream, StreamError } from "../../../runtime/component.js";
import type { XenStored } from "./server.js";

/** A new connection of domain `domid` (0: a dom0 tool, privileged) to `xenstored`, as a blocking byte stream. */
export function xenstoredStream(xenstored: XenStored, domid = 0): ByteStream {
  const queued: Uint8Array[] = [];
  let closed = false;
  const conn = xenstored.connect(
    domid,
    (bytes) => void queued.push(bytes),
    () => (closed = true),
  );
  return {
    send(bytes) {
      if (closed) throw new StreamError("closed", "xenstored closed the connection");
      xenstored.receive(conn, bytes);
    },
    recv(max) {
      const first = queued[0];
      if (first === undefined) {
        if (closed) throw new StreamError("closed", "xenstored closed the connection");
        throw new StreamError(
          "io",
          "nothing from xenstored, and nothing can come: the stream is in-process and synchronous",
        );
      }
      if (first.length <= max) return queued.shift()!;
      queued[0] = first.subarray(max);
      return first.subarray(0, max);
    },
    close() {
      xenstored.disconnect(conn);
    },
  };
}
