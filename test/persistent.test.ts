// Persistent threads: a server process that outlives the Node process that made it, reattached
// to from another Node process, and refusing whoever else connects.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { SyscallHangupError, SyscallSendError, localThread as thr } from "rsyscall";
import { SYS } from "rsyscall/sys/syscall";
import { W } from "rsyscall/sys/wait";
import { clonePersistent } from "rsyscall/tasks/persistent";
import { runNode, runNodeOk, scratchDir } from "./util.js";

const execFileAsync = promisify(execFile);

/** A fresh directory closed to others, and a socket path in it. */
function privatePath(): string {
  const dir = join(scratchDir(), "private");
  mkdirSync(dir, { mode: 0o700 });
  return join(dir, "worker.sock");
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 300 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 10));
  return !existsSync(`/proc/${pid}`);
}

describe("persistent threads", { timeout: 60_000 }, () => {
  test("outlive a Node process that is SIGKILLed, and are reattached by a second one", async () => {
    const path = privatePath();
    const first = await runNode(`
      import { localThread as thr } from "rsyscall";
      import { clonePersistent } from "rsyscall/tasks/persistent";
      const per = await clonePersistent(thr, ${JSON.stringify(path)});
      await per.makePersistent();
      const fd = await per.task.memfdCreate(await per.ptr("kept"));
      await fd.write(await per.ptr(Buffer.from("state the server keeps")));
      console.log(JSON.stringify({ pid: per.task.pid, fd: fd.near }));
      process.kill(process.pid, "SIGKILL");
    `);
    assert.equal(first.signal, "SIGKILL");
    const { pid, fd } = JSON.parse(first.stdout) as { pid: number; fd: number };
    assert.ok(existsSync(`/proc/${pid}`), "the server outlived its maker");
    assert.equal(readFileSync(`/proc/${pid}/comm`, "utf8"), "rsyscall/server\n");
    const out = await runNodeOk(`
      import { localThread as thr } from "rsyscall";
      import { PersistentThread } from "rsyscall/tasks/persistent";
      import { SEEK } from "rsyscall/unistd";
      const per = await PersistentThread.connect(thr, ${JSON.stringify(path)});
      // What the old client made is there, unknown to us: named by its number.
      const fd = per.task.fdAt(${fd});
      await fd.lseek(0, SEEK.SET);
      const [got] = await fd.read(await per.malloc(Buffer, 64));
      console.log(JSON.stringify({ pid: await per.task.getpid(), ppid: await per.task.getppid(), kept: (await got.read()).toString() }));
      await per.exit(0);
    `);
    const seen = JSON.parse(out) as { pid: number; ppid: number; kept: string };
    assert.equal(seen.pid, pid);
    assert.notEqual(seen.ppid, process.pid);
    assert.equal(seen.kept, "state the server keeps");
    assert.ok(await gone(pid), "exit ends it");
  });

  test("die with their maker until made persistent", async () => {
    const path = privatePath();
    const first = await runNode(`
      import { localThread as thr } from "rsyscall";
      import { clonePersistent } from "rsyscall/tasks/persistent";
      const per = await clonePersistent(thr, ${JSON.stringify(path)});
      console.log(per.task.pid);
      process.kill(process.pid, "SIGKILL");
    `);
    assert.ok(await gone(Number(first.stdout)), "not persistent: the parent-death signal took it");
  });

  test("disconnect and reconnect: calls in between are refused; fds, memory and async fds go on", async () => {
    const per = await clonePersistent(thr, privatePath());
    try {
      const p = await per.ptr("in its memory");
      const { read, write } = await per.pipe();
      // A call that ends by itself: the server takes a new link only once it is back from it.
      const pending = per.task.sysif.syscall(SYS.poll, 0, 0, 200);
      await new Promise((r) => setTimeout(r, 20));
      per.disconnect();
      await assert.rejects(pending, SyscallHangupError);
      await assert.rejects(per.task.getpid(), SyscallSendError);
      await per.reconnect();
      assert.equal(await per.task.getpid(), per.task.pid);
      assert.equal(await p.read(), "in its memory");
      const afd = await per.makeAfd(read, true);
      const reading = afd.readSomeBytes();
      await write.write(await per.ptr(Buffer.from("after")));
      assert.equal((await reading).toString(), "after");
      const [[ours, theirs]] = await per.openChannels(1);
      await theirs!.write(await per.ptr(Buffer.from("ch")));
      const [got] = await ours!.read(await thr.malloc(Buffer, 2));
      assert.equal((await got.read()).toString(), "ch");
    } finally {
      await per.exit(0);
    }
    await per.process!.waitpid(W.EXITED);
  });

  test("killed under a call: the call rejects within a second", async () => {
    const per = await clonePersistent(thr, privatePath());
    const pending = per.task.sysif.syscall(SYS.pause);
    await new Promise((r) => setTimeout(r, 20));
    const killed = Date.now();
    await per.process!.kill();
    await assert.rejects(pending, SyscallHangupError);
    assert.ok(Date.now() - killed < 1000);
    await assert.rejects(per.task.getpid(), SyscallSendError);
  });

  test("a socket directory others could enter is refused before anything is made", async () => {
    const dir = scratchDir();
    chmodSync(dir, 0o755);
    await assert.rejects(clonePersistent(thr, join(dir, "w.sock")), /mode 0700/);
    assert.ok(!existsSync(join(dir, "w.sock")));
  });

  test("another user who reaches the socket is refused", {
    skip: process.getuid?.() !== 0 && "needs root, to be another user",
  }, async () => {
    const path = privatePath();
    const per = await clonePersistent(thr, path);
    try {
      await per.makePersistent();
      per.disconnect();
      // Open the way in, as a careless owner might: only the credentials check is left.
      chmodSync(join(path, "..", ".."), 0o755);
      chmodSync(join(path, ".."), 0o777);
      chmodSync(path, 0o777);
      // Asynchronously: the event loop must run for our end of the old link to close.
      const other = await execFileAsync(
        "setpriv",
        [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          "-e",
          `const s = require("node:net").connect(${JSON.stringify(path)});
          let got = 0;
          s.on("data", (d) => (got += d.length));
          s.on("close", () => console.log(got));
          s.on("error", (e) => console.log("error " + e.code));`,
        ],
        { encoding: "utf8", timeout: 10_000 },
      );
      assert.equal(other.stdout.trim(), "0", `another user got a hello: ${other.stdout} ${other.stderr}`);
      // We are still welcome.
      await per.reconnect();
      assert.equal(await per.task.getpid(), per.task.pid);
    } finally {
      if (per.connection.closed) await per.process?.kill();
      else await per.exit(0);
    }
  });
});
