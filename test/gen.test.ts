// The generated constants and layouts are current, and the check that says so can fail.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { scratchDir } from "./util.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const gen = join(root, "scripts", "gen", "gen.mjs");

test("src/gen matches what the headers say", () => {
  // With the headers it was generated from, exactly; with others, in every value both know.
  execFileSync(process.execPath, [gen, "--check"], { stdio: "inherit" });
});

test("a stale file is caught", () => {
  // Generated here, for this machine's headers, then spoiled.
  const copy = scratchDir();
  execFileSync(process.execPath, [gen, "--dir", copy]);
  const file = join(copy, "constants.ts");
  writeFileSync(file, readFileSync(file, "utf8").replace(/RDONLY: 0,/, "RDONLY: 1,"));
  const result = spawnSync(process.execPath, [gen, "--check", "--dir", copy], { encoding: "utf8" });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /stale: .*constants\.ts/);
});

test("generated from other headers: the values both know are compared, and must agree", () => {
  const copy = scratchDir();
  cpSync(join(root, "src", "gen"), copy, { recursive: true });
  const headers = join(copy, "headers.ts");
  writeFileSync(headers, readFileSync(headers, "utf8").replace(/linux: "[^"]*"/, 'linux: "1.2.3"'));
  const agree = spawnSync(process.execPath, [gen, "--check", "--dir", copy], { encoding: "utf8" });
  assert.equal(agree.status, 0, agree.stderr);
  assert.match(agree.stdout, /generated from linux 1\.2\.3.*: the \d+ values both have agree/);
  const constants = join(copy, "constants.ts");
  writeFileSync(constants, readFileSync(constants, "utf8").replace(/CLOEXEC: 524288,/, "CLOEXEC: 1,"));
  const disagree = spawnSync(process.execPath, [gen, "--check", "--dir", copy], { encoding: "utf8" });
  assert.equal(disagree.status, 1);
  assert.match(disagree.stderr, /they disagree: constants\.ts:O\.CLOEXEC is 1 here, 524288 there/);
});
test("generated values agree with Node's own tables", async () => {
  const { constants } = await import("node:os");
  const { ERRNO } = await import("rsyscall/errno");
  const { SIG } = await import("rsyscall/signal");
  const { O } = await import("rsyscall/fcntl");
  for (const [name, value] of Object.entries(constants.errno)) {
    assert.equal(ERRNO[name as keyof typeof ERRNO], value, name);
  }
  assert.equal(SIG.TERM, constants.signals.SIGTERM);
  assert.equal(SIG.KILL, constants.signals.SIGKILL);
  const fs = await import("node:fs");
  assert.equal(O.CREAT, fs.constants.O_CREAT);
  assert.equal(O.DIRECTORY, fs.constants.O_DIRECTORY);
});
