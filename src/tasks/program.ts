// Attaching to the rsyscall-server program (native/program.c) at the other end of a link: a
// process in an address space and fd table of its own, reached through a command (stdinBootstrap),
// over ssh, as a stub or a persistent server. The program says hello first (struct rsys_hello in
// native/rsyscall.h: its pid, entry points, where it keeps the link, argv and envp); we send the
// go-ahead, with the fd-passing socket when the link is a unix socket of ours; then it serves.
//
// Its memory goes through windows (memfds mapped on both sides, src/tasks/window.ts) where fds
// can cross the link, otherwise in the link itself (StreamMemoryGateway): nothing is ever aimed at
// a pid it reported, which in another pid namespace names another process.
import { readFileSync } from "node:fs";
import { Environment } from "../environ.js";
import { type AsyncFileDescriptor, Epoller } from "../epoller.js";
import { AddressSpace, MountNamespace, PidNamespace } from "../far.js";
import { FileDescriptorTable } from "../handle/fd.js";
import { Allocator } from "../memory/allocator.js";
import { RAM } from "../memory/ram.js";
import { SharedWindowGateway, StreamMemoryGateway } from "../memory/transport.js";
import { serverProgramPath } from "../native.js";
import { asFd, asPid } from "../near/ids.js";
import { CLONE } from "../sched.js";
import { AF, SOCK } from "../sys/socket/index.js";
import { S_IF, Stat } from "../sys/stat.js";
import { type FileDescriptor, Task } from "../task.js";
import { Thread } from "../thread.js";
import { ConnectedThread, closeAll, type Passing, sendFds } from "./connected.js";
import { SyscallConnection } from "./connection.js";
import "./clone.js";
import { type Entries, setEntries } from "./entries.js";
import { windowRam } from "./window.js";

/** The rsyscall-server program, read once: what a bootstrap sends over its link. */
let programBytes: Buffer | undefined;
export function serverProgram(): Buffer {
  programBytes ??= readFileSync(serverProgramPath);
  return programBytes;
}

const MAGIC = "rsyscall";
const VERSION = 1n;
const HELLO_WORDS = 15;

/** What the program says about itself. */
export interface Hello {
  /** Its pid in its own pid namespace: for messages, never for process_vm or /proc. */
  pid: number;
  /** Entry points in its address space (ASLR): the server loop, the clone trampoline, the futex helper, the exec stub. */
  entries: Entries;
  /** Where it keeps its link. */
  infd: number;
  outfd: number;
  /** Which file its link is (fstat of infd). */
  link: { dev: bigint; ino: bigint; isSocket: boolean };
  argv: string[];
  envp: string[];
}

/** Reads exact amounts from an AsyncFileDescriptor, failing at EOF with what it was reading. */
export class ByteReader {
  #pending: Buffer = Buffer.alloc(0);
  constructor(private readonly afd: AsyncFileDescriptor) {}

