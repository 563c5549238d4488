// The smaller header modules: statx, mkdtemp and its removal, flock and record locks, futexes,
// IP and TCP options, limits, and a TUN device read through an AsyncFileDescriptor. Checked through
// node:fs, /proc (locks, mountinfo, a child's root) and other processes.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { localThread as thr } from "rsyscall";
import { AT, F, F_LOCK, Flock, O } from "rsyscall/fcntl";
import { IOV_MAX, NAME_MAX, PATH_MAX } from "rsyscall/limits";
import { FUTEX } from "rsyscall/linux/futex";
import { Rtnetlink } from "rsyscall/linux/rtnetlink";
import { IFF_TUN, Ifreq, TUN } from "rsyscall/net/if";
import { SockaddrIn } from "rsyscall/netinet/in";
import { IP } from "rsyscall/netinet/ip";
import { TCP } from "rsyscall/netinet/tcp";
import { CLONE } from "rsyscall/sched";
import { mkdtemp } from "rsyscall/stdlib";
import { Int32 } from "rsyscall/struct";
import { LOCK } from "rsyscall/sys/file";
import { MS } from "rsyscall/sys/mount";
import { AF, type MSG, SOCK, SOL, Sockbuf } from "rsyscall/sys/socket";
import { STATX, Statx } from "rsyscall/sys/stat";
import { W } from "rsyscall/sys/wait";
import { Timespec } from "rsyscall/time";
import { scratchDir } from "./util.js";

const limit = { timeout: 30_000 };
const asRoot = process.getuid?.() === 0;

/** The mount id /proc/self/mountinfo gives the mount `path` is on (the longest mount point above it). */
function mountIdOf(path: string): bigint {
  let best = { point: "", id: -1n };
  for (const line of fs.readFileSync("/proc/self/mountinfo", "utf8").trim().split("\n")) {
    const [id, , , , point] = line.split(" ");
    if (
      point &&
      (path === point || path.startsWith(point === "/" ? "/" : `${point}/`)) &&
      point.length >= best.point.length
    )
      best = { point, id: BigInt(id!) };
  }
  return best.id;
}

/** The lines of /proc/locks held by `pid`. */
function locksOf(pid: number): string[] {
  return fs
    .readFileSync("/proc/locks", "utf8")
    .split("\n")
    .filter((l) => l.split(/\s+/)[4] === String(pid));
}

describe("statx", limit, () => {
  test("size, inode and mount id agree with node:fs and /proc/self/mountinfo; a symlink itself with SYMLINK_NOFOLLOW", async () => {
    const dir = fs.realpathSync(scratchDir());
    const file = join(dir, "f");
    fs.writeFileSync(file, "12345");
    fs.symlinkSync("f", join(dir, "link"));
    const st = await (
      await thr.task.statx(
        await thr.ptr(file),
        0 as AT,
        STATX.of(STATX.BASIC_STATS, STATX.MNT_ID),
        await thr.malloc(Statx),
      )
    ).read();
    const ours = fs.statSync(file, { bigint: true });
    assert.equal(st.size, 5n);
    assert.equal(st.ino, ours.ino);
    assert.equal(st.mountId, mountIdOf(file));
    const link = await (
      await thr.task.statx(await thr.ptr(join(dir, "link")), AT.SYMLINK_NOFOLLOW, STATX.TYPE, await thr.malloc(Statx))
    ).read();
    assert.ok(link.isSymbolicLink());
    await assert.rejects(
      thr.task.statx(await thr.ptr(join(dir, "none")), 0 as AT, STATX.TYPE, await thr.malloc(Statx)),
      {
        code: "ENOENT",
        syscall: "statx",
      },
    );
  });
});

describe("mkdtemp", limit, () => {
  test("a 0700 directory, removed with what it holds; a symlink out is removed, not followed", async () => {
    const outside = join(scratchDir(), "precious");
    fs.writeFileSync(outside, "keep me");
    let path: string;
    {
      await using tmp = await mkdtemp(thr, join(scratchDir(), "t-"));
      path = tmp.path;
      assert.equal(fs.statSync(path).mode & 0o777, 0o700);
      fs.mkdirSync(join(path, "a/b/c"), { recursive: true });
      fs.writeFileSync(join(path, "a/b/c/file"), "x");
      fs.symlinkSync(outside, join(path, "a/out"));
      fs.symlinkSync(join(outside, ".."), join(path, "a/b/updir"));
    }
    assert.equal(fs.existsSync(path), false);
    assert.equal(fs.readFileSync(outside, "utf8"), "keep me");
    await assert.rejects(mkdtemp(thr, "relative-"), TypeError);
  });

  test("removal does not cross into a mount: it stays, the rest goes, and it rejects with EBUSY", async () => {
    const child = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNS), { inNamespaceUid: 0, inNamespaceGid: 0 });
    await child.mount("none", "/", "", MS.of(MS.REC, MS.PRIVATE), "");
    const tmp = await mkdtemp(child, join(fs.realpathSync(scratchDir()), "t-"));
    fs.mkdirSync(join(tmp.path, "m"));
    fs.writeFileSync(join(tmp.path, "other"), "");
    await child.mount("tmpfs", join(tmp.path, "m"), "tmpfs", 0 as MS, "");
    await child.spit(join(tmp.path, "m", "inside"), "on the mount");
    await assert.rejects(tmp.remove(), { code: "EBUSY", path: join(tmp.path, "m") });
    // Through the child's root (its mount namespace): the mount and its file are untouched.
    const inChild = `/proc/${child.process.pid}/root${tmp.path}`;
    assert.equal(fs.readFileSync(join(inChild, "m", "inside"), "utf8"), "on the mount");
    assert.deepEqual(fs.readdirSync(inChild), ["m"], "the rest was removed");
    await child.exit(0);
    fs.rmSync(tmp.path, { recursive: true });
  });
});

