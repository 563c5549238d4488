// peekOurMemory (native/addon.c): what tells a child's exec from its death without /proc. Checked
// against the kernel's own account of each process (its /proc/PID/exe and state).
import assert from "node:assert/strict";
import { readlinkSync, realpathSync } from "node:fs";
import { describe, test } from "node:test";
import { Command, localThread as thr } from "rsyscall";
import { W } from "rsyscall/sys/wait";
import { native } from "../../dist/native.js";
import { processState } from "../util.js";

const EFAULT = 14;
const ESRCH = 3;

describe("peekOurMemory", { timeout: 20_000 }, () => {
  test("reads from a child sharing our memory and from a fork; EFAULT once each exec'd; ESRCH once dead", async () => {
    const child = await thr.clone();
    const fork = await thr.fork();
    const pids = [child.process.pid, fork.process.pid];
    for (const pid of pids) assert.equal(native.peekOurMemory(pid), 0, `${pid} has our memory, or a copy`);
    const sleep = new Command("/bin/sleep", ["sleep", "5"], {});
    const procs = [await child.exec(sleep), await fork.exec(sleep)];
    for (const pid of pids) {
      assert.equal(readlinkSync(`/proc/${pid}/exe`), realpathSync("/bin/sleep"));
      assert.equal(native.peekOurMemory(pid), EFAULT, `${pid} exec'd`);
    }
    for (const proc of procs) await proc.kill();
    // Dead, not yet reaped (a zombie has no memory), and a pid nobody has.
    const zombie = await thr.clone();
    const pid = zombie.process.pid;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 500 && native.peekOurMemory(pid) === 0; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(native.peekOurMemory(pid), ESRCH);
    await zombie.process.waitpid(W.EXITED);
    assert.equal(processState(pid), undefined);
    assert.equal(native.peekOurMemory(pid), ESRCH);
    assert.throws(() => native.peekOurMemory(0), TypeError);
    assert.throws(() => native.peekOurMemory(-1), TypeError);
  });
});