  async exactly(n: number, what: string): Promise<Buffer> {
    while (this.#pending.length < n) {
      const chunk = await this.afd.readSomeBytes(Math.max(4096, Math.min(n - this.#pending.length, 1 << 20)));
      if (chunk.length === 0) throw new Error(`the link reached EOF while reading ${what}`);
      this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    }
    const out = this.#pending.subarray(0, n);
    this.#pending = this.#pending.subarray(n);
    return out;
  }

  async word(what: string): Promise<bigint> {
    return (await this.exactly(8, what)).readBigUInt64LE(0);
  }

  /** What was read past the last request: must be nothing when the link is handed on. */
  get leftover(): number {
    return this.#pending.length;
  }
}

async function readStrings(reader: ByteReader, count: bigint, what: string): Promise<string[]> {
  if (count > 1_000_000n) throw new Error(`hello: ${count} ${what} strings is not believable`);
  const out: string[] = [];
  for (let i = 0n; i < count; i++) {
    const length = await reader.word(what);
    if (length > 1n << 28n) throw new Error(`hello: a ${what} string of ${length} bytes is not believable`);
    out.push((await reader.exactly(Number(length), what)).toString());
  }
  return out;
}

/** Reads the program's hello from `reader`. */
export async function readHello(reader: ByteReader): Promise<Hello> {
  const head = await reader.exactly(HELLO_WORDS * 8, "the hello");
  if (head.toString("latin1", 0, 8) !== MAGIC) {
    throw new Error(
      `the link does not lead to rsyscall-server (it began ${JSON.stringify(head.toString("latin1", 0, 8))})`,
    );
  }
  const word = (i: number) => head.readBigUInt64LE(8 * i);
  if (word(1) !== VERSION || word(2) !== BigInt(HELLO_WORDS * 8)) {
    throw new Error(`rsyscall-server speaks version ${word(1)} (${word(2)}-byte hello); we speak ${VERSION}`);
  }
  const hello: Hello = {
    pid: Number(BigInt.asIntN(64, word(3))),
    // User-space addresses are below 2^47: exact as numbers.
    entries: {
      server: Number(word(4)),
      trampoline: Number(word(5)),
      futexHelper: Number(word(6)),
      execStub: Number(word(7)),
    },
    infd: Number(BigInt.asIntN(64, word(8))),
    outfd: Number(BigInt.asIntN(64, word(9))),
    link: { dev: word(10), ino: word(11), isSocket: (Number(word(12)) & S_IF.MT) === S_IF.SOCK },
    argv: [],
    envp: [],
  };
  hello.argv = await readStrings(reader, word(13), "argv");
  hello.envp = await readStrings(reader, word(14), "envp");
  return hello;
}

/** The file `fd` of `thread` is, as fstat says (st_dev, st_ino). */
export async function fileIdentity(thread: Thread, fd: FileDescriptor): Promise<{ dev: bigint; ino: bigint }> {
  const buf = await thread.malloc(Stat);
  try {
    const st = await (await fd.fstat(buf)).read();
    return { dev: st.dev, ino: st.ino };
  } finally {
    buf.free();
  }
}

/** How to attach to a program at the other end of a link. */
export interface AttachOptions {
  /** Our end of the link, in the Node process. */
  link: AsyncFileDescriptor;
  /** What reads the link so far (the hello was read through it). */
  reader: ByteReader;
  hello: Hello;
  /**
   * The file the program's end of the link is, when we made it, or "direct" for a connection we
   * made to its listening socket: only then is the link known to be a unix socket of ours that fds
   * can cross. A socket made by something in between (sshd) is not.
   */
  theirEnd?: { dev: bigint; ino: bigint } | "direct";
  /** The Node process's fds to give the program along with the go-ahead (it reports their numbers). */
  gifts?: FileDescriptor[];
}

/** Whether the program's link is a unix socket of ours (see AttachOptions.theirEnd): fds can cross it. */
export function linkIsOurs(hello: Hello, theirEnd: AttachOptions["theirEnd"]): boolean {
  return (
    hello.link.isSocket &&
    (theirEnd === "direct" ||
      (theirEnd !== undefined && theirEnd.dev === hello.link.dev && theirEnd.ino === hello.link.ino))
  );
}

/** Sends the go-ahead; returns the fd-passing socket (when the link allows) and the numbers the gifts got. */
async function goAhead(
  root: Thread,
  options: AttachOptions,
): Promise<{ passingOurs: FileDescriptor | undefined; gifts: number[] }> {
  const { link, reader, hello, theirEnd } = options;
  const canPass = linkIsOurs(hello, theirEnd);
  let passingOurs: FileDescriptor | undefined;
  let sent: FileDescriptor[] = [];
  try {
    if (canPass) {
      const pair = await root.socketpair(AF.UNIX, SOCK.STREAM);
      passingOurs = pair.first;
      sent = [pair.second, ...(options.gifts ?? [])];
      try {
        await sendFds(root, link.handle, sent);
      } finally {
        await pair.second.close();
      }
    } else {
      if (options.gifts?.length) throw new Error("attach: fds cannot cross this link (not a unix socket of ours)");
      await link.writeAllBytes(Buffer.from([0]));
    }
    const count = Number(await reader.word("the go-ahead's answer"));
    if (count !== sent.length) throw new Error(`attach: sent ${sent.length} fds, the server got ${count}`);
    const numbers: number[] = [];
    for (let i = 0; i < count; i++) numbers.push(Number(BigInt.asIntN(64, await reader.word("the fd numbers"))));
    if (reader.leftover !== 0) throw new Error("attach: the server said more than its hello");
    return { passingOurs, gifts: numbers };
  } catch (e) {
    // The process went away (or spoke nonsense) before it was ours: nothing of it stays.
    await closeAll([passingOurs]);
    throw e;
  }
}

/**
 * Sends the go-ahead over `options.link` and makes the connection the program is driven through:
 * returns it, with our end of its fd-passing socket (when fds can cross) and the numbers the gifts
 * got there. Our end of that socket goes when the link hangs up.
 */
export async function openLink(
  root: Thread,
  options: AttachOptions,
): Promise<{ connection: SyscallConnection; passingOurs: FileDescriptor | undefined; gifts: number[] }> {
  const { passingOurs, gifts } = await goAhead(root, options);
  const connection = new SyscallConnection(options.link, root.ram);
  if (passingOurs) void connection.hungUp.then(() => closeAll([passingOurs]));
  return { connection, passingOurs, gifts };
}

/** What attachProgram makes: the thread, and what a caller may need to finish it. */
export interface Attached<T> {
  thread: T;
  /** Copies of the gifts, as fds of the thread. */
  gifts: FileDescriptor[];
  /** Unmaps our side of its memory windows (for a caller that knows when the process is gone). */
  releaseWindows: (() => void) | undefined;
}

/**
 * Attaches to the program whose hello was just read: sends the go-ahead and builds its thread, in
 * an fd table, address space, pid and mount namespace of its own (we cannot tell they are ours).
 * Unless `keepWindows`, our side of its memory windows goes when its link hangs up (a persistent
 * thread keeps them across links, and releases them itself).
 */
export async function attachProgram<T extends ConnectedThread = ConnectedThread>(
  root: Thread,
  options: AttachOptions,
  make: (thread: Thread, connection: SyscallConnection, root: Thread, passing: Passing | undefined) => T = (...args) =>
    new ConnectedThread(...args) as T,
  keepWindows = false,
): Promise<Attached<T>> {
  const { hello, link } = options;
  const { connection, passingOurs, gifts } = await openLink(root, options);
  const pid = asPid(hello.pid);
  let releaseWindows: (() => void) | undefined;
  try {
    const task = new Task(connection, pid, {
      fdTable: new FileDescriptorTable(pid),
      addressSpace: new AddressSpace(pid),
      pidns: new PidNamespace(pid),
      mountns: new MountNamespace(pid),
    });
    const [passingTheirs, ...given] = gifts.map((n) => task.makeFd(asFd(n)));
    let self: T | undefined;
    const initialPassing: Passing | undefined = passingOurs ? { ours: passingOurs, theirs: passingTheirs! } : undefined;
    const passingNow = () => (self ? self.currentPassing : initialPassing);
    // fds 0 and 1 are /dev/null now (the link moved above 2); 2 is whatever the command gave it.
    const stdio = [0, 1, 2].map((n) => task.fdAt(n)) as [FileDescriptor, FileDescriptor, FileDescriptor];
    // Its memory: through windows shared with us where fds can cross the link, else through the link.
    const stream = new StreamMemoryGateway(task);
    const ram = initialPassing
      ? windowRam(root, task, stream, passingNow, stdio, root.epoller)
      : new RAM(task, stream, new Allocator(task));
    if (ram.gateway instanceof SharedWindowGateway) releaseWindows = ram.gateway.releaser();
    setEntries(task.addressSpace, hello.entries);
    const env = Object.fromEntries(
      hello.envp.flatMap((entry) => {
        const eq = entry.indexOf("=");
        return eq > 0 ? [[entry.slice(0, eq), entry.slice(eq + 1)]] : [];
      }),
    );
    // Its fds are in a table our event loop cannot watch: an epoll of its own, waited on by a second
    // server sharing its table and memory (made at the first wait), so its own calls never wait behind.
    const epoller = await Epoller.makeBlocking(task, ram, async () => {
      if (!self) throw new Error("attach: the thread is not made yet");
      const waiter = await self.clone(CLONE.FILES);
      waiter.connection.holdsNode = false;
      return waiter.task.sysif;
    });
    const thread = new Thread(task, ram, new Environment(task, ram, env), ...stdio, epoller);
    self = make(thread, connection, root, initialPassing);
    if (releaseWindows && !keepWindows) void connection.hungUp.then(releaseWindows);
    // A thread nobody can reach any more: let its server go (EOF on its link).
    dropped.register(self, link);
    return { thread: self, gifts: passingOurs ? given : [], releaseWindows };
  } catch (e) {
    releaseWindows?.();
    connection.hangup(`attaching failed: ${(e as Error).message}`);
    throw e;
  }
}

/** Closes the link of a thread that was dropped: its server reads EOF and exits (a persistent one waits for the next). */
const dropped = new FinalizationRegistry<AsyncFileDescriptor>((link) => {
  void link.close().catch(() => {});
});

/** `promise`, or undefined after `ms`; the timer goes when the promise settles first. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
