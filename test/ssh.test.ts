// Remote hosts over ssh, against a real OpenSSH sshd started per connection (test/ssh-harness.ts).
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Command, SyscallHangupError, SyscallSendError, localThread as thr } from "rsyscall";
import { O } from "rsyscall/fcntl";
import { AF, SOCK } from "rsyscall/sys/socket";
import { SYS } from "rsyscall/sys/syscall";
import { SockaddrUn } from "rsyscall/sys/un";
import { W } from "rsyscall/sys/wait";
import { clonePersistent, PersistentThread } from "rsyscall/tasks/persistent";
import { SSHHost } from "rsyscall/tasks/ssh";
import { asRoot, harness, packageRoot, sshdSkip as skip } from "./ssh-harness.js";
import { childPids, scratchDir } from "./util.js";

/** This package's directory, which the harness hides from sshd as root (an empty one otherwise). */
const hidden = () => (asRoot ? packageRoot : scratchDir("rsyscall-ssh-empty-"));

const sshTo = (config: string, name = "testhost") =>
  new SSHHost(new Command("/usr/bin/ssh", ["ssh", "-F", config, name], {}));

describe("SSHHost", { timeout: 120_000, skip }, () => {
  test("a thread on the host: its own pid namespace, nothing of ours installed, memory through the link", async () => {
    const { config } = harness();
    const [proc, remote] = await sshTo(config).ssh(thr);
    try {
      assert.equal(await remote.task.getuid(), process.getuid!());
      if (asRoot) {
        assert.ok((await remote.task.getpid()) < 100, "in the harness's pid namespace");
        await assert.rejects(remote.task.open(await remote.ptr(join(packageRoot, "package.json")), O.RDONLY), {
          code: "ENOENT",
        });
      }
      const data = Buffer.alloc(1 << 20);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      const p = await remote.ptr(data);
      assert.deepEqual(await p.read(), data);
      const fd = await remote.task.open(await remote.ptr("/proc/self/comm"), O.RDONLY);
      const [got] = await fd.read(await remote.malloc(Buffer, 64));
      assert.equal((await got.read()).toString(), "rsyscall/server\n");
    } finally {
      await remote.exit(0);
    }
    assert.equal((await proc.waitpid(W.EXITED)).status, 0, "ssh ends when the remote thread does");
  });

  test("channels across hosts, through ssh's unix-socket forward, both ways", async () => {
    const { config } = harness();
    const [proc, remote] = await sshTo(config).ssh(thr);
    try {
      // Each end of the forward is in a directory only its user can enter.
      assert.equal(statSync(remote.forward.local.dir).mode & 0o777, 0o700);
      assert.equal(statSync(remote.forward.remote.dir).mode & 0o777, 0o700, "(the harness shares our /tmp)");
      const [[ours, theirs]] = await remote.openAsyncChannels(1);
      await theirs!.write(await remote.ptr(Buffer.from("from the far side")));
      assert.equal((await ours!.readSomeBytes()).toString(), "from the far side");
      await ours!.writeAllBytes(Buffer.from("and back"));
      const [got] = await theirs!.read(await remote.malloc(Buffer, 64));
      assert.equal((await got.read()).toString(), "and back");
      // ssh ends only once every forwarded connection has: close ours.
      await ours!.close();
    } finally {
      await remote.exit(0);
    }
    await proc.waitpid(W.EXITED);
    assert.ok(!existsSync(remote.forward.local.dir) && !existsSync(remote.forward.remote.dir), "both ends removed");
  });

  test("channels opened concurrently are each paired right; one that never comes through times out, and the next works", async () => {
    const { config } = harness();
    const [proc, remote] = await sshTo(config).ssh(thr);
    try {
      const batches = await Promise.all([1, 2, 3, 4].map(() => remote.openChannels(2)));
      let tag = 0;
      for (const [ours, theirs] of batches.flat()) {
        const sent = `pair ${tag++}`;
        await ours.write(await thr.ptr(Buffer.from(sent)));
        const [got] = await theirs.read(await remote.malloc(Buffer, 32));
        assert.equal((await got.read()).toString(), sent);
        await ours.close();
        await theirs.close();
      }
      // A connection through the forward that no call made (as one arriving too late would be):
      // the next call skips it, as it does not carry its token.
      const stray = await thr.socket(AF.UNIX, SOCK.STREAM);
      await stray.connect(await thr.ptr(new SockaddrUn(remote.forward.reachable)));
      await stray.write(await thr.ptr(Buffer.from("not a token of yours")));
      await stray.close();
      const [[o2, t2]] = await remote.openChannels(1);
      await o2!.write(await thr.ptr(Buffer.from("paired")));
      const [p2] = await t2!.read(await remote.malloc(Buffer, 16));
      assert.equal((await p2.read()).toString(), "paired");
      await o2!.close();
      await t2!.close();
      // ssh's forward leads nowhere now (as if its socket had gone): the accept there gives up.
      const reachable = remote.forward.reachable;
      remote.forward.reachable = join(scratchDir(), "nothing-here");
      remote.channelTimeout = 0.3;
      await assert.rejects(
        remote.openChannels(1),
        /no connection came through ssh's forward in 0.3 s \(connecting to .*ENOENT/,
      );
      remote.forward.reachable = reachable;
      const [[ours, theirs]] = await remote.openChannels(1);
      await theirs!.write(await remote.ptr(Buffer.from("after")));
      // Our end is non-blocking: read it through the epoller.
      const afd = await thr.makeAfd(ours!);
      assert.equal((await afd.readSomeBytes(8)).toString(), "after");
      await afd.close(); // and ours with it
      await theirs!.close();
    } finally {
      await remote.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("remote.exit() ends ssh too, even with a forwarded channel still open on our side", async () => {
    const { config } = harness();
    const [proc, remote] = await sshTo(config).ssh(thr);
    const [[ours]] = await remote.openAsyncChannels(1);
    await remote.exit(0);
    await proc.waitpid(W.EXITED);
    assert.equal((await ours!.readSomeBytes()).length, 0, "the channel reads EOF");
    await ours!.close();
  });

  test("a host that refuses us rejects with what ssh said", async () => {
    const { config } = harness();
    await assert.rejects(sshTo(config, "refused").ssh(thr), /Permission denied/);
  });

  test("killing ssh rejects a call outstanding, and later calls at once; no ssh is left", async () => {
    const { config } = harness();
    const before = new Set(childPids());
    const [proc, remote] = await sshTo(config).ssh(thr);
    const pending = remote.task.sysif.syscall(SYS.pause);
    await new Promise((r) => setTimeout(r, 50));
    const killed = Date.now();
    await proc.kill();
    await assert.rejects(pending, SyscallHangupError);
    assert.ok(Date.now() - killed < 5000);
    await assert.rejects(remote.task.getpid(), SyscallSendError);
    await proc.waitpid(W.EXITED);
    assert.deepEqual(
      childPids().filter((pid) => !before.has(pid)),
      [],
    );
  });

  test("killing ssh takes the remote server and its children away too (sshd does not kill them)", async () => {
    const { config } = harness(false);
    const [proc, remote] = await sshTo(config).ssh(thr);
    const pid = await remote.task.getpid();
    assert.equal(readFileSync(`/proc/${pid}/comm`, "utf8"), "rsyscall/server\n", "its pid is ours to see");
    const server = await remote.clone();
    const sleeper = await remote.clone();
    const sleep = await sleeper.exec(new Command("/bin/sleep", ["sleep", "1000"], {}));
    const pids = [pid, await server.task.getpid(), sleep.pid];
    await proc.kill();
    const alive = () => pids.filter((p) => existsSync(`/proc/${p}`));
    for (let i = 0; i < 500 && alive().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(alive(), [], "the remote server, a child serving and a child that exec'd went away");
  });

  test("remote children: clone, exec, output through a channel, a failing exit, async fds there", async () => {
    const { config } = harness();
    const [proc, remote] = await sshTo(config).ssh(thr);
    try {
      // `ls` of the hidden package directory, its output through a channel to us.
      const [[ours, theirs]] = await remote.openAsyncChannels(1);
      const child = await remote.clone();
      await child.inheritFd(theirs!).dup2(child.stdout);
      await theirs!.close();
      const ls = await child.exec(new Command("/bin/ls", ["ls", "-A", hidden()], {}));
      await ls.check();
      assert.equal((await ours!.readToEof()).toString(), "", "nothing of ours is there");
      await ours!.close();
      // A remote program's output arrives; a non-zero exit rejects check().
      const [[out, outThere]] = await remote.openAsyncChannels(1);
      const echo = await remote.clone();
      await echo.inheritFd(outThere!).dup2(echo.stdout);
      await outThere!.close();
      const sh = await echo.exec(
        new Command("/bin/sh", ["sh", "-c", "echo made on $(cat /proc/sys/kernel/hostname); exit 3"], {}),
      );
      await assert.rejects(sh.check(), (e: Error & { state?: { status: number } }) => {
        assert.equal(e.name, "CalledProcessError");
        assert.equal(e.state?.status, 3);
        return true;
      });
      assert.match((await out!.readToEof()).toString(), /^made on /);
      await out!.close();
      // Async fds of the remote thread: a pipe there, read through its epoller while written.
      const pipe = await remote.pipe();
      const reader = await remote.makeAfd(pipe.read, true);
      const reading = reader.read(await remote.malloc(Buffer, 16));
      await new Promise((r) => setTimeout(r, 50));
      await pipe.write.write(await remote.ptr(Buffer.from("async")));
      const [got] = await reading;
      assert.equal((await got.read()).toString(), "async");
      await reader.close();
      await pipe.write.close();
    } finally {
      await remote.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("a remote child that exits while nobody waits is reaped there at once, not left a zombie", async () => {
    const { config } = harness(false);
    const [proc, remote] = await sshTo(config).ssh(thr);
    try {
      const child = await remote.clone();
      const exited = await child.exec(new Command("/bin/true", ["true"], {}));
      // Nobody waits for it; its pid is ours to see (no pid namespace in this harness).
      const state = () => {
        try {
          return readFileSync(`/proc/${exited.pid}/stat`, "utf8").split(") ")[1]![0];
        } catch {
          return undefined;
        }
      };
      for (let i = 0; i < 500 && state() !== undefined; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(state(), undefined, "reaped (not a zombie)");
      assert.equal((await exited.waitpid(W.EXITED)).status, 0, "and its state kept");
    } finally {
      await remote.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("50 children of one remote thread, driven at once", async () => {
    const { config } = harness();
    const [proc, remote] = await sshTo(config).ssh(thr);
    try {
      const children = await Promise.all(Array.from({ length: 50 }, () => remote.clone()));
      const pids = await Promise.all(children.map((c) => c.task.getpid()));
      assert.equal(new Set(pids).size, 50);
      const procs = await Promise.all(
        children.map((c, i) => c.exec(new Command("/bin/sh", ["sh", "-c", `exit ${i % 7}`], {}))),
      );
      const states = await Promise.all(procs.map((p) => p.waitpid(W.EXITED)));
      assert.deepEqual(
        states.map((s) => s.status),
        procs.map((_, i) => i % 7),
      );
      // A fork there, driven through the stream (no windows: fds cannot cross ssh).
      const fork = await remote.fork();
      const p = await fork.ptr(Buffer.from("forked memory"));
      assert.equal((await p.read()).toString(), "forked memory");
      assert.notEqual(await fork.task.getpid(), await remote.task.getpid());
      await fork.exit(0);
    } finally {
      await remote.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("two hops: ssh from a remote thread, channels and children two hosts away", async () => {
    const { config } = harness();
    const [proc1, hop1] = await sshTo(config).ssh(thr);
    const [proc2, hop2] = await sshTo(config).ssh(hop1);
    try {
      // The second ssh runs on the first host.
      const comm = await hop1.task.open(await hop1.ptr(`/proc/${proc2.pid}/comm`), O.RDONLY);
      const [name] = await comm.read(await hop1.malloc(Buffer, 64));
      assert.equal((await name.read()).toString(), "ssh\n");
      await comm.close();
      // Its forward's end is on hop1's host; a forward on the first ssh leads there from here.
      assert.notEqual(hop2.forward.reachable, hop2.forward.local.socket);
      const [[ours, theirs]] = await hop2.openAsyncChannels(1);
      await theirs!.write(await hop2.ptr(Buffer.from("from two hops away")));
      assert.equal((await ours!.readSomeBytes()).toString(), "from two hops away");
      await ours!.close();
      const [[out, outThere]] = await hop2.openAsyncChannels(1);
      const child = await hop2.clone();
      await child.inheritFd(outThere!).dup2(child.stdout);
      await outThere!.close();
      await (await child.exec(new Command("/bin/sh", ["sh", "-c", `echo hop2; ls -A ${hidden()}`], {}))).check();
      assert.equal((await out!.readToEof()).toString(), "hop2\n");
      await out!.close();
    } finally {
      await hop2.exit(0);
      await hop1.exit(0);
    }
    assert.equal((await proc2.waitpid(W.EXITED)).status, 0, "the second ssh ended by itself");
    assert.equal((await proc1.waitpid(W.EXITED)).status, 0, "and so did the first");
  });

  test("a persistent thread on the host outlives its ssh, and is reattached over a new one", async () => {
    // No pid namespace: it would die with sshd, its init.
    const { config } = harness(false);
    const dir = scratchDir("rsyscall-ssh-persistent-");
    const path = join(dir, "server.sock");
    const [proc1, remote1] = await sshTo(config).ssh(thr);
    const per = await clonePersistent(remote1, path);
    await per.makePersistent();
    const pid = per.task.getpid();
    const pipe = await per.pipe();
    await pipe.write.write(await per.ptr(Buffer.from("made before the cut")));
    const kept = pipe.read.near;
    await proc1.kill();
    await proc1.waitpid(W.EXITED);
    await assert.rejects(per.task.getpid(), SyscallSendError, "its link went with ssh");
    const [proc2, remote2] = await sshTo(config).ssh(thr);
    try {
      const again = await PersistentThread.connect(remote2, path);
      assert.equal(await again.task.getpid(), await pid, "the same process");
      const [got] = await again.task.fdAt(kept).read(await again.malloc(Buffer, 64));
      assert.equal((await got.read()).toString(), "made before the cut");
      // The first handle goes on too, reconnected through the new ssh.
      again.disconnect();
      await per.reconnect(remote2);
      assert.equal(await per.task.getpid(), await pid);
      const serverPid = await remote2.task.getpid();
      await per.exit(0);
      assert.ok(!existsSync(`/proc/${await pid}`) || readFileSync(`/proc/${await pid}/stat`, "utf8").includes(") Z"));
      assert.ok(serverPid > 0);
    } finally {
      await remote2.exit(0);
    }
    await proc2.waitpid(W.EXITED);
  });

  test("20 connections at once", async () => {
    const { config } = harness();
    const threads = await Promise.all(Array.from({ length: 20 }, () => sshTo(config).ssh(thr)));
    const pids = await Promise.all(threads.map(([, t]) => t.task.getpid()));
    assert.equal(pids.length, 20);
    for (const [proc, t] of threads) {
      await t.exit(0);
      await proc.waitpid(W.EXITED);
    }
  });
});
