// stdinBootstrap: a thread in whatever process a command leads to, the server program sent over
// the command's stdin. Checked from outside through /proc: the process, its memory, its fds.
import assert from "node:assert/strict";
import { existsSync, fstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  AddressSpaceMismatchError,
  Command,
  type ConnectedThread,
  SyscallHangupError,
  SyscallSendError,
  localThread as thr,
} from "rsyscall";
import { O } from "rsyscall/fcntl";
import { CLONE } from "rsyscall/sched";
import { MS } from "rsyscall/sys/mount";
import { SYS } from "rsyscall/sys/syscall";
import { W } from "rsyscall/sys/wait";
import { stdinBootstrap } from "rsyscall/tasks/stdin-bootstrap";
import { childPids, isCloexec, openFds, procStatus, readMemory, runNodeOk, scratchDir } from "./util.js";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
/** A command that runs what is appended to it, as it is. */
const plain = () => new Command("/bin/sh", ["sh", "-c", 'exec "$@"', "sh"], {});

describe("stdinBootstrap", { timeout: 60_000 }, () => {
  test("gives a thread in the command's process, with memory of its own and the link off its stdio", async () => {
    const tmp = scratchDir();
    const [proc, t] = await stdinBootstrap(thr, plain().env({ TMPDIR: tmp }));
    try {
      assert.equal(await t.task.getpid(), proc.pid, "sh exec'd into the server");
      assert.equal(await t.task.getppid(), process.pid);
      assert.deepEqual(readdirSync(tmp), [], "the program's file is gone once it runs");
      assert.equal(t.environ.get("TMPDIR"), tmp, "its environment came in its hello");
      assert.equal(procStatus(proc.pid, "Umask"), procStatus("self", "Umask"), "the script leaves the umask alone");
      // Memory: written over the link, seen in that process by /proc, not in ours.
      const p = await t.ptr(Buffer.from("over the link"));
      // A write is queued like a syscall, not waited for: a later call is the fence.
      await t.task.getpid();
      assert.deepEqual(readMemory(p.near, 13, proc.pid), Buffer.from("over the link"));
      assert.deepEqual(await p.read(), Buffer.from("over the link"));
      const ours = await thr.ptr("/etc/hostname");
      await assert.rejects(t.task.open(ours, O.RDONLY), AddressSpaceMismatchError);
      // Stdio: 0 and 1 are /dev/null; 2 is our stderr; the link is above 2, close-on-exec.
      assert.equal(readlinkSync(`/proc/${proc.pid}/fd/0`), "/dev/null");
      assert.equal(readlinkSync(`/proc/${proc.pid}/fd/1`), "/dev/null");
      assert.equal(statSync(`/proc/${proc.pid}/fd/2`).ino, fstatSync(2).ino);
      const fds = readdirSync(`/proc/${proc.pid}/fd`).map(Number);
      const links = fds.filter((n) => n > 2 && readlinkSync(`/proc/${proc.pid}/fd/${n}`).startsWith("socket:"));
      assert.ok(links.length >= 1);
      for (const n of links) assert.ok(isCloexec(n, proc.pid), `fd ${n} is close-on-exec`);
      // Syscalls with memory: read a file there.
      const fd = await t.task.open(await t.ptr("/proc/self/comm"), O.RDONLY);
      const [valid] = await fd.read(await t.malloc(Buffer, 64));
      assert.equal((await valid.read()).toString(), "rsyscall/server\n");
      // Channels cross the link.
      const [[mine, theirs]] = await t.openChannels(1);
      const sent = await t.ptr(Buffer.from("ping"));
      await theirs!.write(sent);
      const got = await thr.malloc(Buffer, 4);
      const [read] = await mine!.read(got);
      assert.equal((await read.read()).toString(), "ping");
    } finally {
      await t.exit(0);
    }
    assert.equal((await proc.waitpid(W.EXITED)).code, 1, "exit(0) of the thread is the process's exit");
  });

  test("a 1 MiB buffer travels both ways intact, in order with the calls around it", async () => {
    const [, t] = await stdinBootstrap(thr, plain());
    try {
      const data = Buffer.alloc(1 << 20);
      for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
      const p = await t.ptr(data);
      // Queued behind the write: the file gets the bytes written, not what was there before.
      const fd = await t.task.memfdCreate(await t.ptr("m"));
      const [written] = await fd.write(p);
      assert.equal(written.size(), data.length);
      assert.deepEqual(await written.read(), data);
    } finally {
      await t.exit(0);
    }
  });

  test("through unshare -r -m with a tmpfs over the package: uid 0 there, nothing of ours installed", async () => {
    const unshare = new Command("/usr/bin/unshare", [
      "unshare",
      "-r",
      "-m",
      "sh",
      "-c",
      'mount -t tmpfs none "$0" && exec "$@"',
      packageRoot,
    ]);
    const [proc, t] = await stdinBootstrap(thr, unshare);
    try {
      assert.equal(await t.task.getuid(), 0);
      await assert.rejects(t.task.open(await t.ptr(join(packageRoot, "package.json")), O.RDONLY), { code: "ENOENT" });
      // Its children exec, as root of that namespace.
      const out = join(scratchDir(), "id");
      const child = await t.clone();
      const fd = await child.task.open(await child.ptr(out), O.of(O.WRONLY, O.CREAT), 0o666);
      await fd.dup2(child.stdout);
      await (await child.exec(new Command("/bin/sh", ["sh", "-c", "id -u"], {}))).check();
      assert.equal(readFileSync(out, "utf8"), "0\n");
    } finally {
      await t.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("through setpriv: a thread as another user, reached through our socket", {
    skip: process.getuid?.() !== 0 && "needs root, to become another user",
  }, async () => {
    const setpriv = new Command("/usr/bin/setpriv", [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
    ]).env({ TMPDIR: "/tmp" }); // our scratch TMPDIR, if any, is not nobody's to write
    const [proc, t] = await stdinBootstrap(thr, setpriv);
    try {
      assert.equal(await t.task.getuid(), 65534);
      assert.equal(await t.task.getgid(), 65534);
      assert.equal(await (await t.ptr("its memory")).read(), "its memory");
    } finally {
      await t.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("through nsenter: a thread in the mount namespace of another process", {
    skip: process.getuid?.() !== 0 && "needs root, for nsenter -m",
  }, async () => {
    const dir = scratchDir();
    const holder = await thr.clone(CLONE.NEWNS);
    try {
      await holder.mount("none", "/", "", MS.of(MS.REC, MS.PRIVATE), "");
      await holder.mount("tmpfs", dir, "tmpfs", 0 as MS, "");
      await holder.spit(join(dir, "only-there"), "in that namespace");
      const nsenter = new Command("/usr/bin/nsenter", ["nsenter", "-t", String(holder.task.pid), "-m"]);
      const [proc, t] = await stdinBootstrap(thr, nsenter);
      try {
        const fd = await t.task.open(await t.ptr(join(dir, "only-there")), O.RDONLY);
        const [got] = await fd.read(await t.malloc(Buffer, 64));
        assert.equal((await got.read()).toString(), "in that namespace");
        assert.ok(!existsSync(join(dir, "only-there")), "not in ours");
      } finally {
        await t.exit(0);
      }
      await proc.waitpid(W.EXITED);
    } finally {
      await holder.exit(0);
    }
  });

  test("a TMPDIR that cannot be written is passed over for the next place", async () => {
    const missing = join(scratchDir(), "missing");
    const [proc, t] = await stdinBootstrap(thr, plain().env({ TMPDIR: missing }));
    await t.exit(0);
    await proc.waitpid(W.EXITED);
  });

  test("a directory mounted noexec is passed over for the next place", async () => {
    const tmp = scratchDir();
    const noexec = new Command("/usr/bin/unshare", [
      "unshare",
      "-r",
      "-m",
      "sh",
      "-c",
      'mount -t tmpfs -o noexec none "$TMPDIR" && exec "$@"',
      "sh",
    ]).env({ TMPDIR: tmp });
    const [, t] = await stdinBootstrap(thr, noexec);
    try {
      assert.equal(await t.task.getuid(), 0);
    } finally {
      await t.exit(0);
    }
  });

  test("a command that fails first rejects promptly with what it printed", async () => {
    const failing = new Command("/bin/sh", ["sh", "-c", 'echo "no such host: nowhere" >&2; exit 3', "sh"], {});
    const before = new Set(childPids());
    await assert.rejects(stdinBootstrap(thr, failing), (e: Error) => {
      assert.match(e.message, /no such host: nowhere/);
      assert.match(e.message, /exited with status 3|code 3|3/);
      return true;
    });
    // The command is reaped before the rejection; the futex helper of the child that exec'd it is
    // reaped a moment after that exec, in its own time.
    const added = () => childPids().filter((pid) => !before.has(pid));
    for (let i = 0; i < 200 && added().length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(added(), [], "the command and its helper were reaped");
  });

  test("over pipes (a command in between that copies bytes), the thread works and fd passing says why not", async () => {
    const relay = new Command("/bin/sh", ["sh", "-c", 'cat | "$@" | cat', "sh"], {});
    const [proc, t] = await stdinBootstrap(thr, relay);
    try {
      // No fd can cross: its memory travels in the stream, in arenas of plain anonymous memory.
      const p = await t.ptr(Buffer.alloc(100_000, 3));
      assert.deepEqual(await p.read(), Buffer.alloc(100_000, 3));
      assert.doesNotMatch(readFileSync(`/proc/${await t.task.getpid()}/maps`, "utf8"), /memfd:rsyscall-window/);
      await assert.rejects(t.openChannels(1), /linked to us by pipes/);
    } finally {
      await t.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("from a clone child", async () => {
    const child = await thr.clone();
    try {
      const [proc, t] = await stdinBootstrap(child, plain());
      // Made with CLONE_PARENT, as every nested clone is: the Node process is its parent.
      assert.equal(await t.task.getpid(), proc.pid);
      assert.equal(await t.task.getppid(), process.pid);
      await t.exit(0);
      await proc.waitpid(W.EXITED);
    } finally {
      await child.exit(0);
    }
  });

  test("async fds of its own: a wait runs beside its calls, and an idle one does not hold Node", async () => {
    // The script must end by itself; the server must then go away, as its link closed.
    const out = await runNodeOk(`
      import { localThread as thr, Command } from "rsyscall";
      import { stdinBootstrap } from "rsyscall/tasks/stdin-bootstrap";
      const [proc, t] = await stdinBootstrap(thr, new Command("/bin/sh", ["sh", "-c", 'exec "$@"', "sh"], {}));
      const { read, write } = await t.pipe();
      const afd = await t.makeAfd(read, true);
      const reading = afd.readSomeBytes();
      await new Promise((r) => setTimeout(r, 50));
      const pid = await t.task.getpid();
      await write.write(await t.ptr(Buffer.from("through its own epoll")));
      const first = (await reading).toString();
      const again = afd.readSomeBytes();
      await write.write(await t.ptr(Buffer.from("again")));
      console.log(JSON.stringify({ pid, first, second: (await again).toString() }));
    `);
    const { pid, first, second } = JSON.parse(out) as { pid: number; first: string; second: string };
    assert.equal(first, "through its own epoll");
    assert.equal(second, "again");
    for (let i = 0; i < 200 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!existsSync(`/proc/${pid}`), "the server went away with the Node process that drove it");
  });

  test("from a bootstrapped thread: a bootstrap of a bootstrap", async () => {
    const [proc, outer] = await stdinBootstrap(thr, plain());
    try {
      const [innerProc, inner] = await stdinBootstrap(outer, plain());
      assert.equal(await inner.task.getppid(), await outer.task.getpid());
      assert.equal(await (await inner.ptr("two links down")).read(), "two links down");
      await inner.exit(0);
      await innerProc.waitpid(W.EXITED);
    } finally {
      await outer.exit(0);
    }
    await proc.waitpid(W.EXITED);
  });

  test("killing the process under a call rejects it, and later calls at once", async () => {
    const [proc, t] = await stdinBootstrap(thr, plain());
    const call = t.task.sysif.syscall(SYS.pause);
    await new Promise((r) => setTimeout(r, 50));
    await proc.kill();
    await assert.rejects(call, SyscallHangupError);
    await assert.rejects(t.task.getpid(), SyscallSendError);
  });

  test("200 bootstraps and exits leave Node's fds and child processes as they were", async () => {
    const fdsBefore = openFds().length;
    const one = async () => {
      const [proc, t]: [unknown, ConnectedThread] = await stdinBootstrap(thr, plain());
      await t.exit(0);
      await (proc as { waitpid(w: W): Promise<unknown> }).waitpid(W.EXITED);
    };
    for (let round = 0; round < 50; round++) await Promise.all([one(), one(), one(), one()]);
    // Handles dropped along the way are closed at the next collection.
    thr.task.collectGarbage();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(openFds().length <= fdsBefore + 2, `fds: ${fdsBefore} before, ${openFds().length} after`);
    assert.deepEqual(childPids(), []);
  });
});
