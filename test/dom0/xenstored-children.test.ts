// A node's children in xenstored: DIRECTORY_PART's parts as C xenstored sends
// them, each version of a child list kept whole for the transactions that
// saw it, and what adding, removing and listing children cost, counted in
// names read (ChildList.namesVisited), not timed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalClient } from "../../host/dom0/xenstored/client.js";
import { XenStored } from "../../host/dom0/xenstored/server.js";
import { ChildList } from "../../host/dom0/xenstored/store.js";
import { bytesToText, strings, XENSTORE_PAYLOAD_MAX, XsType } from "../../host/dom0/xenstored/wire.js";

function dom0WithChildren(path: string, names: string[]): LocalClient {
  const dom0 = new LocalClient(new XenStored(), 0);
  for (const name of names) dom0.write(`${path}/${name}`, "");
  return dom0;
}

/** One DIRECTORY_PART reply as text: the generation, a nul, the part's names each with a nul, and a nul if it is the last. */
function part(dom0: LocalClient, path: string, offset: number): string {
  return bytesToText(dom0.call(XsType.DIRECTORY_PART, strings(path, String(offset))));
}

/** Every part from offset 0 on, as a client reads them: the generations seen and the names. */
function readParts(dom0: LocalClient, path: string): { generations: Set<string>; parts: string[] } {
  const generations = new Set<string>();
  const parts: string[] = [];
  for (let offset = 0; ; ) {
    const reply = part(dom0, path, offset);
    const nul = reply.indexOf("\0");
    generations.add(reply.slice(0, nul));
    const names = reply.slice(nul + 1);
    parts.push(names);
    if (names.endsWith("\0\0") || names === "\0") return { generations, parts };
    offset += names.length;
  }
}

/** Names read from child lists while `run` runs. */
function namesVisitedBy(run: () => void): number {
  const before = ChildList.namesVisited;
  run();
  return ChildList.namesVisited - before;
}

const names = (count: number) => Array.from({ length: count }, (_, i) => `child-${String(i).padStart(5, "0")}`);

describe("DIRECTORY_PART", () => {
  it("sends the generation, the names from the byte offset, and an empty string after the last", () => {
    const dom0 = dom0WithChildren("/d", ["alpha", "beta"]);
    const reply = part(dom0, "/d", 0);
    const generation = reply.slice(0, reply.indexOf("\0"));
    expect(generation).toMatch(/^\d+$/);
    expect(reply).toBe(`${generation}\0alpha\0beta\0\0`);
    expect(part(dom0, "/d", 6)).toBe(`${generation}\0beta\0\0`);
    // An offset inside a name counts from there, as C xenstored's does.
    expect(part(dom0, "/d", 2)).toBe(`${generation}\0pha\0beta\0\0`);
    expect(part(dom0, "/d", 11)).toBe(`${generation}\0\0`);
    expect(part(dom0, "/d", 500)).toBe(`${generation}\0\0`);
    dom0.write("/d/gamma", "");
    expect(part(dom0, "/d", 0)).not.toContain(`${generation}\0`);
  });

  it("splits a long listing into parts of whole names that fit a payload, with one generation", () => {
    const all = names(4000);
    const dom0 = dom0WithChildren("/many", all);
    const { generations, parts } = readParts(dom0, "/many");
    expect(generations.size).toBe(1);
    expect(parts.length).toBeGreaterThan(5);
    const [generation] = generations;
    for (const names of parts) expect(generation!.length + 1 + names.length).toBeLessThanOrEqual(XENSTORE_PAYLOAD_MAX);
    for (const names of parts.slice(0, -1)) expect(names.endsWith("\0\0")).toBe(false);
    expect(parts.join("")).toBe(`${all.map((name) => `${name}\0`).join("")}\0`);
  });
});

describe("child lists", () => {
  it("are persistent: adds and removes on any version, newest or not, leave every version as a plain array has it", () => {
    const step = fc.record({ from: fc.nat(), add: fc.boolean(), name: fc.constantFrom("a", "b", "c", "d", "e") });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const versions: { list: ChildList; names: string[] }[] = [{ list: ChildList.EMPTY, names: [] }];
        for (const { from, add, name } of steps) {
          // Mostly the newest version, as the committed tree changes it; sometimes an older one, as a transaction's.
          const { list, names } = versions[from % 3 === 0 ? from % versions.length : versions.length - 1]!;
          versions.push(
            add
              ? { list: list.with(name), names: [...names, name] }
              : { list: list.without(name), names: names.filter((child) => child !== name) },
          );
          for (const version of versions) {
            expect([...version.list]).toEqual(version.names);
            expect(version.list.length).toBe(version.names.length);
            expect(version.list.bytes).toBe(version.names.reduce((sum, child) => sum + child.length + 1, 0));
            expect(version.list.listing()).toBe(version.names.map((child) => `${child}\0`).join(""));
          }
        }
      }),
    );
  });

  it("keep the version a transaction saw while the committed tree changes, and the reverse", () => {
    const dom0 = dom0WithChildren("/d", ["a", "b", "c"]);
    const tx = dom0.transactionStart();
    expect(dom0.directory("/d", tx)).toEqual(["a", "b", "c"]);
    dom0.rm("/d/b");
    dom0.write("/d/e", "");
    expect(dom0.directory("/d")).toEqual(["a", "c", "e"]);
    expect(dom0.directory("/d", tx)).toEqual(["a", "b", "c"]);
    dom0.transactionEnd(tx, false);

    const tx2 = dom0.transactionStart();
    dom0.rm("/d/a", tx2);
    dom0.write("/d/f", "", tx2);
    expect(dom0.directory("/d", tx2)).toEqual(["c", "e", "f"]);
    expect(dom0.directory("/d")).toEqual(["a", "c", "e"]);
    dom0.transactionEnd(tx2, true);
    expect(dom0.directory("/d")).toEqual(["c", "e", "f"]);
    dom0.write("/d/a", "");
    expect(dom0.directory("/d")).toEqual(["c", "e", "f", "a"]);
  });

  it("cost O(1) amortised names per removal, in any order, in or out of a transaction", () => {
    const count = 4000;
    const all = names(count);
    const inOrder = dom0WithChildren("/many", all);
    expect(namesVisitedBy(() => all.forEach((name) => inOrder.rm(`/many/${name}`)))).toBeLessThanOrEqual(4 * count);
    expect(inOrder.directory("/many")).toEqual([]);

    const reversed = dom0WithChildren("/many", all);
    const tx = reversed.transactionStart();
    const visited = namesVisitedBy(() => {
      for (const name of [...all].reverse()) reversed.rm(`/many/${name}`, tx);
      reversed.transactionEnd(tx, true);
    });
    expect(visited).toBeLessThanOrEqual(4 * count);
    expect(reversed.directory("/many")).toEqual([]);
  });

  it("cost a listing once per version: reading every DIRECTORY_PART part reads each name about once", () => {
    const count = 4000;
    const dom0 = dom0WithChildren("/many", names(count));
    expect(namesVisitedBy(() => readParts(dom0, "/many"))).toBeLessThanOrEqual(count);
    expect(namesVisitedBy(() => readParts(dom0, "/many"))).toBe(0);
  });
});
