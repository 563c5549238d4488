// Benchmarks of child threads, each against its baseline in the same run: the C programs in c/
// (compiled here with cc) and child_process.
import { execFile, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Command, localThread } from "../dist/index.js";
import { CpuSet } from "../dist/sched.js";

import { medianOf, perCall, row, us } from "./util.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = 7;
/** Cycles run before a clone-and-exec benchmark's rounds: see the spawn section. */
const WARMUP_CYCLES = 1500;
const execFileAsync = promisify(execFile);

function compile(name) {
  const dir = mkdtempSync(join(tmpdir(), "rsyscall-bench-"));
  const out = join(dir, name);
  execFileSync("cc", ["-O2", "-o", out, join(here, "c", `${name}.c`)]);
  return {
    run: (...args) => Number(execFileSync(out, args.map(String), { encoding: "utf8" })),
    clean: () => rmSync(dir, { recursive: true }),
  };
}

export async function benchChildren() {
  const pingpong = compile("pingpong");
  const spawnC = compile("spawn");
  const liveC = compile("live");
  try {
    const child = await localThread.clone();
    const task = child.task;
    const sequential = async (n) => {
      for (let i = 0; i < n; i++) await task.getpid();
    };
    await sequential(2000);
    const ours = await medianOf(ROUNDS, () => perCall(10_000, sequential));
    const floor = pingpong.run(10_000);
    console.log("\nsyscall round trip to a child (getpid, one at a time), median of 7 rounds of 1e4");
    row("C socketpair ping-pong between two processes", us(floor));
    row("await child.task.getpid()", us(ours), `  ${(ours / floor).toFixed(2)}x C (target <= 1.3x)`);
    await pinnedRoundTrips(child, sequential, pingpong);

    const pipelined = async (n) => {
      const batch = 1024;
      for (let done = 0; done < n; done += batch) await Promise.all(Array.from({ length: batch }, () => task.getpid()));
    };
    await pipelined(20_000);
    const perSyscall = await medianOf(ROUNDS, () => perCall(200_000, pipelined));
    console.log("\npipelined syscalls to one child (1024 outstanding at a time), median of 7 rounds of 2e5");
    row(
      "child.task.getpid() throughput",
      `${Math.round(1e9 / perSyscall).toLocaleString("en")} syscalls/s`,
      "  (target >= 250,000)",
    );
    // All at once: linear bookkeeping (a quadratic queue took 14.8 s for this).
    const allAtOnce = async (n) => {
      const calls = [];
      for (let i = 0; i < n; i++) calls.push(task.getpid());
      await Promise.all(calls);
    };
    const allAtOnceNs = await medianOf(3, () => perCall(200_000, allAtOnce));
    row(
      "2e5 calls outstanding at once, all settled",
      `${((allAtOnceNs * 200_000) / 1e6).toFixed(0)} ms`,
      `  (${Math.round(1e9 / allAtOnceNs).toLocaleString("en")} syscalls/s; median of 3)`,
    );
    await child.exit(0);

    const truePath = "/bin/true";
    const command = new Command(truePath, ["true"], {});
    const ourRun = async (n) => {
      for (let i = 0; i < n; i++) await localThread.run(command);
    };
    const ourSpawn = async (n) => {
      for (let i = 0; i < n; i++) await (await (await localThread.clone()).exec(command)).check();
    };
    const nodeSpawn = async (n) => {
      for (let i = 0; i < n; i++) {
        const p = spawn(truePath, [], { stdio: "ignore" });
        await once(p, "exit");
      }
    };
    // Warm-up until V8's optimizing compiler has settled: each cycle runs our code once, so its hot
    // functions take about a thousand cycles to be compiled (about 1.5 s of compiling on this
    // machine's other CPU, where the children run too); before that, a round measures the compiler.
    await ourRun(WARMUP_CYCLES);
    await ourSpawn(WARMUP_CYCLES);
    await nodeSpawn(200);
    // Rounds taken in turn with the baseline's, so that a change of the machine's load hits both.
    const rounds = { c: [], run: [], spawn: [], node: [] };
    for (let r = 0; r < 5; r++) {
      rounds.c.push(spawnC.run(200, 1));
      rounds.run.push(await perCall(200, ourRun));
      rounds.spawn.push(await perCall(200, ourSpawn));
      rounds.node.push(await perCall(200, nodeSpawn));
    }
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const [cSpawn, oursRun, oursSpawn, nodeSpawnNs] = [rounds.c, rounds.run, rounds.spawn, rounds.node].map(median);
    console.log(
      `\nclone + exec + wait of /bin/true, medians of 5 rounds of 200, taken in turn, after ${WARMUP_CYCLES} warm-up cycles`,
    );
    row("C posix_spawn + waitpid", us(cSpawn));
    row(
      "thr.run(command): CLONE_VFORK into an exec stub",
      us(oursRun),
      `  ${(oursRun / cSpawn).toFixed(2)}x C (target <= 1.1x)`,
    );
    row(
      "thr.clone(), child.exec(), proc.check()",
      us(oursSpawn),
      `  ${(oursSpawn / cSpawn).toFixed(2)}x C (target <= 1.3x)`,
    );
    row(
      "child_process.spawn, 'exit' event",
      us(nodeSpawnNs),
      `  thr.run is ${(nodeSpawnNs / oursRun).toFixed(2)}x faster (target >= 3x)`,
    );
    // Output captured, the way execa and execFile users run a program.
    const captured = { stdio: ["inherit", "pipe", "inherit"] };
    const ourCapture = async (n) => {
      for (let i = 0; i < n; i++) await localThread.run("echo", ["hi"], captured);
    };
    const nodeCapture = async (n) => {
      for (let i = 0; i < n; i++) await execFileAsync("echo", ["hi"]);
    };
    await ourCapture(WARMUP_CYCLES);
    await nodeCapture(200);
    const captures = { ours: [], node: [] };
    for (let r = 0; r < 5; r++) {
      captures.node.push(await perCall(200, nodeCapture));
      captures.ours.push(await perCall(200, ourCapture));
    }
    const [ourCaptureNs, nodeCaptureNs] = [captures.ours, captures.node].map(median);
    console.log("\nrun `echo hi` found through PATH, stdout captured, medians of 5 rounds of 200, taken in turn");
    row("child_process.execFile", us(nodeCaptureNs));
    row(
      'thr.run("echo", ["hi"], { stdio: [.., "pipe", ..] })',
      us(ourCaptureNs),
      `  ${(nodeCaptureNs / ourCaptureNs).toFixed(2)}x faster than execFile`,
    );
    await liveChildren(1000, liveC);
  } finally {
    pingpong.clean();
    spawnC.clean();
    liveC.clean();
  }
}

