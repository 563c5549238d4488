// thr.run and thr.spawn with options: stdio, fds at numbers, cwd, env, PATH lookup, captured output.
// Effects are checked outside the library: files through node:fs, fds through /proc.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CalledProcessError, Command, type Thread, localThread as thr } from "rsyscall";
import { O } from "rsyscall/fcntl";
import { W } from "rsyscall/sys/wait";
import { openFds, scratchDir } from "./util.js";

const limit = { timeout: 30_000 };
const out = ["inherit", "pipe", "inherit"] as const;

/** The same tests from the Node process (the exec stub) and from a child thread (clone, then exec). */
for (const where of ["the Node process", "a child thread"] as const) {
  describe(`run from ${where}`, limit, () => {
    async function within<T>(f: (t: Thread) => Promise<T>): Promise<T> {
      if (where === "the Node process") return f(thr);
      const child = await thr.clone();
      try {
        return await f(child);
      } finally {
        await child.exit(0);
      }
    }

    test("captures stdout and stderr as strings, or Buffers; a bare name is found through PATH", async () => {
      await within(async (t) => {
        const s = await t.run("sh", ["-c", "echo out; echo err >&2"], { stdio: "pipe" });
        assert.equal(s.stdout, "out\n");
        assert.equal(s.stderr, "err\n");
        assert.equal(s.exitCode, 0);
        assert.equal(s.signal, null);
        const b = await t.run("printf", ["\\377"], { stdio: out, encoding: "buffer" });
        assert.deepEqual(b.stdout, Buffer.from([0xff]));
        assert.equal(b.stderr, undefined, "stderr was not captured");
      });
    });

    test("input goes to stdin, which then ends", async () => {
      await within(async (t) => {
        assert.equal((await t.run("cat", [], { input: "fed in", stdio: [undefined, "pipe"] })).stdout, "fed in");
        const counted = await t.run("wc", ["-c"], { input: Buffer.alloc(300_000, 1), stdio: [undefined, "pipe"] });
        assert.equal(counted.stdout?.trim(), "300000");
      });
    });

    test("a failure rejects with CalledProcessError carrying exitCode, signal and the output", async () => {
      await within(async (t) => {
        const err = await t.run("sh", ["-c", "echo partial; echo it broke >&2; exit 4"], { stdio: "pipe" }).then(
          () => assert.fail("resolved"),
          (e: unknown) => e,
        );
        assert.ok(err instanceof CalledProcessError);
        assert.equal(err.exitCode, 4);
        assert.equal(err.signal, null);
        assert.equal(err.stdout, "partial\n");
        assert.equal(err.stderr, "it broke\n");
        assert.match(err.message, /exited with status 4\nit broke/);
        const killed = await t.run("sh", ["-c", "kill -KILL $$"], { check: false, stdio: "pipe" });
        assert.equal(killed.exitCode, null);
        assert.equal(killed.signal, "SIGKILL");
      });
    });

    test("cwd: the program starts there; a missing one is ENOENT from chdir, with the path", async () => {
      const dir = fs.realpathSync(scratchDir());
      await within(async (t) => {
        assert.equal((await t.run("pwd", [], { cwd: dir, stdio: out })).stdout, `${dir}\n`);
        fs.writeFileSync(join(dir, "prog"), "#!/bin/sh\necho relative\n", { mode: 0o755 });
        assert.equal((await t.run("./prog", [], { cwd: dir, stdio: out })).stdout, "relative\n");
        await assert.rejects(t.run("true", [], { cwd: join(dir, "missing") }), {
          code: "ENOENT",
          syscall: "chdir",
          path: join(dir, "missing"),
        });
      });
    });

    test("env extends the environment; its PATH is the one searched", async () => {
      const dir = scratchDir();
      fs.writeFileSync(join(dir, "only-here"), "#!/bin/sh\necho found $GREETING\n", { mode: 0o755 });
      await within(async (t) => {
        const s = await t.run("sh", ["-c", 'echo "$GREETING $HOME"'], { env: { GREETING: "hi" }, stdio: out });
        assert.equal(s.stdout, `hi ${process.env.HOME}\n`);
        const found = await t.run("only-here", [], { env: { PATH: dir, GREETING: "yes" }, stdio: out });
        assert.equal(found.stdout, "found yes\n");
        await assert.rejects(t.run("only-here"), { name: "ExecutableNotFoundError" });
      });
    });

    test('stdio: "ignore" is /dev/null; an fd of ours is used as it is', async () => {
      const dir = scratchDir();
      await within(async (t) => {
        const proc = await t.spawn("sleep", ["100"], { stdio: ["ignore", "ignore", "pipe"] });
        // The pid is ours to read in /proc: a child thread's children are made with CLONE_PARENT.
        assert.equal(fs.readlinkSync(`/proc/${proc.pid}/fd/0`), "/dev/null");
        assert.equal(fs.readlinkSync(`/proc/${proc.pid}/fd/1`), "/dev/null");
        assert.match(fs.readlinkSync(`/proc/${proc.pid}/fd/2`), /^pipe:/);
        await proc.kill();
        await proc.waitpid(W.EXITED);
        await proc.stderr?.close();
        const file = join(dir, `out-${where.length}`);
        const fd = await t.task.open(await t.ptr(file), O.of(O.WRONLY, O.CREAT, O.TRUNC), 0o644);
        await t.run("echo", ["to the file"], { stdio: ["inherit", fd, "inherit"] });
        await fd.close();
        assert.equal(fs.readFileSync(file, "utf8"), "to the file\n");
      });
    });

    test("fds go at the numbers given, even where one's target is another's source (a swap)", async () => {
      await within(async (t) => {
        const a = await t.pipe();
        const b = await t.pipe();
        // Put the two write ends at 100 and 101, then ask for them the other way round.
        const at100 = await a.write.dup2(t.task.fdAt(100));
        const at101 = await b.write.dup2(t.task.fdAt(101));
        const proc = await t.spawn("sh", ["-c", "echo A >/proc/$$/fd/101; echo B >/proc/$$/fd/100"], {
          fds: { 100: at101, 101: at100 },
        });
        await Promise.all([at100.close(), at101.close(), a.write.close(), b.write.close()]);
        const ra = await t.makeAfd(a.read, true);
        const rb = await t.makeAfd(b.read, true);
        assert.equal((await ra.readToEof()).toString(), "A\n");
        assert.equal((await rb.readToEof()).toString(), "B\n");
        await proc.check();
        await Promise.all([ra.close(), rb.close()]);
      });
    });

    test("an fd number past what the kernel allows is refused by the move (dup3), and nothing leaks", async () => {
      await within(async (t) => {
        const before = where === "the Node process" ? openFds() : [];
        const { read, write } = await t.pipe();
        await assert.rejects(t.run("true", [], { fds: { [2 ** 31 - 2]: write }, stdio: "pipe" }), (e: unknown) => {
          const err = e as { syscall?: string; code?: string };
          return err.syscall === (where === "the Node process" ? "dup3" : "fcntl") && err.code === "EINVAL";
        });
        await Promise.all([read.close(), write.close()]);
        if (where === "the Node process") {
          const left = openFds().filter((n) => !before.includes(n));
          assert.deepEqual(left, [], "no fd left open");
        }
      });
    });

    test("pipes of a spawn are on the process; 8 MiB of output arrives intact", async () => {
      await within(async (t) => {
        const proc = await t.spawn("head", ["-c", String(8 << 20), "/dev/zero"], { stdio: out });
        assert.ok(proc.stdout);
        assert.equal(proc.stdin, undefined);
        const got = await proc.stdout.readToEof();
        assert.equal(got.length, 8 << 20);
        await proc.check();
        await proc.stdout.close();
      });
    });
  });
}

