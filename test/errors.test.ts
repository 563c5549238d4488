// Bad input: each gets a clear error, before any syscall where it can, and leaves the thread usable.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  CalledProcessError,
  ClosedFileDescriptorError,
  Command,
  FDTableMismatchError,
  SyscallError,
  localThread as thr,
  UseAfterFreeError,
} from "rsyscall";
import { ERRNO } from "rsyscall/errno";
import { O } from "rsyscall/fcntl";
import { SockaddrIn } from "rsyscall/netinet/in";
import { SIG } from "rsyscall/signal";
import { Int32 } from "rsyscall/struct";
import { AF, SOCK } from "rsyscall/sys/socket";
import { SockaddrUn } from "rsyscall/sys/un";
import { W } from "rsyscall/sys/wait";
import { scratchDir } from "./util.js";

const dir = scratchDir();

async function stillUsable() {
  assert.equal(await thr.task.getpid(), process.pid);
  const fd = await thr.task.open(await thr.ptr("/dev/null"), O.RDONLY);
  await fd.close();
}

describe("wrong argument types fail before any syscall", () => {
  test("a string where a pointer is expected", async () => {
    await assert.rejects(thr.task.open("/etc/hostname" as never, O.RDONLY), {
      name: "TypeError",
      message: /path must be a WrittenPointer/,
    });
    await stillUsable();
  });

  test("a malloc'd pointer where a written one is required", async () => {
    await assert.rejects(thr.task.open((await thr.malloc(String, 10)) as never, O.RDONLY), TypeError);
  });

  test("non-integer flags, modes and offsets", async () => {
    const p = await thr.ptr("/dev/null");
    await assert.rejects(thr.task.open(p, "r" as never), { name: "TypeError", message: /flags/ });
    await assert.rejects(thr.task.open(p, 1.5 as never), TypeError);
    await assert.rejects(thr.task.open(p, O.RDONLY, -(2 ** 40)), TypeError);
    const fd = await thr.task.open(p, O.RDONLY);
    await assert.rejects(fd.lseek(0.5, 0 as never), TypeError);
    await assert.rejects(fd.pread(await thr.malloc(Buffer, 1), (2 ** 64) as never), TypeError);
    await assert.rejects(fd.dup2(3 as never), TypeError);
    await fd.close();
    await stillUsable();
  });

  test("values that do not serialize", async () => {
    await assert.rejects(thr.ptr(Symbol("x") as never), TypeError);
    await assert.rejects(thr.ptr("nul\0inside"), TypeError);
    assert.throws(() => new SockaddrIn(-1), TypeError);
    await stillUsable();
  });

  test("a buffer too small for the struct", async () => {
    const { read, write } = await thr.pipe();
    await assert.rejects(read.fstat((await thr.malloc(Buffer, 8)) as never), TypeError);
    await read.close();
    await write.close();
  });
});

describe("inputs that are wrong in plain JavaScript", () => {
  test("a chunk size of 0 is a RangeError, not an empty read that looks like end of file", async () => {
    const { read, write } = await thr.pipe();
    await thr.spit(write, "data");
    await assert.rejects(thr.readToEof(read, 0), RangeError);
    await assert.rejects(thr.readToEof(read, -1), RangeError);
    await assert.rejects(thr.readToEof(read, 1.5), RangeError);
    await assert.rejects(thr.readToEof(read, "4096" as never), TypeError);
    const afd = await thr.makeAfd(read, true);
    await assert.rejects(afd.readSomeBytes(0), RangeError);
    await assert.rejects(afd.readToEof(0), RangeError);
    assert.equal((await afd.readToEof()).toString(), "data", "nothing was consumed");
    // A raw read of a 0-byte pointer stays allowed: the kernel allows it.
    const [valid, rest] = await read.read(await thr.malloc(Buffer, 0));
    assert.equal(valid.size() + rest.size(), 0);
    await afd.close();
  });

  test("a value of the wrong type is refused by the pointer's serializer", async () => {
    const buf = await thr.malloc(Buffer, 8);
    await assert.rejects(buf.write("abc" as never), { name: "TypeError", message: /expected a Buffer/ });
    const str = await thr.malloc(String, 8);
    await assert.rejects(str.write(Buffer.from("abc") as never), { name: "TypeError", message: /expected a string/ });
    const int = await thr.malloc(Int32);
    await assert.rejects(int.write(5 as never), { name: "TypeError", message: /expected Int32/ });
    assert.ok(buf.valid && str.valid && int.valid, "nothing was consumed");
    for (const p of [buf, str, int]) p.free();
  });

  test("a path is a string or a Buffer that ends in its only NUL", async () => {
    const file = join(dir, "path-file");
    fs.writeFileSync(file, "x");
    await assert.rejects(thr.task.open(await thr.ptr(Buffer.from(file)), O.RDONLY), /without a NUL/);
    await assert.rejects(thr.task.open(await thr.ptr(Buffer.from(`${file}\0x\0`)), O.RDONLY), /before its end/);
    await assert.rejects(thr.task.mkdir(await thr.ptr(Buffer.alloc(0))), TypeError);
    await (await thr.task.open(await thr.ptr(Buffer.from(`${file}\0`)), O.RDONLY)).close();
    // A name that is not UTF-8 is reachable through a Buffer.
    const raw = Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff, 0xfe]), Buffer.from([0])]);
    fs.writeFileSync(raw.subarray(0, -1), "latin");
    const fd = await thr.task.open(await thr.ptr(raw), O.RDONLY);
    assert.equal((await thr.readToEof(fd)).toString(), "latin");
    await fd.close();
    const err = await thr.task.open(await thr.ptr(Buffer.from(`${dir}/nope\0`)), O.RDONLY).catch((e) => e);
    assert.equal(err.path, `${dir}/nope`, "the message shows the path without its NUL");
    await stillUsable();
  });

  test("a CalledProcessError of a command with 10,000 arguments keeps its message short", async () => {
    const args = Array.from({ length: 10_000 }, (_, i) => `argument${i}`);
    const err = await thr.run(new Command("/bin/sh", ["sh", "-c", "exit 3", ...args], {})).catch((e) => e);
    assert.ok(err instanceof CalledProcessError);
    assert.ok(err.message.length < 400, `${err.message.length} characters`);
    assert.match(err.message, /more characters\): pid \d+ exited with status 3$/);
    assert.equal(err.command?.arguments.length, 10_003, "the whole command is still there");
  });

  test("kill after the child was reaped resolves false, as subprocess.kill() does", async () => {
    const child = await thr.clone();
    assert.equal(await child.process.kill(SIG.TERM), true);
    await child.process.waitpid(W.EXITED);
    assert.equal(await child.process.kill(SIG.TERM), false);
    assert.equal(await child.process.killpg(SIG.TERM), false);
    await assert.rejects(child.process.kill(Number.NaN as never), TypeError);
  });
});

