// Thread.fork: a child in a copy-on-write address space of its own, and children of threads in
// other address spaces (forks, bootstrapped processes): clone, fork, exec, memory, fds, death.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  AddressSpaceMismatchError,
  type ChildThread,
  Command,
  SyscallHangupError,
  SyscallSendError,
  type Thread,
  localThread as thr,
} from "rsyscall";
import { O } from "rsyscall/fcntl";
import { CLONE } from "rsyscall/sched";
import { SYS } from "rsyscall/sys/syscall";
import { W } from "rsyscall/sys/wait";
import { stdinBootstrap } from "rsyscall/tasks/stdin-bootstrap";
import { childPids, readMemory, scratchDir } from "./util.js";

/** The line of /proc/PID/maps whose range holds `address`. */
function mappingOf(pid: number, address: number): string {
  const line = readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .find((l) => {
      const [from, to] = (l.split(" ")[0] ?? "").split("-").map((h) => Number.parseInt(h, 16));
      return from !== undefined && to !== undefined && address >= from && address < to;
    });
  return line ?? "";
}

/** Runs `sh -c script` from `t` with its stdout in a file; returns what it wrote and its status. */
async function runThere(t: ChildThread, script: string, dir: string): Promise<[string, number]> {
  const path = join(dir, `out-${t.task.pid}`);
  const out = await t.task.open(await t.ptr(path), O.of(O.WRONLY, O.CREAT, O.TRUNC), 0o644);
  await out.dup2(t.stdout);
  const proc = await t.exec(new Command("/bin/sh", ["sh", "-c", script], {}));
  const state = await proc.waitpid(W.EXITED);
  return [readFileSync(path, "utf8"), state.status];
}

