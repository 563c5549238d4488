// Memory: pointers, their typestate and lifetime, the allocator, and the struct framework.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { LinearPointer, ReadablePointer, localThread as thr, UseAfterFreeError, WrittenPointer } from "rsyscall";
import { Int32, Int64, UInt32, UInt64 } from "rsyscall/struct";
import { SYS } from "rsyscall/sys/syscall";
import { IovecList } from "rsyscall/sys/uio";
import { ArgList, Pipe } from "rsyscall/unistd";
import { mappings, readMemory, waitUntilBlocked } from "./util.js";

describe("ptr and malloc", () => {
  test("a string is written NUL-terminated and reads back", async () => {
    const p = await thr.ptr("hello");
    assert.ok(p instanceof WrittenPointer);
    assert.equal(p.value, "hello");
    assert.equal(p.size(), 6);
    assert.equal(await p.read(), "hello");
    p.free();
  });

  test("a Buffer is written as it is", async () => {
    const p = await thr.ptr(Buffer.from([1, 2, 0, 3]));
    assert.equal(p.size(), 4);
    assert.deepEqual(await p.read(), Buffer.from([1, 2, 0, 3]));
  });

  test("fixed-size integers round-trip and check their range", async () => {
    assert.equal((await (await thr.ptr(new Int32(-7))).read()).value, -7);
    assert.equal((await (await thr.ptr(new UInt32(2 ** 32 - 1))).read()).value, 2 ** 32 - 1);
    assert.equal((await (await thr.ptr(new Int64(-(2n ** 63n)))).read()).value, -(2n ** 63n));
    assert.equal((await (await thr.ptr(new UInt64(2n ** 64n - 1n))).read()).value, 2n ** 64n - 1n);
    assert.throws(() => new Int32(2 ** 31), TypeError);
    assert.throws(() => new UInt64(-1n), TypeError);
    assert.throws(() => new Int32(1.5), TypeError);
  });

  test("malloc sizes: fixed types need none, others need one", async () => {
    assert.equal((await thr.malloc(Int32)).size(), 4);
    assert.equal((await thr.malloc(Buffer, 4096)).size(), 4096);
    assert.equal((await thr.malloc(String, 10)).size(), 10);
    await assert.rejects(thr.malloc(Buffer as never), TypeError);
    await assert.rejects(thr.malloc(Int32, 2), TypeError);
    await assert.rejects(thr.malloc(Buffer, -1), TypeError);
    await assert.rejects(thr.malloc(Buffer, 1.5), TypeError);
    await assert.rejects(thr.malloc(Map as never, 8), TypeError);
    await assert.rejects(thr.ptr({} as never), TypeError);
  });

  test("memory is really at the address: the kernel reads what we wrote", async () => {
    const { read, write } = await thr.pipe();
    const [, rest] = await write.write(await thr.ptr(Buffer.from("through the kernel")));
    assert.equal(rest.size(), 0);
    const [valid] = await read.read(await thr.malloc(Buffer, 100));
    assert.equal((await valid.read()).toString(), "through the kernel");
  });

  test("large allocations get a mapping of their own, unmapped when freed", async () => {
    const size = 1 << 20;
    const p = await thr.malloc(Buffer, size);
    const addr = p.near;
    assert.ok(mappings().some((m) => m.start === addr && m.end - m.start >= size));
    p.free();
    await new Promise((r) => setImmediate(r));
    assert.ok(!mappings().some((m) => m.start === addr));
  });
});

