// Properties of the simulated xenstored under hostile input: the decoder and
// the server never throw, and a hostile domain never reaches another's data.
// The properties live in test/support/properties/xenstored.ts, shared with
// `npm run fuzz`; here they run CI's short counts.
import fc from "fast-check";
import { describe, it } from "vitest";
import {
  byteStreamsProperty,
  decoderProperty,
  hostileDomainProperty,
  memoryAccountingProperty,
  roundTripProperty,
} from "../support/properties/xenstored.js";

describe("MessageDecoder", () => {
  it("never throws, and the messages do not depend on how bytes are chunked", () => {
    fc.assert(decoderProperty());
  });

  it("round-trips any sequence of valid messages", () => {
    fc.assert(roundTripProperty(), { numRuns: 50 });
  });
});

describe("xenstored facing a hostile domain", () => {
  it("never throws, and never changes or reveals another domain's data", () => {
    fc.assert(hostileDomainProperty(), { numRuns: 300 });
  });

  it("survives arbitrary byte streams; each connection's damage is its own", () => {
    fc.assert(byteStreamsProperty(), { numRuns: 200 });
  });
});

describe("xenstored's memory accounting", () => {
  it("matches a recount after every request, and a request refused with ENOMEM changes nothing", () => {
    fc.assert(memoryAccountingProperty(), { numRuns: 150 });
  });
});