describe("fork", { timeout: 60_000 }, () => {
  test("a copy of our memory, its own from then on: writes on either side stay there", async () => {
    const before = await thr.ptr(Buffer.from("written before the fork"));
    const address = before.near;
    const f = await thr.fork();
    try {
      assert.notEqual(f.task.addressSpace, thr.task.addressSpace);
      const pid = f.process.pid;
      assert.deepEqual(readMemory(address, 23, pid), Buffer.from("written before the fork"), "copied");
      const after = await before.write(Buffer.from("written after, in Node "));
      assert.deepEqual(readMemory(address, 23, pid), Buffer.from("written before the fork"), "not shared");
      // The fork writes its copy of that address (a raw syscall: no pointer of its own is there):
      // 16 bytes of a struct timespec, which are not our text.
      await f.task.sysif.syscall(SYS.clock_gettime, 1 /* CLOCK_MONOTONIC */, address);
      assert.deepEqual(await after.read(), Buffer.from("written after, in Node "), "its write stays in it");
      assert.notDeepEqual(readMemory(address, 16, pid), Buffer.from("written before t"));
      assert.deepEqual(readMemory(address + 16, 7, pid), Buffer.from("he fork"), "and only there");
      // Its own memory, allocated there: in a window, a memfd mapped there and here.
      const p = await f.ptr("in the fork");
      assert.equal(await p.read(), "in the fork");
      assert.deepEqual(readMemory(p.near, 11, pid), Buffer.from("in the fork"));
      assert.match(mappingOf(pid, p.near), /memfd:rsyscall-window/);
      assert.ok(readFileSync("/proc/self/maps", "utf8").includes("memfd:rsyscall-window"), "our side of the window");
      // Our pointers are refused before any syscall.
      await assert.rejects(f.task.open(await thr.ptr("/etc/hostname"), O.RDONLY), AddressSpaceMismatchError);
      await assert.rejects(thr.task.open(await f.ptr("/etc/hostname"), O.RDONLY), AddressSpaceMismatchError);
    } finally {
      await f.exit(0);
    }
  });

  test("execs, and its exec and exit are seen", async () => {
    const dir = scratchDir();
    const f = await thr.fork();
    assert.deepEqual(await runThere(f, "echo from the fork; exit 3", dir), ["from the fork\n", 3]);
    const g = await thr.fork();
    await g.exit(5);
    assert.equal((await g.process.waitpid(W.EXITED)).status, 5);
    await assert.rejects(g.task.getpid(), SyscallSendError);
  });

  test("its exec is seen even when its link stays open (a child sharing its fd table holds it)", async () => {
    const f = await thr.fork();
    const holder = await f.clone(CLONE.FILES);
    // No EOF comes: the holder has the fork's end. Only the fork's robust word tells.
    const proc = await f.exec(new Command("/bin/sleep", ["sleep", "5"], {}));
    try {
      assert.equal(proc.command?.executablePath, "/bin/sleep");
      // The word fires inside execve, past its point of no return, a moment before the kernel
      // renames the process after its program: the name may lag behind.
      const comm = () => readFileSync(`/proc/${proc.pid}/comm`, "utf8");
      for (let i = 0; i < 500 && comm() !== "sleep\n"; i++) await new Promise((r) => setTimeout(r, 2));
      assert.equal(comm(), "sleep\n");
      assert.equal(await holder.task.getpid(), holder.process.pid, "the holder lives on");
    } finally {
      await holder.exit(0);
      await proc.kill();
    }
  });

  test("async fds and channels: its fd table is a copy of ours", async () => {
    const f = await thr.fork();
    try {
      const { read, write } = await f.pipe();
      const afd = await f.makeAfd(read, true);
      const reading = afd.readSomeBytes();
      await write.write(await f.ptr(Buffer.from("through epoll")));
      assert.equal((await reading).toString(), "through epoll");
      const [[ours, theirs]] = await f.openChannels(1);
      await theirs!.write(await f.ptr(Buffer.from("ch")));
      const [got] = await ours!.read(await thr.malloc(Buffer, 2));
      assert.equal((await got.read()).toString(), "ch");
    } finally {
      await f.exit(0);
    }
  });

  test("clones and forks of its own, which exec", async () => {
    const dir = scratchDir();
    const f = await thr.fork();
    try {
      const c = await f.clone();
      assert.equal(c.task.addressSpace, f.task.addressSpace, "a clone shares the fork's memory");
      assert.equal(await (await c.ptr("shared")).read(), "shared");
      assert.deepEqual(await runThere(c, "echo clone of a fork", dir), ["clone of a fork\n", 0]);
      const ff = await f.fork();
      assert.notEqual(ff.task.addressSpace, f.task.addressSpace);
      assert.equal(await (await ff.ptr("its own")).read(), "its own");
      assert.deepEqual(await runThere(ff, "echo fork of a fork", dir), ["fork of a fork\n", 0]);
    } finally {
      await f.exit(0);
    }
    await f.process.waitpid(W.EXITED);
    // Its futex helper is reaped a moment after the fork's exit.
    for (let i = 0; i < 200 && childPids().length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(childPids(), []);
  });

  test("killed under a call: the call rejects", async () => {
    const f = await thr.fork();
    const call = f.task.sysif.syscall(SYS.pause);
    await new Promise((r) => setTimeout(r, 20));
    await f.process.kill();
    await assert.rejects(call, SyscallHangupError);
  });
});

describe("children of a bootstrapped thread", { timeout: 60_000 }, () => {
  test("clone, exec, fork; an exec'd child's exit is seen", async () => {
    const dir = scratchDir();
    const [proc, b]: [unknown, Thread] = await stdinBootstrap(
      thr,
      new Command("/bin/sh", ["sh", "-c", 'exec "$@"', "sh"], {}),
    );
    try {
      const c = await b.clone();
      assert.equal(c.task.addressSpace, b.task.addressSpace);
      assert.equal(await c.task.getppid(), await b.task.getpid(), "its parent is the bootstrapped process");
      assert.deepEqual(await runThere(c, "echo clone of a bootstrap; exit 4", dir), ["clone of a bootstrap\n", 4]);
      const f = await b.fork();
      assert.equal(await (await f.ptr("forked there")).read(), "forked there");
      const grandchild = await f.clone();
      assert.deepEqual(await runThere(grandchild, "echo three levels down", dir), ["three levels down\n", 0]);
      await f.exit(0);
    } finally {
      await (b as ChildThread).exit(0);
    }
    await (proc as { waitpid(w: W): Promise<unknown> }).waitpid(W.EXITED);
  });
});
