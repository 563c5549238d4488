// Benchmarks, each against a baseline measured in the same run, so the ratios mean something on a
// shared, noisy machine. Run with `npm run bench`.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { SYS } from "../dist/gen/sys.js";
import { localThread } from "../dist/index.js";
import { native } from "../dist/native.js";

const ROUNDS = 7;

/** Median over ROUNDS of the nanoseconds per call of `body(n)` running n calls. */
async function nsPerCall(n, body) {
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    await body(n);
    samples.push(Number(process.hrtime.bigint() - start) / n);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(ROUNDS / 2)];
}

function rawGetpidLoop(n) {
  const f64 = new Float64Array(native.callBuffer, 0, 8);
  f64[0] = SYS.getpid;
  for (let i = 0; i < n; i++) native.syscall();
}

async function taskGetpidLoop(n) {
  const task = localThread.task;
  for (let i = 0; i < n; i++) await task.getpid();
}

// The same calls, each promise awaited only at the end: our cost without the caller's `await`.
async function taskGetpidBackToBack(n) {
  const task = localThread.task;
  let last;
  for (let i = 0; i < n; i++) last = task.getpid();
  await last;
}

// What `await` adds to any call, measured on the raw addon syscall.
async function rawGetpidAwaited(n) {
  const f64 = new Float64Array(native.callBuffer, 0, 8);
  for (let i = 0; i < n; i++) {
    f64[0] = SYS.getpid;
    await native.syscall();
  }
}

async function ptrFreeLoop(n) {
  for (let i = 0; i < n; i++) (await localThread.ptr("a short string")).free();
}

function mappingCount() {
  return readFileSync("/proc/self/maps", "utf8").trim().split("\n").length;
}

console.log(
  `rsyscall benchmarks: ${new Date().toISOString()}, Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model}`,
);

// Warm up both paths so the JIT has settled before measuring.
rawGetpidLoop(200_000);
await taskGetpidLoop(200_000);

const N = 1_000_000;
const raw = await nsPerCall(N, async (n) => rawGetpidLoop(n));
const ours = await nsPerCall(N, taskGetpidLoop);
const backToBack = await nsPerCall(N, taskGetpidBackToBack);
const rawAwaited = await nsPerCall(N, rawGetpidAwaited);
const row = (label, ns, note = "") =>
  console.log(`  ${label.padEnd(46)} ${ns.toFixed(1).padStart(7)} ns  ${(ns / raw).toFixed(2)}x${note}`);
console.log("\nlocal syscall: getpid, median of 7 rounds of 1e6 calls; ratios against the raw addon syscall");
row("raw addon syscall (sync loop, the floor)", raw);
row("await localThread.task.getpid()", ours, "  (target <= 1.5x)");
row("localThread.task.getpid(), awaited at the end", backToBack);
row("await of the raw addon syscall", rawAwaited, "  (what `await` itself costs)");

// Memory: live JS heap after a full GC, the allocator's arenas, and RSS, before and after.
const gc = globalThis.gc ?? (() => {});
const snapshot = () => {
  gc();
  return {
    heap: process.memoryUsage().heapUsed,
    rss: process.memoryUsage().rss,
    arenas: localThread.ram.allocator.arenas.length,
    maps: mappingCount(),
  };
};
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
await ptrFreeLoop(100_000);
const before = snapshot();
const cycle = await nsPerCall(N, ptrFreeLoop);
const after = snapshot();
console.log(
  `\nmemory: ${ROUNDS} x 1e6 localThread.ptr(string) + free() cycles${globalThis.gc ? "" : " (run with --expose-gc for heap figures)"}`,
);
console.log(`  ${cycle.toFixed(1)} ns per ptr+free`);
console.log(`  live JS heap after GC   ${mib(before.heap)} -> ${mib(after.heap)}`);
console.log(`  allocator arenas        ${before.arenas} -> ${after.arenas} (1 MiB each)`);
console.log(`  RSS                     ${mib(before.rss)} -> ${mib(after.rss)} (V8 keeps heap pages it grew)`);
