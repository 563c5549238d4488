// Benchmarks, each against a baseline measured in the same run, so the ratios mean something on a
// shared, noisy machine. Run with `npm run bench`.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Socket } from "node:net";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { SYS } from "../dist/gen/sys.js";
import { localThread } from "../dist/index.js";
import { native } from "../dist/native.js";
import { AF, SOCK } from "../dist/sys/socket/index.js";

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

// Async IO: the same bytes through a kernel pipe, 64 KiB at a time, by AsyncFileDescriptors and by
// Node's own streams (Readable.pipe into a net.Socket, read by a net.Socket).
const CHUNK = 64 * 1024;
const TOTAL = 512 * 2 ** 20;
const chunk = Buffer.alloc(CHUNK, 0x5a);

/** Copies TOTAL bytes from one end of a pair made by `makePair` to the other with writeAllBytes/readSomeBytes. */
async function afdStream(makePair) {
  const [read, write] = await makePair();
  const r = await localThread.makeAfd(read, true);
  const w = await localThread.makeAfd(write, true);
  const start = process.hrtime.bigint();
  const writing = (async () => {
    for (let sent = 0; sent < TOTAL; sent += CHUNK) await w.writeAllBytes(chunk);
    await w.close();
  })();
  let received = 0;
  for (;;) {
    const data = await r.readSomeBytes(CHUNK);
    if (data.length === 0) break;
    received += data.length;
  }
  await writing;
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await r.close();
  if (received !== TOTAL) throw new Error(`received ${received} of ${TOTAL}`);
  return TOTAL / secs;
}

// The same, keeping the bytes in our memory: one buffer each side, reused (no copies into or out
// of JavaScript; what a program forwarding data between fds does).
async function afdPipeReused() {
  const { read, write } = await localThread.pipe();
  const r = await localThread.makeAfd(read, true);
  const w = await localThread.makeAfd(write, true);
  const start = process.hrtime.bigint();
  const writing = (async () => {
    let buf = await localThread.ptr(chunk);
    for (let sent = 0; sent < TOTAL; sent += CHUNK) {
      let done;
      let rest = buf;
      while (rest.size() > 0) {
        const [written, unwritten] = await w.write(rest);
        done = done ? done.merge(written) : written;
        rest = unwritten;
      }
      buf = done.merge(rest);
    }
    buf.free();
    await w.close();
  })();
  let received = 0;
  let buf = await localThread.malloc(Buffer, CHUNK);
  for (;;) {
    const [valid, rest] = await r.read(buf);
    if (valid.size() === 0) break;
    received += valid.size();
    buf = valid.merge(rest);
  }
  await writing;
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await r.close();
  if (received !== TOTAL) throw new Error(`received ${received} of ${TOTAL}`);
  return TOTAL / secs;
}

/** The same with Node's streams: Readable.pipe into a net.Socket on one end, read by a net.Socket on the other. */
async function nodeStream(makePair) {
  const [read, write] = await makePair();
  const reader = new Socket({ fd: read.release(), readable: true, writable: false });
  const writer = new Socket({ fd: write.release(), readable: false, writable: true });
  const start = process.hrtime.bigint();
  let received = 0;
  reader.on("data", (d) => (received += d.length));
  const ended = new Promise((resolve) => reader.on("end", resolve));
  Readable.from(
    (function* () {
      for (let sent = 0; sent < TOTAL; sent += CHUNK) yield chunk;
    })(),
  ).pipe(writer);
  await ended;
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  reader.destroy();
  if (received !== TOTAL) throw new Error(`received ${received} of ${TOTAL}`);
  return TOTAL / secs;
}

const pipePair = async () => {
  const { read, write } = await localThread.pipe();
  return [read, write];
};
const socketPair = async () => {
  const pair = await localThread.socketpair(AF.UNIX, SOCK.STREAM);
  return [pair.first, pair.second];
};
const afdPipe = () => afdStream(pipePair);
const nodePipe = () => nodeStream(pipePair);
const afdSocket = () => afdStream(socketPair);
const nodeSocket = () => nodeStream(socketPair);

