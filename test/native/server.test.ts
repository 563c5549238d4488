// The freestanding syscall server, run as the standalone rsyscall-server program in a separate
// process, spoken to over a socketpair with a client written here from the wire format alone; and
// the checks that the server needs neither libc nor TLS, and the program neither a loader nor
// relocations.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, statSync } from "node:fs";
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
const HELLO_SIZE = 15 * 8;
// Requests that move memory through the link (native/rsyscall.h).
const OP_RECV_MEMORY = -1n;
const OP_SEND_MEMORY = -2n;

/** A client of the wire protocol: reads exact amounts off the socket, in order. */
function client(sock: Socket) {
  let pending = Buffer.alloc(0);
  const waiters: { n: number; resolve: (b: Buffer) => void }[] = [];
  const pump = () => {
    while (waiters.length && pending.length >= waiters[0]!.n) {
      const w = waiters.shift()!;
      const out = pending.subarray(0, w.n);
      pending = pending.subarray(w.n);
      w.resolve(out);
    }
  };
  sock.on("data", (data: Buffer) => {
    pending = Buffer.concat([pending, data]);
    pump();
  });
  const read = (n: number) =>
    new Promise<Buffer>((resolve) => {
      waiters.push({ n, resolve });
      pump();
    });
  const request = (nr: number | bigint, args: (number | bigint)[], payload?: Buffer) => {
    const req = Buffer.alloc(56);
    req.writeBigInt64LE(BigInt(nr), 0);
    for (const [i, a] of args.entries()) req.writeBigInt64LE(BigInt(a), 8 + 8 * i);
    sock.write(payload ? Buffer.concat([req, payload]) : req);
  };
  const syscall = (nr: number, ...args: (number | bigint)[]): Promise<bigint> => {
    request(nr, args);
    return read(8).then((b) => b.readBigInt64LE(0));
  };
  return { read, request, syscall };
}

/**
 * Starts the program with its link on fd 3 (a socketpair end, Node's 'pipe' stdio), reads its
 * hello, sends the go-ahead, and returns a client.
 */
async function startServer(shellPrefix = "") {
  const args = ["--link-fd", "3"];
  const child = shellPrefix
    ? spawn("/bin/sh", ["-c", `${shellPrefix} exec "$0" "$@"`, serverProgram, ...args], {
        stdio: ["ignore", "inherit", "inherit", "pipe"],
      })
    : spawn(serverProgram, args, { stdio: ["ignore", "inherit", "inherit", "pipe"] });
  const sock = child.stdio[3] as Socket;
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const c = client(sock);
  const hello = await c.read(HELLO_SIZE);
  const word = (i: number) => hello.readBigUInt64LE(8 * i);
  const strings = async (count: bigint) => {
    const out: string[] = [];
    for (let i = 0n; i < count; i++) out.push((await c.read(Number((await c.read(8)).readBigUInt64LE(0)))).toString());
    return out;
  };
  const argv = await strings(word(13));
  const envp = await strings(word(14));
  sock.write(Buffer.from([0]));
  const gifts = (await c.read(8)).readBigUInt64LE(0);
  return { child, sock, exited, hello, word, argv, envp, gifts, ...c };
}

