// Child threads: clone, the syscall connection, exec, and child monitoring, against real processes.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CalledProcessError, ChildThread, Command, SyscallHangupError, localThread as thr } from "rsyscall";
import { AT, O } from "rsyscall/fcntl";
import { SIG } from "rsyscall/signal";
import { W } from "rsyscall/sys/wait";
import { ArgList } from "rsyscall/unistd";
import { openFds, procStatus, readAsync, scratchDir } from "./util.js";

const limit = { timeout: 30_000 };

describe("clone and the syscall connection", limit, () => {
  test("a child is a separate process that serves our syscalls", async () => {
    const child = await thr.clone();
    assert.ok(child instanceof ChildThread);
    assert.equal(await child.task.getpid(), child.task.pid);
    assert.notEqual(child.task.pid, process.pid);
    assert.equal(await child.task.getppid(), process.pid);
    assert.equal(procStatus(child.task.pid, "PPid"), String(process.pid), "/proc agrees");
    assert.equal(BigInt(`0x${procStatus(child.task.pid, "SigBlk")}`), 0n, "its signal mask is empty");
    assert.equal(BigInt(`0x${procStatus(child.task.pid, "SigCgt")}`), 0n, "it runs none of Node's handlers");
    await child.exit(0);
    assert.equal(String(await child.process.waitpid(W.EXITED)), `pid ${child.task.pid} exited with status 0`);
  });

  test("many requests outstanding at once come back in order", async () => {
    const child = await thr.clone();
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => (i % 2 ? child.task.getpid() : child.task.getppid())),
    );
    for (const [i, r] of results.entries()) assert.equal(r, i % 2 ? child.task.pid : process.pid);
    await child.exit(0);
  });

  test("clone is refused from a worker thread, whose death would take the child along", async () => {
    const { Worker } = await import("node:worker_threads");
    const worker = new Worker(
      `import("rsyscall").then(async ({ localThread: t }) => {
        const { parentPort } = await import("node:worker_threads");
        parentPort.postMessage(await t.clone().then(() => "cloned", (e) => e.message));
      })`,
      { eval: true },
    );
    const [message] = await once(worker, "message");
    assert.match(message, /only from Node's main thread/);
    await worker.terminate();
  });

  test("await using: a child that did not exec is killed and reaped when its scope ends", async () => {
    let pid = 0;
    {
      await using child = await thr.clone();
      pid = child.task.pid;
      assert.ok(fs.existsSync(`/proc/${pid}`));
    }
    assert.ok(!fs.existsSync(`/proc/${pid}`), "killed and reaped");
  });

  test("many children at once", async () => {
    const children = await Promise.all(Array.from({ length: 20 }, () => thr.clone()));
    const pids = await Promise.all(children.map((c) => c.task.getpid()));
    assert.equal(new Set(pids).size, 20);
    await Promise.all(children.map((c) => c.exit(0)));
    for (const c of children) assert.ok((await c.process.waitpid(W.EXITED)).clean());
  });

  test("a child SIGKILLed during a blocking syscall rejects the outstanding call within a second", async () => {
    const { read, write } = await thr.pipe();
    const child = await thr.clone();
    const blocked = child.inheritFd(read).read(await child.malloc(Buffer, 16));
    await new Promise((r) => setTimeout(r, 20));
    const start = process.hrtime.bigint();
    await child.process.kill(SIG.KILL);
    await assert.rejects(blocked, SyscallHangupError);
    assert.ok(process.hrtime.bigint() - start < 1_000_000_000n);
    assert.equal((await child.process.waitpid(W.EXITED)).killedWith(), SIG.KILL);
    await assert.rejects(child.task.getpid(), { name: "SyscallSendError" });
    await read.close();
    await write.close();
  });

  test("a signal sent to a child never runs a handler of the Node process", async () => {
    let ran = false;
    const listener = () => (ran = true);
    process.on("SIGUSR2", listener);
    try {
      const child = await thr.clone();
      await child.process.kill(SIG.USR2);
      assert.equal((await child.process.waitpid(W.EXITED)).killedWith(), SIG.USR2);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(ran, false);
    } finally {
      process.off("SIGUSR2", listener);
    }
  });

  test("nested clones: a grandchild made from a child is ours to wait for", async () => {
    const child = await thr.clone();
    const grandchild = await child.clone();
    assert.equal(await grandchild.task.getpid(), grandchild.task.pid);
    assert.equal(await grandchild.task.getppid(), process.pid, "CLONE_PARENT: Node is its parent too");
    const greatGrandchild = await grandchild.clone();
    assert.equal(await greatGrandchild.task.getpid(), greatGrandchild.task.pid);
    for (const t of [greatGrandchild, grandchild, child]) {
      await t.exit(0);
      assert.ok((await t.process.waitpid(W.EXITED)).clean());
    }
  });

  test("a child with a live grandchild (cloned from it, not exec'd) can exec and be checked", async () => {
    const child = await thr.clone();
    const grandchild = await child.clone();
    const proc = await child.exec(new Command("/bin/sh", ["sh", "-c", "exit 0"], {}));
    assert.ok((await proc.check()).clean());
    assert.equal(await grandchild.task.getpid(), grandchild.task.pid, "the grandchild still serves");
    assert.ok((await (await grandchild.exec(new Command("/bin/true", ["true"], {}))).check()).clean());
  });

  test("AsyncFileDescriptors on a child's own fds wait in our event loop", async () => {
    const child = await thr.clone();
    const { read, write } = await child.pipe();
    const reader = await child.makeAfd(read, true);
    const writer = await child.makeAfd(write, true);
    assert.equal(reader.handle.task, child.task);
    let waiting = true;
    const first = reader.readSomeBytes().finally(() => (waiting = false));
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(waiting, "the read waits in the epoller, not in the child");
    assert.equal(await child.task.getpid(), child.task.pid, "so the child still serves other syscalls");
    await writer.writeAllBytes(Buffer.from("first"));
    assert.equal((await first).toString(), "first");
    const data = Buffer.alloc(1 << 20, 7);
    const writing = writer.writeAllBytes(data).then(() => writer.close());
    assert.ok((await reader.readToEof()).equals(data));
    await writing;
    await reader.close();
    await child.exit(0);
  });

  test("fds: the child claims its copies with inheritFd, and only those", async () => {
    const { read, write } = await thr.pipe();
    const child = await thr.clone();
    const later = await thr.pipe();
    assert.throws(() => child.inheritFd(later.read), /not inherited/);
    const theirs = child.inheritFd(write);
    await theirs.write(await child.ptr(Buffer.from("from the child")));
    await theirs.close();
    await write.close();
    await child.exit(0);
    assert.equal(await readAsync(thr, read), "from the child");
    for (const fd of [later.read, later.write]) await fd.close();
  });
});

