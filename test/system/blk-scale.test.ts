// A driver domain serving many guests costs each switch between domains, and
// each return to the host, the same, however many guests it serves: page
// coherence brings a domain about to run up to date looking only at the
// pages it shares with domains that ran since, and does the same for a
// domain whose memory the host looks at, when it looks (host/xen/coherence.ts);
// xenstored answers each guest's requests, and the backend's, at a cost of
// their own (no reply lists every guest). Counted, not timed: the pages
// looked at, the requests served and the bytes of their replies while one
// more guest connects, and while a guest reads, must not grow with the number
// of guests already connected.
import { describe, expect, it } from "vitest";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { startBlkbackDomain } from "../../host/system/blkback-domain.js";
import { createGuestDomain } from "../../host/system/guest-domain.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkFront } from "../../runtime/blk.js";

const DEVID = 51712;
const OPEN_TIMEOUT_MS = 60_000;

/** Pages looked at switching domains and for the host; requests xenstored served, and their replies' bytes. */
interface Work {
  switches: number;
  host: number;
  requests: number;
  replyBytes: number;
}

const KINDS = ["switches", "host", "requests", "replyBytes"] as const;

/** A backend domain with `guests` guests' disks Connected; then the coherence work of one more guest and of 20 reads. */
function workWith(guests: number): { connect: Work; reads: Work } {
  const hv = new Hypervisor();
  const served = { requests: 0, replyBytes: 0 };
  const service = startXenstore(hv, {
    trace(_domid, _request, reply) {
      served.requests++;
      served.replyBytes += reply.payload.length;
    },
  });
  const backend = startBlkbackDomain(service, { sectors: 64, quotas: { watches: 0, nodes: 0, memory: 0 } });
  const plug = (name: string): BlkFront => {
    const guest = createGuestDomain(service, name).guest;
    expect(guest.exports.xs_init()).toBe(0);
    const blk = new BlkFront(guest, 1).start();
    service.devices.add({
      type: "vbd",
      devid: DEVID,
      frontend: guest.domid,
      backend: backend.domid,
      backendParams: backend.disk.params,
    });
    return blk;
  };
  const fronts = Array.from({ length: guests }, (_, i) => plug(`guest${i}`));
  for (const blk of fronts) blk.open(DEVID, OPEN_TIMEOUT_MS);
  const work = (): Work => ({
    switches: hv.coherence.work.switchVisits,
    host: hv.coherence.work.hostVisits,
    ...served,
  });
  const since = (before: Work): Work => {
    const now = work();
    return Object.fromEntries(KINDS.map((kind) => [kind, now[kind] - before[kind]])) as unknown as Work;
  };
  const beforeConnect = work();
  plug("last").open(DEVID, OPEN_TIMEOUT_MS);
  const connect = since(beforeConnect);
  const first = fronts[0]!;
  const beforeReads = work();
  for (let i = 0; i < 20; i++) expect(first.read(DEVID, 0, 8)).toHaveLength(8 * 512);
  return { connect, reads: since(beforeReads) };
}

describe("a block backend domain serving many guests", () => {
  it("looks at as many pages and serves as many XenStore requests per guest connecting and per read with 4 or 32 guests", () => {
    const few = workWith(4);
    const many = workWith(32);
    for (const kind of KINDS) {
      expect(many.connect[kind], `${kind} while a guest connects`).toBeLessThanOrEqual(few.connect[kind] * 1.25);
      expect(many.reads[kind], `${kind} while a guest reads`).toBeLessThanOrEqual(few.reads[kind] * 1.25);
    }
  });
});
