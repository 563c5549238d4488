// What sandbox and container authors reach for: uid 0 in a new user namespace without being root,
// sethostname/setdomainname, pivot_root, setgroups, and `await using` on inotify and epollers.
// Effects are checked outside the library: /proc through node:fs, and programs run inside.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Epoller, Inotify, type Thread, localThread as thr } from "rsyscall";
import { CLONE } from "rsyscall/sched";
import { IN } from "rsyscall/sys/inotify";
import { MS } from "rsyscall/sys/mount";
import { openFds, procStatus, scratchDir, searchableByOthers } from "./util.js";

const limit = { timeout: 30_000 };
const asRoot = process.getuid?.() === 0;
const out = ["inherit", "pipe", "inherit"] as const;

/** A child in new user, mount and UTS namespaces in which it is uid 0 (whoever we are). */
async function rootInside(parent: Thread = thr) {
  return parent.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNS, CLONE.NEWUTS), {
    inNamespaceUid: 0,
    inNamespaceGid: 0,
  });
}

/**
 * Runs `script` (an ES module body with `thr` and `CLONE` in scope) in a Node process of a user
 * without privileges: ourselves unless we are root, else nobody. Resolves its stdout; undefined if
 * nobody cannot read this package.
 */
function unprivileged(script: string): string | undefined {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const user = asRoot ? { uid: 65534, gid: 65534 } : {};
  if (asRoot && !searchableByOthers(root)) return undefined;
  const source = `import { localThread as thr } from "rsyscall"; import { CLONE } from "rsyscall/sched";\n${script}`;
  return execFileSync(process.execPath, ["--input-type=module", "-e", source], {
    cwd: root,
    encoding: "utf8",
    timeout: 20_000,
    ...user,
  });
}

describe("user namespaces with uid 0 inside", limit, () => {
  test("an unprivileged user is uid 0 in a new user namespace, mapped to its own ids", async (t) => {
    const output = unprivileged(
      `
      const [uid, gid] = [process.getuid(), process.getgid()];
      const box = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNS, CLONE.NEWUTS), { inNamespaceUid: 0, inNamespaceGid: 0 });
      const maps = ["uid_map", "gid_map"].map((f) => fs.readFileSync("/proc/" + box.process.pid + "/" + f, "utf8").trim().split(/\\s+/).join(" "));
      const inside = await box.run("id", ["-u"], { stdio: ["inherit", "pipe", "inherit"] });
      await box.exit(0);
      console.log(JSON.stringify({ uid, gid, maps, inside: inside.stdout }));
    `.replace("const [uid", 'const fs = await import("node:fs"); const [uid'),
    );
    if (output === undefined) return t.skip("nobody cannot read this package's directory");
    const { uid, gid, maps, inside } = JSON.parse(output);
    assert.notEqual(uid, 0, "not root");
    assert.deepEqual(maps, [`0 ${uid} 1`, `0 ${gid} 1`]);
    assert.equal(inside, "0\n");
  });

  test("the default maps our ids to themselves", async () => {
    const child = await thr.clone(CLONE.NEWUSER);
    const uid = process.getuid?.();
    assert.equal(
      fs.readFileSync(`/proc/${child.process.pid}/uid_map`, "utf8").trim().split(/\s+/).join(" "),
      `${uid} ${uid} 1`,
    );
    await child.exit(0);
  });

  test("the options are checked before any syscall", async () => {
    const before = openFds();
    await assert.rejects(thr.clone(0 as CLONE, { inNamespaceUid: 0 }), /needs CLONE.NEWUSER/);
    await assert.rejects(thr.clone(CLONE.NEWUSER, { inNamespaceUid: -1 }), /inNamespaceUid must be an id/);
    await assert.rejects(thr.clone(CLONE.NEWUSER, { inNamespaceGid: 2 ** 32 }), /inNamespaceGid must be an id/);
    await assert.rejects(
      thr.clone(CLONE.NEWUSER, { inNamespaceUid: 0, writeUserMappings: false }),
      /needs CLONE.NEWUSER with the mappings written/,
    );
    assert.deepEqual(
      openFds().filter((n) => !before.includes(n)),
      [],
    );
  });
});