describe("locks", limit, () => {
  test("flock: another open file waits until we unlock; /proc/locks shows ours", async () => {
    const file = join(scratchDir(), "lock");
    fs.writeFileSync(file, "");
    const ours = await thr.task.open(await thr.ptr(file), O.RDWR);
    await ours.flock(LOCK.of(LOCK.EX, LOCK.NB));
    assert.ok(
      locksOf(process.pid).some((l) => / FLOCK +ADVISORY +WRITE /.test(l)),
      "in /proc/locks",
    );
    const child = await thr.clone();
    const theirs = await child.task.open(await child.ptr(file), O.RDWR);
    await assert.rejects(theirs.flock(LOCK.of(LOCK.EX, LOCK.NB)), { code: "EAGAIN", syscall: "flock" });
    let got = false;
    const waiting = theirs.flock(LOCK.EX).then(() => {
      got = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got, false, "still waiting while we hold it");
    await ours.flock(LOCK.UN);
    await waiting;
    assert.equal(got, true);
    await child.exit(0);
    await ours.close();
  });

  test("record locks: F_GETLK from another process names the holder; F_SETLK conflicts; OFD locks too", async () => {
    const file = join(scratchDir(), "records");
    fs.writeFileSync(file, "0123456789");
    const child = await thr.clone(); // a process of its own: POSIX locks are per process
    const theirs = await child.task.open(await child.ptr(file), O.RDWR);
    await theirs.fcntlLock(F.SETLK, await child.ptr(new Flock(F_LOCK.WRLCK, 0, 10)));
    assert.ok(
      locksOf(child.process.pid).some((l) => / POSIX +ADVISORY +WRITE /.test(l)),
      "in /proc/locks",
    );
    const ours = await thr.task.open(await thr.ptr(file), O.RDWR);
    const found = await (await ours.fcntlLock(F.GETLK, await thr.ptr(new Flock(F_LOCK.WRLCK, 5, 1)))).read();
    assert.equal(found.type, F_LOCK.WRLCK);
    assert.equal(found.pid, child.process.pid);
    await assert.rejects(ours.fcntlLock(F.SETLK, await thr.ptr(new Flock(F_LOCK.RDLCK, 0, 1))), { code: "EAGAIN" });
    await ours.fcntlLock(F.SETLK, await thr.ptr(new Flock(F_LOCK.WRLCK, 10, 5))); // past their range
    await assert.rejects(ours.fcntlLock(F.OFD_SETLK, await thr.ptr(new Flock(F_LOCK.WRLCK, 0, 1))), { code: "EAGAIN" });
    await assert.rejects(ours.fcntlLock(F.GETFL, await thr.ptr(new Flock(F_LOCK.WRLCK))), TypeError);
    await child.exit(0);
    // exit() resolves when the child's link hangs up, which can be before the kernel closed its
    // other files (and dropped their locks) in exit_files: wait until it is reaped.
    await child.process.waitpid(W.EXITED);
    const free = await (await ours.fcntlLock(F.OFD_GETLK, await thr.ptr(new Flock(F_LOCK.WRLCK, 0, 10)))).read();
    assert.equal(free.type, F_LOCK.UNLCK, "their locks went with them");
    await ours.close();
  });
});

describe("futex", limit, () => {
  test("a child waits on a word of ours until we wake it; EAGAIN and ETIMEDOUT; not in the Node process", async () => {
    const word = await thr.ptr(new Int32(0));
    const child = await thr.clone(); // another process, on our memory
    let woken = false;
    const waiting = child.task.futexWait(word, 0).then(() => {
      woken = true;
    });
    // Wake until the wait has begun and is woken (a wake before it starts wakes nobody).
    while ((await thr.task.futexWake(word, 1)) === 0) await new Promise((r) => setTimeout(r, 10));
    await waiting;
    assert.ok(woken);
    await assert.rejects(child.task.futexWait(word, 7), { code: "EAGAIN", syscall: "futex" });
    await assert.rejects(child.task.futexWait(word, 0, await thr.ptr(Timespec.fromSeconds(0.05))), {
      code: "ETIMEDOUT",
    });
    await assert.rejects(thr.task.futexWait(word, 0), /event loop/);
    assert.equal(FUTEX.WAKE, 1);
    await child.exit(0);
  });
});

describe("robust list", limit, () => {
  test("a child's robust list: at its exit the kernel gives the word it held FUTEX_OWNER_DIED", async () => {
    const child = await thr.clone();
    const tid = await child.task.gettid();
    // In our memory, which the child shares: the entry (next, then the word 8 bytes on), and the head.
    const entry = await thr.malloc(Buffer, 16);
    const head = await thr.malloc(Buffer, 24);
    const entryBytes = Buffer.alloc(16);
    entryBytes.writeBigUInt64LE(BigInt(head.near), 0); // the list is circular: back to the head
    entryBytes.writeUInt32LE(tid, 8); // the word: held by the child's tid
    const headBytes = Buffer.alloc(24);
    headBytes.writeBigUInt64LE(BigInt(entry.near), 0); // list.next
    headBytes.writeBigInt64LE(8n, 8); // futex_offset: from the entry to its word
    const entryWritten = await entry.write(entryBytes);
    await child.task.setRobustList(await head.write(headBytes));
    await assert.rejects(thr.task.setRobustList(await thr.ptr(Buffer.alloc(24))), /glibc/);
    await child.exit(0);
    const word = (await entryWritten.read()).readUInt32LE(8);
    // The kernel took the word from the dead owner: its tid gone, FUTEX_OWNER_DIED in its place.
    assert.equal(word, FUTEX.OWNER_DIED, `word ${word.toString(16)}`);
  });
});

describe("socket options and limits", limit, () => {
  test("TCP_NODELAY, IP_TTL and TCP_CONGESTION round-trip through the kernel", async () => {
    const sock = await thr.socket(AF.INET, SOCK.STREAM);
    await sock.setsockopt(SOL.TCP, TCP.NODELAY, await thr.ptr(new Int32(1)));
    await sock.setsockopt(SOL.IP, IP.TTL, await thr.ptr(new Int32(42)));
    const get = async (level: SOL, name: number) =>
      (
        await (await sock.getsockopt(level, name, await thr.ptr(new Sockbuf(await thr.malloc(Int32))))).read()
      ).buf.read();
    assert.equal((await get(SOL.TCP, TCP.NODELAY)).value, 1);
    assert.equal((await get(SOL.IP, IP.TTL)).value, 42);
    const congestion = await (
      await sock.getsockopt(SOL.TCP, TCP.CONGESTION, await thr.ptr(new Sockbuf(await thr.malloc(Buffer, 16))))
    ).read();
    assert.match((await congestion.buf.read()).toString().replace(/\0.*$/s, ""), /^[a-z0-9]+$/);
    await sock.close();
  });

  test("NAME_MAX and PATH_MAX are getconf's", () => {
    assert.equal(NAME_MAX, Number(execFileSync("getconf", ["NAME_MAX", "/"], { encoding: "utf8" })));
    assert.equal(PATH_MAX, Number(execFileSync("getconf", ["PATH_MAX", "/"], { encoding: "utf8" })));
    assert.ok(IOV_MAX >= 1024);
  });
});

describe("TUN", limit, () => {
  test("a tun device in a network namespace: a packet sent to its network is read from its fd", {
    skip: !asRoot && "/dev/net/tun is root's only here",
  }, async () => {
    const box = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNET), { inNamespaceUid: 0, inNamespaceGid: 0 });
    const tunFd = await box.task.open(await box.ptr("/dev/net/tun"), O.of(O.RDWR, O.NONBLOCK));
    const request = await box.ptr(new Ifreq("tun%d", IFF_TUN.of(IFF_TUN.TUN, IFF_TUN.NO_PI)));
    await tunFd.ioctl(TUN.SETIFF, request);
    const { name } = await request.read();
    assert.match(name, /^tun\d+$/, "the kernel chose a name");
    const rt = await Rtnetlink.open(box);
    await rt.addAddress(name, "10.77.0.1", 24);
    await rt.setUp(name);
    await rt.close();
    const tun = await box.makeAfd(tunFd);
    const udp = await box.socket(AF.INET, SOCK.DGRAM);
    await udp.sendto(
      await box.ptr(Buffer.from("ping through tun")),
      0 as MSG,
      await box.ptr(new SockaddrIn(9999, "10.77.0.2")),
    );
    // Skip what else the kernel sends (router solicitations are IPv6; a tun with NO_PI has no header).
    for (;;) {
      const packet = await tun.readSomeBytes(2048);
      if (packet[0]! >> 4 !== 4) continue;
      assert.equal(packet[9], 17, "UDP");
      assert.equal([...packet.subarray(16, 20)].join("."), "10.77.0.2");
      assert.equal(packet.subarray(28).toString(), "ping through tun");
      break;
    }
    await tun.close();
    await udp.close();
    await box.exit(0);
  });
});
