// The README's JavaScript runs as written: its code blocks, in a separate Node process.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runNodeOk } from "./util.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

test("the README tour runs as written, to its end", { timeout: 60_000 }, async () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 0, "the README has JavaScript");
  const out = await runNodeOk(blocks.join("\n"), 30_000);
  assert.match(out, /bound to port \d+/);
  assert.match(out, /^hi from pid 1$/m);
  assert.match(out, /^its memory, not ours$/m);
  assert.match(out, /^uid 0 on the other side$/m);
});
