// The component against a hostile xenstored: the simulated one, with its
// replies mangled on the way (test/support/properties/component-hostile.ts,
// shared with `npm run fuzz`). Whatever arrives, every call gives a value or
// an xs-error, never a trap or a malformed result, and once it says eio it
// says eio for good. Here the properties run CI's short counts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ComponentXenstore } from "../../runtime/component.js";
import { XenStoreError } from "../../runtime/xenstore-client.js";
import { componentHosts } from "../support/component-hosts.js";
import { hostileStream, hostileXenstoreProperty, mutation } from "../support/properties/component-hostile.js";

describe("the component against a hostile xenstored", () => {
  it("gives a well-formed value or xs-error for every call, and eio for good once the connection is lost", () => {
    fc.assert(hostileXenstoreProperty(), { numRuns: 300 });
  });

  it.each(componentHosts)("in $host: every call returns or throws a XenStoreError", ({ open }) => {
    const runs: { name: string; call(xs: ComponentXenstore): unknown }[] = [
      { name: "read", call: (xs) => xs.read("/a") },
      { name: "write", call: (xs) => xs.write("/a", "v") },
      { name: "directory", call: (xs) => xs.directory("/") },
      { name: "get-perms", call: (xs) => xs.getPerms("/a") },
      { name: "watch", call: (xs) => xs.watch("/w", "t") },
      { name: "next-event", call: (xs) => xs.nextEvent() },
      { name: "transaction-start", call: (xs) => xs.transactionStart() },
      { name: "get-domain-path", call: (xs) => xs.getDomainPath(3) },
    ];
    fc.assert(
      fc.property(
        fc.array(mutation, { maxLength: 8 }),
        fc.array(fc.constantFrom(...runs), { minLength: 1, maxLength: 8 }),
        (mutations, calls) => {
          const xs = open(hostileStream(mutations));
          for (const { call } of calls) {
            try {
              call(xs);
            } catch (error) {
              expect(error).toBeInstanceOf(XenStoreError);
            }
          }
          xs.close();
        },
      ),
      { numRuns: 100 },
    );
  });
});