/**
 * The round trip with both sides pinned to one CPU (what is left is software: ours against C's) and
 * to two (the cross-CPU wake-up dominates), beside the C ping-pong pinned the same ways. Node's main
 * thread is pinned, and restored after.
 */
async function pinnedRoundTrips(child, sequential, pingpong) {
  const cpus = availableParallelism();
  if (cpus < 2) return;
  const task = localThread.task;
  const original = await (await task.schedGetaffinity(0, await localThread.malloc(CpuSet))).read();
  const pin = async (t, thread, cpu) => t.schedSetaffinity(0, await thread.ptr(new CpuSet([cpu])));
  console.log("  pinned, medians of 7 rounds of 1e4:");
  try {
    for (const [how, childCpu] of [
      ["one", 0],
      ["two", 1],
    ]) {
      await pin(task, localThread, 0);
      await pin(child.task, child, childCpu);
      await sequential(2000);
      const ours = await medianOf(ROUNDS, () => perCall(10_000, sequential));
      const c = pingpong.run(10_000, how);
      const target = how === "one" ? "target <= 2x" : "target <= 1x";
      row(
        `  both on ${how === "one" ? "one CPU" : "two CPUs"}: C, ours`,
        `${us(c)} ${us(ours)}`,
        `  ${(ours / c).toFixed(2)}x C (${target}; ours - C: ${((ours - c) / 1000).toFixed(1)} us)`,
      );
    }
  } finally {
    await task.schedSetaffinity(0, await localThread.ptr(original));
  }
}

/** The children of this process (of every thread), from /proc. */
function childCount() {
  return readdirSync("/proc/self/task")
    .flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, "utf8").trim().split(/\s+/))
    .filter(Boolean).length;
}

/**
 * `n` children alive at once, each cloned and making one call: the time to have them all, Node's
 * RSS growth per child, the processes each costs, and whether all are gone after they exit.
 * Median of 3 rounds, after two that warm the JIT up (their times are left out, their RSS growth,
 * the largest, is not).
 */
async function liveChildren(n, liveC) {
  const rounds = [];
  let coldPerChild = 0;
  for (let r = -2; r < 3; r++) {
    globalThis.gc?.();
    const rss = process.memoryUsage().rss;
    const start = process.hrtime.bigint();
    const children = await Promise.all(
      Array.from({ length: n }, async () => {
        const child = await localThread.clone();
        await child.task.getpid();
        return child;
      }),
    );
    const ns = Number(process.hrtime.bigint() - start);
    globalThis.gc?.();
    const perChild = (process.memoryUsage().rss - rss) / n;
    const processes = childCount() / n;
    await Promise.all(children.map((c) => c.exit(0)));
    let left = childCount();
    for (let i = 0; i < 500 && left > 0; i++) {
      await new Promise((res) => setTimeout(res, 10));
      left = childCount();
    }
    if (r < 0) coldPerChild = Math.max(coldPerChild, perChild);
    else rounds.push({ ns, perChild, processes, left });
  }
  rounds.sort((a, b) => a.ns - b.ns);
  const { ns, processes } = rounds[1];
  const perChild = Math.max(coldPerChild, ...rounds.map((x) => x.perChild));
  const left = Math.max(...rounds.map((x) => x.left));
  const c = liveC.run(n);
  console.log(`\n${n} live children: clone each and make one call in each, median of 3 rounds after two of warm-up`);
  row("C: clone(CLONE_VM), socketpair, one call each", `${(c / 1e6).toFixed(0).padStart(7)} ms`);
  row(
    "all made, a call answered in each",
    `${(ns / 1e6).toFixed(0).padStart(7)} ms`,
    `  ${(ns / c).toFixed(2)}x C (target < 300 ms)`,
  );
  row(
    "Node RSS growth per child, most of any round",
    `${(perChild / 1024).toFixed(1).padStart(7)} KiB`,
    "  (target <= 64 KiB)",
  );
  row("processes per child", `${processes.toFixed(2).padStart(7)}`, `  (target 1); after exit: ${left} left`);
}
