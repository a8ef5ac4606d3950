// The SharedArrayBuffer between a SocketStream (runtime/socket-stream.ts), whose
// caller blocks on it, and the worker that owns its socket
// (runtime/socket-worker.ts). No imports: the worker loads it on its own.

/**
 * The shared buffer between a SocketStream and its worker: Int32 words, then
 * the worker's error message, the bytes of the send in progress, and a ring
 * of received bytes. The worker bumps `events` (and notifies it) after every
 * change the caller may wait for, so the caller waits on that one word.
 */
export const SharedLayout = {
  words: {
    /** CONNECTING, then OPEN, then CLOSED (the peer ended it) or FAILED; set by the worker. */
    state: 0,
    /** Bumped by the worker after each change below. */
    events: 1,
    /** Bumped by the caller when the send area holds bytes to send. */
    requests: 2,
    /** Sends the worker has written to the socket. */
    sent: 3,
    sendLength: 4,
    /** Bytes put into the ring by the worker and taken by the caller, counted modulo 2^32. */
    ringHead: 5,
    ringTail: 6,
    errorLength: 7,
  },
  state: { connecting: 0, open: 1, closed: 2, failed: 3 },
  wordBytes: 8 * 4,
  errorBytes: 256,
  sendBytes: 64 * 1024,
  ringBytes: 64 * 1024,
} as const;

/** The areas of a SocketStream's shared buffer. */
export function sharedAreas(shared: SharedArrayBuffer): {
  words: Int32Array;
  error: Uint8Array;
  send: Uint8Array;
  ring: Uint8Array;
} {
  const { wordBytes, errorBytes, sendBytes, ringBytes } = SharedLayout;
  return {
    words: new Int32Array(shared, 0, wordBytes / 4),
    error: new Uint8Array(shared, wordBytes, errorBytes),
    send: new Uint8Array(shared, wordBytes + errorBytes, sendBytes),
    ring: new Uint8Array(shared, wordBytes + errorBytes + sendBytes, ringBytes),
  };
}

export function sharedBytes(): number {
  const { wordBytes, errorBytes, sendBytes, ringBytes } = SharedLayout;
  return wordBytes + errorBytes + sendBytes + ringBytes;
}
