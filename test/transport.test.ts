// The two syscall transports, the Node process itself (LocalSyscall) and a child over its socket
// (SyscallConnection): arguments are refused the same way by both, before anything runs, and a
// child's connection stays linear with many requests outstanding.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { type ChildThread, type SyscallConnection, type Thread, localThread as thr } from "rsyscall";
import { SYS } from "rsyscall/sys/syscall";
import { SEEK } from "rsyscall/unistd";

const bad: [string, unknown][] = [
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["-Infinity", Number.NEGATIVE_INFINITY],
  ["a fraction", 1.5],
  ["2^64", 2 ** 64],
  ["below -2^63", -(2 ** 63) - 2 ** 11],
  ["the bigint 2^64", 2n ** 64n],
  ["the bigint -2^63 - 1", -(2n ** 63n) - 1n],
];
const wrongType: [string, unknown][] = [
  ["a string", "5"],
  ["null", null],
  ["an object", {}],
];

async function withBoth(f: (t: Thread, name: string) => Promise<void>): Promise<void> {
  await f(thr, "local");
  const child = await thr.clone();
  try {
    await f(child, "child");
  } finally {
    await child.exit(0);
  }
}

describe("syscall arguments", { timeout: 30_000 }, () => {
  test("both transports refuse what is not a 64-bit integer with RangeError, before the call", async () => {
    await withBoth(async (t, where) => {
      const { read, write } = await t.pipe();
      for (const [what, value] of bad) {
        // write(fd, "x", count): had it run, the pipe would hold the byte.
        const x = await t.ptr(Buffer.from("x"));
        await assert.rejects(
          t.task.sysif.syscall(SYS.write, write.near, x.near, value as number),
          (e: Error) => e instanceof RangeError && /write: argument 3/.test(e.message),
          `${where}: ${what}`,
        );
        x.free();
      }
      for (const [what, value] of wrongType) {
        await assert.rejects(t.task.sysif.syscall(SYS.getpid, value as number), TypeError, `${where}: ${what}`);
      }
      await assert.rejects(t.task.sysif.syscall(Number.NaN), RangeError, `${where}: a NaN syscall number`);
      await assert.rejects(t.task.sysif.syscallRaw(SYS.getpid, Number.NaN), RangeError, `${where}: syscallRaw`);
      if (t !== thr) assert.equal((t as ChildThread).connection.outstanding, 0, "nothing was queued");
      // Nothing reached the pipe, and the transport still works.
      await write.close();
      assert.equal((await t.readToEof(read)).length, 0, `${where}: no write ran`);
      await read.close();
      assert.equal(await t.task.getpid(), t.task.pid);
    });
  });

  test("a refused request between two good ones leaves the stream intact", async () => {
    const child = await thr.clone();
    const sysif = child.task.sysif;
    const [a, b, c] = await Promise.allSettled([
      sysif.syscall(SYS.getpid),
      sysif.syscall(SYS.getppid, Number.NaN),
      sysif.syscall(SYS.getppid),
    ]);
    assert.deepEqual(a, { status: "fulfilled", value: child.task.pid });
    assert.equal(b.status, "rejected");
    assert.deepEqual(c, { status: "fulfilled", value: process.pid });
    await child.exit(0);
  });

  test("bigints carry all 64 bits; integral numbers beyond 2^53 go exactly", async () => {
    await withBoth(async (t, where) => {
      const mfd = await t.task.memfdCreate(await t.ptr("offsets"));
      assert.equal(await mfd.lseek(2n ** 62n, SEEK.SET), 2 ** 62, `${where}: 2^62 as a bigint`);
      assert.equal(await mfd.lseek(2 ** 60, SEEK.SET), 2 ** 60, `${where}: 2^60 as a number`);
      assert.equal(await mfd.lseek(2 ** 53 + 2, SEEK.SET), 2 ** 53 + 2, `${where}: 2^53 + 2 as a number`);
      // 2^64 - 1 and -1 are the same register value; -1 as an offset is EINVAL either way.
      await assert.rejects(mfd.lseek(2n ** 64n - 1n, SEEK.SET), { code: "EINVAL" }, where);
      await assert.rejects(mfd.lseek(-1, SEEK.SET), { code: "EINVAL" }, where);
      await mfd.close();
    });
  });
});

describe("a child's connection", () => {
  // Quadratic bookkeeping took 14.8 s for 2e5 outstanding requests; linear takes about one. The
  // timeout is a hang guard with a wide margin, not a timing.
  test("2e5 requests outstanding at once all come back, in order", { timeout: 10_000 }, async () => {
    const child = await thr.clone();
    const connection = child.task.sysif as SyscallConnection;
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 2e5; i++) calls.push(i % 2 ? child.task.getpid() : child.task.getppid());
    assert.equal(connection.outstanding, 2e5);
    const results = await Promise.all(calls);
    for (let i = 0; i < results.length; i++) {
      if (results[i] !== (i % 2 ? child.task.pid : process.pid)) assert.fail(`reply ${i} is out of order`);
    }
    assert.equal(connection.outstanding, 0);
    await child.exit(0);
  });

  test("the server reads pipelined requests in bulk but answers each in turn", async () => {
    const { read, write } = await thr.pipe();
    const child = await thr.clone();
    // A blocking read in the middle: requests before it are answered before it blocks.
    const theirs = child.inheritFd(read);
    const before = child.task.getpid();
    const blocked = theirs.read(await child.malloc(Buffer, 4));
    const after = child.task.getppid();
    assert.equal(await before, child.task.pid, "answered though a later request blocks");
    assert.match(readFileSync(`/proc/${child.task.pid}/status`, "utf8"), /State:\s+S/, "blocked in the read");
    await thr.spit(write, "data");
    assert.equal((await (await blocked)[0].read()).toString(), "data");
    assert.equal(await after, process.pid);
    await read.close();
    await child.exit(0);
  });
});
