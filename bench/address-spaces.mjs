// Benchmarks of threads in other address spaces, each against its baseline in the same run:
// memory moved into and out of a forked child (through /proc/PID/mem, and through the syscall
// stream of a bootstrapped process) against C process_vm_writev/readv; syscall round trips to a
// fork and a bootstrapped process against a clone child; stdinBootstrap against `sh -c true`.
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, localThread, Thread } from "../dist/index.js";
import { Allocator } from "../dist/memory/allocator.js";
import { RAM } from "../dist/memory/ram.js";
import { StreamMemoryGateway } from "../dist/memory/transport.js";
import { stdinBootstrap } from "../dist/tasks/stdin-bootstrap.js";

import { medianOf, perCall, row, us } from "./util.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const MIB = 1 << 20;

/** Medians of ns per 1 MiB written into `thread`'s memory, and per 1 MiB read back (into a new Buffer). */
async function copyMiB(thread, n) {
  const data = Buffer.alloc(MIB, 7);
  let p = await thread.malloc(Buffer, MIB);
  // A write through the stream is queued, not waited for: a call after the last is the fence.
  const write = async (k) => {
    for (let i = 0; i < k; i++) p = await p.write(data);
    await thread.task.getpid();
  };
  const read = async (k) => {
    for (let i = 0; i < k; i++) await p.read();
  };
  // What any read that returns a new 1 MiB Buffer costs in Node (the allocation: fresh pages,
  // garbage; and one copy), in rounds taken in turn with ours: it swings widely on this machine.
  const floor = async (k) => {
    for (let i = 0; i < k; i++) {
      await null;
      data.copy(Buffer.allocUnsafe(MIB));
    }
  };
  await write(3);
  await read(3);
  const w = await medianOf(7, () => perCall(n, write));
  const rounds = [];
  for (let i = 0; i < 7; i++) rounds.push([await perCall(n, floor), await perCall(n, read)]);
  const median = (xs) => xs.sort((a, b) => a - b)[3];
  p.free();
  return [w, median(rounds.map((x) => x[1])), median(rounds.map((x) => x[0]))];
}

async function getpidNs(thread) {
  const loop = async (n) => {
    for (let i = 0; i < n; i++) await thread.task.getpid();
  };
  await loop(2000);
  return medianOf(7, () => perCall(5000, loop));
}

export async function benchAddressSpaces() {
  const dir = mkdtempSync(join(tmpdir(), "rsyscall-bench-"));
  const procvm = join(dir, "procvm");
  execFileSync("cc", ["-O2", "-o", procvm, join(here, "c", "procvm.c")]);
  const plain = new Command("/bin/sh", ["sh", "-c", 'exec "$@"', "sh"], {});
  const clone = await localThread.clone();
  const fork = await localThread.fork();
  const [, booted] = await stdinBootstrap(localThread, plain);
  try {
    const [cWrite, cRead] = execFileSync(procvm, ["50", String(MIB)], { encoding: "utf8" })
      .trim()
      .split(" ")
      .map(Number);
    const [winWrite, winRead, nodeRead] = await copyMiB(fork, 50);
    // The same fork, its memory reached through its link alone: the stream transport on its own.
    const task = fork.task;
    const streamRam = new RAM(task, new StreamMemoryGateway(task), new Allocator(task));
    const streamOnly = new Thread(task, streamRam, fork.environ, fork.stdin, fork.stdout, fork.stderr, fork.epoller);
    const [streamWrite, streamRead] = await copyMiB(streamOnly, 20);
    const mb = (ns) => `${(MIB / (ns / 1e9) / 1e6).toFixed(0).padStart(6)} MB/s`;
    const pair = (w, r) => `${us(w)} ${us(r)}`;
    console.log("\n1 MiB into another process's memory, and out (into a new Buffer), median of 7 rounds");
    row("                                          write, read", "");
    row("C process_vm_writev, process_vm_readv", pair(cWrite, cRead));
    row(
      "Node: Buffer.allocUnsafe(1 MiB) + copy (a read's floor)",
      `           ${us(nodeRead)}`,
      "  (in turn with ours)",
    );
    row(
      "forked child, through windows (memfds we share)",
      pair(winWrite, winRead),
      `  ${(winWrite / cWrite).toFixed(2)}x, ${(winRead / cRead).toFixed(2)}x C (target <= 2x); read ${(winRead / nodeRead).toFixed(2)}x its floor`,
    );
    row(
      "forked child, through the syscall stream alone",
      pair(streamWrite, streamRead),
      `  ${mb(streamWrite)}, ${mb(streamRead)} (target >= 300 MB/s)`,
    );

    const viaClone = await getpidNs(clone);
    const viaFork = await getpidNs(fork);
    const viaBoot = await getpidNs(booted);
    console.log("\nsyscall round trip (getpid, one at a time), median of 7 rounds of 5000");
    row("clone child", us(viaClone));
    row("forked child", us(viaFork), `  ${(viaFork / viaClone).toFixed(2)}x clone (target <= 1.2x)`);
    row("bootstrapped process", us(viaBoot), `  ${(viaBoot / viaClone).toFixed(2)}x clone`);

    const bootOnce = async (n) => {
      for (let i = 0; i < n; i++) {
        const [proc, t] = await stdinBootstrap(localThread, plain);
        await t.exit(0);
        await proc.waitpid(4);
      }
    };
    const shTrue = async (n) => {
      for (let i = 0; i < n; i++) await once(spawn("/bin/sh", ["-c", "true"], { stdio: "ignore" }), "exit");
    };
    // Warmed up (in a fresh process, our code is cold for the first hundred or so) and taken in
    // turn, so that the machine's moods weigh on both.
    await bootOnce(100);
    await shTrue(100);
    const rounds = { boot: [], sh: [] };
    for (let r = 0; r < 5; r++) {
      rounds.sh.push(await perCall(20, shTrue));
      rounds.boot.push(await perCall(20, bootOnce));
    }
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const [boot, sh] = [median(rounds.boot), median(rounds.sh)];
    console.log("\nstart-up, medians of 5 rounds of 20, taken in turn, after 100 warm-up cycles");
    row("child_process.spawn('sh', ['-c', 'true']), 'exit'", us(sh));
    row("stdinBootstrap(thr, sh -c 'exec \"$@\"'), exit", us(boot), `  ${(boot / sh).toFixed(2)}x sh -c true`);
  } finally {
    await clone.exit(0);
    await fork.exit(0);
    await booted.exit(0);
    rmSync(dir, { recursive: true });
  }
}
