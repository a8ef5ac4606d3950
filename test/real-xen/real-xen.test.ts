// The rig (npm run xen) on real Xen 4.17 in QEMU: one boot runs every check.
// Where QEMU and Debian's packages cannot be had (no apt-get, not root) it
// skips with the reason; under CI=true that is a failure (test/support/peer.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RigReport } from "../../tools/xen/report.js";
import { type Prepared, prepareRig, runRig } from "../../tools/xen/rig.js";
import { simulateChecks, simulateUnikernel } from "../../tools/xen/simulated.js";
import { peer } from "../support/peer.js";

const prepared = peer("QEMU and Debian's Xen packages", () => prepareRig(() => {}));

/**
 * Checks the Linux test guest runs: they prove the rig (dom0, xenstored,
 * xenconsoled, both block backends, Linux's netback and dom0's bridge).
 */
const RIG_CHECKS = [
  "xen.info",
  "dom0.store",
  "dom0.bridge",
  "linux.create",
  "linux.boot",
  "linux.blkback",
  "linux.qdisk",
  "linux.xvda.bytes",
  "linux.xvdb.bytes",
  "linux.vif",
  "linux.ping",
  "linux.pinged",
  "linux.shutdown",
  "linux.gone",
];

/** The unikernel's checks (the pattern written over its disks is checks.wasm's). */
const UNIKERNEL_CHECKS = [
  "unikernel.create",
  "unikernel.greeting",
  "unikernel.store",
  "unikernel.blkback",
  "unikernel.qdisk",
  "unikernel.xvda.said",
  "unikernel.xvdb.said",
  "unikernel.vif",
  "unikernel.vif.said",
  "unikernel.pinged",
  "unikernel.detach",
  "unikernel.attach",
  "unikernel.shutdown",
  "unikernel.gone",
  "unikernel.closed",
  "unikernel.goodbye",
];

/** What the self-checking unikernel must show: it finished, and dom0 found its pattern in both images. */
const SELF_CHECKS = [
  "checks.create",
  "checks.finished",
  "checks.xvda.bytes",
  "checks.xvdb.bytes",
  "checks.shutdown",
  "checks.gone",
];

/**
 * Our Wasm blkback as a driver domain: a Linux guest's blkfront writes, reads
 * back and reads our label through it, and dom0's cksum of what it wrote is
 * what the driver domain says its disk holds.
 */
const DRIVER_DOMAIN_CHECKS = [
  "blkback.create",
  "blkback.serving",
  "linux-dd.create",
  "linux-dd.boot",
  "linux-dd.connected",
  "blkback.said",
  "linux-dd.bytes",
  "linux-dd.label",
  "linux-dd.flush",
  "linux-dd.shutdown",
  "linux-dd.gone",
  "blkback.data",
  "linux-dd.closed",
  "blkback.shutdown",
  "blkback.gone",
  "blkback.goodbye",
];

/**
 * The rig's figures the simulated run is compared with, by the simulated
 * figure's name: the same name, except that the simulated xvda's backend
 * (our Wasm blkback) is compared with the real driver domain's (also ours),
 * not with Linux's xen-blkback.
 */
const COMPARED: Record<string, string> = {
  unikernel_xvda_frontend_nodes: "unikernel_xvda_frontend_nodes",
  unikernel_xvda_backend_nodes: "linux-dd_xvda_backend_nodes",
  unikernel_xvda_frontend_states: "unikernel_xvda_frontend_states",
  unikernel_xvda_backend_states: "unikernel_xvda_backend_states",
  unikernel_xvdb_frontend_states: "unikernel_xvdb_frontend_states",
  unikernel_xvdb_backend_states: "unikernel_xvdb_backend_states",
};

/**
 * Our Wasm netback as a network driver domain: Linux's netfront pings our
 * unikernel's netfront through it (and its bridge), on a network dom0 is not on.
 */
const NET_DRIVER_DOMAIN_CHECKS = [
  "netback.create",
  "netback.serving",
  "unikernel-dd.create",
  "unikernel-dd.vif",
  "unikernel-dd.said",
  "linux-net.create",
  "linux-net.boot",
  "linux-net.vif",
  "linux-net.ping",
  "netback.said",
  "linux-net.shutdown",
  "linux-net.gone",
  "unikernel-dd.shutdown",
  "unikernel-dd.gone",
  "linux-net.closed",
  "unikernel-dd.closed",
  "netback.shutdown",
  "netback.gone",
  "netback.goodbye",
];

