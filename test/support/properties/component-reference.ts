// The component against a reference: random sequences of operations run
// through the component on one simulated xenstored and through the host's
// LocalClient (the same bytes, no Wasm) on a twin, both as XenstoreClients,
// as dom0 and as an unprivileged domain. Every value and every error must be
// the same.
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { expect } from "vitest";
import { LocalClient } from "../../../host/dom0/xenstored/client.js";
import { XenStored } from "../../../host/dom0/xenstored/server.js";
import { xenstoredStream } from "../../../host/dom0/xenstored/stream.js";
import { openXenstoreComponent } from "../../../runtime/component.js";
import { type Access, type Permission, XenStoreError, type XenstoreClient } from "../../../runtime/xenstore-client.js";
import { perms } from "../perms.js";

export const GUEST = 3;
const PATHS = [
  "/",
  "/tool/a",
  "/tool/a/b",
  `/local/domain/${GUEST}`,
  `/local/domain/${GUEST}/data`,
  `/local/domain/${GUEST}/data/x`,
  "data",
  "data/y",
  "bad//name",
];
const ACCESSES: Access[] = ["none", "read", "write", "both"];

/** An operation's outcome: its value, or the name of the error it failed with. */
function outcome(run: () => unknown): unknown {
  try {
    return { ok: run() ?? null };
  } catch (error) {
    if (error instanceof XenStoreError) return { err: error.code };
    throw error;
  }
}

/** `tx` picks one of the open transactions (by position, since each side numbers its own), or none. */
type Step =
  | { op: "read" | "mkdir" | "rm" | "directory" | "getPerms"; path: string; tx: number }
  | { op: "write"; path: string; value: string; tx: number }
  | { op: "setPerms"; path: string; perms: Permission[]; tx: number }
  | { op: "transactionStart" }
  | { op: "transactionEnd"; tx: number; commit: boolean }
  | { op: "getDomainPath"; domid: number };

const path = fc.constantFrom(...PATHS);
const tx = fc.nat(3);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constantFrom("read" as const, "mkdir" as const, "rm" as const, "directory" as const, "getPerms" as const),
    path,
    tx,
  }),
  fc.record({ op: fc.constant("write" as const), path, value: fc.string({ maxLength: 12 }), tx }),
  fc.record({
    op: fc.constant("setPerms" as const),
    path,
    perms: fc.array(fc.record({ domid: fc.constantFrom(0, GUEST, 7), access: fc.constantFrom(...ACCESSES) }), {
      minLength: 1,
      maxLength: 3,
    }),
    tx,
  }),
  fc.constant({ op: "transactionStart" as const }),
  fc.record({ op: fc.constant("transactionEnd" as const), tx, commit: fc.boolean() }),
  fc.record({ op: fc.constant("getDomainPath" as const), domid: fc.nat(70000) }),
);

/** Runs `steps` on `side`, picking transactions among those it opened: the outcomes. */
function run(side: XenstoreClient, steps: Step[]): unknown[] {
  const open: number[] = [];
  const pick = (index: number) => (index < open.length ? open[index]! : 0);
  return steps.map((s) => {
    switch (s.op) {
      case "transactionStart":
        return outcome(() => void open.push(side.transactionStart()));
      case "transactionEnd": {
        const id = pick(s.tx);
        if (id !== 0) open.splice(open.indexOf(id), 1);
        return outcome(() => side.transactionEnd(id, s.commit));
      }
      case "getDomainPath":
        return outcome(() => side.getDomainPath(s.domid));
      case "write":
        return outcome(() => side.write(s.path, s.value, pick(s.tx)));
      case "setPerms":
        return outcome(() => side.setPerms(s.path, s.perms, pick(s.tx)));
      default:
        return outcome(() => side[s.op](s.path, pick(s.tx)));
    }
  });
}

/** A xenstored where dom0 gave the guest its home, as a toolstack does. */
function seeded(): XenStored {
  const xenstored = new XenStored();
  const dom0 = new LocalClient(xenstored, 0);
  dom0.write("/tool/a", "1");
  dom0.mkdir(`/local/domain/${GUEST}/data`);
  dom0.setPerms(`/local/domain/${GUEST}`, perms(`b${GUEST}`));
  dom0.setPerms(`/local/domain/${GUEST}/data`, perms(`b${GUEST}`));
  return xenstored;
}

/** The component (as domain `domid`) and the host's reference client give the same values and errors for any sequence of operations. */
export function referenceProperty(domid: number) {
  return fc.property(fc.array(step, { minLength: 1, maxLength: 20 }), (steps) => {
    const component = run(openXenstoreComponent(xenstoredStream(seeded(), domid)), steps);
    const reference = run(new LocalClient(seeded(), domid), steps);
    // expect() only to report a difference: outside vitest each call costs as much as a few requests.
    if (!isDeepStrictEqual(component, reference)) expect(component).toEqual(reference);
  });
}

export const referenceDom0Property = () => referenceProperty(0);
export const referenceGuestProperty = () => referenceProperty(GUEST);
