// Per-domain limits, named as GET_QUOTA/SET_QUOTA name them. They bind
// unprivileged domains only; 0 disables a check. Defaults are C xenstored's.
import { XsError } from "./errors.js";
import { XENSTORE_REL_PATH_MAX } from "./wire.js";

export const QUOTA_DEFAULTS = {
  nodes: 1000, // nodes a domain may own (ENOSPC)
  watches: 128, // watches per connection (E2BIG)
  transactions: 10, // open transactions per connection (ENOSPC)
  outstanding: 20, // replies and events not yet taken by the domain; more input waits
  memory: 2.5 * 1024 * 1024, // bytes of the domain's nodes and watches (ENOMEM); Xen 4.17+
  "transaction-nodes": 1024, // nodes one transaction may touch (ENOSPC)
  "node-size": 2048, // bytes of value + perms + child names of one node (ENOSPC)
  permissions: 5, // entries in a SET_PERMS (ENOSPC)
  "path-max": XENSTORE_REL_PATH_MAX, // length below /local/domain/<id>/ (EINVAL)
} as const;

export type QuotaName = keyof typeof QUOTA_DEFAULTS;

export function isQuotaName(name: string): name is QuotaName {
  return Object.hasOwn(QUOTA_DEFAULTS, name);
}

export class Quotas {
  private readonly global: Record<QuotaName, number> = { ...QUOTA_DEFAULTS };
  private readonly perDomain = new Map<number, Partial<Record<QuotaName, number>>>();

  names(): QuotaName[] {
    return Object.keys(this.global) as QuotaName[];
  }

  /** The global value, or domain `domid`'s own value (the global one unless set). */
  get(name: QuotaName, domid?: number): number {
    return (domid === undefined ? undefined : this.perDomain.get(domid)?.[name]) ?? this.global[name];
  }

  set(name: QuotaName, value: number, domid?: number): void {
    if (domid === undefined) {
      this.global[name] = value;
      return;
    }
    this.perDomain.set(domid, { ...this.perDomain.get(domid), [name]: value });
  }

  forget(domid: number): void {
    this.perDomain.delete(domid);
  }

  /** Throws ENOMEM when `used` bytes reach `domid`'s memory quota: C xenstored refuses at the limit, not past it. */
  checkMemory(domid: number, used: number): void {
    const limit = this.get("memory", domid);
    if (limit !== 0 && used >= limit) throw new XsError("ENOMEM");
  }

  /** Throws `error` when `used` would exceed `name`'s limit for `domid` (0 = unlimited). */
  check(name: QuotaName, domid: number, used: number, error: "ENOSPC" | "E2BIG" | "EINVAL"): void {
    const limit = this.get(name, domid);
    if (limit !== 0 && used > limit) throw new XsError(error);
  }
}
