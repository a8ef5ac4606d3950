// Lines on Xen's console (CONSOLEIO_write): where the guest reports what it
// found wrong and how it dealt with it.

import { CONSOLEIO_write } from "./abi";
import { console_io } from "./hypercall";

/** Writes `text` and a newline to Xen's console. */
export function logLine(text: string): void {
  const line = String.UTF8.encode(`${text}\n`);
  console_io(CONSOLEIO_write, line.byteLength, changetype<usize>(line));
}
