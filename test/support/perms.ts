// Permission lists written as xenstored's wire spells them ("n0", "r5"), for tests to read at a glance.
import { type Permission, parsePermission } from "../../runtime/xenstore-client.js";

export function perms(...entries: string[]): Permission[] {
  return entries.map((entry) => parsePermission(entry, `permission ${entry}`));
}
