// The README's code is examples/: each TypeScript or JavaScript block in the
// README is exactly one file of examples/ and each file is shown once (the
// demo, in examples/demo/, is a program of its own and not shown), so what
// the README shows is what test/clients/package.test.ts compiles and runs against the
// packed package.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repo = fileURLToPath(new URL("../..", import.meta.url));

/** The text of each ```ts or ```js block of `markdown`, with its final newline. */
function codeBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```(?:ts|js)\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

describe("the README's examples", () => {
  const blocks = codeBlocks(readFileSync(join(repo, "README.md"), "utf8"));
  const files = readdirSync(join(repo, "examples"), { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort();

  it("shows each file of examples/ once, as it is", () => {
    for (const file of files) {
      const text = readFileSync(join(repo, "examples", file), "utf8");
      expect(
        blocks.filter((block) => block === text),
        `examples/${file} in the README`,
      ).toHaveLength(1);
    }
  });

  it("shows no code that is not in examples/", () => {
    const texts = files.map((file) => readFileSync(join(repo, "examples", file), "utf8"));
    expect(blocks.filter((block) => !texts.includes(block))).toEqual([]);
  });
});
