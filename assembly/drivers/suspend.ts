// Suspending the whole guest for save/restore or migration, with everything
// the driver stack keeps across it: the XenStore connection, the XenBus
// buses and their devices, the console.

import * as evtchn from "../evtchn/evtchn";
import * as gnttab from "../gnttab/gnttab";
import { SCHEDOP_shutdown, SHUTDOWN_suspend } from "../xen/abi";
import { parkSpecialPages, unparkSpecialPages } from "../xen/hvm";
import { sched_op } from "../xen/hypercall";
import { sched_shutdown } from "../xen/layout";
import { resumeBuses, suspendBuses } from "../xenbus/bus";
import * as xenstore from "../xenstore/ring";
import * as consoleFront from "./console";

/**
 * Suspends the domain as a Xen guest does for save/restore or migration.
 * First the XenStore connection is drained: queued watch events are
 * dispatched, and while a request or a watch handler is under way the
 * suspend is refused with -EBUSY. The store and console pages go back to
 * their HVM params' gfns (parkSpecialPages), where the toolstack saves them
 * and the restored domain's xenstored and xenconsoled look for them. Then
 * SCHEDOP_shutdown(SHUTDOWN_suspend):
 * 1 when the toolstack cancelled (the same domain goes on, its connection
 * intact); 0 when the domain was resumed after save/restore, its
 * shared_info and grant frames placed again, its store port (and page)
 * read again from the HVM params and the XenStore client started
 * over (watches registered again, open transactions stale), and the console,
 * if connected, on its new port and rings. -errno when the suspend was
 * refused or failed, or when after a resume the store or console params are
 * unusable or watches could not be registered again (xs_lost_watches).
 * The XenBus buses go along: their drivers suspend before, and after a
 * resume every device finds its other end again (its first error is
 * returned); after a cancel the drivers just resume.
 */
export function suspendDomain(): i32 {
  let rc = xenstore.quiesce();
  if (rc < 0) return rc;
  suspendBuses();
  // From here to the shutdown, nothing may use the store or console rings: their pages are away.
  rc = parkSpecialPages();
  if (rc < 0) {
    resumeBuses(true);
    return rc;
  }
  const arg = memory.data(sched_shutdown.SIZE, 4);
  store<u32>(arg + sched_shutdown.reason, SHUTDOWN_suspend);
  const outcome = sched_op(SCHEDOP_shutdown, arg);
  if (outcome != 0) {
    const back = unparkSpecialPages();
    if (outcome == 1) resumeBuses(true);
    return back < 0 ? back : outcome;
  }
  // The restored domain is a new one to Xen, without our channels, shared_info and grant frames: these go back on their pages.
  evtchn.forgetChannels();
  let placed = evtchn.placeSharedInfoAgain();
  if (placed == 0) placed = gnttab.placeFramesAgain();
  if (placed < 0) return placed;
  // The console first: it needs no store, so it works even when the store does not.
  const consoleResumed = consoleFront.resume();
  const resumed = xenstore.resume();
  if (resumed < 0) return resumed;
  const buses = resumeBuses(false);
  if (buses < 0) return buses;
  return consoleResumed < 0 ? consoleResumed : 0;
}
