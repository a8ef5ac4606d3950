// The Unix-socket transport: each accepted connection is a dom0 tool
// (libxenstore with XENSTORED_PATH), served by the given XenStored.
import { lstatSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { XenStored } from "./server.js";
import { HEADER_SIZE } from "./wire.js";

/** Connections the socket accepts at once; more are refused. */
export const MAX_SOCKET_CONNECTIONS = 1024;

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

/**
 * Listens on `path` until closed. A socket file left there by a server that
 * is gone (nothing answers a connection) is replaced; a path where a server
 * answers, or that is not a socket, is refused with EADDRINUSE.
 */
export async function listenUnix(
  xenstored: XenStored,
  path: string,
  options: ListenOptions = {},
): Promise<SocketListener> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    const connection = connections++;
    const { onRequest } = options;
    const record = onRequest ? messageSplitter((message) => onRequest(message, connection)) : undefined;
    // Flow control both ways: replies wait in xenstored (bounded) while the socket's buffer is full,
    // and the socket is not read while requests wait, as C xenstored stops reading a busy connection.
    const conn = xenstored.connect(
      0,
      (bytes) => {
        if (socket.writableNeedDrain) return false;
        socket.write(bytes);
        return true;
      },
      () => socket.destroy(),
      () => socket.resume(),
    );
    socket.on("drain", () => xenstored.flush(conn));
    socket.on("data", (data) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
      record?.(bytes);
      xenstored.receive(conn, bytes);
      if (conn.inbox.length > 0) socket.pause();
    });
    socket.on("close", () => {
      sockets.delete(socket);
      xenstored.disconnect(conn);
    });
    socket.on("error", () => socket.destroy());
  });
  // A fixed ceiling on connections makes xenstored's memory budget a fixed figure (README).
  server.maxConnections = MAX_SOCKET_CONNECTIONS;
  try {
    await listen(server, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    await removeStaleSocket(path);
    await listen(server, path);
  }
  return {
    server,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          rmSync(path, { force: true });
          done();
        });
      }),
  };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Removes the socket file at `path` if nothing answers there (ECONNREFUSED); else throws EADDRINUSE, saying why. */
async function removeStaleSocket(path: string): Promise<void> {
  const inUse = (why: string): Error =>
    Object.assign(new Error(`${path} is in use: ${why} (EADDRINUSE)`), { code: "EADDRINUSE" });
  if (!lstatSync(path, { throwIfNoEntry: false })?.isSocket()) throw inUse("it is not a socket");
  const refusal = await new Promise<string | null>((resolve) => {
    const probe = connect(path, () => {
      probe.destroy();
      resolve(null);
    });
    probe.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "an error"));
  });
  if (refusal === null) throw inUse("a server answers there");
  if (refusal !== "ECONNREFUSED") throw inUse(`connecting to it fails with ${refusal}`);
  rmSync(path);
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
