// HVM parameters: how the toolstack tells a PVH/HVM guest where its store and
// console pages and event channels are (HVM_PARAM_*).

import { NR_PORTS } from "../evtchn/evtchn";
import { DOMID_SELF, EINVAL, ENODEV, HVMOP_get_param, XENMAPSPACE_gmfn } from "./abi";
import { hvm_op } from "./hypercall";
import { xen_hvm_param } from "./layout";
import { PAGE_SHIFT } from "./pages";
import { addToPhysmap } from "./physmap";

/** Parameter `index` of our own domain, or -errno. */
export function getParam(index: u32): i64 {
  const arg = memory.data(xen_hvm_param.SIZE, 8);
  store<u16>(arg + xen_hvm_param.domid, DOMID_SELF);
  store<u32>(arg + xen_hvm_param.index, index);
  store<u64>(arg + xen_hvm_param.value, 0);
  const rc = hvm_op(HVMOP_get_param, arg);
  if (rc < 0) return rc;
  return i64(load<u64>(arg + xen_hvm_param.value));
}

/**
 * A ring page and its event channel as the toolstack gave them (the
 * store's, the console's). The toolstack puts the page wherever it likes
 * (real Xen: at the top of the 4 GiB hole, far beyond linear memory), so the
 * guest moves it onto a page it reserved for it, as a PVH kernel that
 * addresses only its own memory must. Xen never changes the HVM param, so
 * the move is remembered here.
 */
export class SpecialRing {
  page: usize = 0;
  port: u32 = 0;
  /** The gfn the page was moved from (its HVM param then); 0 before it was. */
  private movedFrom: u64 = 0;
  /** Where park() put the page back (its HVM param's gfn) until unpark(); 0 while not parked. */
  private parkedAt: u64 = 0;

  constructor(readonly reserved: usize) {
    specialRings.push(this);
  }

  /**
   * Reads the page and port from HVM params `pfnIndex` and `portIndex` and
   * brings the page to `reserved` if it is not there yet. 0, -ENODEV when
   * there are none, -EINVAL when the port is beyond what the event channel
   * ABI can signal, or Xen's error moving the page.
   */
  read(pfnIndex: u32, portIndex: u32): i32 {
    const pfn = getParam(pfnIndex);
    if (pfn < 0) return i32(pfn);
    const port = getParam(portIndex);
    if (port < 0) return i32(port);
    if (pfn == 0 || port == 0) return -ENODEV;
    if (u64(port) >= u64(NR_PORTS)) return -EINVAL;
    const target = u64(this.reserved >> PAGE_SHIFT);
    if (u64(pfn) != target && u64(pfn) != this.movedFrom) {
      const rc = addToPhysmap(XENMAPSPACE_gmfn, u64(pfn), this.reserved);
      if (rc < 0) return rc;
      this.movedFrom = u64(pfn);
    }
    this.page = this.reserved;
    this.port = u32(port);
    return 0;
  }

  /** After a restore the page is back at its HVM param's gfn: the next read moves it again. */
  restored(): void {
    this.movedFrom = 0;
    this.parkedAt = 0;
  }

  /** Puts a page we moved back at its HVM param's gfn. 0 or Xen's error. */
  park(): i32 {
    if (this.movedFrom == 0) return 0;
    // The param's gfn as an address for addToPhysmap: Xen puts special pages below 4 GiB.
    if (this.movedFrom > u64(<usize>-1 >> PAGE_SHIFT)) return -EINVAL;
    const rc = addToPhysmap(XENMAPSPACE_gmfn, u64(this.reserved >> PAGE_SHIFT), usize(this.movedFrom) << PAGE_SHIFT);
    if (rc < 0) return rc;
    this.parkedAt = this.movedFrom;
    this.movedFrom = 0;
    return 0;
  }

  /** Brings a parked page back onto our reserved page. 0 or Xen's error. */
  unpark(): i32 {
    if (this.parkedAt == 0) return 0;
    const rc = addToPhysmap(XENMAPSPACE_gmfn, this.parkedAt, this.reserved);
    if (rc < 0) return rc;
    this.movedFrom = this.parkedAt;
    this.parkedAt = 0;
    return 0;
  }
}

const specialRings = new Array<SpecialRing>();

/**
 * Before a suspend: the store and console pages we moved go back to their
 * HVM params' gfns, where the toolstack saves them, and where xenstored and
 * xenconsoled, who know only the params, map them in the restored domain.
 * Nothing may touch the rings until unparkSpecialPages or a restore.
 * 0, or Xen's error (every page is then back on our pages, or the error of
 * bringing it back is returned instead).
 */
export function parkSpecialPages(): i32 {
  for (let i = 0; i < specialRings.length; i++) {
    const rc = specialRings[i].park();
    if (rc < 0) {
      const back = unparkSpecialPages();
      return back < 0 ? back : rc;
    }
  }
  return 0;
}

/** After a suspend that was cancelled (the same domain goes on): the parked pages come back onto ours. 0 or the first error. */
export function unparkSpecialPages(): i32 {
  let first = 0;
  for (let i = 0; i < specialRings.length; i++) {
    const rc = specialRings[i].unpark();
    if (rc < 0 && first == 0) first = rc;
  }
  return first;
}
