// Namespaces and privileges: clone with namespace flags, user mappings, mounts, chroot, and the
// small families (capabilities, prctl, resource limits, priorities, affinity).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Command, localThread as thr } from "rsyscall";
import { O } from "rsyscall/fcntl";
import { CLONE, CpuSet } from "rsyscall/sched";
import { SIG } from "rsyscall/signal";
import { CAP, CapData, CapHeader } from "rsyscall/sys/capability";
import { MNT, MS } from "rsyscall/sys/mount";
import { PR_CAP_AMBIENT } from "rsyscall/sys/prctl";
import { PRIO, RLIMIT, Rlimit } from "rsyscall/sys/resource";
import { W } from "rsyscall/sys/wait";
import { procStatus, readAsync, scratchDir } from "./util.js";

const limit = { timeout: 30_000 };

describe("namespaces", limit, () => {
  test("pid 1 inside NEWUSER|NEWPID, our own uid mapped to itself for us", async () => {
    const child = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWPID));
    assert.equal(await child.task.getpid(), 1);
    assert.equal(await child.task.getuid(), await thr.task.getuid());
    assert.match(procStatus(child.task.pid, "NSpid"), new RegExp(`^${child.task.pid}\\s+1$`));
    const uid = process.getuid!();
    assert.equal(
      fs.readFileSync(`/proc/${child.task.pid}/uid_map`, "utf8").trim().split(/\s+/).join(" "),
      `${uid} ${uid} 1`,
    );
    assert.notEqual(fs.readlinkSync(`/proc/${child.task.pid}/ns/user`), fs.readlinkSync("/proc/self/ns/user"));
    await child.exit(0);
  });

  test("a pid-1 child makes children of its own, reaps them, and we wait for them", async () => {
    const init = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWPID));
    const inner = await init.clone();
    assert.equal(await inner.task.getpid(), 2);
    assert.equal(await inner.task.getppid(), 1, "its parent is the namespace's init, not us");
    const proc = await inner.exec(new Command("/bin/sh", ["sh", "-c", 'test "$$ $PPID" = "2 1" && exit 6'], {}));
    assert.equal((await proc.waitpid(W.EXITED)).status, 6);
    const doomed = await init.clone();
    await doomed.process.kill(SIG.KILL);
    assert.equal((await doomed.process.waitpid(W.EXITED)).killedWith(), SIG.KILL);
    await init.exit(0);
    assert.ok((await init.process.waitpid(W.EXITED)).clean());
  });

  test("without the maps, the new user namespace has none", async () => {
    const child = await thr.clone(CLONE.NEWUSER, { writeUserMappings: false });
    assert.equal(await child.task.getuid(), 65534);
    await child.exit(0);
  });

  test("chroot with a bind-mounted /proc inside NEWUSER|NEWNS", async () => {
    const root = scratchDir();
    for (const dir of ["proc", "bin", "lib", "lib64", "usr"]) fs.mkdirSync(join(root, dir));
    const { read, write } = await thr.pipe();
    const child = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNS, CLONE.NEWPID));
    for (const dir of ["proc", "bin", "lib", "lib64", "usr"])
      await child.mount(`/${dir}`, join(root, dir), "", MS.of(MS.BIND, MS.REC), "");
    await child.chroot(root);
    await child.task.chdir(await child.ptr("/"));
    await child.inheritFd(write).dup2(child.stdout);
    const proc = await child.exec(
      new Command("/bin/sh", ["sh", "-c", "echo $$; test -d /proc/1 && echo proc; test -e /tmp || echo no-tmp"], {}),
    );
    await write.close();
    assert.equal(await readAsync(thr, read), "1\nproc\nno-tmp\n");
    await proc.check();
    assert.ok(!fs.existsSync(join(root, "proc", "1", "status")), "the mount stayed in the child's namespace");
  });

  test("tearing down a pid namespace kills everything inside it: the reader sees EOF", async () => {
    const { read, write } = await thr.pipe();
    const child = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWPID));
    await child.inheritFd(write).dup2(child.stdout);
    const proc = await child.exec(
      new Command("/bin/sh", ["sh", "-c", "sleep 100 & sleep 100 & echo started; wait"], {}),
    );
    await write.close();
    const afd = await thr.makeAfd(read, true);
    assert.equal((await afd.readSomeBytes()).toString(), "started\n");
    await proc.kill(SIG.KILL);
    assert.equal((await afd.readSomeBytes()).length, 0, "EOF: every writer is gone");
    await afd.close();
    assert.equal((await proc.waitpid(W.EXITED)).killedWith(), SIG.KILL);
  });

  test("unshare(NEWUTS) in a child leaves our hostname alone; mount and umount", async () => {
    const child = await thr.clone(CLONE.NEWUSER);
    await child.unshare(CLONE.of(CLONE.NEWUTS, CLONE.NEWNS));
    assert.notEqual(fs.readlinkSync(`/proc/${child.task.pid}/ns/uts`), fs.readlinkSync("/proc/self/ns/uts"));
    const dir = scratchDir();
    await child.mount("tmpfs", dir, "tmpfs", 0 as MS, "size=1m");
    const fd = await child.task.open(await child.ptr(join(dir, "inside")), O.of(O.WRONLY, O.CREAT));
    await fd.close();
    assert.ok(!fs.existsSync(join(dir, "inside")), "the tmpfs is only in the child's mount namespace");
    await child.task.umount(await child.ptr(dir), MNT.DETACH);
    await child.exit(0);
  });

  test("unshareUser in a child with chosen ids", async () => {
    const child = await thr.clone();
    await child.unshareUser({ inNamespaceUid: 1000, inNamespaceGid: 1000 });
    assert.equal(await child.task.getuid(), 1000);
    assert.equal(await child.task.getgid(), 1000);
    await child.exit(0);
  });

  test("setns joins another process's namespace", async () => {
    const owner = await thr.clone(CLONE.NEWUSER);
    await owner.unshare(CLONE.NEWUTS);
    const joiner = await thr.clone();
    // Joining the uts namespace takes CAP_SYS_ADMIN over the user namespace that owns it: as root
    // we have that; otherwise join that user namespace first (its owner, our uid, may).
    if (process.getuid!() !== 0) {
      const userns = await joiner.task.open(await joiner.ptr(`/proc/${owner.task.pid}/ns/user`), O.RDONLY);
      await userns.setns(CLONE.NEWUSER);
      await userns.close();
    }
    const nsfd = await joiner.task.open(await joiner.ptr(`/proc/${owner.task.pid}/ns/uts`), O.RDONLY);
    await nsfd.setns(CLONE.NEWUTS);
    assert.equal(fs.readlinkSync(`/proc/${joiner.task.pid}/ns/uts`), fs.readlinkSync(`/proc/${owner.task.pid}/ns/uts`));
    await joiner.exit(0);
    await owner.exit(0);
  });
});

