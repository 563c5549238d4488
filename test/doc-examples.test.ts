// The @example blocks of the API reference (npm run docs) run as written: each is taken from its
// doc comment in src/ and run as plain JavaScript in a Node process of its own, importing the
// package by name. What a comment says a line prints is checked: `console.log(x); // "text"` (or
// `// 3`, `// true`) and `// ... prints "text"` or `printed "text"` for a child's output. The ssh
// example runs against the test harness's sshd, its config path swapped in.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { harness, packageRoot, sshdSkip } from "./ssh-harness.js";
import { runNodeOk } from "./util.js";

/** The TypeScript sources under `dir`, generated ones aside. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "gen" ? [] : sources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Each `@example` whose body is a js code fence, with where it is. */
function examples(): { where: string; code: string }[] {
  const found = [];
  for (const file of sources(join(packageRoot, "src"))) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^( *)\* @example\n\1\* ```js\n([\s\S]*?)\n\1\* ```$/gm)) {
      const line = text.slice(0, m.index).split("\n").length;
      const code = m[2]!.replace(/^ *\*(?: |$)/gm, "");
      found.push({ where: `${relative(packageRoot, file)}:${line}`, code });
    }
  }
  return found;
}

/** What the example's comments say it prints. */
function expectedOutput(code: string): { text: string[]; lines: string[] } {
  const text = [];
  const lines = [];
  for (const line of code.split("\n")) {
    const comment = /\/\/ (.*)$/.exec(line)?.[1];
    if (comment === undefined) continue;
    const printed = /(?:^|prints |printed )"([^"]*)"/.exec(comment)?.[1];
    if (printed !== undefined && (line.includes("console.log") || !comment.startsWith('"'))) {
      if (!printed.includes("...")) text.push(printed);
    } else if (line.includes("console.log")) {
      const token = /^(true|false|-?\d+)\b/.exec(comment)?.[1];
      if (token !== undefined) lines.push(token);
    }
  }
  return { text, lines };
}

const all = examples();

test("the entry points carry examples", () => {
  const places = all.map((e) => e.where.split(":")[0]);
  for (const file of [
    "src/tasks/local.ts",
    "src/thread.ts",
    "src/tasks/clone.ts",
    "src/tasks/spawn.ts",
    "src/tasks/child.ts",
    "src/epoller.ts",
    "src/command.ts",
    "src/tasks/ssh.ts",
    "src/tasks/persistent.ts",
    "src/tasks/stdin-bootstrap.ts",
    "src/inotify-watch.ts",
  ]) {
    assert.ok(places.includes(file), `no @example in ${file}`);
  }
});

for (const { where, code } of all) {
  const ssh = code.includes("SSHHost");
  test(`the example at ${where} runs as written`, { timeout: 60_000, skip: ssh && sshdSkip }, async () => {
    let script = code;
    if (ssh) {
      assert.ok(code.includes('"/path/to/ssh_config"'));
      const { config } = harness(true, ["build-box"]);
      script = code.replace('"/path/to/ssh_config"', JSON.stringify(config));
    }
    const out = await runNodeOk(script, 50_000);
    const { text, lines } = expectedOutput(code);
    for (const t of text) assert.ok(out.includes(t), `${where} should print ${JSON.stringify(t)}; it printed:\n${out}`);
    const outLines = out.split("\n");
    for (const l of lines) assert.ok(outLines.includes(l), `${where} should print a line ${l}; it printed:\n${out}`);
  });
}
