// The PV console frontend (io/console.h): the guest's primary console on the
// page and event channel the toolstack gave it (HVM_PARAM_CONSOLE_PFN /
// HVM_PARAM_CONSOLE_EVTCHN). Output goes into `out` and, when the ring is
// full, waits on the event channel for the backend to take some; input is
// taken off `in` by the event handler into a buffer of our own, so the
// backend can keep sending while nobody reads.
import * as evtchn from "../evtchn/evtchn";
import { ByteRing } from "../ring/bytes";
import { EIO, HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN } from "../xen/abi";
import { SpecialRing } from "../xen/hvm";
import { CONSOLE_PAGE, PAGE_SIZE } from "../xen/pages";

const location = new SpecialRing(CONSOLE_PAGE);
let output: ByteRing | null = null;
let input: ByteRing | null = null;

/** Input taken off the ring and not yet read: one page, what a read can hand out at once. */
const received = memory.data(PAGE_SIZE);
let receivedLength: u32 = 0;
/** The backend left impossible `in` indices: reads fail from then on. */
let inputBroken: bool = false;

/**
 * Connects to the console (after xen_boot). 0, or -errno: -ENODEV when the
 * toolstack gave no console page or port, -EINVAL when they are unusable.
 * Idempotent.
 */
export function connect(): i32 {
  if (output !== null) return 0;
  const rc = location.read(HVM_PARAM_CONSOLE_PFN, HVM_PARAM_CONSOLE_EVTCHN);
  if (rc < 0) return rc;
  output = ByteRing.consoleOutput(location.page);
  input = ByteRing.consoleInput(location.page);
  evtchn.setHandler(location.port, consoleEvent);
  // Input the backend sent before we listened.
  takeInput();
  return 0;
}

export function connected(): bool {
  return output !== null;
}

/** Whether the backend has taken all we wrote (also when not connected, or when it broke the ring). */
export function outputTaken(): bool {
  return output === null || output!.readable() <= 0;
}

/**
 * After the domain was restored (xen_suspend): the toolstack gave it a fresh
 * console channel and cleared rings, maybe on another page, so both are read
 * again. Input already taken stays to be read. 0 (also when the console was
 * never connected), or -errno as connect() gives; the console then stays
 * disconnected (-ENODEV) until console_init succeeds.
 */
export function resume(): i32 {
  if (output === null) return 0;
  evtchn.setHandler(location.port, null);
  heap.free(changetype<usize>(output));
  heap.free(changetype<usize>(input));
  output = null;
  input = null;
  inputBroken = false;
  location.restored();
  return connect();
}

function consoleEvent(port: u32): void {
  takeInput();
}

/** Moves what the backend sent into `received` and tells it there is room again. */
function takeInput(): void {
  if (inputBroken) return;
  const taken = input!.read(received + receivedLength, PAGE_SIZE - receivedLength);
  if (taken < 0) {
    inputBroken = true;
    return;
  }
  if (taken == 0) return;
  receivedLength += u32(taken);
  evtchn.send(location.port);
}

/**
 * Copies the input received so far (at most a page) to `target` (after connect()): the count,
 * 0 when there is none, or -EIO once the backend broke the input ring.
 */
export function read(target: usize): i32 {
  takeInput();
  if (inputBroken) return -EIO;
  const count = receivedLength;
  memory.copy(target, received, count);
  receivedLength = 0;
  // The buffer was maybe full, leaving input on the ring.
  takeInput();
  return i32(count);
}

function outputHasRoom(): bool {
  // Impossible indices end the wait too: the write that follows reports them.
  return output!.writable() != 0;
}

/**
 * Writes all `length` bytes from `source` (after connect()), waiting for the
 * backend whenever the ring is full. `length`, or -errno: -EIO when the backend left
 * impossible indices, or the error with which Xen refused to let us wait.
 */
export function write(source: usize, length: u32): i32 {
  const ring = output!;
  let done: u32 = 0;
  while (true) {
    const written = ring.write(source + done, length - done);
    if (written < 0) return written;
    done += u32(written);
    if (written > 0) evtchn.send(location.port);
    if (done == length) return i32(length);
    const rc = evtchn.waitUntil(outputHasRoom);
    if (rc < 0) return rc;
  }
}
