// The freestanding syscall server, run as the standalone rsyscall-server program in a separate
// process, spoken to over a socketpair; and the check that it needs neither libc nor TLS.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import type { Socket } from "node:net";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ERRNO } from "rsyscall/errno";
import { SYS } from "rsyscall/sys/syscall";
import { procStatus } from "../util.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const release = join(root, "build", "Release");
const serverProgram = join(release, "rsyscall-server");
// Start-up flags, from native/rsyscall.h.
const RESET_SIGNALS = 1;
const CLOEXEC_SOCKET = 8;

/** Starts the server on fd 3 (a socketpair end, Node's 'pipe' stdio) and returns a client. */
function startServer(flags = 0, shellPrefix = "") {
  const args = ["3", "3", String(flags)];
  const child = shellPrefix
    ? spawn("/bin/sh", ["-c", `${shellPrefix} exec "$0" "$@"`, serverProgram, ...args], {
        stdio: ["ignore", "inherit", "inherit", "pipe"],
      })
    : spawn(serverProgram, args, { stdio: ["ignore", "inherit", "inherit", "pipe"] });
  const sock = child.stdio[3] as Socket;
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const replies: Buffer[] = [];
  let pending = Buffer.alloc(0);
  const waiters: ((b: Buffer) => void)[] = [];
  sock.on("data", (data: Buffer) => {
    pending = Buffer.concat([pending, data]);
    while (pending.length >= 8) {
      const reply = pending.subarray(0, 8);
      pending = pending.subarray(8);
      const waiter = waiters.shift();
      if (waiter) waiter(reply);
      else replies.push(reply);
    }
  });
  const syscall = (nr: number, ...args: (number | bigint)[]): Promise<bigint> => {
    const req = Buffer.alloc(56);
    req.writeBigInt64LE(BigInt(nr), 0);
    for (const [i, a] of args.entries()) req.writeBigInt64LE(BigInt(a), 8 + 8 * i);
    sock.write(req);
    return new Promise((resolve) => waiters.push((b) => resolve(b.readBigInt64LE(0))));
  };
  return { child, sock, syscall, exited };
}

describe("rsyscall-server", () => {
  test("performs syscalls in its own process and answers in order", async () => {
    const { child, sock, syscall, exited } = startServer();
    const [pid, ppid, badClose] = await Promise.all([
      syscall(SYS.getpid),
      syscall(SYS.getppid),
      syscall(SYS.close, 999),
    ]);
    assert.equal(pid, BigInt(child.pid!));
    assert.equal(ppid, BigInt(process.pid));
    assert.equal(badClose, BigInt(-ERRNO.EBADF));
    sock.end();
    const [code] = await exited;
    assert.equal(code, 0, "EOF between requests is a clean exit");
  });

  test("makes its socket close-on-exec when asked", async () => {
    const plain = startServer();
    assert.equal(await plain.syscall(SYS.fcntl, 3, 1 /* F_GETFD */), 0n);
    plain.sock.end();
    const cloexec = startServer(CLOEXEC_SOCKET);
    assert.equal(await cloexec.syscall(SYS.fcntl, 3, 1 /* F_GETFD */), 1n);
    cloexec.sock.end();
    await Promise.all([plain.exited, cloexec.exited]);
  });

  test("resets ignored signals to their defaults when asked", async () => {
    const ignoring = startServer(0, "trap '' TERM USR2;");
    await ignoring.syscall(SYS.getpid);
    assert.notEqual(BigInt(`0x${procStatus(ignoring.child.pid!, "SigIgn")}`), 0n, "the shell made it ignore signals");
    const reset = startServer(RESET_SIGNALS, "trap '' TERM USR2;");
    await reset.syscall(SYS.getpid);
    assert.equal(BigInt(`0x${procStatus(reset.child.pid!, "SigIgn")}`), 0n);
    ignoring.sock.end();
    reset.sock.end();
    await Promise.all([ignoring.exited, reset.exited]);
  });

  test("a request cut short by EOF is an error exit", async () => {
    const { sock, exited } = startServer();
    sock.end(Buffer.alloc(20));
    const [code] = await exited;
    assert.equal(code, 1);
  });

  test("a syscall that ends the process ends the server", async () => {
    const { syscall, exited } = startServer();
    void syscall(SYS.exit_group, 7);
    const [code] = await exited;
    assert.equal(code, 7);
  });
});

describe("the server code", () => {
  const object = join(release, "obj.target", "rsyscall_native", "native", "server.o");

  test("calls nothing but the raw syscall entry (no libc)", () => {
    const undefinedSymbols = execFileSync("nm", ["-u", object], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/).pop());
    assert.deepEqual(undefinedSymbols, ["rsys_raw_syscall"]);
  });

  test("never touches %fs (the cloning thread's TLS)", () => {
    const disassembly = execFileSync("objdump", ["-d", "--no-show-raw-insn", object], { encoding: "utf8" });
    assert.match(disassembly, /<rsys_server>:/);
    assert.doesNotMatch(disassembly, /%fs/);
  });

  test("once linked, calls nothing through the PLT (no lazy binding in a child)", () => {
    const disassembly = execFileSync("objdump", ["-d", "--no-show-raw-insn", join(release, "rsyscall_native.node")], {
      encoding: "utf8",
    });
    const entry = /^[0-9a-f]+ <(rsys_server|rsys_exec|rsys_futex_helper|rsys_trampoline|rsys_raw_syscall)>:/;
    const blocks = disassembly.split("\n\n").filter((block) => entry.test(block));
    assert.equal(
      blocks.length,
      5,
      "found the server, the exec stub, the futex helper, the trampoline and the syscall entry",
    );
    const calls = blocks
      .join("\n")
      .split("\n")
      .filter((l) => /\scall\s/.test(l));
    assert.ok(calls.some((c) => c.endsWith("<rsys_raw_syscall>")));
    for (const call of calls) assert.doesNotMatch(call, /@plt|\*0x|%fs/, `unexpected call: ${call}`);
  });
});