describe("sethostname, setdomainname, setgroups", limit, () => {
  test("a UTS namespace of its own gets its names; programs inside see them, we keep ours", async () => {
    const box = await rootInside();
    await box.sethostname("sandbox");
    await box.setdomainname("example.test");
    const seen = await box.run("cat", ["/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname"], { stdio: out });
    assert.equal(seen.stdout, "sandbox\nexample.test\n");
    assert.notEqual(fs.readFileSync("/proc/sys/kernel/hostname", "utf8"), "sandbox\n");
    await box.exit(0);
  });

  test("a bad name is a TypeError before the syscall; without the capability, EPERM", async () => {
    await assert.rejects(thr.sethostname("x".repeat(65)), TypeError);
    await assert.rejects(thr.sethostname("a\0b"), TypeError);
    await assert.rejects(thr.setdomainname(5 as unknown as string), TypeError);
    // A user namespace of its own, but our UTS namespace: no capability over that.
    const child = await thr.clone(CLONE.NEWUSER);
    await assert.rejects(child.sethostname("nope"), { code: "EPERM", syscall: "sethostname" });
    await child.exit(0);
  });

  test("setgroups: the supplementary groups /proc shows; refused in a namespace that denies it", async (t) => {
    if (asRoot) {
      const child = await thr.clone();
      await child.setgroups([1234, 5678]);
      assert.equal(procStatus(child.process.pid, "Groups").trim(), "1234 5678");
      await child.setgroups([]);
      assert.equal(procStatus(child.process.pid, "Groups").trim(), "");
      await child.exit(0);
    } else {
      t.diagnostic("setting groups outside a namespace needs root: only the refusals are checked");
    }
    await assert.rejects(thr.setgroups([-1]), TypeError);
    const box = await rootInside();
    // Mapping ids without privileges takes writing "deny" to /proc/PID/setgroups first.
    assert.equal(fs.readFileSync(`/proc/${box.process.pid}/setgroups`, "utf8").trim(), "deny");
    await assert.rejects(box.setgroups([0]), { code: "EPERM", syscall: "setgroups" });
    await box.exit(0);
  });
});

describe("setresuid, setresgid", limit, () => {
  test("a fork changes its ids (/proc shows them); the Node process and bad ids are refused first", async () => {
    await assert.rejects(thr.task.setresuid(-1, -1, -1), /not for the Node process/);
    const forked = await thr.fork();
    await assert.rejects(forked.task.setresuid(-2, 0, 0), TypeError);
    if (asRoot) {
      await forked.task.setresgid(65534, 65534, 65534);
      await forked.task.setresuid(65534, 65534, 65534);
      assert.equal(procStatus(forked.process.pid, "Uid").split(/\s+/).join(" "), "65534 65534 65534 65534");
      assert.equal(procStatus(forked.process.pid, "Gid").split(/\s+/).join(" "), "65534 65534 65534 65534");
    } else {
      await assert.rejects(forked.task.setresuid(0, 0, 0), { code: "EPERM" });
      await forked.task.setresuid(-1, -1, -1);
    }
    await forked.exit(0);
  });
});

describe("pivot_root", limit, () => {
  test("a tmpfs becomes the root; the old root is gone from it", async () => {
    const dir = scratchDir();
    const box = await rootInside();
    await box.mount("none", "/", "", MS.of(MS.REC, MS.PRIVATE), "");
    await box.mount("tmpfs", dir, "tmpfs", 0 as MS, "");
    await box.spit(join(dir, "marker"), "inside");
    await box.pivotRoot(dir);
    // Through /proc/PID/root we see what the child sees as /.
    assert.equal(fs.readFileSync(`/proc/${box.process.pid}/root/marker`, "utf8"), "inside");
    assert.deepEqual(fs.readdirSync(`/proc/${box.process.pid}/root`), ["marker"]);
    assert.equal(fs.readdirSync(dir).length, 0, "outside, the directory is as it was");
    await box.exit(0);
  });

  test("a path that is not a mount point is EINVAL from pivot_root, with both paths", async () => {
    const dir = scratchDir();
    const box = await rootInside();
    await box.mount("none", "/", "", MS.of(MS.REC, MS.PRIVATE), "");
    fs.mkdirSync(join(dir, "old"));
    await assert.rejects(box.task.pivotRoot(await box.ptr(dir), await box.ptr(join(dir, "old"))), {
      code: "EINVAL",
      syscall: "pivot_root",
      path: dir,
    });
    await assert.rejects(box.pivotRoot("relative"), TypeError);
    await box.exit(0);
  });
});

describe("await using", limit, () => {
  test("Inotify and Watch dispose: the watch is removed, the fd closed", async () => {
    const dir = scratchDir();
    const before = openFds();
    {
      await using inotify = await Inotify.make(thr);
      await using watch = await inotify.add(dir, IN.CREATE);
      fs.writeFileSync(join(dir, "a"), "");
      assert.equal((await watch.waitUntilEvent(IN.CREATE)).name, "a");
    }
    assert.deepEqual(
      openFds().filter((n) => !before.includes(n)),
      [],
      "the inotify fd is closed",
    );
  });

  test("an epoller we made is closed at the end of its scope; a thread's own is left alone", async () => {
    const before = openFds();
    {
      await using epoller = await Epoller.make(thr.task, thr.ram);
      assert.ok(openFds().includes(epoller.epfd.near));
    }
    assert.deepEqual(
      openFds().filter((n) => !before.includes(n)),
      [],
    );
    await thr.epoller[Symbol.asyncDispose]();
    assert.ok(thr.epoller.epfd.valid, "the thread's epoller is still open");
    const { read, write } = await thr.pipe();
    const afd = await thr.makeAfd(read, true);
    await write.write(await thr.ptr(Buffer.from("still works")));
    assert.equal((await afd.readSomeBytes()).toString(), "still works");
    await afd.close();
    await write.close();
  });
});
