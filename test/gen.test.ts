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

test("src/gen matches what the headers say", (t) => {
  const out = execFileSync(process.execPath, [gen, "--check"], { encoding: "utf8" });
  // Generated from other header versions than this machine has: nothing to compare against.
  if (out.includes("not compared")) t.skip(out.trim());
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

test("generated from other headers: the check says so instead of failing", () => {
  const copy = scratchDir();
  cpSync(join(root, "src", "gen"), copy, { recursive: true });
  const file = join(copy, "headers.ts");
  writeFileSync(file, readFileSync(file, "utf8").replace(/linux: "[^"]*"/, 'linux: "1.2.3"'));
  const result = spawnSync(process.execPath, [gen, "--check", "--dir", copy], { encoding: "utf8" });
  assert.equal(result.status, 0);
  assert.match(result.stdout, /not compared: it was generated from linux: "1\.2\.3"/);
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
