// The examples of the public API contract (every section: Imports, Memory, File descriptors,
// Syscall methods, Async IO, Processes, Errors), in plain JavaScript. Each statement of the
// contract appears as written; where it shows fragments, the lines around them only make the
// context they assume. Its paths (/tmp/x, /tmp/d, /tmp/sock) are placeholders: here they are in a
// directory of this test's own.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  AsyncChildProcess,
  AsyncFileDescriptor,
  CalledProcessError,
  ChildThread,
  Command,
  FileDescriptor,
  LinearPointer,
  localThread,
  Pointer,
  ReadablePointer,
  SyscallError,
  Task,
  Thread,
  UseAfterFreeError,
  WrittenPointer,
} from "rsyscall";
import { AT, F, O } from "rsyscall/fcntl";
import { SockaddrIn } from "rsyscall/netinet/in";
import { CLONE } from "rsyscall/sched";
import { SIG } from "rsyscall/signal";
import { Int32, Int64 } from "rsyscall/struct";
import { EPOLL } from "rsyscall/sys/epoll";
import { MS } from "rsyscall/sys/mount";
import { AF, MSG, SHUT, SO, SOCK, SOL } from "rsyscall/sys/socket";
import { SockaddrUn } from "rsyscall/sys/un";
import { W } from "rsyscall/sys/wait";
import { SEEK } from "rsyscall/unistd";

const thr = localThread;

const dir = fs.mkdtempSync(join(tmpdir(), "rsyscall-api-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("Imports", () => {
  test("the header-module imports resolve to constants and classes", () => {
    for (const family of [AT, F, O, CLONE, SIG, EPOLL, MS, AF, MSG, SHUT, SO, SOCK, SOL, W, SEEK]) {
      assert.equal(typeof family.of, "function");
    }
    assert.equal(typeof Int32, "function");
    assert.equal(typeof Int64, "function");
    assert.equal(typeof SockaddrUn, "function");
    assert.equal(typeof SockaddrIn, "function");
    assert.equal(CLONE.NEWUSER | CLONE.NEWPID, 0x30000000, "flags combine with | in JavaScript");
  });

  test("the main module's names", () => {
    for (const cls of [
      Thread,
      Command,
      Task,
      FileDescriptor,
      Pointer,
      WrittenPointer,
      ReadablePointer,
      LinearPointer,
      SyscallError,
    ]) {
      assert.equal(typeof cls, "function");
    }
    assert.ok(localThread instanceof Thread, "localThread is ready when the import resolves");
  });

  test("the async IO and child process names", () => {
    for (const cls of [ChildThread, AsyncFileDescriptor, AsyncChildProcess, CalledProcessError]) {
      assert.equal(typeof cls, "function");
    }
  });
});

describe("Memory", () => {
  test("the Memory example", async () => {
    const p = await thr.ptr("hello"); // WrittenPointer<string>, NUL-terminated
    const b = await thr.ptr(Buffer.from("hi")); // WrittenPointer<Buffer>, bytes as they are
    const n = await thr.ptr(new Int32(7)); // any value with a serializer
    const buf = await thr.malloc(Buffer, 4096); // Pointer<Buffer> of 4096 bytes
    const i = await thr.malloc(Int32); // fixed-size types need no size
    await buf.read();
    await p.write("other");
    p.size();
    const [a, rest] = buf.split(10);
    a.merge(rest);
    buf.free();

    assert.ok(p instanceof WrittenPointer && b instanceof WrittenPointer && n instanceof WrittenPointer);
    assert.deepEqual(await b.read(), Buffer.from("hi"));
    assert.equal((await n.read()).value, 7);
    assert.equal(i.size(), 4);
    assert.equal((await thr.malloc(String, 8)).size(), 8, "malloc(String, n) allocates for a string");
    await assert.rejects(p.read(), UseAfterFreeError, "a consumed pointer throws on use");
  });
});