describe("pointer typestate", () => {
  test("write consumes the pointer and returns one that knows the value", async () => {
    const p = await thr.malloc(String, 6);
    const w = await p.write("other");
    assert.equal(w.value, "other");
    assert.equal(p.valid, false);
    await assert.rejects(p.read(), UseAfterFreeError);
    await assert.rejects(p.write("x"), UseAfterFreeError);
    assert.equal(p.size(), 6, "size stays readable");
  });

  test("a value too big for the pointer is refused", async () => {
    const p = await thr.malloc(String, 3);
    await assert.rejects(p.write("toolong"), RangeError);
    assert.ok(p.valid, "a refused write does not consume");
  });

  test("split and merge", async () => {
    const buf = await thr.ptr(Buffer.from("0123456789abcdef"));
    const [a, rest] = buf.split(10);
    assert.equal(buf.valid, false);
    assert.deepEqual([a.size(), rest.size()], [10, 6]);
    assert.equal((await a.read()).toString(), "0123456789");
    assert.equal((await rest.read()).toString(), "abcdef");
    const whole = a.merge(rest);
    assert.equal((await whole.read()).toString(), "0123456789abcdef");
    assert.throws(() => a.merge(rest), UseAfterFreeError);
    assert.throws(() => whole.split(17), RangeError);
    const [x, y] = whole.split(4);
    const other = await thr.malloc(Buffer, 4);
    assert.throws(() => y.merge(x), RangeError, "not in order");
    assert.throws(() => x.merge(other), RangeError, "not one allocation");
  });

  test("freeing twice, or a consumed pointer, does nothing", async () => {
    const buf = await thr.malloc(Buffer, 16);
    const [a, b] = buf.split(8);
    buf.free();
    a.free();
    a.free();
    assert.equal(b.valid, true);
    b.free();
    assert.throws(() => b.near, UseAfterFreeError);
  });

  test("a LinearPointer reads once", async () => {
    const linear = await thr.task.pipe(await thr.malloc(Pipe));
    assert.ok(linear instanceof LinearPointer);
    assert.ok(linear instanceof ReadablePointer);
    const pipe = await linear.read();
    await assert.rejects(linear.read(), UseAfterFreeError);
    await pipe.read.close();
    await pipe.write.close();
  });
});

describe("the allocator", () => {
  test("small allocations reuse memory: 1e5 ptr+free cycles stay in the mappings that existed before", async () => {
    (await thr.malloc(Buffer, 4096)).free();
    const before = mappings();
    const addresses = new Set<number>();
    for (let i = 0; i < 100_000; i++) {
      const p = await thr.ptr(`string ${i}`);
      addresses.add(p.near);
      p.free();
    }
    for (let i = 0; i < 1000; i++) {
      const p = await thr.malloc(Buffer, 4096);
      addresses.add(p.near);
      p.free();
    }
    assert.ok(addresses.size <= 4, `${addresses.size} distinct addresses: freed blocks are not reused`);
    for (const a of addresses)
      assert.ok(
        before.some((m) => m.start <= a && a < m.end),
        `0x${a.toString(16)} is in a new mapping`,
      );
  });

  test("blocks are 16-byte aligned and do not overlap", async () => {
    const ptrs = await Promise.all(Array.from({ length: 200 }, (_, i) => thr.malloc(Buffer, 1 + ((i * 37) % 300))));
    const spans = ptrs.map((p) => [p.near, p.near + p.size()] as const).sort((a, b) => a[0] - b[0]);
    for (const [start] of spans) assert.equal(start % 16, 0);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], "overlap");
    for (const p of ptrs) p.free();
  });

  test("allocations that miss at the same time share the arena being mapped", async () => {
    const arenas = thr.ram.allocator.arenas.length;
    const vm = () => Number(/VmSize:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]) * 1024;
    const before = vm();
    const ptrs = await Promise.all(Array.from({ length: 2000 }, () => thr.malloc(Buffer, 4096)));
    // 2000 blocks of 4 KiB fill 8 arenas of 1 MiB (one mapping per allocation took ~1.7 GiB).
    assert.ok(thr.ram.allocator.arenas.length - arenas <= 9, `${thr.ram.allocator.arenas.length - arenas} new arenas`);
    assert.ok(vm() - before < 64 * 2 ** 20, `the address space grew by ${(vm() - before) / 2 ** 20} MiB`);
    for (const p of ptrs) p.free();
  });

  test("an ArgList is one allocation: the array of addresses, then its strings", async () => {
    const given = await thr.ptr("given");
    const list = await thr.ptr(new ArgList(["sh", given, "-c"]));
    assert.equal(list.size(), 8 * 4 + 3 + 3);
    const bytes = readMemory(list.near, list.size());
    const entry = (i: number) => Number(bytes.readBigUInt64LE(8 * i));
    assert.equal(entry(0), list.near + 32, "the first string follows the array");
    assert.equal(entry(1), given.near, "a pointer entry is its address");
    assert.equal(entry(2), list.near + 35);
    assert.equal(entry(3), 0, "NULL-terminated");
    assert.equal(bytes.subarray(32).toString("latin1"), "sh\0-c\0");
    assert.throws(() => new ArgList(["a\0b"]), TypeError);
    assert.throws(() => new ArgList("sh" as never), TypeError);
  });

  test("a dropped pointer is reclaimed after garbage collection (npm test exposes gc)", async () => {
    assert.ok(global.gc, "run with --expose-gc");
    let reused = false;
    // Made in a helper so that no frame of ours keeps the pointer alive.
    const drop = async () => (await thr.ptr("dropped!")).near;
    const addr = await drop();
    global.gc!();
    await new Promise((r) => setTimeout(r, 10));
    // Free blocks of a size are handed out before fresh memory: allocate until ours comes back.
    const held = [];
    for (let i = 0; i < 100_000 && !reused; i++) {
      // Let the finalizer's task run too, on a loaded machine it may come late.
      if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 1));
      const p = await thr.ptr("dropped!");
      reused = p.near === addr;
      held.push(p);
    }
    for (const p of held) p.free();
    assert.ok(reused, "the block of the dropped pointer was handed out again");
  });
});

