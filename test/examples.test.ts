// Every file in examples/ runs as a user would run it (`node examples/NAME.mjs`), in a separate
// Node process with a time limit, and says what it should. The sandbox runs as nobody too when we
// are root: it must work without privileges.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { harness, packageRoot, sshdSkip } from "./ssh-harness.js";
import { searchableByOthers } from "./util.js";

const asRoot = process.getuid?.() === 0;
const examples = readdirSync(join(packageRoot, "examples")).filter((f) => f.endsWith(".mjs"));
const limit = { timeout: 60_000 };

/** Runs examples/`name` with `args`; resolves its stdout, rejects with its stderr on failure. */
function run(name: string, args: string[] = [], user: { uid?: number; gid?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join("examples", name), ...args],
      { cwd: packageRoot, timeout: 45_000, encoding: "utf8", ...user },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${name}: ${error.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

test("every example is tested here", () => {
  assert.deepEqual(examples.sort(), ["inotify.mjs", "listen-fds.mjs", "pipeline.mjs", "sandbox.mjs", "ssh.mjs"]);
});

test("sandbox: uid 0 and pid 2 inside, its own hostname, only lo, a read-only /usr", limit, async () => {
  const check = (out: string) => {
    assert.match(out, /^uid 0, pid 2, host sandbox$/m);
    const lines = out.split("\n");
    for (const dir of ["dev", "etc", "proc", "tmp", "usr"]) assert.ok(lines.includes(dir), `/${dir} in the new root`);
    assert.ok(!lines.includes("root") && !lines.includes("home"), "nothing else of the host's root");
    assert.match(out, /^\s*lo$/m);
    assert.doesNotMatch(out, /^\s*eth/m);
    assert.match(out, /^\/usr is read-only$/m);
  };
  check(await run("sandbox.mjs"));
  // As root we are uid 0 anyway: run it again as nobody, if nobody can reach this package.
  if (asRoot && searchableByOthers(packageRoot)) check(await run("sandbox.mjs", [], { uid: 65534, gid: 65534 }));
});

test("listen-fds: the program serves on the socket it was handed at fd 3", limit, async () => {
  assert.match(await run("listen-fds.mjs"), /^hello from fd 3 of pid \d+$/m);
});

test("pipeline: printf | sort | uniq -c", limit, async () => {
  const lines = (await run("pipeline.mjs"))
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/));
  assert.deepEqual(lines, [
    ["2", "apple"],
    ["1", "fig"],
    ["3", "pear"],
  ]);
});

test("inotify: the events of a child's writes, in order", limit, async () => {
  assert.equal(
    (await run("inotify.mjs")).trim(),
    ["CREATE one", "CLOSE_WRITE one", "CREATE two", "CLOSE_WRITE two", "DELETE one"].join("\n"),
  );
});

test("ssh: a command on a host reached by a real ssh", { ...limit, skip: sshdSkip }, async () => {
  const { config } = harness(true, ["build-box"]);
  const out = await run("ssh.mjs", ["ssh", "-F", config, "build-box"]);
  assert.match(out, /^Linux \S+@\S+$/m);
  assert.match(out, /^remote exit status 3$/m);
});