describe("rsyscall-server", () => {
  test("says hello: who it is, where its entry points and link are, its argv and environment", async () => {
    const s = await startServer();
    assert.equal(s.hello.toString("latin1", 0, 8), "rsyscall");
    assert.equal(s.word(1), 1n, "version");
    assert.equal(s.word(2), BigInt(HELLO_SIZE));
    assert.equal(s.word(3), BigInt(s.child.pid!));
    const maps = readFileSync(`/proc/${s.child.pid}/maps`, "utf8");
    for (const i of [4, 5, 6, 7]) {
      const address = s.word(i);
      const inExecutable = maps
        .split("\n")
        .filter((l) => l.includes("rsyscall-server") && l.split(" ")[1]!.includes("x"))
        .some((l) => {
          const [from, to] = l
            .split(" ")[0]!
            .split("-")
            .map((h) => BigInt(`0x${h}`));
          return address >= from! && address < to!;
        });
      assert.ok(inExecutable, `entry ${i} (0x${address.toString(16)}) lies in the program's code`);
    }
    assert.deepEqual([s.word(8), s.word(9)], [3n, 3n], "the link stays at fd 3 when named");
    const link = statSync(`/proc/${s.child.pid}/fd/3`, { bigint: true });
    assert.deepEqual([s.word(10), s.word(11)], [link.dev, link.ino], "the link's identity");
    assert.equal(Number(s.word(12)) & 0o170000, 0o140000, "a socket");
    assert.deepEqual(s.argv, [serverProgram, "--link-fd", "3"]);
    assert.ok(s.envp.some((e) => e.startsWith("PATH=")));
    assert.equal(s.gifts, 0n);
    assert.equal(await s.syscall(SYS.getpid), BigInt(s.child.pid!));
    s.sock.end();
    assert.deepEqual(await s.exited, [0, null]);
  });

  test("performs syscalls in its own process and answers in order", async () => {
    const { child, sock, syscall, exited } = await startServer();
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

  test("makes its link close-on-exec", async () => {
    const s = await startServer();
    assert.equal(await s.syscall(SYS.fcntl, 3, 1 /* F_GETFD */), 1n);
    s.sock.end();
    await s.exited;
  });

  test("resets ignored signals to their defaults", async () => {
    const s = await startServer("trap '' TERM USR2;");
    await s.syscall(SYS.getpid);
    assert.equal(BigInt(`0x${procStatus(s.child.pid!, "SigIgn")}`), 0n);
    s.sock.end();
    await s.exited;
  });

  test("moves memory through the link, framed among the syscalls, and survives a bad address", async () => {
    const s = await startServer();
    const length = 3 * 4096 + 17;
    const address = await s.syscall(SYS.mmap, 0, length, 3 /* PROT_READ|WRITE */, 0x22 /* PRIVATE|ANON */, -1, 0);
    const data = Buffer.alloc(length);
    for (let i = 0; i < length; i++) data[i] = (i * 7) & 0xff;
    // A write, a syscall, a read and another syscall, all pipelined: replies in order.
    s.request(OP_RECV_MEMORY, [address, length], data);
    s.request(SYS.getpid, []);
    s.request(OP_SEND_MEMORY, [address + 1n, 100]);
    s.request(SYS.getppid, []);
    assert.equal((await s.read(8)).readBigInt64LE(0), BigInt(length));
    assert.equal((await s.read(8)).readBigInt64LE(0), BigInt(s.child.pid!));
    assert.deepEqual(await s.read(100), data.subarray(1, 101));
    assert.equal((await s.read(8)).readBigInt64LE(0), 100n);
    assert.equal((await s.read(8)).readBigInt64LE(0), BigInt(process.pid));
    // Unmapped memory: -EFAULT, with the stream still framed (zeros stand in for a read).
    s.request(OP_RECV_MEMORY, [8, 5000], Buffer.alloc(5000, 1));
    assert.equal((await s.read(8)).readBigInt64LE(0), BigInt(-ERRNO.EFAULT));
    s.request(OP_SEND_MEMORY, [8, 300]);
    assert.deepEqual(await s.read(300), Buffer.alloc(300));
    assert.equal((await s.read(8)).readBigInt64LE(0), BigInt(-ERRNO.EFAULT));
    assert.equal(await s.syscall(SYS.getpid), BigInt(s.child.pid!));
    s.sock.end();
    assert.deepEqual(await s.exited, [0, null]);
  });

  test("a request cut short by EOF is an error exit", async () => {
    const { sock, exited } = await startServer();
    sock.end(Buffer.alloc(20));
    const [code] = await exited;
    assert.equal(code, 1);
  });

  test("a syscall that ends the process ends the server", async () => {
    const { syscall, exited } = await startServer();
    void syscall(SYS.exit_group, 7);
    const [code] = await exited;
    assert.equal(code, 7);
  });

  test("--probe exits 0 at once; bad arguments exit 2", () => {
    execFileSync(serverProgram, ["--probe"]);
    assert.throws(() => execFileSync(serverProgram, ["--link-fd", "x"], { stdio: "ignore" }), { status: 2 });
    assert.throws(() => execFileSync(serverProgram, ["--what"], { stdio: "ignore" }), { status: 2 });
  });
});

describe("the server program", () => {
  test("is a static position-independent executable: no interpreter, no libraries, no TLS, no relocations", () => {
    const headers = execFileSync("readelf", ["-h", "-l", "-d", "-r", "-W", serverProgram], { encoding: "utf8" });
    assert.match(headers, /Type:\s+DYN/, "position-independent");
    assert.doesNotMatch(headers, /INTERP/);
    assert.doesNotMatch(headers, /NEEDED/);
    assert.doesNotMatch(headers, /\bTLS\b/);
    assert.match(headers, /There are no relocations in this file/);
    const undefinedSymbols = execFileSync("nm", ["-u", serverProgram], { encoding: "utf8" }).trim();
    assert.equal(undefinedSymbols, "");
    const disassembly = execFileSync("objdump", ["-d", "--no-show-raw-insn", serverProgram], { encoding: "utf8" });
    assert.doesNotMatch(disassembly, /%fs/);
    for (const entry of ["_start", "rsys_server", "rsys_trampoline", "rsys_futex_helper", "rsys_exec"]) {
      assert.match(disassembly, new RegExp(`<${entry}>:`));
    }
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
