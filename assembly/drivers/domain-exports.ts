// The domain's own exports: boot, the event upcall, suspend.

import * as evtchn from "../evtchn/evtchn";
import * as gnttab from "../gnttab/gnttab";
import { suspendDomain } from "./suspend";

/** ASC_RUNTIME's value for the minimal runtime (the compiler's Runtime.Minimal, which programs cannot name). */
const MINIMAL_RUNTIME: i32 = 1;

/**
 * 1 when this module never collects its garbage by itself (built with
 * AssemblyScript's minimal runtime, as xenbus.wasm is: tools/build.ts): its
 * host must call `__collect` often enough, and only once the outermost call
 * into it has returned (runtime/guest.ts collects every 64 such calls, and
 * when the memory grew). 0 when it collects as it allocates.
 */
export const xen_host_collects: i32 = ASC_RUNTIME == MINIMAL_RUNTIME ? 1 : 0;

/**
 * Maps shared_info and sets up the grant table. 0, or the -errno / GNTST_*
 * of the step that failed. Idempotent: what is already up is kept, so a
 * second call returns 0 and a failed call may be retried.
 */
export function xen_boot(): i32 {
  const rc = evtchn.mapSharedInfo();
  if (rc < 0) return rc;
  return gnttab.setup();
}

/** Called by the hypervisor when events are pending and the guest is not running. */
export function xen_upcall(): void {
  evtchn.dispatch();
}

/** Suspends the domain for save/restore or migration: drivers/suspend.ts's suspendDomain. */
export function xen_suspend(): i32 {
  return suspendDomain();
}
