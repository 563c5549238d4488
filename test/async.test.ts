// Async IO: the Epoller in Node's event loop and AsyncFileDescriptor, against real pipes and sockets.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ClosedFileDescriptorError, type SyscallArg, type SyscallInterface, Task, localThread as thr } from "rsyscall";
import { F, O } from "rsyscall/fcntl";
import { SockaddrIn } from "rsyscall/netinet/in";
import { Int32 } from "rsyscall/struct";
import { EPOLL } from "rsyscall/sys/epoll";
import { AF, CmsgList, CmsgSCMRights, MSG, SendMsghdr, SHUT, SOCK, SOL } from "rsyscall/sys/socket";
import { IovecList } from "rsyscall/sys/uio";
import { SockaddrUn } from "rsyscall/sys/un";
import { scratchDir } from "./util.js";

async function asyncPipe() {
  const { read, write } = await thr.pipe();
  return { r: await thr.makeAfd(read, true), w: await thr.makeAfd(write, true) };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A bug here tends to hang a wait forever: each test fails after its timeout instead.
const limit = { timeout: 20_000 };

describe("AsyncFileDescriptor over pipes", limit, () => {
  test("a read waits for a later write without blocking the event loop", async () => {
    const { r, w } = await asyncPipe();
    let reading = true;
    const got = r.readSomeBytes().finally(() => (reading = false));
    await tick(20);
    assert.ok(reading, "still waiting: nothing was written");
    await w.writeAllBytes(Buffer.from("later"));
    assert.equal((await got).toString(), "later");
    await r.close();
    await w.close();
  });

  for (const count of [5, 500]) {
    test(`${count} concurrent pipes each deliver their own data`, async () => {
      const pipes = await Promise.all(Array.from({ length: count }, asyncPipe));
      const reads = pipes.map(({ r }) => r.readSomeBytes());
      await Promise.all(pipes.map(({ w }, i) => w.writeAllBytes(Buffer.from(`pipe ${i}`))));
      const results = await Promise.all(reads);
      assert.deepEqual(
        results.map((b) => b.toString()),
        pipes.map((_, i) => `pipe ${i}`),
      );
      for (const { r, w } of pipes) {
        await r.close();
        await w.close();
      }
    });
  }

  test("8 MiB through a pipe arrives intact", async () => {
    const { r, w } = await asyncPipe();
    const data = Buffer.alloc(8 << 20);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    const writing = w.writeAllBytes(data).then(() => w.close());
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = await r.readSomeBytes(65536);
      if (chunk.length === 0) break;
      chunks.push(chunk);
    }
    await writing;
    assert.ok(Buffer.concat(chunks).equals(data));
    await r.close();
  });

  test("makeAfd refuses a blocking fd (a read would block its process), unless told to set O_NONBLOCK", async () => {
    const { read, write } = await thr.pipe();
    await assert.rejects(thr.makeAfd(read), { name: "TypeError", message: /not O_NONBLOCK/ });
    const afd = await thr.makeAfd(read, true);
    await afd.close();
    await write.close();
  });

  for (const where of ["the Node process", "a child (through memory the AFD keeps)"]) {
    test(`readSomeBytes and writeAllBytes in ${where}: a Buffer returned is the caller's, and concurrent calls do not share memory`, async () => {
      const child = where === "the Node process" ? undefined : await thr.clone();
      const t = child ?? thr;
      const { read, write } = await t.pipe();
      const r = await t.makeAfd(read, true);
      const w = await t.makeAfd(write, true);
      await w.writeAllBytes(Buffer.from("first"));
      const first = await r.readSomeBytes(64);
      await w.writeAllBytes(Buffer.from("second"));
      const second = await r.readSomeBytes(64);
      assert.equal(first.toString(), "first", "not overwritten by the next read");
      assert.equal(second.toString(), "second");
      // Two writes of 1 MiB at once, each of its own byte, and reads at once: every byte arrives, none
      // from the other call's data.
      const a = Buffer.alloc(1 << 20, 0x61);
      const b = Buffer.alloc(1 << 20, 0x62);
      // Each side's kept memory made big enough first, so that the calls below would find it ready.
      const warm = w.writeAllBytes(Buffer.alloc(1 << 20));
      for (let got = 0; got < 1 << 20; ) got += (await r.readSomeBytes(1 << 20)).length;
      await warm;
      const writing = Promise.all([w.writeAllBytes(a), w.writeAllBytes(b)]).then(() => w.close());
      const counts = new Map<number, number>();
      for (;;) {
        const chunks = await Promise.all([r.readSomeBytes(1 << 20), r.readSomeBytes(1 << 20)]);
        for (const chunk of chunks) for (const byte of chunk) counts.set(byte, (counts.get(byte) ?? 0) + 1);
        if (chunks.every((c) => c.length === 0)) break;
      }
      await writing;
      assert.deepEqual([...counts.entries()].sort(), [
        [0x61, 1 << 20],
        [0x62, 1 << 20],
      ]);
      await r.close();
      await child?.exit(0);
    });
  }

  test("a read in the wrong direction fails with EBADF at once", async () => {
    const { r, w } = await asyncPipe();
    const start = process.hrtime.bigint();
    await assert.rejects(w.read(await thr.malloc(Buffer, 8)), { code: "EBADF", syscall: "read" });
    assert.ok(process.hrtime.bigint() - start < 1_000_000_000n, "within a second");
    await assert.rejects(r.write(await thr.ptr(Buffer.from("x"))), { code: "EBADF", syscall: "write" });
    await r.close();
    await w.close();
  });

  test("an fd ready before it is registered brings an edge (pidfds start out assumed not ready)", async () => {
    // AsyncChildProcess forgets the optimistic start of its pidfd's registration: a child dead
    // already must still be heard, from the event epoll reports as the entry is added.
    const { read, write } = await thr.pipe();
    await write.write(await thr.ptr(Buffer.from("x")));
    const r = await thr.makeAfd(read, true);
    r.epolled.negedge(EPOLL.IN | EPOLL.OUT, 0);
    assert.equal(r.epolled.status & EPOLL.IN, 0);
    await r.epolled.waitFor(EPOLL.IN);
    assert.equal((await r.readSomeBytes()).toString(), "x");
    await r.close();
    await write.close();
  });
  test("an EAGAIN that returns after the data and its edge arrived still completes the read", async () => {
    // A syscall interface that performs each syscall at once but hands back read's result only
    // when told: the EAGAIN of an empty pipe is returned after data was written and epoll saw it.
    const local = thr.task.sysif;
    let release: (() => void) | undefined;
    const hold = (nr: number, result: Promise<number>): Promise<number> => {
      if (release !== undefined || nr !== 0 /* read */) return result;
      result.catch(() => {}); // handled once released
      return new Promise((resolve, reject) => {
        release = () => result.then(resolve, reject);
      });
    };
    const delayed: SyscallInterface = {
      syscall: (nr: number, ...args: SyscallArg[]) => hold(nr, local.syscall(nr, ...args)),
      syscallRaw: (nr: number, ...args: SyscallArg[]) => hold(nr, local.syscallRaw(nr, ...args)),
      close: () => local.close(),
    };
    const slowTask = new Task(delayed, thr.task.pid, thr.task);
    const { r, w } = await asyncPipe();
    const slow = r.withHandle(r.handle.forTask(slowTask));
    const reading = slow.readSomeBytes();
    await tick(10);
    assert.ok(release, "the first read (an EAGAIN) is being held");
    await w.writeAllBytes(Buffer.from("raced"));
    await tick(10);
    release();
    assert.equal((await reading).toString(), "raced");
    await r.close();
    await w.close();
  });

  test("close removes the registration and rejects waiting reads", async () => {
    const { r, w } = await asyncPipe();
    const before = thr.epoller.size;
    const waiting = r.readSomeBytes();
    await r.close();
    await assert.rejects(waiting, ClosedFileDescriptorError);
    assert.equal(thr.epoller.size, before - 1);
    await w.close();
  });

  test("the event loop stays responsive: a setInterval keeps firing while 100 reads wait", async () => {
    const pipes = await Promise.all(Array.from({ length: 100 }, asyncPipe));
    const reads = pipes.map(({ r }) => r.readSomeBytes());
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    while (ticks < 10) await tick(5);
    clearInterval(timer);
    for (const { w } of pipes) await w.writeAllBytes(Buffer.from("x"));
    assert.equal((await Promise.all(reads)).length, 100);
    for (const { r, w } of pipes) {
      await r.close();
      await w.close();
    }
  });
});

