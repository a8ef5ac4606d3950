import type { XsErrorName } from "./wire.js";

/** A request failed with one of xsd_errors; the server answers it with an ERROR reply. */
export class XsError extends Error {
  constructor(readonly errorName: XsErrorName) {
    super(errorName);
  }
}