describe("exec and child monitoring", limit, () => {
  test("exec with 60,000 arguments: one allocation for argv, memory flat", async () => {
    const vm = () => Number(/VmSize:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1]) * 1024;
    const before = vm();
    const args = Array.from({ length: 60_000 }, (_, i) => `argument${i}`);
    const child = await thr.clone();
    const proc = await child.exec(
      new Command("/bin/sh", ["sh", "-c", 'test "$#" = 59999 && test "$1" = argument1', "zero", ...args.slice(1)], {}),
    );
    assert.ok((await proc.check()).clean(), "the shell saw every argument");
    assert.ok(vm() - before < 256 * 2 ** 20, `mapped ${(vm() - before) / 2 ** 20} MiB for 1 MiB of arguments`);
  });

  test("cat between two pipes: the exec'd program has working stdio", async () => {
    const input = await thr.pipe();
    const output = await thr.pipe();
    const child = await thr.clone();
    await child.inheritFd(input.read).dup2(child.stdin);
    await child.inheritFd(output.write).dup2(child.stdout);
    const cat = await child.environ.which("cat");
    const proc = await child.exec(cat);
    await input.read.close();
    await output.write.close();
    const writer = await thr.makeAfd(input.write, true);
    await writer.writeAllBytes(Buffer.from("through cat\n"));
    await writer.close();
    assert.equal(await readAsync(thr, output.read), "through cat\n");
    assert.ok((await proc.check()).clean());
  });

  test("cat between two pipes, read and written with blocking syscalls", async () => {
    const input = await thr.pipe();
    const output = await thr.pipe();
    const child = await thr.clone();
    await child.inheritFd(input.read).dup2(child.stdin);
    await child.inheritFd(output.write).dup2(child.stdout);
    const proc = await child.exec(await child.environ.which("cat"));
    await input.read.close();
    await output.write.close();
    // cat is another process, so blocking this thread on it is fine.
    await thr.spit(input.write, "blocking cat\n");
    assert.equal((await thr.readToEof(output.read)).toString(), "blocking cat\n");
    await output.read.close();
    await proc.check();
  });

  test("an exec'd program ignores no signal and has stdout", async () => {
    const output = await thr.pipe();
    const child = await thr.clone();
    await child.inheritFd(output.write).dup2(child.stdout);
    const proc = await child.exec(
      new Command("/bin/sh", ["sh", "-c", "grep -E 'SigIgn|SigBlk' /proc/self/status"], {}),
    );
    await output.write.close();
    assert.equal(await readAsync(thr, output.read), "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    await proc.check();
  });

  test("check() rejects with CalledProcessError for sh -c false and for a signal", async () => {
    const err = await thr.run(new Command("/bin/sh", ["sh", "-c", "false"], {})).catch((e: unknown) => e);
    assert.ok(err instanceof CalledProcessError);
    assert.equal(err.state.status, 1);
    assert.match(err.message, /sh -c false.*status 1/);
    const state = await thr.run(new Command("/bin/sh", ["sh", "-c", "kill -TERM $$"], {}), { check: false });
    assert.equal(state.killedWith(), SIG.TERM);
  });

  test("environment updates reach the program", async () => {
    const output = await thr.pipe();
    const child = await thr.clone();
    await child.inheritFd(output.write).dup2(child.stdout);
    const proc = await child.exec(
      new Command("/bin/sh", ["sh", "-c", 'echo "$RSYSCALL_TEST"'], {}).env({ RSYSCALL_TEST: "set" }),
    );
    await output.write.close();
    assert.equal(await readAsync(thr, output.read), "set\n");
    await proc.check();
  });

  test("a failed exec rejects with the errno and leaves the child usable", async () => {
    const child = await thr.clone();
    await assert.rejects(child.exec(new Command("/nonexistent/program", ["x"], {})), {
      code: "ENOENT",
      syscall: "execve",
      path: "/nonexistent/program",
    });
    const notExecutable = join(scratchDir(), "data");
    fs.writeFileSync(notExecutable, "data", { mode: 0o644 });
    await assert.rejects(child.exec(new Command(notExecutable, ["x"], {})), { code: "EACCES" });
    assert.equal(await child.task.getpid(), child.task.pid);
    await (await child.exec(new Command("/bin/true", ["true"], {}))).check();
  });

  test("spawn: a program started the posix_spawn way, with stdio and no ignored signals", async () => {
    const proc = await thr.spawn(
      new Command("/bin/sh", ["sh", "-c", 'test "$(grep SigIgn /proc/self/status | cut -f2)" = 0000000000000000'], {}),
    );
    assert.ok((await proc.check()).clean());
    await assert.rejects(thr.spawn(new Command("/nonexistent/program", ["x"], {})), {
      code: "ENOENT",
      syscall: "execve",
    });
    const state = await thr.run(new Command("/bin/sh", ["sh", "-c", "exit 4"], {}), { check: false });
    assert.equal(state.status, 4);
  });

  test("execveat runs a program through an fd (AT_EMPTY_PATH)", async () => {
    const child = await thr.clone();
    const program = await child.task.open(await child.ptr("/bin/true"), O.PATH);
    const argv = await child.ptr(new ArgList([await child.ptr("true")]));
    const envp = await child.ptr(new ArgList([]));
    await assert.rejects(program.execveat(await child.ptr(""), argv, envp), { code: "ENOENT", syscall: "execveat" });
    await program.execveat(await child.ptr(""), argv, envp, AT.EMPTY_PATH);
    assert.ok((await child.process.check()).clean());
  });

  test("two children exec at the same time", async () => {
    const [a, b] = await Promise.all([thr.clone(), thr.clone()]);
    const procs = await Promise.all([a, b].map((c) => c.exec(new Command("/bin/sh", ["sh", "-c", "exit 0"], {}))));
    for (const p of await Promise.all(procs.map((p) => p.check()))) assert.ok(p.clean());
  });

  test("child_process children and ours each see their own exits", async () => {
    const theirs = spawn("/bin/sh", ["-c", "sleep 0.2; exit 7"]);
    const theirExit = once(theirs, "exit");
    const ours = await thr.clone();
    const proc = await ours.exec(new Command("/bin/sh", ["sh", "-c", "exit 5"], {}));
    const state = await proc.waitpid(W.EXITED);
    assert.equal(state.status, 5);
    assert.deepEqual(await theirExit, [7, null]);
  });

  test("the Node process exiting takes its children with it", async () => {
    const script = `import("rsyscall").then(async ({ localThread: t }) => {
      const child = await t.clone();
      console.log(child.task.pid);
      process.exit(0);
    })`;
    const pid = Number(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim());
    for (let i = 0; i < 100 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 10));
    const state = fs.existsSync(`/proc/${pid}`) ? procStatus(pid, "State") : "gone";
    assert.ok(state === "gone" || state.startsWith("Z"), `child ${pid} is ${state}`);
  });

  test("1000 clone+exec cycles leave our fds, epoll registrations, arenas and heap flat", async () => {
    const cycle = async () => (await (await thr.clone()).exec(new Command("/bin/true", ["true"], {}))).check();
    const snapshot = async () => {
      // Let the last children's clean-up finish, and collect twice: finalizers run after the first.
      await new Promise((r) => setTimeout(r, 50));
      global.gc!();
      await new Promise((r) => setTimeout(r, 20));
      global.gc!();
      // Handles other tests dropped without closing are closed at a safe point: make it now.
      thr.task.collectGarbage();
      await new Promise((r) => setTimeout(r, 1));
      return {
        fds: openFds().length,
        registrations: thr.epoller.size,
        arenas: thr.ram.allocator.arenas.length,
        heap: process.memoryUsage().heapUsed,
      };
    };
    for (let i = 0; i < 200; i++) await cycle(); // warm up the JIT first
    let before = await snapshot();
    for (let i = 0; i < 1000; i++) await cycle();
    let after = await snapshot();
    assert.equal(after.fds, before.fds);
    assert.equal(after.registrations, before.registrations);
    assert.equal(after.arenas, before.arenas);
    if (after.heap - before.heap >= 2 ** 20) {
      // On a loaded machine the JIT may still be at work after the warm-up (a CI run saw 1.2 MB
      // once): a leak grows again over the next thousand, a one-off does not.
      before = after;
      for (let i = 0; i < 1000; i++) await cycle();
      after = await snapshot();
    }
    assert.ok(after.heap - before.heap < 2 ** 20, `live heap grew ${before.heap} -> ${after.heap}`); // measured: ~50 bytes a cycle
  });
});
