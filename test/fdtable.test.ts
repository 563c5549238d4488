// The fd table bookkeeping: owned and borrowed fds, the collector that closes dropped owned fds,
// inheritance through chains of clones, and unshare(CLONE_FILES). Every check of whether an fd is
// open goes through /proc or node:fs, not the library.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Command, FDTableMismatchError, type FileDescriptor, localThread as thr } from "rsyscall";
import { F, O } from "rsyscall/fcntl";
import { CLONE } from "rsyscall/sched";
import { fdTarget, scratchDir } from "./util.js";

const dir = scratchDir();
const file = join(dir, "file");
fs.writeFileSync(file, "contents");

/** Lets dropped handles be collected and their finalizers run, then runs the table's collector. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    global.gc!();
    await new Promise((r) => setImmediate(r));
  }
  thr.task.collectGarbage();
  await new Promise((r) => setImmediate(r));
}

/** Whether fd `n` of this process is open on `file` (the scratch file), from /proc. */
function isFile(n: number): boolean {
  try {
    return fdTarget(n) === file;
  } catch {
    return false;
  }
}

describe("the fd collector", () => {
  test("an owned fd dropped without close is closed by the collector", async () => {
    const n = await (async () => (await thr.task.open(await thr.ptr(file), O.RDONLY)).near)();
    assert.ok(isFile(n));
    await collect();
    assert.ok(!isFile(n), "the dropped fd was closed");
  });

  test("a borrowed fd (fdAt of a number node:fs opened) is never closed by dropping it", async () => {
    const n = fs.openSync(file, "r");
    (() => {
      const fd = thr.task.fdAt(n);
      assert.equal(fd.owned, false);
    })();
    await collect();
    const pipe = await thr.pipe();
    assert.ok(isFile(n), "node:fs's fd is still open and still the file");
    assert.ok(pipe.read.near !== n && pipe.write.near !== n, "its number was not reused");
    assert.equal(fs.readFileSync(n, "utf8"), "contents");
    fs.closeSync(n);
    await pipe.read.close();
    await pipe.write.close();
  });

  test("takeOwnership: the collector closes a borrowed fd once it is ours", async () => {
    const n = fs.openSync(file, "r");
    (() => {
      const fd = thr.task.fdAt(n).takeOwnership();
      assert.equal(fd.owned, true);
    })();
    await collect();
    assert.ok(!isFile(n), "closed once owned and dropped");
  });

  test("release gives ownership away: dropping later handles does not close it", async () => {
    const fd = await thr.task.open(await thr.ptr(file), O.RDONLY);
    const n = fd.release();
    (() => thr.task.fdAt(n))();
    await collect();
    assert.ok(isFile(n));
    fs.closeSync(n);
  });

  test("with two handles, dropping one leaves the fd open; dropping both closes it", async () => {
    const first = await thr.task.open(await thr.ptr(file), O.RDONLY);
    const n = first.near;
    (() => thr.task.fdAt(n))();
    await collect();
    assert.ok(isFile(n), "one handle is left");
    assert.equal(await first.fcntl(F.GETFD), 1, "and it still works");
    await first.invalidate();
    assert.ok(!isFile(n), "the last handle closed it");
  });

  test("invalidate of a borrowed handle leaves the fd open; close closes it", async () => {
    const n = fs.openSync(file, "r");
    await thr.task.fdAt(n).invalidate();
    assert.ok(isFile(n));
    await thr.task.fdAt(n).close();
    assert.ok(!isFile(n));
  });

  test("Node's stdio is borrowed", () => {
    for (const fd of [thr.stdin, thr.stdout, thr.stderr]) assert.equal(fd.owned, false);
  });
});

describe("inheritance through clones", { timeout: 30_000 }, () => {
  test("grand.inheritFd(init.inheritFd(fd)) works when init's handle is made after grand's clone", async () => {
    const p = await thr.pipe();
    const init = await thr.clone();
    const grand = await init.clone();
    const initCopy = init.inheritFd(p.write);
    const grandCopy = grand.inheritFd(initCopy);
    await grandCopy.write(await grand.ptr(Buffer.from("through two clones")));
    assert.ok(grand.inheritFd(p.write), "straight from the Node process too");
    await grand.exit(0);
    await init.exit(0);
    await p.write.close();
    assert.equal((await thr.readToEof(p.read)).toString(), "through two clones");
    await p.read.close();
  });

  test("a number reused after the clone is refused, on either side", async () => {
    const p = await thr.pipe();
    const init = await thr.clone();
    const grand = await init.clone();
    // init closes its copy and gets a new fd at the same number.
    const n = p.read.near;
    await init.inheritFd(p.read).close();
    const replacement = await init.task.open(await init.ptr(file), O.RDONLY);
    if (replacement.near === n) assert.throws(() => grand.inheritFd(replacement), FDTableMismatchError);
    assert.throws(() => init.inheritFd(p.read), FDTableMismatchError, "init's copy is gone");
    assert.ok(grand.inheritFd(p.read), "grand's copy was made before init closed its own");
    // The Node process reuses a number after the clone.
    const later = await thr.pipe();
    assert.throws(() => init.inheritFd(later.read), FDTableMismatchError);
    for (const fd of [p.read, p.write, later.read, later.write]) await fd.close();
    await grand.exit(0);
    await init.exit(0);
  });
});

