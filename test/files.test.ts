// File and directory syscalls, checked against node:fs.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ClosedFileDescriptorError, type FileDescriptor, SyscallError, localThread as thr } from "rsyscall";
import { DirentList, DT } from "rsyscall/dirent";
import { AT, F, FD, O } from "rsyscall/fcntl";
import { RENAME } from "rsyscall/stdio";
import { Stat } from "rsyscall/sys/stat";
import { OK, SEEK } from "rsyscall/unistd";
import { fdTarget, isCloexec, procStatus, scratchDir } from "./util.js";

const dir = scratchDir();
const umask = Number.parseInt(procStatus("self", "Umask"), 8);
const p = (name: string) => thr.ptr(join(dir, name));

async function readAll(fd: FileDescriptor): Promise<string> {
  return (await thr.readToEof(fd)).toString();
}

describe("open, read, write, close", () => {
  test("open returns a close-on-exec handle to the file", async () => {
    fs.writeFileSync(join(dir, "a"), "contents");
    const fd = await thr.task.open(await p("a"), O.RDONLY);
    assert.equal(fdTarget(fd.near), join(dir, "a"));
    assert.ok(isCloexec(fd.near));
    assert.equal(await readAll(fd), "contents");
    const n = fd.near;
    await fd.close();
    assert.throws(() => fs.fstatSync(n), { code: "EBADF" });
    await assert.rejects(fd.read(await thr.malloc(Buffer, 1)), ClosedFileDescriptorError);
  });

  test("write, with partial results as [written, rest]", async () => {
    const fd = await thr.task.open(await p("w"), O.of(O.WRONLY, O.CREAT, O.TRUNC), 0o600);
    const [written, rest] = await fd.write(await thr.ptr(Buffer.from("hello")));
    assert.deepEqual([written.size(), rest.size()], [5, 0]);
    await fd.close();
    assert.equal(fs.readFileSync(join(dir, "w"), "utf8"), "hello");
    assert.equal(fs.statSync(join(dir, "w")).mode & 0o777, 0o600 & ~umask);
  });

  test("a read shorter than the buffer splits it", async () => {
    fs.writeFileSync(join(dir, "short"), "abc");
    const fd = await thr.task.open(await p("short"), O.RDONLY);
    const [valid, rest] = await fd.read(await thr.malloc(Buffer, 10));
    assert.deepEqual([valid.size(), rest.size()], [3, 7]);
    const [eof] = await fd.read(rest);
    assert.equal(eof.size(), 0);
    await fd.close();
  });

  test("pread, pwrite and lseek", async () => {
    const fd = await thr.task.open(await p("pos"), O.of(O.RDWR, O.CREAT, O.TRUNC));
    await fd.pwrite(await thr.ptr(Buffer.from("xyz")), 5);
    assert.deepEqual(fs.readFileSync(join(dir, "pos")), Buffer.from("\0\0\0\0\0xyz"));
    const [valid] = await fd.pread(await thr.malloc(Buffer, 2), 6);
    assert.equal((await valid.read()).toString(), "yz");
    assert.equal(await fd.lseek(0, SEEK.CUR), 0, "pread/pwrite leave the offset");
    assert.equal(await fd.lseek(-1, SEEK.END), 7);
    assert.equal(await fd.lseek(2n ** 40n, SEEK.SET), 2 ** 40);
    await fd.close();
  });

  test("O_CREAT|O_EXCL on an existing file is EEXIST with the path", async () => {
    fs.writeFileSync(join(dir, "exists"), "");
    const err = await thr.task.open(await p("exists"), O.of(O.WRONLY, O.CREAT, O.EXCL)).catch((e: unknown) => e);
    assert.ok(err instanceof SyscallError);
    assert.equal(err.code, "EEXIST");
    assert.equal(err.syscall, "openat");
    assert.equal(err.path, join(dir, "exists"));
  });

  test("openat relative to a directory fd", async () => {
    fs.mkdirSync(join(dir, "sub"));
    fs.writeFileSync(join(dir, "sub", "f"), "in sub");
    const sub = await thr.task.open(await p("sub"), O.of(O.RDONLY, O.DIRECTORY));
    const f = await sub.openat(await thr.ptr("f"), O.RDONLY);
    assert.equal(await readAll(f), "in sub");
    await f.close();
    await sub.close();
  });
});