/** Where the simulated run differs from the real one; each is explained in the README ("How the simulation behaves"). */
const KNOWN_DIFFERENCES: { what: string; real: string; simulated: string }[] = [
  {
    what: "checks console",
    real: "check xenstore.features: ok (server features 0x0)",
    simulated: "check xenstore.features: ok (server features 0xf)",
  },
];

/** A check's line with the domids in a backend path made neutral: the real rig's backend is dom0, the simulated one a driver domain. */
function neutralDomids(line: string): string {
  return line.replace(/\/local\/domain\/\d+\/backend\/vbd\/\d+\//g, "/local/domain/B/backend/vbd/F/");
}

describe.skipIf(!prepared)("real Xen in QEMU", () => {
  let report: RigReport;

  // One boot takes 3.5 to 6 minutes here; a triple fault boots once more (tools/xen/rig.ts), each boot cut off at 9.
  it("boots Xen and dom0 and runs the scenario to its end in one QEMU run", { timeout: 20 * 60_000 }, async () => {
    const run = await runRig(prepared as Prepared, (progress) => {
      if (progress.kind === "host") console.warn(progress.text);
    });
    report = run.report;
    expect(report.problems, `serial log: ${run.serialLog}`).toEqual([]);
    expect(report.ended).toBe(true);
  });

  it("passes every check of the rig's own Linux guest", () => {
    const failed = report.checks
      .filter((check) => check.outcome === "fail")
      .map((check) => `${check.id}: ${check.why}`);
    expect(failed).toEqual([]);
    for (const id of RIG_CHECKS) expect(report.outcomeOf(id), id).toBe("pass");
  });

  it("runs the self-checking unikernel: each of its own checks passes and dom0 finds its pattern", () => {
    if (!(prepared as Prepared).guests.includes("checks")) return;
    for (const id of SELF_CHECKS) expect(report.outcomeOf(id), id).toBe("pass");
    const own = report.checks.filter((check) => check.id.startsWith("checks.xenstore."));
    expect(own.length).toBeGreaterThan(5);
    for (const check of own) expect(check.outcome, `${check.id}: ${check.why}`).toBe("pass");
  });

  it("serves a Linux guest's disk from our Wasm blkback in a driver domain", () => {
    if (!(prepared as Prepared).guests.includes("blkback")) return;
    for (const id of DRIVER_DOMAIN_CHECKS) expect(report.outcomeOf(id), id).toBe("pass");
    const states = Object.fromEntries(report.figures.map((figure) => [figure.name, figure.value]));
    expect(states["linux-dd_xvda_frontend_states"]).toBe("1 3 4 5 6");
    expect(states["linux-dd_xvda_backend_states"]).toBe("1 2 4 5 6");
  });

  it("lets a Linux guest ping our unikernel through our Wasm netback in a driver domain", () => {
    if (!(prepared as Prepared).guests.includes("netback")) return;
    for (const id of NET_DRIVER_DOMAIN_CHECKS) expect(report.outcomeOf(id), id).toBe("pass");
  });

  it("and the same scenario on the simulated Xen differ only where the README says why", () => {
    const guests = (prepared as Prepared).guests;
    if (!guests.includes("unikernel") || !guests.includes("checks") || !guests.includes("blkback")) return;
    const real = new Map(report.figures.map((figure) => [figure.name, figure.value]));
    const differences: { what: string; real: string; simulated: string }[] = [];
    for (const figure of simulateUnikernel(readFileSync("build/unikernel.wasm"))) {
      const realValue = real.get(COMPARED[figure.name]!) ?? "(not recorded)";
      if (realValue !== figure.value) differences.push({ what: figure.name, real: realValue, simulated: figure.value });
    }
    const realLines = (report.consoles.get("checks") ?? [])
      .filter((line) => line.startsWith("check"))
      .map(neutralDomids);
    const simulatedLines = simulateChecks(readFileSync("build/checks.wasm")).map(neutralDomids);
    for (let i = 0; i < Math.max(realLines.length, simulatedLines.length); i++) {
      if (realLines[i] !== simulatedLines[i])
        differences.push({ what: "checks console", real: realLines[i] ?? "", simulated: simulatedLines[i] ?? "" });
    }
    expect(differences).toEqual(KNOWN_DIFFERENCES);
  });

  it("records each disk's XenBus states at both ends", () => {
    const states = Object.fromEntries(report.figures.map((figure) => [figure.name, figure.value]));
    expect(states.linux_xvda_frontend_states).toBe("1 3 4 5 6");
    expect(states.linux_xvda_backend_states).toBe("1 2 4 5 6");
    if (!(prepared as Prepared).guests.includes("unikernel")) return;
    // xvda was unplugged and plugged again: at the backend's Closing the unikernel
    // closes at once (4 -> 6, as Linux's blkfront does), then connects anew.
    expect(states.unikernel_xvda_frontend_states).toBe("1 3 4 6 1 3 4 5 6");
    expect(states.unikernel_xvda_backend_states).toBe("1 2 4 5 6 1 2 4 5 6");
    expect(states.unikernel_xvdb_frontend_states).toBe("1 3 4 5 6");
    expect(states.unikernel_xvdb_backend_states).toBe("1 2 4 5 6");
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

describe("reading the rig's serial line", () => {
  it("takes dom0's RIG lines, Xen's milestones and guests' own output, and counts a Triple fault as a problem", () => {
    const report = new RigReport();
    const events = [
      "(XEN) [000000009dcccad2] Xen version 4.17.5 (Debian 4.17.5+72-g01140da4e8-1)",
      "(XEN) [    3.095483] *** Building a PV Dom0 ***",
      "RIG 18.44 stage dom0 is up (Linux 6.1.0-57-amd64)",
      "RIG 27.08 pass xen.info xl info answers: Xen 4.17 with HAP",
      "RIG 30.00 fail linux.qdisk xvdb is Connected at both ends :: /local/domain/1/device/vbd/51728/state is 3",
      "RIG 31.00 skip unikernel.xvda.bytes dom0 reads back the bytes :: the unikernel writes no pattern yet",
      "RIG 32.00 figure linux_xvda_backend_states 1 2 4 5 6 :: (XenBus states, in order)",
      "RIG 33.00 log unikernel Hello from a Wasm unikernel on Xen: I am domain 2.",
      "(d2) [  237.953419] pvh: starting unikernel.wasm",
      "(XEN) [  238.611040] d2v0 Triple fault - invoking HVM shutdown action 1",
      "(d2) [  240.1] pvh: wasm trap: out of bounds memory access",
      "RIG 250.00 problem a guest's kernel panicked: guest-linux.log:[    4.1] Kernel panic - not syncing: Fatal exception",
      "an ordinary line of Linux's",
    ].map((line) => report.read(line));
    expect(events.map((event) => event?.kind)).toEqual([
      "stage",
      "stage",
      "stage",
      "check",
      "check",
      "check",
      "figure",
      undefined,
      "guest-output",
      "problem",
      "problem",
      "problem",
      undefined,
    ]);
    expect(report.checks).toEqual([
      { id: "xen.info", text: "xl info answers: Xen 4.17 with HAP", outcome: "pass" },
      {
        id: "linux.qdisk",
        text: "xvdb is Connected at both ends",
        outcome: "fail",
        why: "/local/domain/1/device/vbd/51728/state is 3",
      },
      {
        id: "unikernel.xvda.bytes",
        text: "dom0 reads back the bytes",
        outcome: "skip",
        why: "the unikernel writes no pattern yet",
      },
    ]);
    expect(report.figures).toEqual([
      { name: "linux_xvda_backend_states", value: "1 2 4 5 6", unit: "(XenBus states, in order)" },
    ]);
    expect(report.consoles.get("unikernel")).toEqual(["Hello from a Wasm unikernel on Xen: I am domain 2."]);
    expect(report.problems).toHaveLength(3);
    expect(report.problems[2]).toMatch(/^a guest's kernel panicked: guest-linux.log:.*Kernel panic/);
    expect(report.ended).toBe(false);
    expect(report.ok).toBe(false);
  });

  it("is ok only once the scenario ended with checks passed, none failed and no problem", () => {
    const report = new RigReport();
    report.read("RIG 27.08 pass xen.info xl info answers");
    expect(report.ok).toBe(false);
    report.read("RIG 99.00 end");
    expect(report.ended).toBe(true);
    expect(report.ok).toBe(true);
    report.read("RIG 99.10 fail late.check something :: broke");
    expect(report.ok).toBe(false);
  });
});
