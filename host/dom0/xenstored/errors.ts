import type { XsErrorName } from "./wire.js";

/** A request failed with one of xsd_errors; the server answers it with an ERROR reply. */
export class XsError extends Error {
  constructor(readonly errorName: XsErrorName) {
    super(errorName);
  }
}

/** What `action` returns, or undefined when it fails with ENOENT (a node that is not there). */
export function ignoringMissing<T>(action: () => T): T | undefined {
  try {
    return action();
  } catch (error) {
    if (error instanceof XsError && error.errorName === "ENOENT") return undefined;
    throw error;
  }
}
