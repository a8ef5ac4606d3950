// Reading what a hostile peer may have removed, never written, or made
// unreadable: null instead of an error, so the peer's checks decide.
import type { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XenStoreError } from "../../runtime/xenstore-client.js";

/** The node's value, or null when it cannot be read. */
export function readOrNull(store: LocalClient, path: string): string | null {
  try {
    return store.read(path);
  } catch (error) {
    if (error instanceof XenStoreError) return null;
    throw error;
  }
}

/** A decimal node's value, or null when it cannot be read or is not a number. */
export function readDecimal(store: LocalClient, path: string): number | null {
  const text = readOrNull(store, path);
  return text !== null && /^\d+$/.test(text) ? Number(text) : null;
}
