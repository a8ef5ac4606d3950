// The Unix-socket transport: each accepted connection is a dom0 tool
// (libxenstore with XENSTORED_PATH), served by the given XenStored.
import { rmSync } from "node:fs";
import { type Server, type Socket, createServer } from "node:net";
import type { XenStored } from "./server.js";

export interface SocketListener {
  server: Server;
  close(): Promise<void>;
}

/** Listens on `path` (replacing a stale socket file) until closed. */
export function listenUnix(xenstored: XenStored, path: string): Promise<SocketListener> {
  rmSync(path, { force: true });
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    // Node buffers writes, so the connection never pushes back; tools are dom0 and unthrottled anyway.
    const conn = xenstored.connect(0, (bytes) => void socket.write(bytes), () => socket.destroy());
    socket.on("data", (bytes) => xenstored.receive(conn, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)));
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