describe("privileges and limits", limit, () => {
  test("capget reads our capabilities; capset drops one in a child", async () => {
    const caps = await (await thr.task.capget(await thr.ptr(new CapHeader()), await thr.malloc(CapData))).read();
    const effective = BigInt(`0x${procStatus("self", "CapEff")}`);
    assert.equal(caps.effective.has(CAP.SYS_ADMIN), Boolean(effective & (1n << BigInt(CAP.SYS_ADMIN))));
    const child = await thr.clone();
    const fewer = new CapData(
      new Set([...caps.effective].filter((c) => c !== CAP.NET_RAW)),
      new Set([...caps.permitted].filter((c) => c !== CAP.NET_RAW)),
      caps.inheritable,
    );
    await child.task.capset(await child.ptr(new CapHeader()), await child.ptr(fewer));
    const childEff = BigInt(`0x${procStatus(child.task.pid, "CapEff")}`);
    assert.equal(childEff & (1n << BigInt(CAP.NET_RAW)), 0n);
    assert.equal(await child.task.prctlCapAmbient(PR_CAP_AMBIENT.IS_SET, CAP.NET_RAW), 0);
    await child.exit(0);
  });

  test("prctl names a child; prlimit and priorities change it; affinity pins it", async () => {
    const child = await thr.clone();
    await child.task.prctlSetName(await child.ptr("rsyscall-kid"));
    assert.equal(fs.readFileSync(`/proc/${child.task.pid}/comm`, "utf8").trim(), "rsyscall-kid");
    assert.equal(await (await child.task.prctlGetName(await child.malloc(String, 16))).read(), "rsyscall-kid");
    const old = await child.task.prlimit(
      RLIMIT.NOFILE,
      await child.ptr(new Rlimit(100, 200)),
      await child.malloc(Rlimit),
    );
    assert.ok((await old!.read()).max >= 200n);
    assert.match(fs.readFileSync(`/proc/${child.task.pid}/limits`, "utf8"), /Max open files\s+100\s+200/);
    await child.task.setpriority(PRIO.PROCESS, 0, 5);
    assert.equal(await child.task.getpriority(PRIO.PROCESS), 5);
    await child.task.schedSetaffinity(0, await child.ptr(new CpuSet([0])));
    assert.deepEqual([...(await (await child.task.schedGetaffinity(0, await child.malloc(CpuSet))).read())], [0]);
    assert.equal(procStatus(child.task.pid, "Cpus_allowed_list"), "0");
    await child.exit(0);
  });
});
