// The event-fd families: epoll itself, timerfd, signalfd with signal masks and actions, inotify,
// and vectored IO.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Inotify, localThread as thr } from "rsyscall";
import { HowSIG, SIG, Sigaction, Sighandler, SignalBlock, Sigset } from "rsyscall/signal";
import { UInt64 } from "rsyscall/struct";
import { EPOLL, EPOLL_CTL, EpollEvent, EpollEventList } from "rsyscall/sys/epoll";
import { IN } from "rsyscall/sys/inotify";
import { SFD, SignalfdSiginfo } from "rsyscall/sys/signalfd";
import { CLOCK, Itimerspec, TFD, TFD_TIMER } from "rsyscall/sys/timerfd";
import { IovecList } from "rsyscall/sys/uio";
import { Timespec } from "rsyscall/time";
import { fdTarget, isCloexec, procStatus, scratchDir } from "./util.js";

const limit = { timeout: 20_000 };
const seconds = () => Number(process.hrtime.bigint()) / 1e9;

describe("epoll, directly", limit, () => {
  test("epoll_ctl and epoll_wait report a readable pipe with its cookie", async () => {
    const ep = await thr.task.epollCreate();
    assert.ok(isCloexec(ep.near));
    assert.equal(fdTarget(ep.near), "anon_inode:[eventpoll]");
    const { read, write } = await thr.pipe();
    await ep.epollCtl(EPOLL_CTL.ADD, read, await thr.ptr(new EpollEvent(42, EPOLL.IN)));
    const [none] = await ep.epollWait(await thr.malloc(EpollEventList, 4 * EpollEvent.sizeof), 0);
    assert.equal(none.size(), 0);
    await write.write(await thr.ptr(Buffer.from("x")));
    const [valid] = await ep.epollWait(await thr.malloc(EpollEventList, 4 * EpollEvent.sizeof), 0);
    const events = await valid.read();
    assert.deepEqual(
      events.map((e) => [e.data, e.events]),
      [[42, EPOLL.IN]],
    );
    await ep.epollCtl(EPOLL_CTL.DEL, read);
    await assert.rejects(ep.epollCtl(EPOLL_CTL.DEL, read), { code: "ENOENT", syscall: "epoll_ctl" });
    await assert.rejects(ep.epollCtl(EPOLL_CTL.ADD, read), TypeError);
    for (const fd of [ep, read, write]) await fd.close();
  });
});

describe("timerfd", limit, () => {
  test("fires after its value, then every interval; both are kept apart", async () => {
    const tfd = await thr.task.timerfdCreate(CLOCK.MONOTONIC, TFD.NONBLOCK);
    assert.equal(fdTarget(tfd.near), "anon_inode:[timerfd]");
    const start = seconds();
    await tfd.timerfdSettime(0 as TFD_TIMER, await thr.ptr(new Itimerspec(0.05, 0.2)));
    const now = await (await tfd.timerfdGettime(await thr.malloc(Itimerspec))).read();
    assert.deepEqual(now.interval, new Timespec(0, 50_000_000), "the interval is what we set");
    assert.ok(now.value.toSeconds() > 0.05 && now.value.toSeconds() <= 0.2, `value left ${now.value.toSeconds()}`);
    const afd = await thr.makeAfd(tfd);
    const [first] = await afd.read(await thr.malloc(UInt64));
    const firstAt = seconds();
    assert.ok((await first.read()).value >= 1n);
    assert.ok(firstAt - start >= 0.19, `first expiration after ${firstAt - start} s, not before its value`);
    let count = 0n;
    while (count < 3n) {
      const [more] = await afd.read(await thr.malloc(UInt64));
      count += (await more.read()).value;
    }
    // Lower bounds only (the kernel never fires early; a loaded machine may read late): the fourth
    // expiration comes no sooner than the value plus three intervals after arming.
    assert.ok(seconds() - start >= 0.349, "four expirations took at least the value and three intervals");
    const old = await tfd.timerfdSettime(
      0 as TFD_TIMER,
      await thr.ptr(new Itimerspec(0, 0)),
      await thr.malloc(Itimerspec),
    );
    assert.deepEqual((await old.read()).interval, new Timespec(0, 50_000_000));
    await afd.close();
  });

  test("an absolute time in the past fires at once", async () => {
    const tfd = await thr.task.timerfdCreate(CLOCK.MONOTONIC);
    await tfd.timerfdSettime(TFD_TIMER.ABSTIME, await thr.ptr(new Itimerspec(0, new Timespec(0, 1))));
    const [n] = await tfd.read(await thr.malloc(UInt64));
    assert.equal((await n.read()).value, 1n);
    await tfd.close();
  });
});