describe("freed pointers and closed fds", () => {
  test("a freed pointer throws UseAfterFreeError, also as a syscall argument", async () => {
    const p = await thr.ptr("/dev/null");
    p.free();
    await assert.rejects(p.read(), UseAfterFreeError);
    await assert.rejects(thr.task.open(p, O.RDONLY), UseAfterFreeError);
    await stillUsable();
  });

  test("a closed fd throws ClosedFileDescriptorError and never touches a reused number", async () => {
    const fd = await thr.task.open(await thr.ptr("/dev/null"), O.RDONLY);
    const zero = await thr.task.open(await thr.ptr("/dev/zero"), O.RDONLY);
    const n = fd.near;
    await fd.close();
    // Make the number name something else, as the kernel's next open may.
    const reused = await zero.dup2(thr.task.fdAt(n));
    await zero.close();
    assert.equal(reused.near, n);
    await assert.rejects(fd.read(await thr.malloc(Buffer, 1)), ClosedFileDescriptorError);
    await assert.rejects(fd.close(), ClosedFileDescriptorError);
    await fd.invalidate();
    assert.equal(fs.readlinkSync(`/proc/self/fd/${n}`), "/dev/zero");
    await reused.close();
    await stillUsable();
  });

  test("an fd handle is refused through a task with another fd table", async () => {
    const fd = await thr.task.open(await thr.ptr("/dev/null"), O.RDONLY);
    // A task like ours in every way but its fd table (as after unshare(CLONE_FILES)).
    const other = Object.create(thr.task, { fdTable: { value: {} } });
    assert.throws(() => fd.borrow(other), FDTableMismatchError);
    await fd.close();
  });

  test("two handles to one fd: close refuses, invalidate closes with the last", async () => {
    const fd = await thr.task.open(await thr.ptr("/dev/null"), O.RDONLY);
    const twin = fd.forTask(thr.task);
    assert.equal(twin.near, fd.near);
    await assert.rejects(fd.close(), /other handles/);
    await twin.invalidate();
    assert.ok(fs.existsSync(`/proc/self/fd/${fd.near}`));
    await fd.close();
  });
});

describe("failed syscalls", () => {
  test("a missing file: SyscallError shaped like Node's", async () => {
    const path = join(dir, "missing");
    const err = await thr.task.open(await thr.ptr(path), O.RDONLY).catch((e: unknown) => e);
    assert.ok(err instanceof SyscallError);
    assert.ok(err instanceof Error);
    assert.equal(err.code, "ENOENT");
    assert.equal(err.errno, ERRNO.ENOENT);
    assert.equal(err.syscall, "openat");
    assert.equal(err.path, path);
    assert.equal(err.message, `ENOENT: no such file or directory, openat '${path}'`);
    const nodeErr = (() => {
      try {
        fs.openSync(path, "r");
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    })();
    assert.equal(nodeErr?.code, err.code, "the same code node:fs reports");
    await stillUsable();
  });

  test("paths longer than the limits: ENAMETOOLONG", async () => {
    await assert.rejects(thr.task.open(await thr.ptr(`/${"x".repeat(4096)}`), O.RDONLY), { code: "ENAMETOOLONG" });
    await assert.rejects(thr.task.open(await thr.ptr(join(dir, "y".repeat(256))), O.RDONLY), { code: "ENAMETOOLONG" });
    assert.throws(() => new SockaddrUn(join(dir, "z".repeat(120))), RangeError);
    await stillUsable();
  });

  test("errors carry the fd for fd syscalls", async () => {
    const sock = await thr.socket(AF.INET, SOCK.STREAM);
    await assert.rejects(sock.listen(new Int32(1) as never), TypeError);
    const err = await sock.shutdown(0 as never).catch((e: unknown) => e);
    assert.ok(err instanceof SyscallError);
    assert.equal(err.code, "ENOTCONN");
    assert.equal(err.fd, sock.near);
    await sock.close();
  });
});
