// Blocking byte streams to xenstored, for the XenStore client component
// (runtime/component.ts), which calls its transport synchronously: xenstored's
// Unix socket or the xenbus character device, found as libxenstore finds them.
//
// Node has no blocking socket I/O, so a socket is owned by a worker thread and
// the caller blocks in Atomics.wait on a SharedArrayBuffer the worker fills
// (see SharedLayout; the worker is runtime/socket-worker.ts). A character
// device needs no thread: fs.readSync and fs.writeSync block by themselves.
// Either way the caller's thread blocks, so xenstored must not run on it.
import { closeSync, openSync, readSync, statSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { type ByteStream, StreamError } from "./component.js";
import { SharedLayout, sharedAreas, sharedBytes } from "./socket-shared.js";

/** Where xenstored's socket is when XENSTORED_RUNDIR does not say (libxenstore's XEN_RUN_STORED). */
const DEFAULT_RUNDIR = "/var/run/xenstored";
/** The xenbus device of Linux's dom0 (and of a driver domain), and its older procfs name. */
const XENBUS_DEVICE = "/dev/xen/xenbus";
const XENBUS_PROC = "/proc/xen/xenbus";
/** How long a socket's worker may take to start and connect (it compiles TypeScript when run from the sources). */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * The paths to look for xenstored at, in libxenstore's order (xs_open):
 * `override` (the CLI's --socket), else XENSTORED_PATH, else the daemon's
 * socket (`$XENSTORED_RUNDIR/socket`, by default /var/run/xenstored/socket),
 * then the xenbus device (/dev/xen/xenbus, then /proc/xen/xenbus).
 */
export function xenstoredPaths(override?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (override !== undefined) return [override];
  if (env.XENSTORED_PATH !== undefined) return [env.XENSTORED_PATH];
  return [join(env.XENSTORED_RUNDIR ?? DEFAULT_RUNDIR, "socket"), XENBUS_DEVICE, XENBUS_PROC];
}

/**
 * A blocking stream to xenstored at the first of `paths` that exists (by
 * default libxenstore's, see xenstoredPaths): a Unix socket when it is one,
 * else a character device (/dev/xen/xenbus). Throws StreamError("io") naming
 * every path tried with its errno when none exists, or the path and errno
 * when the one found cannot be opened. libxenstore also falls back to the
 * device when the socket exists but refuses the connection; here that is an
 * error naming the socket.
 */
export function connectXenstored(paths: string | readonly string[] = xenstoredPaths()): ByteStream {
  const tried: string[] = [];
  for (const path of typeof paths === "string" ? [paths] : paths) {
    let isSocket: boolean;
    try {
      isSocket = statSync(path).isSocket();
    } catch (error) {
      tried.push(`${path}: ${errorCode(error)}`);
      continue;
    }
    return isSocket ? new SocketStream(path) : new DeviceStream(path);
  }
  throw new StreamError(
    "io",
    tried.length > 0 ? `cannot reach xenstored at ${tried.join(", ")}` : "cannot reach xenstored: no path given",
  );
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/** A character device: each read or write is one blocking system call. */
class DeviceStream implements ByteStream {
  private fd: number | undefined;

  constructor(private readonly path: string) {
    try {
      this.fd = openSync(path, "r+");
    } catch (error) {
      throw new StreamError("io", `cannot open xenstored's device ${path}: ${errorCode(error)}`);
    }
  }

  send(bytes: Uint8Array): void {
    const fd = this.open();
    try {
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
    } catch (error) {
      throw new StreamError("io", `writing to ${this.path}: ${errorCode(error)}`);
    }
  }

  recv(max: number): Uint8Array {
    const fd = this.open();
    const buffer = new Uint8Array(checkedMax(max));
    let length: number;
    try {
      length = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      throw new StreamError("io", `reading from ${this.path}: ${errorCode(error)}`);
    }
    if (length === 0) throw new StreamError("closed", `${this.path} reached its end`);
    return buffer.subarray(0, length);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private open(): number {
    if (this.fd === undefined) throw new StreamError("closed", `the stream to ${this.path} was closed`);
    return this.fd;
  }
}

function checkedMax(max: number): number {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`recv wants at least 1 byte, not ${max}`);
  return max;
}

/** A worker running socket-worker: the compiled JavaScript beside this file, or (running from the sources) the TypeScript through tsx. */
function startWorker(workerData: { path: string; shared: SharedArrayBuffer }): Worker {
  if (!import.meta.url.endsWith(".ts"))
    return new Worker(new URL("./socket-worker.js", import.meta.url), { workerData });
  // tsx's require hook, which works inside the worker; its ESM loader waits for the main thread, which is blocked.
  const tsx = createRequire(import.meta.url).resolve("tsx/cjs/api");
  const script = fileURLToPath(new URL("./socket-worker.ts", import.meta.url));
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(script)});`, {
    eval: true,
    workerData,
  });
}

/** A Unix socket owned by a worker thread; the caller blocks until the worker has done what it asked. */
class SocketStream implements ByteStream {
  private readonly words: Int32Array;
  private readonly error: Uint8Array;
  private readonly sendArea: Uint8Array;
  private readonly ring: Uint8Array;
  private readonly worker: Worker;
  private closedHere = false;

  constructor(private readonly path: string) {
    const shared = new SharedArrayBuffer(sharedBytes());
    ({ words: this.words, error: this.error, send: this.sendArea, ring: this.ring } = sharedAreas(shared));
    this.worker = startWorker({ path, shared });
    // The worker must not keep a process alive that forgot to close its stream.
    this.worker.unref();
    // A worker that dies while starting cannot say so to a blocked thread: give up after a while.
    this.waitFor(() => this.state() !== SharedLayout.state.connecting, Date.now() + CONNECT_TIMEOUT_MS);
    if (this.state() !== SharedLayout.state.open) {
      void this.worker.terminate();
      throw new StreamError(
        "io",
        `cannot connect to xenstored at ${path}: ${this.failure() || (this.state() === SharedLayout.state.connecting ? "timed out" : "closed at once")}`,
      );
    }
  }

  send(bytes: Uint8Array): void {
    const { words } = SharedLayout;
    for (let offset = 0; offset < bytes.length; offset += this.sendArea.length) {
      this.checkOpen();
      const chunk = bytes.subarray(offset, offset + this.sendArea.length);
      this.sendArea.set(chunk);
      Atomics.store(this.words, words.sendLength, chunk.length);
      const sent = Atomics.load(this.words, words.sent) + 1;
      Atomics.add(this.words, words.requests, 1);
      Atomics.notify(this.words, words.requests);
      this.waitFor(() => Atomics.load(this.words, words.sent) === sent || this.state() !== SharedLayout.state.open);
      if (Atomics.load(this.words, words.sent) !== sent) this.throwEnded("writing");
    }
  }

  recv(max: number): Uint8Array {
    checkedMax(max);
    if (this.closedHere) this.throwEnded("reading");
    const { words } = SharedLayout;
    const available = (): number =>
      (Atomics.load(this.words, words.ringHead) - Atomics.load(this.words, words.ringTail)) | 0;
    // What arrived before the peer closed is still given, then the close.
    this.waitFor(() => available() > 0 || this.state() !== SharedLayout.state.open);
    const length = Math.min(max, available());
    if (length === 0) this.throwEnded("reading");
    const tail = Atomics.load(this.words, words.ringTail);
    const bytes = new Uint8Array(length);
    const start = (tail >>> 0) % this.ring.length;
    const first = Math.min(length, this.ring.length - start);
    bytes.set(this.ring.subarray(start, start + first));
    bytes.set(this.ring.subarray(0, length - first), first);
    Atomics.store(this.words, words.ringTail, (tail + length) | 0);
    Atomics.notify(this.words, words.ringTail);
    return bytes;
  }

  close(): void {
    if (this.closedHere) return;
    this.closedHere = true;
    void this.worker.terminate();
  }

  private state(): number {
    return Atomics.load(this.words, SharedLayout.words.state);
  }

  /** Blocks until `ready()` (or the `deadline`, a Date.now() time), re-checking after each of the worker's events. */
  private waitFor(ready: () => boolean, deadline = Infinity): void {
    for (;;) {
      const events = Atomics.load(this.words, SharedLayout.words.events);
      if (ready() || Date.now() >= deadline) return;
      Atomics.wait(this.words, SharedLayout.words.events, events, deadline - Date.now());
    }
  }

  private checkOpen(): void {
    if (this.closedHere || this.state() !== SharedLayout.state.open) this.throwEnded("writing");
  }

  private throwEnded(doing: string): never {
    if (this.closedHere) throw new StreamError("closed", `the stream to ${this.path} was closed`);
    if (this.state() === SharedLayout.state.closed)
      throw new StreamError("closed", `xenstored at ${this.path} closed the connection`);
    throw new StreamError("io", `${doing} xenstored's socket ${this.path}: ${this.failure()}`);
  }

  private failure(): string {
    const length = Atomics.load(this.words, SharedLayout.words.errorLength);
    return new TextDecoder().decode(this.error.slice(0, length));
  }
}
