// Another party's move between a domain's writes and its commit, for tests
// of what the guest does when its transaction conflicts.
import type { XenstoreService } from "../../host/dom0/toolstack.js";
import { XsType } from "../../host/dom0/xenstored/wire.js";

/** Transactions the guest tries before giving up (TRANSACTION_ATTEMPTS in assembly/xenstore/client.ts). */
export const TRANSACTION_ATTEMPTS = 8;

/**
 * Runs `action` (once per commit, up to `times`) when domain `domid` asks
 * xenstored to commit a transaction, just before xenstored sees the request:
 * what another party does between the guest's writes and its commit.
 * Returns how many commits the domain asked for.
 */
export function beforeCommits(
  service: XenstoreService,
  domid: number,
  times: number,
  action: () => void,
): () => number {
  const xenstored = service.xenstored;
  const receive = xenstored.receive.bind(xenstored);
  let commits = 0;
  xenstored.receive = (conn, bytes) => {
    const header = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (conn.domid === domid && bytes.length >= 16 && header.getUint32(0, true) === XsType.TRANSACTION_END) {
      if (commits++ < times) action();
    }
    receive(conn, bytes);
  };
  return () => commits;
}