describe("File descriptors", () => {
  test("the File descriptors example", async () => {
    const fd = await thr.task.open(await thr.ptr("/etc/hostname"), O.RDONLY);
    const [valid, rest] = await fd.read(await thr.malloc(Buffer, 4096)); // partial read splits
    const data = await valid.read(); // Buffer
    assert.deepEqual(data, fs.readFileSync("/etc/hostname"));
    assert.equal(valid.size() + rest.size(), 4096);
    {
      // (The page writes to the same fd; a read-only one would say EBADF, so here it is writable.)
      const fd = await thr.task.open(await thr.ptr("/dev/null"), O.WRONLY);
      const [written, unwritten] = await fd.write(await thr.ptr(Buffer.from("x")));
      assert.deepEqual([written.size(), unwritten.size()], [1, 0]);
      await fd.close();
    }
    await fd.close();
    const { read, write } = await thr.pipe();
    const { first, second } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
    const sock = await thr.socket(AF.INET, SOCK.STREAM);
    const addr = await thr.bindGetsockname(sock, new SockaddrIn(0, "127.0.0.1"));
    assert.ok(addr.port > 0);
    {
      // readToEof blocks the thread until EOF, so the pipe's writer finishes first.
      const fd = read;
      await write.write(await thr.ptr(Buffer.from("piped")));
      await write.close();
      await thr.spit(`${dir}/x`, "text");
      await thr.mkdir(`${dir}/d`);
      const got = await thr.readToEof(fd);
      assert.equal(got.toString(), "piped");
      assert.equal(fs.readFileSync(`${dir}/x`, "utf8"), "text");
      assert.ok(fs.statSync(`${dir}/d`).isDirectory());
    }
    {
      const fd = first;
      const otherFd = await thr.task.open(await thr.ptr("/dev/null"), O.RDONLY);
      await fd.dup2(otherFd);
      await fd.disableCloexec();
      const num = await fd.asArgument();
      assert.equal(fd.asProcPath(), `/proc/${process.pid}/fd/${num}`); // "/proc/<pid>/fd/<n>"
      assert.match(fs.readlinkSync(`/proc/self/fd/${otherFd.near}`), /^socket:/);
      await otherFd.close();
    }
    for (const f of [read, first, second, sock]) await f.close();
  });
});

describe("Syscall methods", () => {
  test("the Syscall methods example", async () => {
    const efd = await thr.task.eventfd(0); // flags optional
    const mfd = await thr.task.memfdCreate(await thr.ptr("name"));
    const [valid, rest] = await mfd.pread(await thr.malloc(Buffer, 4), 0);
    await mfd.pwrite(await thr.ptr(Buffer.from("abc")), 1);
    assert.deepEqual([valid.size(), rest.size()], [0, 4], "an empty file reads nothing");
    assert.deepEqual(fs.readFileSync(mfd.asProcPath()), Buffer.from("\0abc"));

    const path = `${dir}/api.sock`;
    const ptr = await thr.ptr(new SockaddrUn(path));
    const sock = await thr.socket(AF.UNIX, SOCK.STREAM);
    const client = await thr.socket(AF.UNIX, SOCK.STREAM);
    await sock.bind(ptr);
    await sock.listen(10);
    await client.connect(ptr);
    const conn = await sock.accept(SOCK.NONBLOCK);
    await sock.shutdown(SHUT.RD);
    assert.ok((await conn.fcntl(F.GETFL)) & O.NONBLOCK);

    const fd = mfd;
    await fd.lseek(0, SEEK.SET);
    await thr.task.getpid();
    await thr.task.getuid();
    assert.equal(await thr.task.getpid(), process.pid);
    assert.equal(await thr.task.getuid(), process.getuid());
    for (const f of [efd, mfd, sock, client, conn]) await f.close();
    fs.rmSync(path);
  });
});

