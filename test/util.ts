// Helpers shared by the tests: scratch directories and facts read from /proc, independently of
// the library.
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
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

/** The FD_CLOEXEC bit of fd `n`, from /proc/self/fdinfo. */
export function isCloexec(n: number): boolean {
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${n}`, "utf8"))?.[1];
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

/** `length` bytes of our memory at `address`, read through /proc/self/mem, not through the library. */
export function readMemory(address: number, length: number): Buffer {
  const fd = openSync("/proc/self/mem", "r");
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, address);
    return out;
  } finally {
    closeSync(fd);
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
