// HVM params (HVMOP_get_param / HVMOP_set_param): where the toolstack tells a
// guest about its xenstore and console pages and event channels.

import { DOMID, ERRNO, HVM_PARAM, XEN_LIMITS } from "./abi.js";
import type { Domain, DomainDirectory } from "./domain.js";

function target(directory: DomainDirectory, caller: Domain, domid: number, index: number): Domain | number {
  if (!(index >= 0 && index < XEN_LIMITS.HVM_NR_PARAMS)) return -ERRNO.EINVAL;
  const domain = domid === DOMID.SELF ? caller : directory.domain(domid);
  if (!domain) return -ERRNO.ESRCH;
  if (domain !== caller && !caller.privileged) return -ERRNO.EPERM;
  return domain;
}

export function getParam(
  directory: DomainDirectory,
  caller: Domain,
  domid: number,
  index: number,
): { rc: number; value: bigint } {
  const domain = target(directory, caller, domid, index);
  if (typeof domain === "number") return { rc: domain, value: 0n };
  return { rc: 0, value: domain.params.get(index) ?? 0n };
}

export function setParam(
  directory: DomainDirectory,
  caller: Domain,
  domid: number,
  index: number,
  value: bigint,
): number {
  const domain = target(directory, caller, domid, index);
  if (typeof domain === "number") return domain;
  // A guest may choose its own callback; the ring pages and ports are the toolstack's to set.
  if (domain === caller && !caller.privileged && index !== HVM_PARAM.CALLBACK_IRQ) return -ERRNO.EPERM;
  domain.params.set(index, value);
  return 0;
}
