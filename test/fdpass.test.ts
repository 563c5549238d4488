// Fds across processes: SCM_RIGHTS with sendmsg/recvmsg, channels to a child, and inheritance.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, test } from "node:test";
import { Command, localThread as thr } from "rsyscall";
import { AF, CmsgList, CmsgSCMRights, RecvMsghdr, SendMsghdr, SOCK } from "rsyscall/sys/socket";
import { IovecList } from "rsyscall/sys/uio";
import { isCloexec } from "./util.js";

const limit = { timeout: 30_000 };

describe("fd passing", limit, () => {
  test("an fd made after the clone reaches the child with SCM_RIGHTS, close-on-exec", async () => {
    const { first, second } = await thr.socketpair(AF.UNIX, SOCK.STREAM);
    const child = await thr.clone();
    const childEnd = child.inheritFd(second);
    const { read, write } = await thr.pipe();
    const iov = await thr.ptr(new IovecList([await thr.ptr(Buffer.from("!"))]));
    const [sent, unsent] = await first.sendmsg(
      await thr.ptr(new SendMsghdr(iov, await thr.ptr(new CmsgList([new CmsgSCMRights([write])])))),
    );
    assert.deepEqual([sent.length, unsent.length], [1, 0]);
    const room = await child.ptr(new IovecList([await child.malloc(Buffer, 1)]));
    const received = await childEnd.recvmsg(await child.ptr(new RecvMsghdr(room, await child.malloc(CmsgList, 64))));
    assert.equal((await received.filled[0]!.read()).toString(), "!");
    const [rights] = (await received.control!.read()).messages;
    assert.ok(rights instanceof CmsgSCMRights);
    const passed = rights.fds[0]!;
    assert.equal(passed.task, child.task, "a handle in the receiving task");
    assert.equal(
      fs.readlinkSync(`/proc/${child.task.pid}/fd/${passed.near}`),
      fs.readlinkSync(`/proc/self/fd/${write.near}`),
    );
    assert.ok(
      /flags:\s+0?2/.test(fs.readFileSync(`/proc/${child.task.pid}/fdinfo/${passed.near}`, "utf8")),
      "close-on-exec",
    );
    await assert.rejects(received.control!.read(), /already read/);
    await passed.write(await child.ptr(Buffer.from("via the passed fd")));
    const [got] = await read.read(await thr.malloc(Buffer, 64));
    assert.equal((await got.read()).toString(), "via the passed fd");
    await child.exit(0);
    for (const fd of [first, second, read, write]) await fd.close();
  });

  test("openAsyncChannels to a child: each pair is connected, the child's end in the child", async () => {
    const child = await thr.clone();
    const channels = await child.openAsyncChannels(3);
    for (const [i, [ours, theirs]] of channels.entries()) {
      assert.equal(theirs.task, child.task);
      assert.ok(isCloexec(ours.handle.near));
      await theirs.write(await child.ptr(Buffer.from(`channel ${i}`)));
      assert.equal((await ours.readSomeBytes()).toString(), `channel ${i}`);
      await ours.writeAllBytes(Buffer.from("back"));
      const [back] = await theirs.read(await child.malloc(Buffer, 8));
      assert.equal((await back.read()).toString(), "back");
    }
    await child.exit(0);
    for (const [ours] of channels) await ours.close();
  });

  test("unshareFiles: an exec keeps exactly the fds this code claimed", async () => {
    const stray = await thr.pipe();
    await stray.read.disableCloexec(); // inheritable, but the child does not claim it
    const claimed = await thr.pipe();
    const output = await thr.pipe();
    const child = await thr.clone();
    const mine = child.inheritFd(claimed.write);
    await child.inheritFd(output.write).dup2(child.stdout);
    await child.unshareFiles();
    await mine.disableCloexec();
    const proc = await child.exec(
      new Command("/bin/sh", ["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"], {}),
    );
    await output.write.close();
    const afd = await thr.makeAfd(output.read, true);
    const seen = (await afd.readSomeBytes()).toString().trim().split(" ").map(Number);
    await proc.check();
    assert.ok(seen.includes(mine.near), `the claimed fd ${mine.near} survives: ${seen}`);
    assert.ok(!seen.includes(stray.read.near), `the stray fd ${stray.read.near} is gone: ${seen}`);
    await afd.close();
    for (const fd of [stray.read, stray.write, claimed.read, claimed.write]) await fd.close();
  });

  test("the local thread's channels have both ends here", async () => {
    const [[a, b]] = (await thr.openChannels(1)) as [[never, never]];
    assert.equal((a as { task: unknown }).task, thr.task);
    assert.equal((b as { task: unknown }).task, thr.task);
    await assert.rejects(thr.openChannels(1000), TypeError);
  });
});
