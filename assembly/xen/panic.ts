// AssemblyScript's abort handler (asconfig "use": abort=...). A failed assertion
// or an out-of-bounds access in the guest is a kernel panic: say why on the
// Xen console, then ask Xen to crash the domain. No allocation here, so a
// panic from an exhausted heap can still report itself.

import { CONSOLEIO_write, SCHEDOP_shutdown, SHUTDOWN_crash } from "./abi";
import { console_io, sched_op } from "./hypercall";
import { sched_shutdown } from "./layout";

const LINE_MAX: i32 = 240;
const line = memory.data(LINE_MAX + 16);
let lineLength: i32 = 0;

function put(text: string | null): void {
  if (text === null) return;
  for (let i = 0; i < text.length && lineLength < LINE_MAX; i++) {
    const c = text.charCodeAt(i);
    store<u8>(line + lineLength++, c < 0x20 || c > 0x7e ? 0x3f : c);
  }
}

function putNumber(n: u32): void {
  let digits: u32 = 1;
  for (let m = n; m >= 10; m /= 10) digits *= 10;
  for (; digits > 0 && lineLength < LINE_MAX; digits /= 10) store<u8>(line + lineLength++, 0x30 + ((n / digits) % 10));
}

export function panic(message: string | null, fileName: string | null, lineNumber: u32, column: u32): void {
  lineLength = 0;
  put("panic: ");
  put(message);
  put(" at ");
  put(fileName);
  put(":");
  putNumber(lineNumber);
  put(":");
  putNumber(column);
  put("\n");
  console_io(CONSOLEIO_write, lineLength, line);
  const reason = memory.data(sched_shutdown.SIZE);
  store<u32>(reason + sched_shutdown.reason, SHUTDOWN_crash);
  sched_op(SCHEDOP_shutdown, reason);
  unreachable();
}
