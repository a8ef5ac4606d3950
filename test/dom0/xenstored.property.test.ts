// Properties of the simulated xenstored under hostile input: the decoder and
// the server never throw, and a hostile domain never reaches another's data.
// The properties live in test/support/properties/xenstored.ts, shared with
// `npm run fuzz`; here they run CI's short counts.
import fc from "fast-check";
import { describe, it } from "vitest";
import { xenstoredTargets } from "../support/properties/xenstored.js";

function target(name: string) {
  return xenstoredTargets.find((candidate) => candidate.name === name)!.property();
}

describe("MessageDecoder", () => {
  it("never throws, and the messages do not depend on how bytes are chunked", () => {
    fc.assert(target("xenstored.decoder"));
  });

  it("round-trips any sequence of valid messages", () => {
    fc.assert(target("xenstored.round-trip"), { numRuns: 50 });
  });
});

describe("xenstored facing a hostile domain", () => {
  it("never throws, and never changes or reveals another domain's data", () => {
    fc.assert(target("xenstored.hostile-domain"), { numRuns: 300 });
  });

  it("survives arbitrary byte streams; each connection's damage is its own", () => {
    fc.assert(target("xenstored.byte-streams"), { numRuns: 200 });
  });
});

describe("xenstored's memory accounting", () => {
  it("matches a recount after every request, and a request refused with ENOMEM changes nothing", () => {
    fc.assert(target("xenstored.memory"), { numRuns: 150 });
  });
});
