// The same scenarios under every engine against V8, each on a fresh simulated
// hypervisor, must make the same calls and hypercalls with the same arguments
// and results and leave the same guest memory at every crossing; when they do
// not, the report names the first difference. That the report is right is
// checked by injecting differences into a V8 run.
import { describe, expect, test } from "vitest";
import { startXenstore } from "../../host/dom0/toolstack.js";
import { Hypervisor } from "../../host/xen/hypervisor.js";
import { BlkBack, BlkFront } from "../../runtime/blk.js";
import type { Engine, EngineInstance, HostFunction } from "../../runtime/engine.js";
import { v8Engine } from "../../runtime/v8.js";
import { xenstore } from "../../runtime/xenstore.js";
import { pattern } from "../support/blk.js";
import { firstDivergence } from "../support/divergence.js";
import { type Step, type Trace, traceRun } from "../support/engine-trace.js";
import { engines } from "../support/engines.js";
import { bootXenbus } from "../support/xenbus.js";

/** Two guests use XenStore: reads and writes, a transaction, a listing, and watch events from dom0's writes. */
function xenstoreScenario(engine: Engine): void {
  const hv = new Hypervisor();
  const dom0 = startXenstore(hv).tools;
  const [alpha, beta] = ["alpha", "beta"].map((name) => bootXenbus(hv, name, engine));
  const [a, b] = [alpha!, beta!].map((guest) => xenstore(guest));
  a!.write("data/greeting", "hello");
  b!.watch("data/w", "tok");
  const tx = a!.transactionStart();
  a!.write("data/counter", String(a!.directory("data").length), tx);
  a!.transactionEnd(tx, true);
  for (let i = 0; i < 3; i++) dom0.write(`/local/domain/${beta!.domid}/data/w/${i}`, a!.read("data/counter") + i);
  hv.runUntilIdle();
  if (b!.takeEvents().length !== 4) throw new Error("beta saw the wrong number of watch events");
  b!.unwatch("data/w", "tok");
}

/** A block backend guest serves a disk to a frontend guest: the vbd is plugged, written, read back and flushed. */
function blockScenario(engine: Engine): void {
  const hv = new Hypervisor();
  const service = startXenstore(hv);
  const [backDomain, frontDomain] = ["blkback", "blkfront"].map((name) => bootXenbus(hv, name, engine));
  for (const guest of [backDomain!, frontDomain!]) xenstore(guest);
  const back = new BlkBack(backDomain!).start(2);
  const front = new BlkFront(frontDomain!).start();
  const disk = back.createDisk(256, { flush: true });
  service.devices.add({
    type: "vbd",
    devid: 51712,
    frontend: frontDomain!.domid,
    backend: backDomain!.domid,
    backendParams: disk.params,
  });
  front.open(51712);
  const data = pattern(6 * 4096, 1);
  front.write(51712, 16, data);
  if (Buffer.compare(front.read(51712, 16, data.length / 512), data) !== 0)
    throw new Error("the disk read back something else");
  front.flush(51712);
  front.close(51712);
}

const scenarios = [
  { name: "XenStore with watch events", run: xenstoreScenario },
  { name: "a block device plugged, with I/O", run: blockScenario },
];

describe.each(engines.filter(({ name }) => name !== "v8"))("$name against v8", ({ engine }) => {
  test.each(scenarios)("$name: the same calls, hypercalls and memory", ({ run }) => {
    const reference = traceRun(v8Engine, run);
    expect(reference.error).toBeUndefined();
    expect(firstDivergence(reference, traceRun(engine, run))).toBeNull();
  });
});