describe("a child's table is a lazy copy", { timeout: 30_000 }, () => {
  test("asked late about a number the Node process replaced after the clone, it knows the old file", async () => {
    const a = await thr.pipe();
    const b = await thr.pipe();
    const child = await thr.clone();
    const n = a.write.near;
    await b.write.dup2(a.write); // in the Node process, n is b's write end now; in the child, still a's
    assert.throws(() => child.inheritFd(a.write), FDTableMismatchError);
    const theirs = child.task.fdAt(n);
    await theirs.write(await child.ptr(Buffer.from("to a")));
    await child.exit(0);
    for (const fd of [a.write, b.write]) await fd.close();
    assert.equal((await thr.readToEof(a.read)).toString(), "to a");
    assert.equal((await thr.readToEof(b.read)).length, 0);
    for (const fd of [a.read, b.read]) await fd.close();
  });

  test("100 children of a process with 1000 fds: each names any of them as it was at its clone", async () => {
    const pipes = await Promise.all(Array.from({ length: 500 }, () => thr.pipe()));
    const children = await Promise.all(Array.from({ length: 100 }, () => thr.clone()));
    const last = pipes.at(-1)!;
    // Each can still name any of them, as it was at its clone.
    for (const child of children) assert.ok(child.inheritFd(last.write).valid);
    await Promise.all(children.map((c) => c.exit(0)));
    await Promise.all(pipes.flatMap((p) => [p.read.close(), p.write.close()]));
  });
});

describe("a lazy copy's base", { timeout: 60_000 }, () => {
  test("does not keep a record of every later change while a child lives", async () => {
    const child = await thr.clone();
    const path = await thr.ptr("/dev/null");
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 50_000; i++) await (await thr.task.open(path, O.RDONLY)).close();
    globalThis.gc?.();
    const grown = process.memoryUsage().heapUsed - before;
    // Kept per change, 50,000 records would be several MiB.
    assert.ok(grown < 2 * 2 ** 20, `the JS heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    await child.exit(0);
  });
});

describe("unshare(CLONE_FILES)", { timeout: 30_000 }, () => {
  test("the task gets a new table identity; its handles move along", async () => {
    const p = await thr.pipe();
    const child = await thr.clone();
    const before = child.task.fdTable;
    const copy = child.inheritFd(p.write);
    await child.task.unshare(CLONE.FILES);
    assert.notEqual(child.task.fdTable, before);
    assert.equal(await copy.fcntl(F.GETFD), 1, "a handle made before still works");
    assert.equal(await child.stdout.fcntl(F.GETFD), 1);
    assert.ok(child.inheritFd(p.read), "the copy still holds what was inherited");
    await copy.write(await child.ptr(Buffer.from("after unshare")));
    await child.exit(0);
    await p.write.close();
    assert.equal((await thr.readToEof(p.read)).toString(), "after unshare");
    await p.read.close();
  });

  test("refused for the Node process, whose libuv threads would keep the old table", async () => {
    await assert.rejects(thr.task.unshare(CLONE.FILES), TypeError);
    assert.equal(await thr.task.getpid(), process.pid);
  });

  test("unshareFiles: the child keeps exactly the fds it holds handles for, through an exec", async () => {
    const kept = await thr.pipe();
    const stray = await thr.pipe();
    const child = await thr.clone();
    const out = child.inheritFd(kept.write);
    await out.dup2(child.stdout);
    await child.unshareFiles();
    const proc = await child.exec(
      new Command("/bin/sh", ["sh", "-c", `test -e /proc/self/fd/${stray.write.near} || echo stray-closed`], {}),
    );
    await kept.write.close();
    await stray.write.close();
    assert.equal((await thr.readToEof(kept.read)).toString(), "stray-closed\n");
    await proc.check();
    for (const fd of [kept.read, stray.read] as FileDescriptor[]) await fd.close();
  });
});
