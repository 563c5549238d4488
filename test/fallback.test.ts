// Where io_uring cannot watch children (missing, disabled by kernel.io_uring_disabled, a kernel
// before 6.7), a helper process per child does: forced with RSYSCALL_IO_URING=0, the suites about
// children's lives run again, in a separate Node process.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const dist = dirname(fileURLToPath(import.meta.url));

test("with io_uring turned off, children are watched by helpers, and the lifecycle, clone, process and fork suites pass", {
  timeout: 300_000,
}, () => {
  const files = ["lifecycle.test.js", "clone.test.js", "process.test.js", "fork.test.js"].map((f) => join(dist, f));
  const run = spawnSync(process.execPath, ["--expose-gc", "--test", "--test-reporter=tap", ...files], {
    cwd: join(dist, ".."),
    // Not as a child of this test runner (NODE_TEST_CONTEXT would make it report to us instead).
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, RSYSCALL_IO_URING: "0" },
    encoding: "utf8",
    timeout: 280_000,
  });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /# pass [1-9]/, "the suites ran");
});
