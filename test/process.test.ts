// Process identity, signals, eventfd, memfd and mappings, checked against /proc and other processes.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import { describe, test } from "node:test";
import { MemoryMapping, localThread as thr } from "rsyscall";
import { KCMP } from "rsyscall/linux/kcmp";
import { MFD } from "rsyscall/linux/memfd";
import { SIG } from "rsyscall/signal";
import { Int64 } from "rsyscall/struct";
import { EFD } from "rsyscall/sys/eventfd";
import { MADV, MAP, PROT } from "rsyscall/sys/mman";
import { fdTarget, isCloexec, mappings, procStatus } from "./util.js";

describe("credentials", () => {
  test("getpid, getppid, getuid, getgid, getpgid agree with /proc", async () => {
    assert.equal(await thr.task.getpid(), process.pid);
    assert.equal(await thr.task.getppid(), process.ppid);
    assert.equal(await thr.task.getuid(), Number(procStatus("self", "Uid").split(/\s+/)[0]));
    assert.equal(await thr.task.getgid(), Number(procStatus("self", "Gid").split(/\s+/)[0]));
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    assert.equal(await thr.task.getpgid(), pgrp);
  });

  test("setpgid(0, 0) makes a group of its own (in a separate Node process)", () => {
    const script = `import("rsyscall").then(async ({ localThread: t }) => {
      await t.task.setpgid();
      const stat = require("fs").readFileSync("/proc/self/stat", "utf8");
      console.log(JSON.stringify({ pid: process.pid, pgid: await t.task.getpgid(), pgrp: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) }));
    })`;
    const { pid, pgid, pgrp } = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }));
    assert.equal(pgid, pid);
    assert.equal(pgrp, pid);
  });

  test("setpgid on a child that has exec'd is EACCES", async () => {
    const child = spawn("sleep", ["10"]);
    await once(child, "spawn");
    await assert.rejects(thr.task.setpgid(child.pid!, 0), { code: "EACCES", syscall: "setpgid" });
    child.kill();
    await once(child, "exit");
  });

  test("setsid makes a new session (in a separate Node process, to leave the test runner's alone)", () => {
    const script = `import("rsyscall").then(async ({ localThread: t }) => {
      const sid = await t.task.setsid();
      const stat = require("fs").readFileSync("/proc/self/stat", "utf8");
      console.log(JSON.stringify({ sid, pid: process.pid, session: Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]) }));
      await t.task.setsid().catch((e) => console.log(e.code));
    })`;
    const [first = "", second] = execFileSync(process.execPath, ["-e", script], { encoding: "utf8" })
      .trim()
      .split("\n");
    const { sid, pid, session } = JSON.parse(first);
    assert.equal(sid, pid);
    assert.equal(session, pid);
    assert.equal(second, "EPERM", "a session leader cannot setsid again");
  });
});

describe("kill", () => {
  test("delivers a signal to another process", async () => {
    const child = spawn("sleep", ["10"]);
    await once(child, "spawn");
    const exited = once(child, "exit");
    await thr.task.kill(child.pid!, SIG.TERM);
    assert.deepEqual(await exited, [null, "SIGTERM"]);
  });

  test("a missing process is ESRCH; signal 0 probes", async () => {
    await thr.task.kill(process.pid, 0 as SIG);
    await assert.rejects(thr.task.kill(2 ** 22 + 1, SIG.TERM), { code: "ESRCH", syscall: "kill" });
  });
});

describe("kcmp", () => {
  test("a clone child shares our memory and fd 0; another program does not", async () => {
    const child = await thr.clone();
    assert.equal(await thr.task.kcmp(process.pid, child.task.pid, KCMP.VM), 0);
    assert.equal(await thr.task.kcmp(process.pid, child.task.pid, KCMP.FILE, 0, 0), 0, "fd 0 is a copy of ours");
    await child.exit(0);
    const other = spawn("sleep", ["10"]);
    await once(other, "spawn");
    assert.notEqual(await thr.task.kcmp(process.pid, other.pid!, KCMP.VM), 0);
    await assert.rejects(thr.task.kcmp(process.pid, 2 ** 22 + 1, KCMP.VM), { code: "ESRCH", syscall: "kcmp" });
    other.kill();
    await once(other, "exit");
  });
});

describe("eventfd", () => {
  test("counts what is written, as an Int64", async () => {
    const efd = await thr.task.eventfd(3);
    assert.ok(isCloexec(efd.near));
    assert.equal(fdTarget(efd.near), "anon_inode:[eventfd]");
    await efd.write(await thr.ptr(new Int64(4)));
    const [valid] = await efd.read(await thr.malloc(Int64));
    assert.equal((await valid.read()).value, 7n);
    await efd.close();
  });

  test("EFD.NONBLOCK: reading zero is EAGAIN", async () => {
    const efd = await thr.task.eventfd(0, EFD.NONBLOCK);
    await assert.rejects(efd.read(await thr.malloc(Int64)), { code: "EAGAIN", syscall: "read" });
    await efd.close();
  });
});

describe("memfd_create and mmap", () => {
  test("memfd_create makes a named in-memory file; pread and pwrite", async () => {
    const mfd = await thr.task.memfdCreate(await thr.ptr("rsyscall-memfd"), MFD.ALLOW_SEALING);
    assert.equal(fdTarget(mfd.near), "/memfd:rsyscall-memfd (deleted)");
    assert.ok(isCloexec(mfd.near));
    await mfd.pwrite(await thr.ptr(Buffer.from("abc")), 1);
    assert.deepEqual(fs.readFileSync(mfd.asProcPath()), Buffer.from("\0abc"));
    const [valid, rest] = await mfd.pread(await thr.malloc(Buffer, 4), 0);
    assert.deepEqual(await valid.read(), Buffer.from("\0abc"));
    assert.equal(rest.size(), 0);
    await mfd.close();
  });

  test("mmap of a file shares its pages; munmap removes the mapping", async () => {
    const mfd = await thr.task.memfdCreate(await thr.ptr("mapped"));
    await mfd.ftruncate(4096);
    const mapping = await mfd.mmap(4096, PROT.of(PROT.READ, PROT.WRITE), MAP.SHARED);
    assert.ok(mapping instanceof MemoryMapping);
    assert.ok(mappings().some((m) => m.start === mapping.address && m.line.includes("memfd:mapped")));
    await mfd.pwrite(await thr.ptr(Buffer.from("shared page")), 0);
    // Read the mapped page through /proc/self/mem, independently of the library.
    const mem = fs.openSync("/proc/self/mem", "r");
    const seen = Buffer.alloc(11);
    fs.readSync(mem, seen, 0, 11, mapping.address);
    fs.closeSync(mem);
    assert.equal(seen.toString(), "shared page");
    await mapping.madvise(MADV.WILLNEED);
    await mapping.munmap();
    assert.ok(!mappings().some((m) => m.start === mapping.address));
    await mapping.munmap();
    await mfd.close();
  });

  test("anonymous mmap; lengths must be whole pages", async () => {
    const mapping = await thr.task.mmap(8192, PROT.READ, MAP.PRIVATE);
    const m = mappings().find((x) => x.start === mapping.address);
    assert.ok(m);
    assert.equal(m.end - m.start, 8192);
    assert.match(m.line, / r--p /);
    await mapping.munmap();
    await assert.rejects(thr.task.mmap(100, PROT.READ, MAP.PRIVATE), TypeError);
  });
});
