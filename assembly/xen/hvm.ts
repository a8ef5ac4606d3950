// HVM parameters: how the toolstack tells a PVH/HVM guest where its store and
// console pages and event channels are (HVM_PARAM_*).
import { hvm_op } from "./hypercall";
import { DOMID_SELF, EINVAL, ENODEV, HVMOP_get_param } from "./abi";
import { xen_hvm_param } from "./layout";
import { PAGE_SHIFT } from "./pages";
import { NR_PORTS } from "../evtchn/evtchn";

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

/** A ring page and its event channel as the toolstack gave them (the store's, the console's). */
export class SpecialRing {
  page: usize = 0;
  port: u32 = 0;

  /**
   * Reads the page and port from HVM params `pfnIndex` and `portIndex`. 0,
   * -ENODEV when there are none, -EINVAL when the page lies outside memory
   * or the port beyond what the event channel ABI can signal.
   */
  read(pfnIndex: u32, portIndex: u32): i32 {
    const pfn = getParam(pfnIndex);
    if (pfn < 0) return i32(pfn);
    const port = getParam(portIndex);
    if (port < 0) return i32(port);
    if (pfn == 0 || port == 0) return -ENODEV;
    const pages = u64(memory.size()) << (16 - PAGE_SHIFT);
    if (u64(pfn) >= pages || u64(port) >= u64(NR_PORTS)) return -EINVAL;
    this.page = usize(pfn) << PAGE_SHIFT;
    this.port = u32(port);
    return 0;
  }
}