describe("memory in use by a syscall", { timeout: 30_000 }, () => {
  /** A child blocked in a read of `read` (a pipe end of ours), with `buf` lent to that read. */
  async function blockedRead(buf: Awaited<ReturnType<typeof thr.malloc<Buffer>>>) {
    const { read, write } = await thr.pipe();
    const child = await thr.clone();
    const reading = child.inheritFd(read).read(buf);
    await waitUntilBlocked(child.task.pid, SYS.read, read.near);
    return { child, reading, read, write };
  }

  test("a pointer freed under a child's read is not handed out until the read is done", async () => {
    const buf = await thr.malloc(Buffer, 16);
    const address = buf.near;
    const { child, reading, read, write } = await blockedRead(buf);
    buf.free();
    const secret = await thr.ptr(Buffer.from("SECRET-SECRET!!!"));
    assert.notEqual(secret.near, address, "the block under the read was handed out again");
    await thr.spit(write, "data from a pipe");
    await assert.rejects(reading, UseAfterFreeError, "the read completes; its result has no pointer to go to");
    assert.equal((await secret.read()).toString(), "SECRET-SECRET!!!");
    const again = await thr.malloc(Buffer, 16);
    assert.equal(again.near, address, "once the read is done, the block is free again");
    for (const p of [secret, again]) p.free();
    await read.close();
    await child.exit(0);
  });

  test("write waits for a queued syscall that uses the memory; the kernel sees what was queued", async () => {
    const blocker = await thr.pipe();
    const out = await thr.pipe();
    const child = await thr.clone();
    // The child blocks in a read, so the write queued behind it waits in the connection.
    const blocked = child.inheritFd(blocker.read).read(await child.malloc(Buffer, 1));
    await waitUntilBlocked(child.task.pid, SYS.read, blocker.read.near);
    const p = await child.ptr(Buffer.from("queued bytes"));
    const sending = child.inheritFd(out.write).write(p);
    let rewritten = false;
    const rewriting = p.write(Buffer.from("changed!!!!!")).then(
      () => (rewritten = true),
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(rewritten, false, "write waits while the syscall using the memory is outstanding");
    await thr.spit(blocker.write, "x");
    await blocked;
    const [written] = await sending;
    assert.equal(written.size(), 12);
    assert.ok((await rewriting) instanceof UseAfterFreeError, "the write syscall consumed the pointer");
    await out.write.close();
    await child.exit(0);
    assert.equal((await thr.readToEof(out.read)).toString(), "queued bytes");
    await out.read.close();
    await blocker.read.close();
  });

  test("the buffers an iovec list points to are lent with it", async () => {
    const a = await thr.malloc(Buffer, 16);
    const b = await thr.malloc(Buffer, 16);
    const addresses = [a.near, b.near];
    const { read, write } = await thr.pipe();
    const child = await thr.clone();
    const iov = await child.ptr(new IovecList([a, b]));
    const reading = child.inheritFd(read).readv(iov);
    await waitUntilBlocked(child.task.pid, SYS.preadv2, read.near);
    a.free();
    b.free();
    const others = [await thr.malloc(Buffer, 16), await thr.malloc(Buffer, 16)];
    for (const o of others) assert.ok(!addresses.includes(o.near), "a buffer of the iovec was handed out again");
    await thr.spit(write, "x".repeat(32));
    await reading.catch(() => {});
    for (const o of others) o.free();
    await read.close();
    await child.exit(0);
  });

  test("a pointer borrowed by a call that was never made is released at once", async () => {
    const child = await thr.clone();
    const p = await thr.malloc(Buffer, 16);
    const address = p.near;
    // The fd check fails after the pointer was borrowed: nothing is sent, nothing stays lent.
    await assert.rejects(child.task.sysif.syscall(SYS.read, 0, p.borrow(child.task), Number.NaN), RangeError);
    p.free();
    const q = await thr.malloc(Buffer, 16);
    assert.equal(q.near, address);
    q.free();
    await child.exit(0);
  });
});
