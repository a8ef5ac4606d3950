// HVM parameters: how the toolstack tells a PVH/HVM guest where its store and
// console pages and event channels are (HVM_PARAM_*).
import { hvm_op } from "./hypercall";
import { DOMID_SELF, HVMOP_get_param } from "./abi";
import { xen_hvm_param } from "./layout";

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