describe("fcntl, dup2, dup3", () => {
  test("F_GETFL shows the access mode and O_NONBLOCK set by F_SETFL", async () => {
    const { read, write } = await thr.pipe();
    assert.equal((await read.fcntl(F.GETFL)) & O.ACCMODE, O.RDONLY);
    await read.fcntl(F.SETFL, O.NONBLOCK);
    assert.ok((await read.fcntl(F.GETFL)) & O.NONBLOCK);
    const err = await read.read(await thr.malloc(Buffer, 1)).catch((e: unknown) => e);
    assert.ok(err instanceof SyscallError && err.code === "EAGAIN");
    await read.close();
    await write.close();
  });

  test("disableCloexec and enableCloexec flip FD_CLOEXEC", async () => {
    const { read, write } = await thr.pipe();
    assert.equal(await read.fcntl(F.GETFD), FD.CLOEXEC);
    await read.disableCloexec();
    assert.ok(!isCloexec(read.near));
    await read.enableCloexec();
    assert.ok(isCloexec(read.near));
    assert.equal(await write.asArgument(), write.near);
    assert.ok(!isCloexec(write.near));
    await read.close();
    await write.close();
  });

  test("dup2 makes the target name the same file, inheritable; dup2 onto itself does nothing", async () => {
    const { read, write } = await thr.pipe();
    const target = await thr.task.open(await thr.ptr("/dev/null"), O.RDONLY);
    const same = await write.dup2(target);
    assert.equal(same, target);
    assert.equal(fdTarget(target.near), fdTarget(write.near));
    assert.ok(!isCloexec(target.near));
    await target.write(await thr.ptr(Buffer.from("via dup")));
    await target.close();
    await write.close();
    assert.equal(await readAll(read), "via dup");
    assert.equal(await read.dup2(read), read);
    assert.ok(isCloexec(read.near));
    await read.close();
  });

  test("dup3 with O_CLOEXEC; onto the same fd is EINVAL", async () => {
    const { read, write } = await thr.pipe();
    const target = await thr.task.open(await thr.ptr("/dev/null"), O.RDONLY);
    await read.dup3(target, O.CLOEXEC);
    assert.ok(isCloexec(target.near));
    await assert.rejects(read.dup3(read, O.CLOEXEC), { code: "EINVAL", syscall: "dup3" });
    for (const fd of [read, write, target]) await fd.close();
  });
});

