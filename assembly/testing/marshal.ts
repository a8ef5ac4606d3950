// How the test exports pass values: strings in as (address, length) of UTF-8
// bytes in the caller's memory, out copied to (target, capacity) with their
// full length returned; permission lists out one entry a call.
import { Perm } from "../xenstore/wire";

export function text(at: usize, length: u32): string {
  return String.UTF8.decodeUnsafe(at, length);
}

export function copyOut(value: string, target: usize, capacity: u32): i32 {
  const length = String.UTF8.byteLength(value);
  if (u32(length) <= capacity) String.UTF8.encodeUnsafe(changetype<usize>(value), value.length, target);
  return length;
}

let permsShown: Perm[] = [];

/** Makes `perms` the list xs_perm_at reads: the last one xs_parse_perms parsed or xs_client_get_perms read. */
export function showPerms(perms: Perm[]): void {
  permsShown = perms;
}

/** Entry `index` of the list shown: access << 16 | domid. */
export function permShown(index: i32): u32 {
  return (u32(permsShown[index].access) << 16) | permsShown[index].domid;
}