describe("Async IO", { timeout: 30_000 }, () => {
  test("the Async IO example", async () => {
    const listening = await thr.makeAfd(await thr.socket(AF.UNIX, SOCK.STREAM), true);
    await listening.bind(await thr.ptr(new SockaddrUn(`${dir}/sock`)));
    await listening.handle.listen(10);
    {
      const { first: fd, second: peer } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
      await peer.write(await thr.ptr(Buffer.from("from the peer")));
      const afd = await thr.makeAfd(fd, true); // true: set O_NONBLOCK first
      const bytes = await afd.readSomeBytes(); // Buffer, at most 4096 by default
      await afd.writeAllBytes(Buffer.from("hello"));
      assert.equal(bytes.toString(), "from the peer");
      const [back] = await peer.read(await thr.malloc(Buffer, 16));
      assert.equal((await back.read()).toString(), "hello");
      await afd.close();
      await peer.close();
    }
    const afd = await thr.makeAfd(await thr.socket(AF.UNIX, SOCK.STREAM), true);
    await afd.connect(await thr.ptr(new SockaddrUn(`${dir}/sock`)));
    const conn = await listening.accept(SOCK.NONBLOCK); // on an AsyncFileDescriptor
    assert.ok((await conn.fcntl(F.GETFL)) & O.NONBLOCK);
    await afd.close();
    await conn.close();
    await listening.close();
  });
});

describe("Processes", { timeout: 30_000 }, () => {
  test("the Processes example", async () => {
    const pipeIn = await thr.pipe();
    const child = await thr.clone(); // ChildThread
    const ns = await thr.clone(CLONE.NEWUSER | CLONE.NEWPID | CLONE.NEWNS);
    const cat = await child.environ.which("cat"); // Command
    const inFd = child.inheritFd(pipeIn.read);
    await inFd.dup2(child.stdin);
    assert.equal(await ns.task.getpid(), 1);
    // The child's own syscalls and namespaces, before it execs.
    await child.task.getpid();
    await child.unshareUser();
    await child.unshare(CLONE.NEWNET);
    assert.notEqual(fs.readlinkSync(`/proc/${child.task.pid}/ns/net`), fs.readlinkSync("/proc/self/ns/net"));
    {
      // ns has a mount namespace of its own; a tmpfs on its /mnt keeps the host's /mnt untouched.
      const child = ns;
      await child.mount("tmpfs", "/mnt", "tmpfs", 0, "");
      await child.mkdir("/mnt/proc");
      await child.mount("/proc", "/mnt/proc", "", MS.BIND, "");
      await child.chroot("/mnt");
      assert.ok(fs.existsSync(`/proc/${child.task.pid}/root/proc/1`), "its root now holds its /proc");
      await child.exit(0);
    }

    const proc = await child.exec(cat.args("-u")); // AsyncChildProcess
    await pipeIn.read.close();
    await pipeIn.write.write(await thr.ptr(Buffer.from("meow")));
    await pipeIn.write.close();
    const state = await proc.check(); // throws CalledProcessError unless it exited 0
    assert.ok(state.clean());
    await proc.waitpid(W.EXITED);
    {
      const proc = await thr.spawn(new Command("/bin/sh", ["sh", "-c", "sleep 10"], {}));
      await proc.kill(SIG.TERM);
      assert.equal((await proc.waitpid(W.EXITED)).killedWith(), SIG.TERM);
    }
    await thr.run(new Command("/bin/sh", ["sh", "-c", "true"], {}));
    const [path, argv, envUpdates] = ["/bin/echo", ["echo"], { A: "1" }];
    const line = new Command(path, argv, envUpdates).args("more").env({ KEY: "v" }).inShellForm();
    assert.equal(line, "A=1 KEY=v /bin/echo more");
    const failing = await thr.run(new Command("/bin/sh", ["sh", "-c", "exit 2"], {})).catch((e) => e);
    assert.ok(failing instanceof CalledProcessError);
    await (async () => {
      const child = await thr.clone();
      await child.exit(0);
    })();
  });
});

describe("Errors", () => {
  test("a failed syscall rejects with SyscallError carrying code, errno, syscall and path", async () => {
    const err = await thr.task.open(await thr.ptr("/nonexistent"), O.RDONLY).catch((e) => e);
    assert.ok(err instanceof SyscallError && err instanceof Error);
    assert.equal(err.code, "ENOENT");
    assert.equal(err.errno, 2);
    assert.equal(err.syscall, "openat");
    assert.equal(err.path, "/nonexistent");
  });
});