describe("the file system", () => {
  test("mkdir, fstat, getdents", async () => {
    await thr.task.mkdir(await p("d"), 0o750);
    assert.equal(fs.statSync(join(dir, "d")).mode & 0o777, 0o750 & ~umask);
    fs.writeFileSync(join(dir, "d", "file"), "12345");
    fs.mkdirSync(join(dir, "d", "child"));
    const d = await thr.task.open(await p("d"), O.of(O.RDONLY, O.DIRECTORY));
    const st = await (await d.fstat(await thr.malloc(Stat))).read();
    assert.ok(st.isDirectory());
    assert.equal(st.ino, BigInt(fs.statSync(join(dir, "d")).ino));
    const [valid] = await d.getdents(await thr.malloc(DirentList, 4096));
    const entries = await valid.read();
    const byName = new Map(entries.map((e) => [e.name, e.type]));
    assert.deepEqual([...byName.keys()].sort(), [".", "..", "child", "file"]);
    assert.equal(byName.get("file"), DT.REG);
    assert.equal(byName.get("child"), DT.DIR);
    const [end] = await d.getdents(await thr.malloc(DirentList, 4096));
    assert.equal(end.size(), 0);
    await d.mkdirat(await thr.ptr("viafd"));
    assert.ok(fs.statSync(join(dir, "d", "viafd")).isDirectory());
    const file = await d.openat(await thr.ptr("file"), O.RDONLY);
    const fst = await (await file.fstat(await thr.malloc(Stat))).read();
    assert.equal(fst.size, 5);
    assert.ok(fst.isFile());
    assert.equal(fst.mtime.sec, Math.floor(fs.statSync(join(dir, "d", "file")).mtimeMs / 1000));
    await file.close();
    await d.close();
  });

  test("unlink, rmdir, unlinkat", async () => {
    fs.writeFileSync(join(dir, "gone"), "");
    await thr.task.unlink(await p("gone"));
    assert.ok(!fs.existsSync(join(dir, "gone")));
    fs.mkdirSync(join(dir, "gonedir"));
    await assert.rejects(thr.task.unlink(await p("gonedir")), { code: "EISDIR" });
    await thr.task.rmdir(await p("gonedir"));
    assert.ok(!fs.existsSync(join(dir, "gonedir")));
    fs.mkdirSync(join(dir, "u"));
    fs.writeFileSync(join(dir, "u", "x"), "");
    fs.mkdirSync(join(dir, "u", "y"));
    const u = await thr.task.open(await p("u"), O.of(O.RDONLY, O.DIRECTORY));
    await u.unlinkat(await thr.ptr("x"));
    await u.unlinkat(await thr.ptr("y"), AT.REMOVEDIR);
    assert.deepEqual(fs.readdirSync(join(dir, "u")), []);
    await u.close();
  });

  test("link, linkat, symlink, symlinkat, readlink, readlinkat", async () => {
    fs.writeFileSync(join(dir, "orig"), "data");
    await thr.task.link(await p("orig"), await p("hard"));
    assert.equal(fs.statSync(join(dir, "hard")).ino, fs.statSync(join(dir, "orig")).ino);
    await thr.task.symlink(await thr.ptr("orig"), await p("soft"));
    assert.equal(fs.readlinkSync(join(dir, "soft")), "orig");
    const [target] = await thr.task.readlink(await p("soft"), await thr.malloc(Buffer, 100));
    assert.equal((await target.read()).toString(), "orig");
    const d = await thr.task.open(await thr.ptr(dir), O.of(O.RDONLY, O.DIRECTORY));
    await d.linkat(await thr.ptr("orig"), d, await thr.ptr("hard2"));
    assert.equal(fs.statSync(join(dir, "hard2")).nlink, 3);
    await d.symlinkat(await thr.ptr("/nowhere"), await thr.ptr("soft2"));
    const [t2] = await d.readlinkat(await thr.ptr("soft2"), await thr.malloc(String, 100));
    assert.equal(await t2.read(), "/nowhere");
    await assert.rejects(thr.task.link(await p("orig"), await p("hard")), {
      code: "EEXIST",
      path: join(dir, "orig"),
      dest: join(dir, "hard"),
    });
    await d.close();
  });

  test("rename with RENAME flags, and renameat", async () => {
    fs.writeFileSync(join(dir, "r1"), "one");
    fs.writeFileSync(join(dir, "r2"), "two");
    await assert.rejects(thr.task.rename(await p("r1"), await p("r2"), RENAME.NOREPLACE), { code: "EEXIST" });
    await thr.task.rename(await p("r1"), await p("r2"), RENAME.EXCHANGE);
    assert.equal(fs.readFileSync(join(dir, "r1"), "utf8"), "two");
    await thr.task.rename(await p("r1"), await p("r3"));
    assert.ok(!fs.existsSync(join(dir, "r1")));
    const d = await thr.task.open(await thr.ptr(dir), O.of(O.PATH, O.DIRECTORY));
    await d.renameat(await thr.ptr("r3"), d, await thr.ptr("r4"));
    assert.equal(fs.readFileSync(join(dir, "r4"), "utf8"), "two");
    await d.close();
  });

  test("access and faccessat", async () => {
    fs.writeFileSync(join(dir, "ro"), "");
    fs.chmodSync(join(dir, "ro"), 0o444);
    await thr.task.access(await p("ro"), OK.R);
    await assert.rejects(thr.task.access(await p("ro"), OK.X), { code: "EACCES" });
    await assert.rejects(thr.task.access(await p("missing"), OK.F), { code: "ENOENT" });
    const d = await thr.task.open(await thr.ptr(dir), O.of(O.PATH, O.DIRECTORY));
    await d.faccessat(await thr.ptr("ro"), OK.R, AT.EACCESS);
    await d.close();
  });

  test("fchmod and ftruncate", async () => {
    const fd = await thr.task.open(await p("mode"), O.of(O.RDWR, O.CREAT));
    await fd.fchmod(0o640);
    assert.equal(fs.statSync(join(dir, "mode")).mode & 0o777, 0o640);
    await fd.ftruncate(12345);
    assert.equal(fs.statSync(join(dir, "mode")).size, 12345);
    await fd.close();
  });

  test("chdir and fchdir change the process's working directory", async () => {
    const before = process.cwd();
    try {
      // process.cwd() is cached by Node; the kernel's view is /proc/self/cwd.
      await thr.task.chdir(await thr.ptr(dir));
      assert.equal(fs.readlinkSync("/proc/self/cwd"), fs.realpathSync(dir));
      const root = await thr.task.open(await thr.ptr("/"), O.of(O.PATH, O.DIRECTORY));
      await root.fchdir();
      assert.equal(fs.readlinkSync("/proc/self/cwd"), "/");
      await root.close();
    } finally {
      process.chdir(before);
    }
  });

  test("chroot: a missing directory is ENOENT; chroot to / succeeds as root, EPERM otherwise", async () => {
    await assert.rejects(thr.chroot(join(dir, "missing")), { code: "ENOENT", syscall: "chroot" });
    if (process.getuid!() === 0) await thr.chroot("/");
    else await assert.rejects(thr.chroot("/"), { code: "EPERM", syscall: "chroot" });
    assert.ok(fs.existsSync("/proc/self"));
  });
});
