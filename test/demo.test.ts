// `npm start` is the first thing a newcomer runs: it must finish, and its
// summary must report exactly the work it did.
import { execFileSync } from "node:child_process";
import { expect, test } from "vitest";

test("the demo exchanges every event, shares a page both ways and says so", () => {
  const output = execFileSync("node_modules/.bin/tsx", ["host/demo.ts", "--round-trips", "40"], { encoding: "utf8" });
  expect(output).toMatch(/events +40 sent by dom1, 40 handled by dom0, 40 answers delivered to dom1/);
  expect(output).toContain('read "hello dom0, this is dom1"');
  expect(output).toContain('its page now reads "hello dom1, dom0 here"');
  expect(output).toContain("end_access while dom0 still maps it: EBUSY");
  expect(output).toMatch(/result +everything checked out/);
});

test("the demo refuses a nonsensical option value", () => {
  expect(() => execFileSync("node_modules/.bin/tsx", ["host/demo.ts", "--round-trips", "zero"], { stdio: "pipe" })).toThrow(/positive integer/);
});
