// The domain's own exports: boot, the event upcall, suspend.

import * as evtchn from "../evtchn/evtchn";
import * as gnttab from "../gnttab/gnttab";
import { suspendDomain } from "./suspend";

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
