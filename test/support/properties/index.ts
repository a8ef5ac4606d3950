// Every fuzz target, by interface: what `npm run fuzz` and the bench's
// fuzz_cases_per_s_* lanes run. The property modules read the built .wasm
// files as they load, so each is imported only when its target runs, after
// FUZZ_MODULES are built.
import type fc from "fast-check";
import type { Engine } from "../../../runtime/engine.js";
import type { TargetName } from "../../../tools/build.js";
import type { FuzzTarget } from "./target.js";

/** The build targets (tools/build.ts) the properties load. */
export const FUZZ_MODULES: TargetName[] = ["xenbus", "harness", "blkback", "xenstore-client"];

type Property = () => fc.IProperty<unknown>;

/** A target whose property is `key` of a module loaded on first use. */
const target = <K extends string>(name: string, module: () => Promise<Record<K, Property>>, key: K): FuzzTarget => ({
  name,
  load: async () => (await module())[key],
});

/** A target whose property, `key` of its module, is one of guests: run in V8 here (the vitest suites run each engine). */
const inV8 = <K extends string>(
  name: string,
  module: () => Promise<Record<K, (engine: Engine) => fc.IProperty<unknown>>>,
  key: K,
): FuzzTarget => ({
  name,
  load: async () => {
    const [property, { v8Engine }] = await Promise.all([
      module().then((loaded) => loaded[key]),
      import("../../../runtime/v8.js"),
    ]);
    return () => property(v8Engine);
  },
});

const xenstored = () => import("./xenstored.js");
const blk = () => import("./blk.js");

export const FUZZ_TARGETS: FuzzTarget[] = [
  inV8("ring.hostile-xenstored", () => import("./xenstore-ring.js"), "hostileXenstoreRingProperty"),
  inV8("hypervisor.hypercalls", () => import("./hypervisor.js"), "hypercallsProperty"),
  inV8("evtchn-gnttab.sequences", () => import("./evtchn-gnttab.js"), "evtchnGnttabProperty"),
  target("xenstored.decoder", xenstored, "decoderProperty"),
  target("xenstored.round-trip", xenstored, "roundTripProperty"),
  target("xenstored.hostile-domain", xenstored, "hostileDomainProperty"),
  target("xenstored.byte-streams", xenstored, "byteStreamsProperty"),
  target("xenstored.memory", xenstored, "memoryAccountingProperty"),
  inV8("blkfront.garbage", blk, "blkfrontGarbageProperty"),
  inV8("blkback.garbage", blk, "blkbackGarbageProperty"),
  target("component.hostile-xenstored", () => import("./component-hostile.js"), "hostileXenstoreProperty"),
  target("component.reference-dom0", () => import("./component-reference.js"), "referenceDom0Property"),
  target("component.reference-guest", () => import("./component-reference.js"), "referenceGuestProperty"),
];
