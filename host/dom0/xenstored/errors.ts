import type { XsErrorName } from "./wire.js";

/**
 * A request failed with one of xsd_errors; the server answers it with an
 * ERROR reply. Refusals are everyday results (every create's ENOENT lookup,
 * every hostile request), always caught by the request handler, so no stack
 * is captured: that was most of a refusal's cost.
 */
export class XsError extends Error {
  constructor(readonly errorName: XsErrorName) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(errorName);
    Error.stackTraceLimit = limit;
  }
}
