// The harness compiled by wasm2c and gcc (bench/harness-wasm2c.ts), as the PVH
// host runs module code, against the same module in V8: the ring workloads
// count the same operations and leave the same bytes in their ring pages.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { loadHarness } from "../../bench/harness.js";
import { harnessWasm2c } from "../../bench/harness-wasm2c.js";
import { peer } from "../support/peer.js";

const binary = peer("Debian trixie's wasm2c and gcc", harnessWasm2c);

/** FNV-1a over bytes, as harness_wasm2c.c digests its scratch pages. */
function fnv1a(bytes: Uint8Array): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return hash.toString(16).padStart(16, "0");
}

const WORKLOADS = { blkif_ring_roundtrip: "bench_blkif_roundtrip", xenstore_ring_msg: "bench_xenstore_msg" };

describe.skipIf(!binary)("the harness compiled by wasm2c", () => {
  for (const [workload, exportName] of Object.entries(WORKLOADS)) {
    for (const iterations of [1, 31, 1000]) {
      it(`${workload} × ${iterations}: the same count and ring pages as in V8`, () => {
        const [ops, digest] = execFileSync(binary!, [workload, String(iterations)], { encoding: "utf8" })
          .trim()
          .split(" ");
        const { harness, scratch, scratchBytes } = loadHarness();
        const v8Ops = harness[exportName]!(iterations) >>> 0;
        expect(v8Ops).toBeGreaterThan(0);
        expect(Number(ops)).toBe(v8Ops);
        expect(digest).toBe(fnv1a(new Uint8Array(harness.memory.buffer, scratch, scratchBytes)));
      });
    }
  }

  it("refuses an unknown workload with exit status 2", () => {
    expect(() => execFileSync(binary!, ["ring_of_fire"], { stdio: "pipe" })).toThrow(
      expect.objectContaining({ status: 2 }),
    );
  });
});
