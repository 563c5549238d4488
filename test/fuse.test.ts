// A read-only FUSE file system served from Node: programs in a child see its files and contents,
// writes are refused, and unmounting ends the server. /dev/fuse is root's only here (mode 0600),
// so as another user this skips.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { localThread as thr } from "rsyscall";
import { type FuseTree, mountReadOnlyFuse } from "rsyscall/linux/fuse";
import { CLONE } from "rsyscall/sched";
import { MS } from "rsyscall/sys/mount";
import { openFds, scratchDir } from "./util.js";

const skip = process.getuid?.() !== 0 && "/dev/fuse is root's only on these machines";
const out = ["inherit", "pipe", "pipe"] as const;

test("ls and cat in a child see what we serve; writes are EROFS; unmount ends the server", {
  timeout: 30_000,
  skip,
}, async () => {
  const dir = fs.realpathSync(scratchDir());
  const box = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWNS), { inNamespaceUid: 0, inNamespaceGid: 0 });
  await box.mount("none", "/", "", MS.of(MS.REC, MS.PRIVATE), "");
  const big = Buffer.alloc(300_000, "z");
  const fuse = await mountReadOnlyFuse(box, dir, { "hello.txt": "hi from node\n", docs: { "a.md": "# a\n", big } });
  const ls = await box.run("ls", ["-1a", dir, join(dir, "docs")], { stdio: out });
  assert.equal(ls.stdout, `${dir}:\n.\n..\ndocs\nhello.txt\n\n${join(dir, "docs")}:\n.\n..\na.md\nbig\n`);
  const cat = await box.run("cat", [join(dir, "hello.txt"), join(dir, "docs/a.md")], { stdio: out });
  assert.equal(cat.stdout, "hi from node\n# a\n");
  const wc = await box.run("wc", ["-c", join(dir, "docs/big")], { stdio: out });
  assert.equal(wc.stdout?.trim().split(" ")[0], "300000", "a file larger than one read arrives whole");
  const write = await box.run("sh", ["-c", `echo x > ${dir}/new`], { stdio: out, check: false });
  assert.match(write.stderr ?? "", /Read-only file system/);
  const missing = await box.run("cat", [join(dir, "nope")], { stdio: out, check: false });
  assert.match(missing.stderr ?? "", /No such file or directory/);
  const statfs = await box.run("stat", ["-f", "-c", "%l", dir], { stdio: out });
  assert.equal(statfs.stdout, "255\n", "STATFS answered");
  // Outside the child's mount namespace the directory is as it was.
  assert.deepEqual(fs.readdirSync(dir), []);
  await fuse.unmount();
  await fuse.done;
  await box.exit(0);
});

test("a tree with a bad name is refused before anything is opened", async () => {
  const before = openFds();
  const trees: FuseTree[] = [{ "a/b": "x" }, { "..": "x" }, { "": "x" }, { x: 5 as unknown as string }];
  for (const tree of trees) await assert.rejects(mountReadOnlyFuse(thr, "/nonexistent", tree), TypeError);
  await assert.rejects(mountReadOnlyFuse(thr, "relative", {}), TypeError);
  assert.deepEqual(
    openFds().filter((n) => !before.includes(n)),
    [],
  );
});
