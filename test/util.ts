// Helpers shared by the tests: scratch directories and facts read from /proc, independently of
// the library.

import { spawn } from "node:child_process";
import { once } from "node:events";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";
import type { FileDescriptor, Thread } from "rsyscall";

/** A fresh directory under the system temp dir, removed when the test file ends. */
export function scratchDir(prefix = "rsyscall-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The open fd numbers of this process, from /proc/self/fd. */
export function openFds(): number[] {
  return readdirSync("/proc/self/fd")
    .map(Number)
    .sort((a, b) => a - b);
}

/** Where fd `n` of this process points, from /proc/self/fd. */
export function fdTarget(n: number, pid: number | "self" = "self"): string {
  return readlinkSync(`/proc/${pid}/fd/${n}`);
}

/** The FD_CLOEXEC bit of fd `n` (ours, or process `pid`'s), from /proc/PID/fdinfo. */
export function isCloexec(n: number, pid: number | "self" = "self"): boolean {
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${n}`, "utf8"))?.[1];
  if (flags === undefined) throw new Error(`no flags for fd ${n}`);
  return (Number.parseInt(flags, 8) & 0o2000000) !== 0;
}

/** A field of /proc/<pid>/status ("SigIgn", "PPid"). */
export function procStatus(pid: number | "self", field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return line.slice(field.length + 1).trim();
}

/** The mappings of this process, from /proc/self/maps. */
export function mappings(): { start: number; end: number; line: string }[] {
  return readFileSync("/proc/self/maps", "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const [range = ""] = line.split(" ");
      const [start = "0", end = "0"] = range.split("-");
      return { start: Number.parseInt(start, 16), end: Number.parseInt(end, 16), line };
    });
}

/**
 * Waits until process `pid` sleeps in syscall `nr` on fd `fd`, as /proc/<pid>/syscall shows it
 * (a syscall server idles in a read of its socket, so the fd tells the two apart).
 */
export async function waitUntilBlocked(pid: number, nr: number, fd: number): Promise<void> {
  const expected = `${nr} 0x${fd.toString(16)} `;
  for (let i = 0; i < 1000; i++) {
    if (readFileSync(`/proc/${pid}/syscall`, "utf8").startsWith(expected)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`process ${pid} never blocked in syscall ${nr} on fd ${fd}`);
}

/** `length` bytes of memory at `address` (ours, or process `pid`'s), read through /proc/PID/mem, not through the library. */
export function readMemory(address: number, length: number, pid: number | "self" = "self"): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, "r");
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, address);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The result of a script run in a separate Node process. */
export interface NodeRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether it was killed at the timeout. */
  timedOut: boolean;
}

/**
 * Runs `script` (an ES module; `import ... from "rsyscall"` works) in a separate Node process with
 * gc exposed, killed after `timeout` ms: for what could crash or hang the process that runs it.
 */
export async function runNode(script: string, timeout = 30_000): Promise<NodeRun> {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const child = spawn(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeout);
  const [status, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { status, signal, stdout, stderr, timedOut };
}

/** Runs `script` as runNode does and fails unless it exits 0 in time; returns its stdout. */
export async function runNodeOk(script: string, timeout = 30_000): Promise<string> {
  const run = await runNode(script, timeout);
  if (run.status !== 0) {
    const why = run.timedOut ? `timed out after ${timeout} ms` : `exited with ${run.status ?? run.signal}`;
    throw new Error(`the script ${why}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  }
  return run.stdout;
}

/** The pids of this process's children (of every thread), from /proc. */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync("/proc/self/task")) {
    const children = readFileSync(`/proc/self/task/${tid}/children`, "utf8").trim();
    if (children) pids.push(...children.split(" ").map(Number));
  }
  return pids.sort((a, b) => a - b);
}

/** The state letter of process `pid` (R, S, Z...), or undefined when there is no such process. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** Everything a pipe's read end gives until EOF, read through an AsyncFileDescriptor (then closed). */
export async function readAsync(thr: Thread, fd: FileDescriptor): Promise<string> {
  const afd = await thr.makeAfd(fd, true);
  try {
    return (await afd.readToEof()).toString();
  } finally {
    await afd.close();
  }
}

/**
 * Whether children of the Node process are watched through its io_uring (no helper process each):
 * after a first clone, an io_uring fd is open. RSYSCALL_IO_URING=0 forces helpers.
 */
export async function watchedByRing(thr: Thread): Promise<boolean> {
  const child = await thr.clone();
  await child.exit(0);
  return readdirSync("/proc/self/fd").some((n) => {
    try {
      return readlinkSync(`/proc/self/fd/${n}`).includes("io_uring");
    } catch {
      return false;
    }
  });
}

/** Whether every directory from / down to `path` can be searched by anyone (nobody can reach it). */
export function searchableByOthers(path: string): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}
