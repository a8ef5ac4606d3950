// What this process holds, for the tests that check memory stays put: a full
// garbage collection first, then the C heap's bytes in use (glibc's
// mallinfo2, through koffi), which native code and koffi allocate from and V8's
// own heap does not, so it moves only when native memory is held.
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import koffi from "koffi";

/** A full collection now, within the running job: what only a finalizer after the job would free stays. */
export function collectGarbageNow(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** A full collection, with the finalizers it queued run. */
export async function collectGarbage(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    collectGarbageNow();
    await sleep(10);
  }
}

let mallinfo2: (() => Record<string, bigint | number>) | undefined;

/** Bytes of the C heap in use: malloc's small blocks and its mmapped ones. */
export function mallocInUse(): number {
  if (!mallinfo2) {
    const fields = [
      "arena",
      "ordblks",
      "smblks",
      "hblks",
      "hblkhd",
      "usmblks",
      "fsmblks",
      "uordblks",
      "fordblks",
      "keepcost",
    ];
    const info = koffi.struct("mallinfo2", Object.fromEntries(fields.map((field) => [field, "size_t"])));
    mallinfo2 = koffi.load("libc.so.6").func("mallinfo2", info, []) as () => Record<string, bigint | number>;
  }
  const info = mallinfo2();
  return Number(info.uordblks) + Number(info.hblkhd);
}
