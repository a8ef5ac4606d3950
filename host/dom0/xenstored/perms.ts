// Node permissions: the first entry names the owner and the access everyone
// else gets; later entries grant one domain (or DOMID_ANY) its own access.
import { XsError } from "./errors.js";

export const PERM_NONE = 0;
export const PERM_READ = 1;
export const PERM_WRITE = 2;
/** Not a stored bit: granted to owners and privileged callers, required to change perms. */
export const PERM_OWNER = 4;

/** Xen's DOMID_ANY: an ACL entry for it matches every domain (XENSTORE_SERVER_FEATURE_DOMID_ANY). */
export const DOMID_ANY = 0x7ff4;

export interface Perm {
  domid: number;
  access: number;
}

/** Who is asking, as permission checks need it. */
export interface Caller {
  domid: number;
  privileged: boolean;
  /** SET_TARGET: this caller acts with the rights of that domain (a device model for its guest). */
  target?: number;
}

const LETTER_OF_ACCESS = ["n", "r", "w", "b"];

export function permToString(perm: Perm): string {
  return `${LETTER_OF_ACCESS[perm.access & (PERM_READ | PERM_WRITE)]}${perm.domid}`;
}

/** Parses "r5", "b0", ... as libxenstore writes them; anything else is EINVAL. */
export function permFromString(text: string): Perm {
  const access = LETTER_OF_ACCESS.indexOf(text[0] ?? "");
  const digits = text.slice(1);
  if (access < 0 || !/^\d+$/.test(digits)) throw new XsError("EINVAL");
  const domid = Number(digits);
  if (domid > 0xffff) throw new XsError("EINVAL");
  return { domid, access };
}

function matches(caller: Caller, domid: number): boolean {
  return domid === caller.domid || (caller.target !== undefined && domid === caller.target) || domid === DOMID_ANY;
}

/** The access `caller` has to a node with `perms` (PERM_* bits). */
export function accessFor(caller: Caller, perms: readonly Perm[]): number {
  const all = PERM_READ | PERM_WRITE | PERM_OWNER;
  const owner = perms[0];
  if (caller.privileged || owner === undefined || matches(caller, owner.domid)) return all;
  for (const entry of perms.slice(1)) if (matches(caller, entry.domid)) return entry.access;
  return owner.access;
}
