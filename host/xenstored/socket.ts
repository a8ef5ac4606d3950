// The Unix-socket transport: each accepted connection is a dom0 tool
// (libxenstore with XENSTORED_PATH), served by the given XenStored.
import { rmSync } from "node:fs";
import { type Server, type Socket, createServer } from "node:net";
import type { XenStored } from "./server.js";
import { HEADER_SIZE } from "./wire.js";

export interface SocketListener {
  server: Server;
  close(): Promise<void>;
}

export interface ListenOptions {
  /**
   * Called with each whole message a client sends, exactly as it came
   * (header and payload), and the connection's number (0 for the first
   * accepted): the recording point of the byte-for-byte interop tests.
   */
  onRequest?: (message: Uint8Array, connection: number) => void;
}

/** Listens on `path` (replacing a stale socket file) until closed. */
export function listenUnix(xenstored: XenStored, path: string, options: ListenOptions = {}): Promise<SocketListener> {
  rmSync(path, { force: true });
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    const connection = connections++;
    const { onRequest } = options;
    const record = onRequest ? messageSplitter((message) => onRequest(message, connection)) : undefined;
    // Node buffers writes, so the connection never pushes back; tools are dom0 and unthrottled anyway.
    const conn = xenstored.connect(0, (bytes) => void socket.write(bytes), () => socket.destroy());
    socket.on("data", (data) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
      record?.(bytes);
      xenstored.receive(conn, bytes);
    });
    socket.on("close", () => {
      sockets.delete(socket);
      xenstored.disconnect(conn);
    });
    socket.on("error", () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve({
        server,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => {
              rmSync(path, { force: true });
              done();
            });
          }),
      });
    });
  });
}

/**
 * Cuts a stream into whole messages by the xs_wire header's length. It
 * trusts the length: a hostile one only stops the recording, as xenstored
 * closes that connection.
 */
function messageSplitter(each: (message: Uint8Array) => void): (bytes: Uint8Array) => void {
  let pending = new Uint8Array(0);
  return (bytes) => {
    const joined = new Uint8Array(pending.length + bytes.length);
    joined.set(pending);
    joined.set(bytes, pending.length);
    let offset = 0;
    while (joined.length - offset >= HEADER_SIZE) {
      const size = HEADER_SIZE + new DataView(joined.buffer, offset + 12, 4).getUint32(0, true);
      if (joined.length - offset < size) break;
      each(joined.slice(offset, offset + size));
      offset += size;
    }
    pending = joined.slice(offset);
  };
}
