// Xen's system time for the guest, and waits bounded by it: the ns since
// boot that the hypervisor keeps in vcpu0's vcpu_time_info (shared_info),
// the clock SCHEDOP_poll's absolute timeout is measured on.
import { dispatch, hasPending, sharedInfoAddress } from "../evtchn/evtchn";
import { ENODEV, ETIMEDOUT, SCHEDOP_poll } from "./abi";
import { sched_op } from "./hypercall";
import { sched_poll, shared_info, vcpu_info, vcpu_time_info } from "./layout";

/**
 * Xen's system time in ns; 0 before shared_info is mapped. Read as Xen's
 * protocol asks: the version is odd while Xen updates the fields, and a
 * version that changed under the read means the read is torn.
 */
export function systemTime(): u64 {
  const shared = sharedInfoAddress();
  if (shared == 0) return 0;
  const time = shared + shared_info.vcpu_info + vcpu_info.time;
  while (true) {
    const version = atomic.load<u32>(time + vcpu_time_info.version);
    const now = atomic.load<u64>(time + vcpu_time_info.system_time);
    if ((version & 1) == 0 && atomic.load<u32>(time + vcpu_time_info.version) == version) return now;
  }
}

/**
 * evtchn's waitUntil with a deadline in system time: between events it
 * waits in SCHEDOP_poll on no port, whose absolute timeout wakes it at the
 * deadline if no event does first. 0 once `done()` holds, -ETIMEDOUT when
 * the deadline passed first, or the -errno with which Xen refused to poll.
 */
export function waitUntilDeadline(done: () => bool, deadline: u64): i32 {
  if (sharedInfoAddress() == 0) return -ENODEV;
  const arg = memory.data(sched_poll.SIZE, 8);
  dispatch();
  while (!done()) {
    if (systemTime() >= deadline) return -ETIMEDOUT;
    if (!hasPending()) {
      store<u64>(arg + sched_poll.ports, 0);
      store<u32>(arg + sched_poll.nr_ports, 0);
      store<u64>(arg + sched_poll.timeout, deadline);
      const rc = sched_op(SCHEDOP_poll, arg);
      if (rc < 0) return rc;
    }
    dispatch();
  }
  return 0;
}
