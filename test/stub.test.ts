// Stubs: an executable that hands us whatever process runs it, with its caller's stdio, and its
// exit status going back to the caller; refusing other users.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { SyscallHangupError, localThread as thr } from "rsyscall";
import { SYS } from "rsyscall/sys/syscall";
import { StubServer } from "rsyscall/tasks/stub";
import { scratchDir } from "./util.js";

/** Runs `path args` as a separate program, feeding `input`; resolves with its exit code and output. */
function run(path: string, args: string[], input: string, uid?: number) {
  const child = spawn(path, args, { stdio: ["pipe", "pipe", "pipe"], uid, gid: uid });
  child.stdin.end(input);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout, stderr })),
  );
}

describe("StubServer", { timeout: 60_000 }, () => {
  test("a program running the stub is our thread: its argv, its stdio, the exit status it gets", async () => {
    const dir = scratchDir();
    await using stub = await StubServer.make(thr, dir, "sendmail");
    assert.ok(statSync(stub.path).mode & 0o100, "executable");
    assert.equal(statSync(stub.socketDir).mode & 0o777, 0o700, "the socket's directory is ours alone");
    const caller = run(stub.path, ["-t", "it's quoted"], "the mail body");
    const [argv, caught] = await stub.accept();
    assert.deepEqual(argv, ["-t", "it's quoted"]);
    const [got] = await caught.stdin.read(await caught.malloc(Buffer, 100));
    assert.equal((await got.read()).toString(), "the mail body", "its stdin is the caller's pipe");
    await caught.stdout.write(await caught.ptr(Buffer.from("250 ok\n")));
    await caught.exit(3);
    const result = await caller;
    assert.equal(result.code, 3, "the status its thread chose");
    assert.equal(result.stdout, "250 ok\n");
  });

  test("a stub thread dropped without exit: its caller sees a failure, not a success", async () => {
    const dir = scratchDir();
    await using stub = await StubServer.make(thr, dir, "dropped");
    const caller = run(stub.path, [], "");
    const [, caught] = await stub.accept();
    caught.connection.hangup("dropped");
    assert.equal((await caller).code, 1);
  });

  test("many callers at once, each its own thread", async () => {
    const dir = scratchDir();
    await using stub = await StubServer.make(thr, dir, "tool");
    const callers = [0, 1, 2, 3, 4].map((i) => run(stub.path, [String(i)], ""));
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const [argv, caught] = await stub.accept();
      seen.push(argv[0]!);
      await caught.exit(Number(argv[0]) + 10);
    }
    assert.deepEqual(seen.sort(), ["0", "1", "2", "3", "4"]);
    assert.deepEqual((await Promise.all(callers)).map((r) => r.code).sort(), [10, 11, 12, 13, 14]);
  });

  test("a stub process killed under a call: the call rejects, its caller sees the signal", async () => {
    const dir = scratchDir();
    await using stub = await StubServer.make(thr, dir, "victim");
    const caller = spawn(stub.path, [], { stdio: "ignore" });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      caller.on("exit", (_code, signal) => resolve(signal)),
    );
    const [, caught] = await stub.accept();
    const pending = caught.task.sysif.syscall(SYS.pause);
    await new Promise((r) => setTimeout(r, 20));
    process.kill(caller.pid!, "SIGKILL");
    await assert.rejects(pending, SyscallHangupError);
    assert.equal(await exited, "SIGKILL");
  });

  test("never replaces a file nor writes through a symlink; close removes what it made", async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, "taken"), "mine");
    await assert.rejects(StubServer.make(thr, dir, "taken"), { code: "EEXIST" });
    const target = join(dir, "target");
    symlinkSync(target, join(dir, "link"));
    await assert.rejects(StubServer.make(thr, dir, "link"), { code: "EEXIST" });
    assert.ok(!existsSync(target));
    const stub = await StubServer.make(thr, dir, "ok");
    await stub.close();
    assert.ok(!existsSync(stub.path) && !existsSync(stub.socketDir));
    assert.deepEqual(readdirSync(dir).sort(), ["link", "taken"]);
  });

  test("another user who reaches the socket is refused", {
    skip: process.getuid?.() !== 0 && "needs root, to be another user",
  }, async () => {
    const dir = scratchDir();
    chmodSync(dir, 0o755);
    await using stub = await StubServer.make(thr, dir, "stub");
    // Open the way in, as a careless owner might: only the credentials check is left.
    chmodSync(stub.socketDir, 0o755);
    chmodSync(join(stub.socketDir, "sock"), 0o777);
    const accepted = stub.accept();
    const other = await run(stub.path, ["intruder"], "", 65534);
    assert.equal(other.code, 1, `the other user's stub was turned away: ${other.stderr}`);
    const ours = run(stub.path, ["ours"], "");
    const [argv, caught] = await accepted;
    assert.deepEqual(argv, ["ours"], "the first connection accepted is ours");
    await caught.exit(0);
    assert.equal((await ours).code, 0);
  });
});