async function median(rounds, f) {
  const xs = [];
  for (let i = 0; i < rounds; i++) xs.push(await f());
  xs.sort((a, b) => a - b);
  return xs[Math.floor(rounds / 2)];
}

await afdPipe();
await afdPipeReused();
await nodePipe();
const reused = await median(5, afdPipeReused);
const copied = await median(5, afdPipe);
const node64 = await median(5, nodePipe);
const gib = (bps) => `${(bps / 2 ** 30).toFixed(2)} GiB/s`;
console.log(`\npipe throughput: ${TOTAL / 2 ** 20} MiB in 64 KiB chunks through a kernel pipe, median of 5`);
console.log(
  `  AsyncFileDescriptor, write/read of reused buffers     ${gib(reused)}  ${(reused / node64).toFixed(2)}x Node`,
);
console.log(
  `  AsyncFileDescriptor, writeAllBytes/readSomeBytes       ${gib(copied)}  ${(copied / node64).toFixed(2)}x Node (the kernel copies straight to and from Buffers)`,
);
console.log(`  Node streams (Readable.pipe into net.Socket)          ${gib(node64)}`);

// The same copying path on a unix socket pair, against Node's net.Socket on a socket pair, rounds
// taken in turn: what a program streaming through sockets sees.
{
  await afdSocket();
  await nodeSocket();
  const ours = [];
  const node = [];
  for (let i = 0; i < 5; i++) {
    ours.push(await afdSocket());
    node.push(await nodeSocket());
  }
  const mid = (xs) => xs.sort((a, b) => a - b)[2];
  const ratios = ours.map((x, i) => x / node[i]);
  console.log(`\nunix socket pair: ${TOTAL / 2 ** 20} MiB in 64 KiB chunks, 5 rounds taken in turn, medians`);
  console.log(
    `  AsyncFileDescriptor, writeAllBytes/readSomeBytes       ${gib(mid(ours))}  ${mid(ratios).toFixed(2)}x Node (median of the rounds' ratios; target >= 1.0x)`,
  );
  console.log(`  Node streams (Readable.pipe into net.Socket)          ${gib(mid(node))}`);
}

// Memory per AsyncFileDescriptor, registered and then waiting in a read.
const pipes = [];
const heap0 = snapshot().heap;
for (let i = 0; i < 1000; i++) {
  const { read, write } = await localThread.pipe();
  pipes.push({ r: await localThread.makeAfd(read, true), write });
}
const heap1 = snapshot().heap;
const reads = pipes.map(({ r }) => r.readSomeBytes(16));
const heap2 = snapshot().heap;
console.log("\n1000 AsyncFileDescriptors waiting at once (JS heap after GC)");
console.log(`  per registration    ${((heap1 - heap0) / 1000).toFixed(0)} bytes (pipe handles included)`);
console.log(`  per waiting read    ${((heap2 - heap1) / 1000).toFixed(0)} bytes more`);
for (const { write } of pipes) await write.write(await localThread.ptr(Buffer.from("x")));
await Promise.all(reads);
for (const { r, write } of pipes) {
  await r.close();
  await write.close();
}

// Each of the rest in a fresh process: what one section leaves behind (a heap grown to hundreds of
// MiB by the calls above, thousands of fds, children) would otherwise weigh on the next one's timings.
for (const section of ["children", "address-spaces", "ssh"]) {
  const here = dirname(fileURLToPath(import.meta.url));
  const { status, signal } = spawnSync(process.execPath, ["--expose-gc", join(here, "section.mjs"), section], {
    stdio: "inherit",
  });
  if (status !== 0) throw new Error(`bench: the ${section} section failed (${signal ?? `exit status ${status}`})`);
}
