// The code in README.md and docs/*.md runs as written. Each file's ```js blocks run in order in one
// Node process; a ```js ssh block runs against the test harness's sshd with its config path put
// in; a ```sh block must be commands .ci/run runs. A block of any other kind fails the test.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { harness, packageRoot, sshdSkip } from "./ssh-harness.js";
import { runNodeOk } from "./util.js";

interface Block {
  kind: string;
  code: string;
}

function blocksOf(file: string): Block[] {
  const text = readFileSync(join(packageRoot, file), "utf8");
  return [...text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ kind: m[1]!.trim(), code: m[2]! }));
}

/** What each file's JavaScript must print, beyond running to its end. */
const expected: Record<string, { js: RegExp[]; ssh?: RegExp[] }> = {
  "README.md": {
    js: [/bound to port \d+/, /^hi from pid 1$/m, /^its memory, not ours$/m, /^uid 0 on the other side$/m],
    ssh: [/^remote: Linux \S+$/m, /^two hops away: pid \d+$/m],
  },
  "docs/guide.md": {
    js: [
      /^Node is pid \d+$/m,
      /^our stat line starts "\d+ \(node\) /m,
      /^through a pipe$/m,
      /^a pipe is a FIFO: true$/m,
      /^child at fd 5$/m,
      /^hello from \/$/m,
      /^exit code 3, stderr "oops\\n"$/m,
      /^uid 0 on box$/m,
      /^its pid in its namespace: 1$/m,
      /^got ping$/m,
      /^in the fork's memory$/m,
      /^uid 0 in the process unshare made$/m,
      /^true ENOENT openat \/no\/such\/file$/m,
    ],
    ssh: [/^remote exit code 7$/m],
  },
};

const files = [
  "README.md",
  ...readdirSync(join(packageRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

test("every code block is of a kind this test runs, and each file with code has expectations", () => {
  for (const file of files) {
    const blocks = blocksOf(file);
    for (const b of blocks) assert.ok(["js", "js ssh", "sh"].includes(b.kind), `${file}: a \`\`\`${b.kind} block`);
    if (blocks.some((b) => b.kind.startsWith("js")))
      assert.ok(expected[file], `${file} has JavaScript: say what it prints`);
  }
});

test("README's shell commands are the ones CI runs", () => {
  const ci = readFileSync(join(packageRoot, ".ci", "run"), "utf8");
  for (const file of files)
    for (const b of blocksOf(file).filter((x) => x.kind === "sh"))
      for (const line of b.code
        .split("\n")
        .map((l) => l.replace(/#.*/, "").trim())
        .filter(Boolean))
        assert.match(
          ci,
          new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"),
          `${file}: \`${line}\` is not in .ci/run`,
        );
});

for (const file of files) {
  const js = blocksOf(file).filter((b) => b.kind === "js");
  const ssh = blocksOf(file).filter((b) => b.kind === "js ssh");
  if (js.length > 0) {
    test(`${file}: its JavaScript runs as written, to its end`, { timeout: 90_000 }, async () => {
      const out = await runNodeOk(js.map((b) => b.code).join("\n"), 60_000);
      for (const want of expected[file]?.js ?? []) assert.match(out, want);
    });
  }
  for (const [i, block] of ssh.entries()) {
    test(`${file}: its ssh example ${i + 1} runs against a real sshd`, {
      timeout: 90_000,
      skip: sshdSkip,
    }, async () => {
      const { config } = harness(true, ["build-box", "next-hop"]);
      assert.ok(block.code.includes('"/path/to/ssh_config"'), "the placeholder for the config path");
      const out = await runNodeOk(block.code.replaceAll('"/path/to/ssh_config"', JSON.stringify(config)), 60_000);
      for (const want of expected[file]?.ssh ?? []) assert.match(out, want);
    });
  }
}
