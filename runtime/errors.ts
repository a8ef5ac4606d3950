// What the typed wrappers share: an export's -errno becomes an exception
// carrying the errno and its name; pages of the guest for arguments and results.
import { constants } from "node:os";
import type { Guest } from "./guest.js";
import type { XenbusExports } from "./xenbus.js";

/** Each errno's first name in the host's table (EAGAIN before its alias EWOULDBLOCK). */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);

/** The name of a positive errno (EACCES, ...), or "errno <n>" for one the host does not know. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** An export failed; `errno` is the positive errno, `code` its name (EACCES, EIO, ...). Each wrapper names its own subclass. */
export class GuestCallError extends Error {
  readonly code: string;

  constructor(
    readonly errno: number,
    operation: string,
  ) {
    const code = errnoName(errno);
    super(`${operation}: ${code}`);
    this.name = new.target.name;
    this.code = code;
  }
}

/** What an export's result checker does: the result, or `failure` thrown for a negative one. */
export type ResultCheck = (rc: number | undefined, operation: string) => number;

/** A checker for `guest`'s export results: undefined (the guest exited) and -errno (thrown as `failure`) are errors. */
export function resultCheck(
  guest: Guest<object>,
  failure: new (errno: number, operation: string) => GuestCallError,
): ResultCheck {
  return (rc, operation) => {
    if (rc === undefined) throw new Error(`${guest.name} exited during ${operation}: ${guest.exit?.message ?? ""}`);
    if (rc < 0) throw new failure(-rc, operation);
    return rc;
  };
}

/** A page_alloc page of `guest`, for `purpose` (named in the error when the guest has none left). */
export function allocPage(guest: Guest<XenbusExports>, purpose: string): number {
  const page = guest.exports.page_alloc();
  if (!page) throw new Error(`${guest.name}: no page for ${purpose}`);
  return page;
}
