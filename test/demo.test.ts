// `npm start` is the first thing a newcomer runs: it must finish, and its
// summary must report exactly the work it did.
import { execFileSync } from "node:child_process";
import { expect, test } from "vitest";

const demo = (...args: string[]): string => execFileSync("node_modules/.bin/tsx", ["host/demo.ts", ...args], { encoding: "utf8", stdio: "pipe" });

test("the demo boots the backend domain and the guests, each greeting dom0 through its PV console", () => {
  const output = demo("--guests", "2");
  for (const [domid, name] of [[1, "blkback"], [2, "guest1"], [3, "guest2"]]) {
    expect(output).toContain(`dom${domid}     console: hello dom0, this is ${name} (dom${domid})`);
  }
  expect(output).toMatch(/consoles +3 of 3 greetings reached dom0's console backends/);
  expect(output).toMatch(/result +everything checked out/);
});

test("the demo prints only its summary at --trace summary", () => {
  const output = demo("--trace", "summary");
  expect(output).not.toContain("console: hello");
  expect(output.trim().startsWith("Summary")).toBe(true);
  expect(output).toMatch(/result +everything checked out/);
});

test("the demo explains its options and refuses nonsensical values", () => {
  expect(demo("--help")).toMatch(/--guests N[\s\S]*--trace LEVEL/);
  expect(() => demo("--guests", "zero")).toThrow(/--guests wants a whole number/);
  expect(() => demo("--trace", "loud")).toThrow(/--trace wants one of summary, steps, states/);
});
