// The rig (npm run xen) on real Xen 4.17 in QEMU: one boot runs every check.
// Where QEMU and Debian's packages cannot be had (no apt-get, not root) it
// skips with the reason; under CI=true that is a failure (test/support/peer.ts).
import { describe, expect, it } from "vitest";
import type { RigReport } from "../tools/xen/report.js";
import { type Prepared, prepareRig, runRig } from "../tools/xen/rig.js";
import { peer } from "./support/peer.js";

const prepared = peer("QEMU and Debian's Xen packages", () => prepareRig(() => {}));

/** Checks the Linux test guest runs: they prove the rig (dom0, xenstored, xenconsoled, both backends). */
const RIG_CHECKS = [
  "xen.info",
  "dom0.store",
  "linux.create",
  "linux.boot",
  "linux.blkback",
  "linux.qdisk",
  "linux.xvda.bytes",
  "linux.xvdb.bytes",
  "linux.shutdown",
  "linux.gone",
];

/** The unikernel's checks that its features today make pass (xvda.bytes waits for it to write a pattern). */
const UNIKERNEL_CHECKS = [
  "unikernel.create",
  "unikernel.greeting",
  "unikernel.store",
  "unikernel.blkback",
  "unikernel.qdisk",
  "unikernel.xvda.said",
  "unikernel.xvdb.said",
  "unikernel.shutdown",
  "unikernel.gone",
  "unikernel.closed",
  "unikernel.goodbye",
];

describe.skipIf(!prepared)("real Xen in QEMU", () => {
  let report: RigReport;

  it("boots Xen and dom0 and runs the scenario to its end in one QEMU run", { timeout: 10 * 60_000 }, async () => {
    const run = await runRig(prepared as Prepared, () => {});
    report = run.report;
    expect(report.problems, `serial log: ${run.serialLog}`).toEqual([]);
    expect(report.ended).toBe(true);
  });

  it("passes every check of the rig's own Linux guest", () => {
    const failed = report.checks.filter((check) => check.outcome === "fail").map((check) => `${check.id}: ${check.why}`);
    expect(failed).toEqual([]);
    for (const id of RIG_CHECKS) expect(report.outcomeOf(id), id).toBe("pass");
  });

  it("records each disk's XenBus states at both ends", () => {
    const states = Object.fromEntries(report.figures.map((figure) => [figure.name, figure.value]));
    expect(states.linux_xvda_frontend_states).toBe("1 3 4 5 6");
    expect(states.linux_xvda_backend_states).toBe("1 2 4 5 6");
  });

  it("runs the unikernel's checks when build/unikernel.wasm is built, and lists them as not run when it is not", () => {
    const unikernel = report.checks.filter((check) => check.id.startsWith("unikernel."));
    expect(unikernel.map((check) => check.id)).toEqual(expect.arrayContaining(UNIKERNEL_CHECKS));
    if ((prepared as Prepared).guests.includes("unikernel")) {
      for (const id of UNIKERNEL_CHECKS) expect(report.outcomeOf(id), id).toBe("pass");
    } else {
      for (const check of unikernel) expect(check.outcome, check.id).toBe("skip");
    }
  });
});