describe("the divergence report", () => {
  const reference = traceRun(v8Engine, xenstoreScenario);
  const betaHypercalls = reference.steps.filter((step) => step.guest === "beta" && step.kind === "hypercall");
  /** Beta's hypercall halfway through its run (counted from 0) is where differences are injected. */
  const NTH = Math.floor(betaHypercalls.length / 2);
  const target = betaHypercalls[NTH]!;
  const call = (step: Step, args = step.args) => `${step.name}(${args.join(", ")})`;

  test("the scenario is deterministic under one engine, and its trace holds both guests' calls, hypercalls, upcalls and memory", () => {
    expect(reference.error).toBeUndefined();
    expect(firstDivergence(reference, traceRun(v8Engine, xenstoreScenario))).toBeNull();
    const seen = new Set(reference.steps.map((step) => `${step.guest} ${step.kind}`));
    expect([...seen].sort()).toEqual(["alpha call", "alpha hypercall", "beta call", "beta hypercall"]);
    expect(reference.steps.some((step) => step.guest === "beta" && step.name === "xen_upcall")).toBe(true);
    expect(reference.crossings.filter((crossing) => crossing.memory.pages.size > 0).length).toBeGreaterThan(
      reference.crossings.length / 4,
    );
  });

  test.each(engines)(
    "a memory word changed under $name before a hypercall is named with its address and both values",
    ({ engine }) => {
      let address = 0;
      let original = 0;
      const changed = perturbed(engine, "beta", NTH, (memory) => {
        address = memory.byteLength - 64;
        const view = new DataView(memory.buffer);
        original = view.getUint32(address, true);
        view.setUint32(address, original ^ 0x00010000, true);
      });
      const report = firstDivergence(reference, traceRun(changed, xenstoreScenario));
      const hex = (value: number) => `0x${value.toString(16).padStart(8, "0")}`;
      expect(report).toBe(
        `before hypercall #${target.number} (${target.name}), guest "beta" memory word at 0x${address.toString(16)} differs: ` +
          `v8 ${hex(original)} vs ${changed.name} ${hex((original ^ 0x00010000) >>> 0)}`,
      );
    },
  );

  test("a changed hypercall argument is named with the hypercall's number, both calls and both results", () => {
    const changed = perturbed(v8Engine, "beta", NTH, (_, args) => void (args[0]! += 1));
    const report = firstDivergence(reference, traceRun(changed, xenstoreScenario));
    const args = target.args.map((arg, i) => (i === 0 ? String(Number(arg) + 1) : arg));
    expect(report).toMatch(
      new RegExp(
        `^hypercall #${target.number} \\(${target.name}\\) of guest "beta" differs: ` +
          `v8 ${escapeText(call(target))} ${escapeText(target.outcome!)} vs v8 \\(perturbed\\) ${escapeText(call(target, args))} (= -?\\d+|threw .*)$`,
      ),
    );
  });

  test("a run that ends early, or ends with an error, is reported as such", () => {
    const cut = 100;
    const last = reference.crossings[cut - 1]!.step;
    const next = reference.crossings[cut]!.step;
    const shorter: Trace = { ...reference, engine: "short", crossings: reference.crossings.slice(0, cut) };
    expect(firstDivergence(reference, shorter)).toBe(
      `short ends after ${last.kind} #${last.number} (${last.name}) of guest "${last.guest}" ${reference.crossings[cut - 1]!.phase === "start" ? "starts" : "ends"}, ` +
        `v8 goes on: ${next.kind} #${next.number} (${next.name}) of guest "${next.guest}" ${reference.crossings[cut]!.phase === "start" ? "starts" : "ends"}, ` +
        `${call(next)} ${next.outcome}`,
    );
    const failed: Trace = { ...reference, engine: "failed", error: "Error: boom" };
    expect(firstDivergence(reference, failed)).toBe(
      "the scenario ends differently: v8 completes vs failed throws Error: boom",
    );
  });
});

/** `engine`, except that guest `guest`'s hypercall number `nth` (from 0) first goes through `perturb`, which may change its memory or arguments. */
function perturbed(
  engine: Engine,
  guest: string,
  nth: number,
  perturb: (memory: Uint8Array, args: number[]) => void,
): Engine {
  return {
    name: `${engine.name} (perturbed)`,
    instantiate(wasm, imports, name) {
      if (name !== guest) return engine.instantiate(wasm, imports, name);
      let instance: EngineInstance | null = null;
      let count = 0;
      const xen = Object.fromEntries(
        Object.entries(imports.xen).map(([fn, hypercall]): [string, HostFunction] => [
          fn,
          (...args) => {
            if (count++ === nth) perturb(instance!.memoryBytes(), args);
            return hypercall(...args);
          },
        ]),
      );
      instance = engine.instantiate(wasm, { xen }, name);
      return instance;
    },
  };
}

function escapeText(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
