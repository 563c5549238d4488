// `rsyscall repl` through a real pseudo-terminal (`script` from util-linux): typed lines, top-level
// await, tab completion, and each way of attaching it to another thread.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { localThread as thr } from "rsyscall";
import { clonePersistent } from "rsyscall/tasks/persistent";
import { harness, packageRoot, sshdSkip } from "./ssh-harness.js";
import { scratchDir } from "./util.js";

const limit = { timeout: 60_000 };
const PROMPT = "rsyscall> ";

/**
 * Runs `rsyscall repl ARGS` on a pty, typing each input once a new prompt shows (what is typed is
 * sent as is: "\t" is a tab; an array is typed in pieces), then ".exit". Resolves the whole
 * output, escapes removed, and the exit status.
 */
function session(args: string[], inputs: (string | string[])[]): Promise<{ out: string; status: number | null }> {
  const quoted = ["node", join(packageRoot, "bin", "rsyscall.mjs"), "repl", ...args]
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
    .join(" ");
  const child = spawn("script", ["-qfec", quoted, "/dev/null"], { env: { ...process.env, TERM: "xterm" } });
  let out = "";
  const pending = [...inputs, ".exit\r"];
  // Where the output stood when the last line was sent: the next goes once a newline (the answer)
  // and then a prompt at the very end follow. Counting prompts would not do: readline draws the
  // prompt again at every keystroke.
  let answeredFrom = -1;
  let typing = false;
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    const text = clean(out);
    if (typing || pending.length === 0 || !text.endsWith(PROMPT)) return;
    if (answeredFrom >= 0 && !text.slice(answeredFrom).includes("\n")) return;
    const input = pending.shift()!;
    const pieces = typeof input === "string" ? [input] : input;
    typing = true;
    // Pieces go 300 ms apart: a tab in the same read as other keys is taken for pasted text.
    for (const [i, piece] of pieces.entries()) {
      setTimeout(() => {
        child.stdin.write(piece);
        if (i === pieces.length - 1) {
          answeredFrom = clean(out).length;
          typing = false;
        }
      }, 300 * i);
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
  return new Promise((resolve) => {
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ out: clean(out), status });
    });
  });
}

/** Terminal output as text: escape sequences and carriage returns gone. */
function clean(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escapes
  return raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replaceAll("\r", "");
}

test("the Node process: top-level await, the modules in scope, tab completion", limit, async () => {
  const { out, status } = await session(
    [],
    [
      "(await thr.task.getpid()) === process.pid\r",
      "O.CLOEXEC === modules['rsyscall/fcntl'].O.CLOEXEC && typeof AF.UNIX\r",
      // Tab completes the name (getppid is the only one starting so).
      ["(await thr.task.getpp", "\t", "()) === process.ppid\r"],
    ],
  );
  assert.equal(status, 0, out);
  assert.match(out, /thr is this Node process/);
  assert.equal(out.match(/^true$/gm)?.length, 2, out);
  assert.match(out, /^'number'$/m);
  // The third line is true only if the tab completed getpp to getppid (else: not a function).
  assert.doesNotMatch(out, /is not a function/);
});

test("--bootstrap: thr is the process the command leads to", limit, async () => {
  const { out, status } = await session(
    ["--bootstrap", "unshare -r"],
    ["(await thr.task.getpid()) !== process.pid && (await thr.task.getuid()) === 0\r"],
  );
  assert.equal(status, 0, out);
  assert.match(out, /thr is a thread reached through `unshare -r`/);
  assert.match(out, /^true$/m);
});

test("--persistent: thr is the persistent thread, which lives on after", limit, async () => {
  const path = join(scratchDir(), "repl.sock");
  const per = await clonePersistent(thr, path);
  const pid = await per.task.getpid();
  // One link at a time: ours goes, so that the server takes the REPL's.
  per.disconnect();
  const { out, status } = await session(["--persistent", path], ["await thr.task.getpid()\r"]);
  assert.equal(status, 0, out);
  assert.match(out, new RegExp(`^${pid}$`, "m"));
  // The REPL only disconnected: it still answers us.
  await per.reconnect();
  assert.equal(await per.task.getpid(), pid);
  await per.exit(0);
});

test("--ssh: thr is a thread on the host", { ...limit, skip: sshdSkip }, async () => {
  const { config } = harness(true, ["build-box"]);
  const { out, status } = await session(["--ssh", `-F ${config} build-box`], ["thr.constructor.name\r"]);
  assert.equal(status, 0, out);
  assert.match(out, /thr is a thread on build-box over ssh/);
  assert.match(out, /^'SSHThread'$/m);
});

test("bad arguments: the usage, status 2", limit, async () => {
  const { out, status } = await session(["--nonsense"], []);
  assert.equal(status, 2);
  assert.match(out, /usage: rsyscall repl/);
});