describe("AsyncFileDescriptor over sockets", limit, () => {
  test("a unix socket accept/connect pair, fully async", async () => {
    const path = join(scratchDir(), "async.sock");
    const server = await thr.makeAfd(await thr.socket(AF.UNIX, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK)));
    await server.bind(await thr.ptr(new SockaddrUn(path)));
    await server.handle.listen(10);
    const accepting = server.accept(SOCK.NONBLOCK);
    const client = await thr.makeAfd(await thr.socket(AF.UNIX, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK)));
    await client.connect(await thr.ptr(new SockaddrUn(path)));
    const conn = await server.makeNewAfd(await accepting);
    await client.writeAllBytes(Buffer.from("over unix"));
    assert.equal((await conn.readSomeBytes()).toString(), "over unix");
    await client.handle.shutdown(SHUT.WR);
    await conn.waitForRdhup();
    for (const afd of [server, client, conn]) await afd.close();
  });

  test("a TCP accept/connect pair, fully async, with peer addresses", async () => {
    const server = await thr.makeAfd(await thr.socket(AF.INET, SOCK.STREAM), true);
    const addr = await thr.bindGetsockname(server.handle, new SockaddrIn(0, "127.0.0.1"));
    await server.handle.listen(10);
    const accepting = server.acceptAddr(SOCK.NONBLOCK);
    const client = await thr.makeAfd(await thr.socket(AF.INET, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK)));
    await client.connect(await thr.ptr(addr));
    const [connFd, peer] = await accepting;
    assert.ok(peer instanceof SockaddrIn);
    assert.equal(peer.addr, "127.0.0.1");
    const conn = await server.makeNewAfd(connFd);
    await conn.writeAllBytes(Buffer.from("over tcp"));
    assert.equal((await client.readSomeBytes()).toString(), "over tcp");
    for (const afd of [server, client, conn]) await afd.close();
  });

  test("a refused async connect rejects with ECONNREFUSED", async () => {
    const probe = net.createServer().listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const client = await thr.makeAfd(await thr.socket(AF.INET, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK)));
    await assert.rejects(client.connect(await thr.ptr(new SockaddrIn(port, "127.0.0.1"))), {
      code: "ECONNREFUSED",
      syscall: "connect",
    });
    await client.close();
  });

  test("talks to a Node server and client", async () => {
    const server = net.createServer((s) => s.pipe(s)).listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as net.AddressInfo).port;
    const client = await thr.makeAfd(await thr.socket(AF.INET, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK)));
    await client.connect(await thr.ptr(new SockaddrIn(port, "127.0.0.1")));
    await client.writeAllBytes(Buffer.from("echo me"));
    assert.equal((await client.readSomeBytes()).toString(), "echo me");
    await client.close();
    server.close();
  });
});