describe("run and spawn refuse bad options before any syscall", () => {
  test("each wrong option is a TypeError naming it", async () => {
    const closed = (await thr.pipe()).read;
    await closed.close();
    const child = await thr.clone();
    const theirs = (await child.pipe()).read;
    const cases: [unknown[], RegExp][] = [
      [["true", [], { stdio: "tty" }], /stdio\[0\]/],
      [["true", [], { stdio: [undefined, 1] }], /stdio\[1\]/],
      [["true", [], { stdio: ["inherit", closed] }], /closed/],
      [["true", [], { stdio: ["inherit", theirs] }], /not in the spawning thread's fd table/],
      [["true", [], { fds: { 2: closed } }], /3 or more/],
      [["true", [], { fds: { x: closed } }], /3 or more/],
      [["true", [], { cwd: "" }], /cwd/],
      [["true", [], { cwd: "a\0b" }], /cwd/],
      [["true", [], { env: { "A=B": "c" } }], /environment/],
      [["true", [], { input: "x", stdio: "inherit" }], /input needs stdin/],
      [["true", [], { input: 5 }], /input must be/],
      [["true", [], { encoding: "latin1" }], /encoding/],
      [["true", [], { check: "yes" }], /check/],
      [["true", "-x"], /options must be an object|args must be/],
      [["true", [1]], /args must be an array of strings/],
      [[new Command("/bin/true", ["true"]), {}, {}], /too many arguments/],
      [[""], /not a program/],
    ];
    const before = openFds();
    for (const [args, message] of cases) {
      await assert.rejects(
        (thr.run as (...a: unknown[]) => Promise<unknown>)(...args),
        (e: unknown) => e instanceof TypeError && message.test(e.message),
        `${JSON.stringify(args[2] ?? args[1])} should be refused with ${message}`,
      );
    }
    assert.deepEqual(
      openFds().filter((n) => !before.includes(n)),
      [],
      "nothing was opened",
    );
    await child.exit(0);
  });
});
