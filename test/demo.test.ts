// The demo runs, as `rsyscall demo`, and shows what it claims.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

test("rsyscall demo", { timeout: 30_000 }, () => {
  const out = execFileSync(process.execPath, [join(root, "bin", "rsyscall.mjs"), "demo"], { encoding: "utf8" });
  // The maps written for the child map our uid to itself: 0 inside only for root.
  const uid = process.getuid!();
  assert.match(out, new RegExp(`inside it, getpid\\(\\) = 1 and getuid\\(\\) = ${uid}`));
  assert.match(out, new RegExp(`read from fd 5, asynchronously: pid 1, uid ${uid}, network: lo$`, "m"));
  assert.match(out, /exited with status 0/);
});

test("rsyscall demo net", { timeout: 30_000 }, () => {
  const out = execFileSync(process.execPath, [join(root, "bin", "rsyscall.mjs"), "demo", "net"], { encoding: "utf8" });
  assert.match(out, /the first namespace: lo, left0 \(veth\) 10\.200\.0\.1\/24/);
  assert.match(out, /the second namespace: lo 127\.0\.0\.1\/8 10\.201\.0\.1\/32, right0 \(veth\) 10\.200\.0\.2\/24/);
  assert.match(out, /which read: hello over the veth$/m);
});