describe("a short read is not taken for drained (readSomeBytes on our own fds)", limit, () => {
  /** Rejects instead of hanging: taking the fd for drained wrongly waits for an edge that never comes. */
  const soon = <T>(p: Promise<T>, what: string) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer`)), 3000)),
    ]);
  /** Until the epoller has heard the edges of what was sent. */
  const settle = () => new Promise((r) => setTimeout(r, 30));
  const fdCount = () => readdirSync("/proc/self/fd").length;
  /** Whether an out-of-band byte was sent: a kernel built without CONFIG_AF_UNIX_OOB refuses it. */
  const sendsOob = (send: Promise<unknown>) =>
    send.then(
      () => true,
      (e: { code?: string }) => {
        if (e.code !== "EOPNOTSUPP") throw e;
        return false;
      },
    );

  test("of a pipe: bytes written after it still arrive, and a read in between waits for them", async () => {
    const { read, write } = await thr.pipe();
    const [r, w] = [await thr.makeAfd(read, true), await thr.makeAfd(write, true)];
    try {
      for (let i = 0; i < 50; i++) {
        await w.writeAllBytes(Buffer.from(`chunk ${i};`));
        assert.equal((await soon(r.readSomeBytes(4096), "a short read")).toString(), `chunk ${i};`);
        const next = r.readSomeBytes(4096);
        await w.writeAllBytes(Buffer.from("more"));
        assert.equal((await soon(next, "the read after it")).toString(), "more");
      }
      await w.close();
      assert.equal((await soon(r.readSomeBytes(10), "EOF")).length, 0);
    } finally {
      // A read left waiting (a failure) would hold Node open: closing ends it.
      await Promise.all([r.close(), w.close()].map((p) => p.catch(() => {})));
    }
  });

  test("of a pipe whose writer's end is O_DIRECT: a read stops after a packet, with more queued", async () => {
    const { read, write } = await thr.pipe();
    await write.fcntl(F.SETFL, O.DIRECT); // the reader's flags do not show it
    const [r, w] = [await thr.makeAfd(read, true), await thr.makeAfd(write, true)];
    try {
      for (let i = 0; i < 3; i++) {
        await w.writeAllBytes(Buffer.from("x"));
        assert.equal((await soon(r.readSomeBytes(4096), "a short read")).toString(), "x");
        await settle();
        await w.writeAllBytes(Buffer.from("aa"));
        await w.writeAllBytes(Buffer.from("bbb"));
        await settle();
        assert.equal((await soon(r.readSomeBytes(4096), "the first packet")).toString(), "aa");
        assert.equal((await soon(r.readSomeBytes(4096), "the packet behind it")).toString(), "bbb");
      }
    } finally {
      await Promise.all([r.close(), w.close()].map((p) => p.catch(() => {})));
    }
  });

  test("of a unix stream socket passing pidfds (SO_PASSPIDFD): no pidfd is left open", async (t) => {
    const { first, second } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
    const SO_PASSPIDFD = 76; // Linux 6.5
    try {
      await second.setsockopt(SOL.SOCKET, SO_PASSPIDFD, await thr.ptr(new Int32(1)));
    } catch (e) {
      await Promise.all([first.close(), second.close()]);
      return t.skip(`no SO_PASSPIDFD here: ${(e as Error).message}`);
    }
    const r = await thr.makeAfd(second, true);
    try {
      const one = async (bytes: string) => first.send(await thr.ptr(Buffer.from(bytes)));
      await one("x");
      assert.equal((await soon(r.readSomeBytes(4096), "the first read")).toString(), "x");
      await settle();
      const before = fdCount();
      for (let i = 0; i < 50; i++) {
        await one(`message ${i}`);
        assert.equal((await soon(r.readSomeBytes(4096), "a read")).toString(), `message ${i}`);
      }
      assert.equal(fdCount(), before, "no pidfd left open");
    } finally {
      await Promise.all([r.close(), first.close()].map((p) => p.catch(() => {})));
    }
  });

  test("of a unix stream socket: not after bytes that came with fds, nor before an out-of-band byte", async () => {
    const { first, second } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
    const r = await thr.makeAfd(second, true);
    const one = (bytes: string, flags = 0 as MSG) => thr.ptr(Buffer.from(bytes)).then((p) => first.send(p, flags));
    await one("x");
    assert.equal((await soon(r.readSomeBytes(4096), "the first read")).toString(), "x");
    await settle();
    const { read, write } = await thr.pipe();
    const before = fdCount();
    try {
      for (let i = 0; i < 3; i++) {
        // A read stops at bytes that carried fds, with more queued behind: no edge will come for those.
        const iov = await thr.ptr(new IovecList([await thr.ptr(Buffer.from("a"))]));
        await first.sendmsg(
          await thr.ptr(new SendMsghdr(iov, await thr.ptr(new CmsgList([new CmsgSCMRights([write])])))),
        );
        await one("bbb");
        await settle();
        assert.equal((await soon(r.readSomeBytes(4096), "the bytes with the fd")).toString(), "a");
        assert.equal((await soon(r.readSomeBytes(4096), "the bytes behind them")).toString(), "bbb");
        assert.equal(fdCount(), before, "the fds that came are closed, as read(2) drops them");
        // The same before an out-of-band byte (EPOLLPRI): the read stops short of it. (A kernel
        // built without CONFIG_AF_UNIX_OOB refuses the byte: nothing to check there.)
        await one("cc");
        const oob = await sendsOob(one("!", MSG.OOB));
        if (!oob) {
          assert.equal((await soon(r.readSomeBytes(4096), "the bytes")).toString(), "cc");
          continue;
        }
        await one("ddd");
        await settle();
        assert.equal((await soon(r.readSomeBytes(4096), "the bytes before the mark")).toString(), "cc");
        assert.equal((await soon(r.readSomeBytes(4096), "the bytes after it")).toString(), "ddd");
      }
    } finally {
      // A read left waiting (a failure) would hold Node open: closing ends it.
      await Promise.all([r.close(), first.close(), read.close(), write.close()].map((p) => p.catch(() => {})));
    }
  });

  test("of a unix stream socket: not at the place of an out-of-band byte someone already took", async (t) => {
    const { first, second } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
    const r = await thr.makeAfd(second, true);
    const one = (bytes: string, flags = 0 as MSG) => thr.ptr(Buffer.from(bytes)).then((p) => first.send(p, flags));
    try {
      await one("x");
      assert.equal((await soon(r.readSomeBytes(4096), "the first read")).toString(), "x");
      await settle();
      for (let i = 0; i < 3; i++) {
        await one("aaa");
        const oob = await sendsOob(one("!", MSG.OOB));
        if (!oob) return t.skip("no out-of-band bytes on unix sockets here (CONFIG_AF_UNIX_OOB)");
        await one("ccc");
        // The urgent byte is taken before epoll is heard: the read still stops at its place, and
        // epoll no longer says EPOLLPRI.
        const [urgent] = await second.recv(await thr.malloc(Buffer, 1), MSG.OOB);
        assert.equal((await urgent.read()).toString(), "!");
        await settle();
        assert.equal((await soon(r.readSomeBytes(4096), "the bytes before the mark")).toString(), "aaa");
        assert.equal((await soon(r.readSomeBytes(4096), "the bytes after it")).toString(), "ccc");
      }
    } finally {
      await Promise.all([r.close(), first.close()].map((p) => p.catch(() => {})));
    }
  });
});