describe("signals", limit, () => {
  // Node's libuv threads would take a process-directed signal; these tests block a signal in the
  // main thread only and aim it there with tgkill, so only that thread can receive it.
  test("signalfd reads a blocked signal aimed at this thread; no Node listener runs", async () => {
    let listenerRan = false;
    const listener = () => (listenerRan = true);
    process.on("SIGUSR2", listener);
    const tid = await thr.task.gettid();
    assert.equal(tid, process.pid, "the main thread");
    const block = await SignalBlock.make(thr.task, thr.ram, new Sigset([SIG.USR2]));
    try {
      const blocked = BigInt(`0x${procStatus(tid, "SigBlk")}`);
      assert.ok(blocked & (1n << BigInt(SIG.USR2 - 1)), "/proc shows it blocked");
      const sfd = await thr.makeAfd(await thr.task.signalfd(await thr.ptr(new Sigset([SIG.USR2])), SFD.NONBLOCK));
      const reading = sfd.read(await thr.malloc(SignalfdSiginfo));
      await thr.task.tgkill(process.pid, tid, SIG.USR2);
      const [info] = await reading;
      const siginfo = await info.read();
      assert.equal(siginfo.signo, SIG.USR2);
      assert.equal(siginfo.pid, process.pid);
      await sfd.close();
    } finally {
      await block.unblock();
      process.off("SIGUSR2", listener);
    }
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(listenerRan, false);
    assert.equal(BigInt(`0x${procStatus(process.pid, "SigBlk")}`) & (1n << BigInt(SIG.USR2 - 1)), 0n);
  });

  test("SignalBlock refuses a signal that is already blocked", async () => {
    const block = await SignalBlock.make(thr.task, thr.ram, new Sigset([SIG.USR2]));
    await assert.rejects(SignalBlock.make(thr.task, thr.ram, new Sigset([SIG.USR2])), /already blocked/);
    await block.unblock();
    await block.unblock();
  });

  test("sigprocmask reads the mask", async () => {
    const old = await (await thr.task.sigprocmask(HowSIG.BLOCK, undefined, await thr.malloc(Sigset)))!.read();
    const fromProc = Sigset.fromBigInt(BigInt(`0x${procStatus(process.pid, "SigBlk")}`));
    assert.deepEqual([...old].sort(), [...fromProc].sort());
  });

  test("sigaction sets a disposition, /proc sees it, and the old one comes back", async () => {
    const old = await (await thr.task.sigaction(
      SIG.URG,
      await thr.ptr(new Sigaction(Sighandler.IGN)),
      await thr.malloc(Sigaction),
    ))!.read();
    assert.equal(old.handler, Sighandler.DFL);
    assert.ok(BigInt(`0x${procStatus("self", "SigIgn")}`) & (1n << BigInt(SIG.URG - 1)));
    await thr.task.sigaction(SIG.URG, await thr.ptr(old));
    assert.equal(BigInt(`0x${procStatus("self", "SigIgn")}`) & (1n << BigInt(SIG.URG - 1)), 0n);
    const usr1 = await (await thr.task.sigaction(SIG.USR1, undefined, await thr.malloc(Sigaction)))!.read();
    assert.notEqual(usr1.handler, Sighandler.DFL, "Node catches SIGUSR1 (the inspector)");
    await assert.rejects(thr.task.sigaction(SIG.KILL, await thr.ptr(new Sigaction(Sighandler.IGN))), {
      code: "EINVAL",
    });
  });
});

describe("inotify", limit, () => {
  test("reports a file created in a directory, then the watch's removal", async () => {
    const dir = scratchDir();
    const inotify = await Inotify.make(thr);
    const watch = await inotify.add(dir, IN.of(IN.CREATE, IN.DELETE));
    const created = watch.waitUntilEvent(IN.CREATE, "new-file");
    fs.writeFileSync(join(dir, "other"), "");
    fs.writeFileSync(join(dir, "new-file"), "");
    const event = await created;
    assert.equal(event.name, "new-file");
    assert.ok(event.mask & IN.CREATE);
    fs.unlinkSync(join(dir, "new-file"));
    assert.equal((await watch.waitUntilEvent(IN.DELETE)).name, "new-file");
    await watch.remove();
    await inotify.close();
  });

  test("a missing path is ENOENT", async () => {
    const inotify = await Inotify.make(thr);
    await assert.rejects(inotify.add("/nonexistent/dir", IN.CREATE), { code: "ENOENT", path: "/nonexistent/dir" });
    await inotify.close();
  });
});

describe("readv and writev", limit, () => {
  test("a round trip through a pipe, with a partly filled buffer split", async () => {
    const { read, write } = await thr.pipe();
    const out = await thr.ptr(
      new IovecList([await thr.ptr(Buffer.from("hello ")), await thr.ptr(Buffer.from("world"))]),
    );
    const [written, unwritten] = await write.writev(out);
    assert.deepEqual([written.length, unwritten.length], [2, 0]);
    const into = await thr.ptr(
      new IovecList([await thr.malloc(Buffer, 4), await thr.malloc(Buffer, 4), await thr.malloc(Buffer, 8)]),
    );
    const [filled, rest] = await read.readv(into);
    assert.deepEqual(await Promise.all(filled.map(async (p) => (await p.read()).toString())), ["hell", "o wo", "rld"]);
    assert.deepEqual(
      rest.map((p) => p.size()),
      [5],
    );
    await read.close();
    await write.close();
  });

  test("an empty or oversized list is refused", async () => {
    assert.throws(() => new IovecList([]), TypeError);
    const buf = await thr.malloc(Buffer, 1);
    assert.throws(() => new IovecList(Array(2000).fill(buf)), TypeError);
  });
});
