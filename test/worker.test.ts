// The addon in worker threads: each Node environment has its own argument block, so syscalls from
// the main thread and a worker at the same time never mix their arguments.
import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { localThread as thr } from "rsyscall";

test("a worker and the main thread make syscalls at the same time without mixing them", {
  timeout: 60_000,
}, async () => {
  const worker = new Worker(
    `import("rsyscall").then(async ({ localThread: t }) => {
      const { parentPort } = await import("node:worker_threads");
      const uid = process.getuid();
      let wrong = 0;
      parentPort.postMessage("ready");
      for (let i = 0; i < 200000; i++) if ((await t.task.getuid()) !== uid) wrong++;
      parentPort.postMessage(wrong);
    })`,
    { eval: true },
  );
  const [ready] = await once(worker, "message");
  assert.equal(ready, "ready");
  const done = once(worker, "message");
  let wrong = 0;
  let calls = 0;
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished || calls < 1000) {
    for (let i = 0; i < 1000; i++) if ((await thr.task.getpid()) !== process.pid) wrong++;
    calls += 1000;
    await new Promise((r) => setImmediate(r));
  }
  const [workerWrong] = await done;
  assert.equal(wrong, 0, `main thread: ${wrong} of ${calls} getpid calls returned something else`);
  assert.equal(workerWrong, 0, "worker: getuid returned something else");
  await worker.terminate();
});
