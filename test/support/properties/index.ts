// Every fuzz target, by interface: what `npm run fuzz` and the bench's
// fuzz_cases_per_s_* lanes run. The property modules read the built .wasm
// files as they load, so each is imported only when its target runs, after
// FUZZ_MODULES are built.
import type fc from "fast-check";
import type { TargetName } from "../../../tools/build.js";
import type { FuzzTarget } from "./target.js";

/** The build targets (tools/build.ts) the properties load. */
export const FUZZ_MODULES: TargetName[] = ["xenbus", "harness", "blkback", "xenstore-client"];

/** Guests run in V8 here; the vitest suites run the same properties under each engine. */
const v8 = async () => (await import("../../../runtime/v8.js")).v8Engine;

const target = (name: string, load: () => Promise<() => fc.IProperty<unknown>>): FuzzTarget => ({ name, load });

export const FUZZ_TARGETS: FuzzTarget[] = [
  target("ring.hostile-xenstored", async () => {
    const [{ hostileXenstoreRingProperty }, engine] = await Promise.all([import("./xenstore-ring.js"), v8()]);
    return () => hostileXenstoreRingProperty(engine);
  }),
  target("hypervisor.hypercalls", async () => {
    const [{ hypercallsProperty }, engine] = await Promise.all([import("./hypervisor.js"), v8()]);
    return () => hypercallsProperty(engine);
  }),
  target("evtchn-gnttab.sequences", async () => {
    const [{ evtchnGnttabProperty }, engine] = await Promise.all([import("./evtchn-gnttab.js"), v8()]);
    return () => evtchnGnttabProperty(engine);
  }),
  target("xenstored.decoder", async () => (await import("./xenstored.js")).decoderProperty),
  target("xenstored.round-trip", async () => (await import("./xenstored.js")).roundTripProperty),
  target("xenstored.hostile-domain", async () => (await import("./xenstored.js")).hostileDomainProperty),
  target("xenstored.byte-streams", async () => (await import("./xenstored.js")).byteStreamsProperty),
  target("xenstored.memory", async () => (await import("./xenstored.js")).memoryAccountingProperty),
  target("blkfront.garbage", async () => {
    const [{ blkfrontGarbageProperty }, engine] = await Promise.all([import("./blk.js"), v8()]);
    return () => blkfrontGarbageProperty(engine);
  }),
  target("blkback.garbage", async () => {
    const [{ blkbackGarbageProperty }, engine] = await Promise.all([import("./blk.js"), v8()]);
    return () => blkbackGarbageProperty(engine);
  }),
  target("component.hostile-xenstored", async () => (await import("./component-hostile.js")).hostileXenstoreProperty),
  target("component.reference-dom0", async () => {
    const { referenceProperty } = await import("./component-reference.js");
    return () => referenceProperty(0);
  }),
  target("component.reference-guest", async () => {
    const { GUEST, referenceProperty } = await import("./component-reference.js");
    return () => referenceProperty(GUEST);
  }),
];
