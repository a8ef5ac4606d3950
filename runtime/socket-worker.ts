// The worker thread behind a SocketStream (runtime/socket-stream.ts): owns the
// net.Socket to xenstored, writes what the blocked caller put in the send
// area, and copies what arrives into the ring, pausing the socket while the
// ring is full. Every change is announced by bumping the `events` word.
import { connect, type Socket } from "node:net";
import { workerData } from "node:worker_threads";
import { SharedLayout, sharedAreas } from "./socket-shared.js";

const { path, shared } = workerData as { path: string; shared: SharedArrayBuffer };
const { words, error, send, ring } = sharedAreas(shared);
const { words: word, state } = SharedLayout;

/** Atomics.waitAsync (Node 16 and later), which TypeScript's ES2022 library does not declare. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(array: Int32Array, index: number, value: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

/** Received bytes that did not fit in the ring yet. */
const pending: Uint8Array[] = [];
let peerEnded = false;
let waitingForRoom = false;

function announce(): void {
  Atomics.add(words, word.events, 1);
  Atomics.notify(words, word.events);
}

function setState(next: number): void {
  if (Atomics.load(words, word.state) >= state.closed) return;
  Atomics.store(words, word.state, next);
  announce();
}

/** The connection failed: the error's code (ECONNREFUSED, ...) is what the caller reports. */
function fail(reason: unknown): void {
  const code = (reason as NodeJS.ErrnoException).code;
  // A peer that went away mid-write is a close, as a clean end is.
  if (code === "EPIPE" || code === "ECONNRESET") return setState(state.closed);
  const text = new TextEncoder().encode(code ?? (reason as Error).message ?? String(reason));
  const length = Math.min(text.length, error.length);
  error.set(text.subarray(0, length));
  Atomics.store(words, word.errorLength, length);
  setState(state.failed);
}

/** Moves pending bytes into the ring while it has room; the end is announced once everything before it is in. */
function fillRing(socket: Socket): void {
  while (pending.length > 0) {
    const head = Atomics.load(words, word.ringHead);
    const tail = Atomics.load(words, word.ringTail);
    const room = ring.length - ((head - tail) | 0);
    if (room === 0) {
      socket.pause();
      if (!waitingForRoom) {
        waitingForRoom = true;
        void Promise.resolve(waitAsync(words, word.ringTail, tail).value).then(() => {
          waitingForRoom = false;
          fillRing(socket);
        });
      }
      return;
    }
    const chunk = pending[0]!;
    const start = (head >>> 0) % ring.length;
    const length = Math.min(chunk.length, room, ring.length - start);
    ring.set(chunk.subarray(0, length), start);
    if (length === chunk.length) pending.shift();
    else pending[0] = chunk.subarray(length);
    Atomics.store(words, word.ringHead, (head + length) | 0);
    announce();
  }
  socket.resume();
  if (peerEnded) setState(state.closed);
}

/** Writes each send the caller requests, counting it in `sent` once the socket has taken it. */
async function serveSends(socket: Socket): Promise<void> {
  // The caller makes one request at a time and may make the first before this runs: count from 0.
  for (let served = 0; ; served++) {
    await waitAsync(words, word.requests, served).value;
    const bytes = send.slice(0, Atomics.load(words, word.sendLength));
    const written = await new Promise<boolean>((resolve) => socket.write(bytes, (failure) => resolve(!failure)));
    if (!written) return; // the socket's error event reports it
    Atomics.add(words, word.sent, 1);
    announce();
  }
}

// Anything unexpected fails the stream rather than leaving the caller blocked.
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);

const socket = connect(path);
socket.on("connect", () => {
  setState(state.open);
  void serveSends(socket);
});
socket.on("data", (bytes: Buffer) => {
  pending.push(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  fillRing(socket);
});
socket.on("end", () => {
  peerEnded = true;
  fillRing(socket);
});
socket.on("error", fail);
socket.on("close", () => {
  // After an error or end this changes nothing; otherwise it is a close all the same.
  peerEnded = true;
  if (pending.length === 0) setState(state.closed);
});
