// The README's JavaScript runs as written: its code blocks, each in a separate Node process. The
// ssh example runs against the test harness's sshd (root only), its config path swapped in.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { harness, sshdSkip } from "./ssh-harness.js";
import { runNodeOk } from "./util.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
const sshBlock = blocks.find((b) => b.includes("SSHHost"));

test("the README tour runs as written, to its end", { timeout: 60_000 }, async () => {
  const tour = blocks.filter((b) => b !== sshBlock);
  assert.ok(tour.length > 0, "the README has JavaScript");
  const out = await runNodeOk(tour.join("\n"), 30_000);
  assert.match(out, /bound to port \d+/);
  assert.match(out, /^hi from pid 1$/m);
  assert.match(out, /^its memory, not ours$/m);
  assert.match(out, /^uid 0 on the other side$/m);
});

test("the README's ssh example runs as written, against a real sshd", { timeout: 60_000, skip: sshdSkip }, async () => {
  assert.ok(sshBlock, "the README has an ssh example");
  const { config } = harness(true, ["build-box", "next-hop"]);
  assert.ok(sshBlock.includes('"/path/to/ssh_config"'));
  const out = await runNodeOk(sshBlock.replace('"/path/to/ssh_config"', JSON.stringify(config)), 50_000);
  assert.match(out, /^remote: Linux \S+$/m);
  assert.match(out, /^two hops away: pid \d+$/m);
});
