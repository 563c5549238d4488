// Threads in other address spaces under faults and misuse, as a prober found them: parents that
// go first, reads that fail midway, windows left mapped, links remade, handles dropped, callers
// that die. Each runs in a separate Node process where a crash or a hang could happen.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { describe, test } from "node:test";
import { runNodeOk, scratchDir } from "./util.js";

const COMMON = `
import fs from "node:fs";
import { localThread as thr, Command } from "rsyscall";
import { stdinBootstrap } from "rsyscall/tasks/stdin-bootstrap";
const plain = () => new Command("/bin/sh", ["sh", "-c", 'exec "$@"', "sh"], {});
const fdCount = () => fs.readdirSync("/proc/self/fd").length;
const windows = () => fs.readFileSync("/proc/self/maps", "utf8").split("\\n").filter((l) => l.includes("memfd:rsyscall-window")).length;
const childPids = () => fs.readFileSync("/proc/self/task/" + process.pid + "/children", "utf8").trim().split(" ").filter(Boolean);
const settle = async (what, ok) => {
  for (let i = 0; i < 500; i++) { if (ok()) return; global.gc?.(); thr.task.collectGarbage(); await new Promise((r) => setTimeout(r, 20)); }
  throw new Error("never settled: " + what + " " + JSON.stringify({ fds: fdCount(), windows: windows(), kids: childPids() }));
};
`;

describe("other address spaces under faults", { timeout: 120_000 }, () => {
  test("a bootstrapped thread whose parent thread goes first: no unhandled rejection, no hang", async () => {
    const out = await runNodeOk(`${COMMON}
      const [, parent] = await stdinBootstrap(thr, plain());
      const [proc, t] = await stdinBootstrap(parent, plain());
      await parent.exit(0);
      // Its command was the parent's child, killed with it (parent-death signal).
      console.log(await t.exit(0).then(() => "exited", (e) => e.name));
      await new Promise((r) => setTimeout(r, 300));
      const forked = await thr.fork();
      const [, g] = await stdinBootstrap(forked, plain());
      await forked.exit(0);
      await new Promise((r) => setTimeout(r, 300));
      console.log("still running");
    `);
    assert.match(out, /still running/);
  });

  test("a read of the program that fails midway rejects at once, and leaves no file", async () => {
    const tmp = scratchDir();
    const out = await runNodeOk(`${COMMON}
      const limited = new Command("/bin/sh", ["sh", "-c", 'ulimit -f 8; exec "$@"', "sh"], {}).env({ TMPDIR: ${JSON.stringify(tmp)} });
      console.log(await stdinBootstrap(thr, limited).then(() => "resolved", (e) => e.message));
    `);
    assert.match(out, /reading the server program from stdin failed/);
    assert.deepEqual(readdirSync(tmp), []);
  });

  test("windows go when a bootstrapped thread exits; its memory is refused after", async () => {
    const out = await runNodeOk(`${COMMON}
      for (let i = 0; i < 5; i++) {
        const [proc, t] = await stdinBootstrap(thr, plain());
        const p = await t.ptr(Buffer.alloc(3 << 20, 1));
        if (windows() < 1) throw new Error("no window while it lives");
        await t.exit(0);
        await proc.waitpid(4);
        if (i === 0) console.log(await p.read().then(() => "read", (e) => "refused"));
      }
      await settle("windows unmapped", () => windows() === 0);
      console.log("windows", windows());
    `);
    assert.deepEqual(out.trim().split("\n"), ["refused", "windows 0"]);
  });

  test("forks dropped without exit are killed, their fds, windows and helpers with them", async () => {
    const out = await runNodeOk(`${COMMON}
      const base = { fds: fdCount(), kids: childPids().length };
      const pids = await (async () => {
        const made = [];
        for (let i = 0; i < 5; i++) { const f = await thr.fork(); await f.ptr("x"); made.push(f.task.pid); }
        return made;
      })();
      await settle("forks killed and reaped", () => pids.every((pid) => !fs.existsSync("/proc/" + pid)));
      await settle("windows unmapped", () => windows() === 0);
      await settle("fds back", () => fdCount() <= base.fds + 2);
      console.log("ok");
    `);
    assert.equal(out.trim(), "ok");
  });

  test("stub callers that die before accept leave nothing behind", async () => {
    const dir = scratchDir();
    const out = await runNodeOk(`${COMMON}
      import { spawn } from "node:child_process";
      import { StubServer } from "rsyscall/tasks/stub";
      const stub = await StubServer.make(thr, ${JSON.stringify(dir)}, "tool");
      const base = fdCount();
      for (let i = 0; i < 5; i++) {
        const c = spawn(stub.path, ["dead"], { stdio: "ignore" });
        await new Promise((r) => setTimeout(r, 50));
        c.kill("SIGKILL");
      }
      // A caller that connects and never says hello is passed over after a while.
      const silent = spawn(process.execPath, ["-e", "require('node:net').connect(" + JSON.stringify(stub.socketDir + "/sock") + "); setTimeout(() => {}, 60000)"], { stdio: "ignore" });
      await new Promise((r) => setTimeout(r, 200));
      spawn(stub.path, ["live"], { stdio: "ignore" });
      const [argv, t] = await stub.accept();
      await t.exit(0);
      silent.kill();
      await stub.close();
      await settle("fds back", () => fdCount() <= base);
      console.log(argv.join(" "));
    `);
    assert.equal(out.trim(), "live");
  });
});
