// Node names as xenstored sees them: canonical form, validity, parent/child.
import { XENSTORE_ABS_PATH_MAX } from "./wire.js";

export function domainPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** Relative names resolve against the caller's domain path; absolute and @special names stay. */
export function canonicalize(domid: number, name: string): string {
  if (name.startsWith("/") || name.startsWith("@")) return name;
  return `${domainPath(domid)}/${name}`;
}

const VALID_CHARS = /^[A-Za-z0-9\-/_@]*$/;
const LOCAL_DOMAIN_PREFIX = /^\/local\/domain\/\d{1,5}\//;

/**
 * xenstored's check of a canonical name: starts with / (or @ where special
 * names are allowed), no trailing or doubled slash, only -/_@ and
 * alphanumerics, and bounded length. `relativeLimit` bounds the part below
 * /local/domain/<id>/ (the path-max quota of unprivileged callers).
 */
export function isValidName(name: string, allowSpecial: boolean, relativeLimit: number | undefined): boolean {
  if (!name.startsWith("/") && !(allowSpecial && name.startsWith("@"))) return false;
  if (name.endsWith("/") && name !== "/") return false;
  if (name.includes("//")) return false;
  if (name.length > XENSTORE_ABS_PATH_MAX) return false;
  if (relativeLimit !== undefined) {
    const local = LOCAL_DOMAIN_PREFIX.exec(name);
    if (name.length - (local ? local[0].length : 0) > relativeLimit) return false;
  }
  return VALID_CHARS.test(name);
}

export function parentOf(name: string): string {
  const slash = name.lastIndexOf("/");
  return slash <= 0 ? "/" : name.slice(0, slash);
}

export function baseName(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

export function childPath(parent: string, child: string): string {
  return parent === "/" ? `/${child}` : `${parent}/${child}`;
}

/** xenstore.txt's "child": identical, or below; everything is a child of /. */
export function isChild(child: string, parent: string): boolean {
  if (child === parent || parent === "/") return true;
  return child.startsWith(`${parent}/`);
}

/** How many levels `child` lies below `parent` (0 when identical); call only when isChild holds. */
export function depthBelow(child: string, parent: string): number {
  if (child === parent) return 0;
  const rest = parent === "/" ? child.slice(1) : child.slice(parent.length + 1);
  return rest.split("/").length;
}
