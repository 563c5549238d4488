// Child threads: processes made with clone(CLONE_VM) that run the freestanding syscall server
// (native/server.c) on a socket until they exec. See docs/architecture.md.
//
//   const child = await thr.clone();
//   await child.task.getpid();
//   const proc = await child.exec(await child.environ.which("true"));
//   await proc.check();
//
// How a child starts: we write a frame [trampoline, six arguments, server] at the top of a stack
// in a mapping of its own (ChildMemory, with guard pages) and call clone with CLONE_VM |
// CLONE_CHILD_CLEARTID | CLONE_PIDFD. The child
// returns from the raw syscall entry onto that stack, its `ret` pops the trampoline, and the
// trampoline calls the server, which resets signal dispositions and the mask, arms the
// parent-death signal, closes its copy of our end of the socket and serves. All signals are blocked
// around the clone, so no Node handler can run in the child before that reset.
//
// How we learn it exec'd or exited: the futex helper (src/tasks/helper.ts); the connection then
// hangs up, and the memory it ran on is unmapped.
//
// Lifetime: once the clone syscall succeeded, every later failure kills and reaps the child
// before its memory goes. A child is reaped when it dies (src/monitor.ts). One whose thread, task
// and connection were all dropped before it exec'd can never be driven again: it is killed.
import { isMainThread } from "node:worker_threads";
import { checkInt, describe } from "../args.js";
import { Command } from "../command.js";
import { Environment } from "../environ.js";
import { AsyncFileDescriptor } from "../epoller.js";
import { type FDTable, MountNamespace, PidNamespace } from "../far.js";
import { F } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { ERRNO } from "../gen/errno.js";
import { SYS } from "../gen/sys.js";
import { FileDescriptorTable } from "../handle/fd.js";
import { RAM } from "../memory/ram.js";
import { AsyncChildProcess, SERVER_COMM } from "../monitor.js";
import { native } from "../native.js";
import { SyscallError, SyscallHangupError, SyscallSendError } from "../near/errors.js";
import { asAddress, asFd, asPid } from "../near/ids.js";
import { LocalSyscall, rawSyscall } from "../near/local.js";
import * as raw from "../near/syscalls.js";
import { CLONE } from "../sched.js";
import { SIG } from "../signal.js";
import { stringSerializer } from "../struct.js";
import {
  AF,
  CmsgList,
  CmsgSCMRights,
  MSG,
  RecvMsghdr,
  SendMsghdr,
  SOCK,
  type Socketpair,
} from "../sys/socket/index.js";
import { IovecList } from "../sys/uio.js";
import { P, W } from "../sys/wait.js";
import { type FileDescriptor, Task } from "../task.js";
import { checkCount, Thread, writeUserMappings } from "../thread.js";
import { ArgList } from "../unistd/exec.js";
import { SyscallConnection } from "./connection.js";
import { environmentArgList } from "./envp.js";
import { ChildMemory, cloneRaw, namedLike, withSignalsBlocked } from "./frame.js";
import { killAndReapNow, startHelper, watchExecOrExit } from "./helper.js";

const ALWAYS = gen.CLONE.VM | gen.CLONE.CHILD_CLEARTID;
const SERVER_FLAGS = Object.values(native.serverFlags).reduce((a, b) => a | b, 0);

declare module "../thread.js" {
  interface Thread {
    /**
     * `clone(flags | CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_PIDFD | SIGCHLD)`: a child process that
     * runs syscalls for us until it execs. It shares our memory; its fd table is a copy of this
     * thread's (claim fds with `child.inheritFd`), or this thread's own with `CLONE.FILES`.
     * `flags` may hold the namespace flags (`NEWNS`, `NEWUTS`, `NEWIPC`, `NEWUSER`, `NEWPID`,
     * `NEWNET`, `NEWCGROUP`), `FILES`, `IO`, `SYSVSEM` and `UNTRACED`; anything else would break
     * Node or our bookkeeping of the child, and is refused with a TypeError naming it, before any
     * syscall.
     * @see https://man7.org/linux/man-pages/man2/clone.2.html
     */
    clone(flags?: CLONE, options?: CloneOptions): Promise<ChildThread>;
  }
}

export interface CloneOptions {
  /** With CLONE.NEWUSER: write uid and gid maps (our ids, mapped to themselves). Default true. */
  writeUserMappings?: boolean;
}

/** A child process made by `Thread.clone`, serving syscalls until it execs or exits. */
export class ChildThread extends Thread {
  /** The program an exec under way is for. */
  #execing: string | undefined;

  constructor(
    thread: Thread,
    /** The child, for waiting and signalling. */
    readonly process: AsyncChildProcess,
    readonly connection: SyscallConnection,
    /** The Node process's thread, which made this child (maybe through other children). */
    readonly root: Thread,
    /** A socket pair for passing fds: our end, and the child's. */
    private readonly passing: { ours: FileDescriptor; theirs: FileDescriptor },
    /** With CLONE_FILES: the table shared with the parent (until the child unshares it). */
    private readonly sharedTable?: FDTable,
  ) {
    super(thread.task, thread.ram, thread.environ, thread.stdin, thread.stdout, thread.stderr, thread.epoller);
  }

  /**
   * `count` connected socket pairs between the Node process and this child: [our end, its end].
   * Made in the Node process; the child's ends travel over a socket with SCM_RIGHTS.
   */
  override async openChannels(count: number): Promise<[FileDescriptor, FileDescriptor][]> {
    checkCount(count);
    if (count === 0) return [];
    if (this.connection.closed) throw new SyscallSendError("openChannels", "the child exec'd or exited");
    const pairs: Socketpair<FileDescriptor>[] = [];
    const closePairs = () => closeAll(pairs.flatMap((p) => [p.first, p.second]));
    try {
      for (let i = 0; i < count; i++) pairs.push(await this.root.socketpair(AF.UNIX, SOCK.STREAM));
    } catch (e) {
      await closePairs();
      throw e;
    }
    if (this.task.fdTable === this.root.task.fdTable) {
      // A CLONE_FILES child of the Node process: its ends are in our table already.
      return Promise.all(
        pairs.map(async (p) => {
          const theirs = p.second.forTask(this.task);
          await p.second.invalidate();
          return [p.first, theirs] as [FileDescriptor, FileDescriptor];
        }),
      );
    }
    let received: FileDescriptor[];
    try {
      received = await passFds(
        this.root,
        this.passing.ours,
        this,
        this.passing.theirs,
        pairs.map((p) => p.second),
      );
    } catch (e) {
      await closePairs();
      throw e;
    }
    for (const p of pairs) await p.second.close();
    return pairs.map((p, i) => [p.first, received[i] as FileDescriptor]);
  }

  /** Copies of this child's `fds` in the Node process (sent with SCM_RIGHTS). */
  passToRoot(fds: FileDescriptor[]): Promise<FileDescriptor[]> {
    return passFds(this, this.passing.theirs, this.root, this.passing.ours, fds);
  }

  protected override localAfd(fd: FileDescriptor): Promise<AsyncFileDescriptor> {
    return this.root.makeAfd(fd, true);
  }

  /** Replaces the child's program with `command`. */
  exec(command: Command): Promise<AsyncChildProcess> {
    return this.execve(command.executablePath, [...command.arguments], command.envUpdates, command);
  }

  /** Replaces the child's program, with the child's environment as it is. */
  execv(path: string, argv: string[]): Promise<AsyncChildProcess> {
    return this.execve(path, argv);
  }

  /**
   * Replaces the child's program: `execve(path, argv, environ + envUpdates)`. Its stdio (fds 0-2)
   * is made inheritable first (Node marks them close-on-exec). Resolves once the exec happened;
   * a failed exec rejects with SyscallError and leaves the child usable.
   * @see https://man7.org/linux/man-pages/man2/execve.2.html
   */
  async execve(
    path: string,
    argv: string[],
    envUpdates: Readonly<Record<string, string>> = {},
    command?: Command,
  ): Promise<AsyncChildProcess> {
    const cmd = command ?? new Command(path, argv, envUpdates);
    const argvList = new ArgList(argv); // checks the strings before anything runs
    // One exec at a time: a second execve queued behind a first that succeeds never runs, and its
    // hang-up would read as its own success.
    if (this.#execing) throw new Error(`exec: ${this} is already exec'ing ${this.#execing}`);
    this.#execing = cmd.executablePath;
    const owned: { free(): void }[] = [];
    try {
      const pathPtr = await this.ram.ptr(stringSerializer, path);
      owned.push(pathPtr);
      const argvPtr = await this.ram.ptr(argvList.getSelfSerializer(this.task), argvList);
      owned.push(argvPtr);
      const { envp, release } = await environmentArgList(this.environ, envUpdates, this.root.ram);
      owned.push({ free: release });
      // Queued right before the execve and not awaited first: they run in the child ahead of it,
      // in the same round trip. A child sharing our fd table (CLONE_FILES) takes a copy first, so
      // that making its stdio inheritable leaves the parent's alone. A closed stdio fd (EBADF) is
      // not an error here.
      const unshared = this.task.fdTable === this.sharedTable ? this.task.unshare(CLONE.FILES) : undefined;
      const stdioInheritable = Promise.all(
        [this.stdin, this.stdout, this.stderr].map((fd) =>
          fd.valid ? fd.fcntl(F.SETFD, 0).catch(() => {}) : undefined,
        ),
      );
      await this.task.execve(pathPtr, argvPtr, envp);
      await Promise.all([unshared?.catch(() => {}), stdioInheritable]);
    } finally {
      // Either the exec failed (the child goes on) or the child is gone: nothing reads these now.
      for (const p of owned) p.free();
      this.#execing = undefined;
    }
    // The process went away under the execve: it exec'd, or it died first (it was killed, say).
    if (this.process.diedBeforeExec()) {
      throw new SyscallHangupError("execve", "died", `the child died before it could exec ${cmd.executablePath}`);
    }
    this.process.didExec(cmd);
    return this.process;
  }

  /**
   * `exit(status)`: ends the child (exit(2) of its only thread). Rejects with SyscallSendError if
   * the child had already exec'd or exited.
   */
  async exit(status = 0): Promise<void> {
    checkInt("status", status);
    await this.task.sysif.syscall(SYS.exit, status).catch((e: unknown) => {
      // The hang-up is the success: the process went away under the call.
      if (!(e instanceof SyscallHangupError)) throw e;
    });
  }

  /** For `await using`: a child that has not exec'd is killed and reaped. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.connection.closed) await this.process[Symbol.asyncDispose]();
  }

  override toString(): string {
    return `ChildThread(${this.task})`;
  }
}

/**
 * What to do once a child exec'd or exited. Made here, apart from the code that built the child,
 * so that the closure holds nothing of that scope: it must not hold the child's task or connection
 * strongly, or a child nobody can reach would never be collected (see `abandoned`).
 */
function whenGone(
  life: Life,
  connection: SyscallConnection,
  memory: ChildMemory,
  passingOurs: FileDescriptor,
  shared: { table: FileDescriptorTable; ends: number[]; theirs: FileDescriptor } | undefined,
) {
  // Weakly: the connection and the child's handles hold its task.
  const weakConnection = new WeakRef(connection);
  const weakTheirs = shared ? new WeakRef(shared.theirs) : undefined;
  const table = shared?.table;
  const ends = shared?.ends ?? [];
  return () => {
    life.gone = true;
    weakConnection.deref()?.hangup("the process exec'd or exited");
    void memory.recycle().catch(() => {});
    // Our end of the fd-passing socket serves only until the child execs or exits; the child's ends
    // in a table it shared with us go at that table's next collection.
    for (const n of ends) table?.releaseKept(n);
    void closeAll([passingOurs, weakTheirs?.deref()]);
  };
}

/** Sends `fds` of `from` over `fromSock` with SCM_RIGHTS; `to` receives them on `toSock`, the other end. */
async function passFds(
  from: Thread,
  fromSock: FileDescriptor,
  to: Thread,
  toSock: FileDescriptor,
  fds: FileDescriptor[],
): Promise<FileDescriptor[]> {
  const data = await from.ptr(new IovecList([await from.ptr(Buffer.from([0]))]));
  const rights = await from.ptr(new CmsgList([new CmsgSCMRights(fds)]));
  const header = await from.ptr(new SendMsghdr(data, rights));
  const [sent] = await fromSock.sendmsg(header);
  for (const p of [...sent, header, rights]) p.free();
  const room = await to.ptr(new IovecList([await to.malloc(Buffer, 1)]));
  const msg = await to.ptr(new RecvMsghdr(room, await to.malloc(CmsgList, 64 + 4 * fds.length)));
  const { control, filled, flags } = await toSock.recvmsg(msg);
  for (const p of [...filled, msg]) p.free();
  const received = (await control!.read()).messages.flatMap((m) => (m instanceof CmsgSCMRights ? m.fds : []));
  if (received.length !== fds.length) {
    for (const fd of received) await fd.close().catch(() => {});
    // The kernel drops the fds it cannot install (a full fd table) and says so with MSG_CTRUNC.
    if (flags & MSG.CTRUNC) throw new SyscallError(ERRNO.EMFILE, "recvmsg", { fd: toSock.near });
    throw new Error(`passing fds: ${received.length} of ${fds.length} arrived`);
  }
  return received as FileDescriptor[];
}

/** Flags Thread.clone takes, beside the ones it sets itself. */
const ALLOWED =
  gen.CLONE.NEWNS |
  gen.CLONE.NEWUTS |
  gen.CLONE.NEWIPC |
  gen.CLONE.NEWUSER |
  gen.CLONE.NEWPID |
  gen.CLONE.NEWNET |
  gen.CLONE.NEWCGROUP |
  gen.CLONE.SYSVSEM |
  gen.CLONE.UNTRACED |
  gen.CLONE.FILES |
  gen.CLONE.IO;

/** Why each other flag is refused: it would break Node, or our bookkeeping of the child. */
const REFUSED: Partial<Record<keyof typeof gen.CLONE, string>> = {
  VM: "it is always set (the child shares our memory)",
  CHILD_CLEARTID: "it is always set (it tells us when the child execs or exits)",
  PIDFD: "the library sets it where it can",
  PARENT: "the library sets it for clones made from a child",
  FS: "a child sharing our memory and fs would move Node's own working directory and root with chdir or chroot",
  SIGHAND: "the child's reset of its signal handlers would wipe Node's own",
  THREAD: "the child would be a thread of Node's, sharing its signal handlers, and could not be waited for",
  VFORK: "Node's main thread would stop until the child execs (Thread.spawn does that for one exec)",
  SETTLS: "the syscall server uses no thread-local storage",
  PARENT_SETTID: "it writes the child's id into memory the library does not track",
  CHILD_SETTID: "it writes the child's id into memory the library does not track",
  DETACHED: "the kernel ignores it",
  PTRACE: "the child would be traced by whatever traces Node",
  NEWTIME: "0x80 is part of clone's exit signal byte; CLONE_NEWTIME is an unshare flag (child.unshare(CLONE.NEWTIME))",
};

/** Throws a TypeError, before any syscall, unless `flags` holds only ALLOWED flags. */
function checkCloneFlags(flags: unknown): number {
  if (typeof flags !== "number" || !Number.isInteger(flags) || flags < -(2 ** 31) || flags > 2 ** 32 - 1) {
    throw new TypeError(`clone: flags must be CLONE flags (an integer of 32 bits), got ${describe(flags)}`);
  }
  const value = flags >>> 0; // CLONE.IO is bit 31: `CLONE.IO | CLONE.NEWNS` is negative
  let refused = (value & ~ALLOWED) >>> 0;
  if (refused === 0) return value;
  const reasons: string[] = [];
  for (const [name, bit] of Object.entries(gen.CLONE)) {
    if (refused & bit) {
      reasons.push(`CLONE.${name}: ${REFUSED[name as keyof typeof gen.CLONE] ?? "not supported"}`);
      refused = (refused & ~bit) >>> 0;
    }
  }
  if (refused & 0xff)
    reasons.push(`0x${(refused & 0xff).toString(16)}: the low byte is the exit signal, which the library sets`);
  if (refused & ~0xff) reasons.push(`0x${((refused & ~0xff) >>> 0).toString(16)}: flags unknown to this library`);
  throw new TypeError(`clone: refused flags: ${reasons.join("; ")}`);
}

/** Serializes clones from one thread: making the socket and cloning must not interleave. */
const cloning = new WeakMap<Thread, Promise<void>>();

Thread.prototype.clone = async function clone(
  this: Thread,
  flags: CLONE = 0 as CLONE,
  options: CloneOptions = {},
): Promise<ChildThread> {
  const checked = checkCloneFlags(flags);
  if (options === null || typeof options !== "object")
    throw new TypeError(`clone: options must be an object, got ${describe(options)}`);
  if (options.writeUserMappings !== undefined && typeof options.writeUserMappings !== "boolean") {
    throw new TypeError(`clone: writeUserMappings must be a boolean, got ${describe(options.writeUserMappings)}`);
  }
  // The parent-death signal belongs to the thread that clones: a child made from a worker thread
  // would die with the worker, not with Node.
  if (!isMainThread) throw new Error("clone: only from Node's main thread (a worker's children would die with it)");
  const previous = cloning.get(this) ?? Promise.resolve();
  const made = previous.then(() => cloneChild(this, checked));
  // Holds no child: the chain must not keep the last child alive.
  cloning.set(
    this,
    made.then(
      () => {},
      () => {},
    ),
  );
  const child = await made;
  if (checked & gen.CLONE.NEWUSER && options.writeUserMappings !== false) {
    try {
      const [uid, gid] = await Promise.all([this.task.getuid(), this.task.getgid()]);
      await writeUserMappings(child, uid, gid);
    } catch (e) {
      await child[Symbol.asyncDispose]().catch(() => {});
      throw e;
    }
  }
  return child;
};

/** The Node process's thread, from which every child is ultimately made. */
function rootOf(thread: Thread): Thread {
  return thread instanceof ChildThread ? thread.root : thread;
}

/** Whether a child exec'd or exited yet (its memory may serve another child after that). */
interface Life {
  gone: boolean;
}

/** Kills a child whose thread, task and connection were all dropped before it exec'd. */
const abandoned = new FinalizationRegistry<{ process: AsyncChildProcess; life: Life }>(({ process, life }) => {
  if (!life.gone) process.kill(SIG.KILL).catch(() => {});
});

/** The links to a new child: its syscall socket and its fd-passing socket, our ends and its ends. */
interface Links {
  ours: FileDescriptor;
  theirs: FileDescriptor;
  passingOurs: FileDescriptor;
  passingTheirs: FileDescriptor;
}

async function makeLinks(parent: Thread, root: Thread, nested: boolean): Promise<Links> {
  // Our ends stay in the Node process; theirs must be in the parent's table when it clones.
  if (nested) {
    const [[ours, theirs], [passingOurs, passingTheirs]] = (await parent.openChannels(2)) as [
      FileDescriptor,
      FileDescriptor,
    ][];
    return { ours: ours!, theirs: theirs!, passingOurs: passingOurs!, passingTheirs: passingTheirs! };
  }
  const link = await root.socketpair(AF.UNIX, SOCK.STREAM);
  try {
    const passing = await root.socketpair(AF.UNIX, SOCK.STREAM);
    return { ours: link.first, theirs: link.second, passingOurs: passing.first, passingTheirs: passing.second };
  } catch (e) {
    await closeAll([link.first, link.second]);
    throw e;
  }
}

async function closeAll(fds: (FileDescriptor | undefined)[]): Promise<void> {
  await Promise.all(fds.map((fd) => (fd?.valid ? fd.invalidate().catch(() => {}) : undefined)));
}

/** A child right after its clone syscall: what it takes to kill and reap it. */
interface Cloned {
  pid: number;
  /** Our pidfd for it, once we have one. */
  pidfd?: FileDescriptor;
  /** For a child of a child in a pid namespace of its own: that parent's pidfd for it. */
  parentPidfd?: FileDescriptor;
}

async function cloneChild(parent: Thread, flags: number): Promise<ChildThread> {
  const root = rootOf(parent);
  const nested = parent !== root;
  if (!(root.task.sysif instanceof LocalSyscall)) throw new Error("clone: the root thread must be the Node process");
  // A parent in a pid namespace of its own cannot use CLONE_PARENT (its init may not), so its
  // children are its own: it reaps them through its connection, and we watch a copy of the pidfd.
  const ownNamespace = nested && parent.task.pidns !== root.task.pidns;
  const sharesFiles = (flags & gen.CLONE.FILES) !== 0;
  const links = await makeLinks(parent, root, nested);
  let memory: ChildMemory;
  try {
    memory = await ChildMemory.take(root.task);
  } catch (e) {
    await closeAll(Object.values(links));
    throw e;
  }
  memory.reset(SERVER_COMM);
  let cloned: Cloned;
  try {
    cloned = await cloneServer(parent, root, flags, links, memory, { nested, ownNamespace, sharesFiles });
  } catch (e) {
    // The clone failed: nothing runs on the memory. Unless the parent, init of a pid namespace of
    // its own, went away under the clone: then a child of its may have been made there, and the
    // kernel tears it down in its own time; its memory is never reused (80 KiB, in this rare case).
    if (!(ownNamespace && e instanceof SyscallHangupError)) await memory.recycle().catch(() => {});
    await closeAll(Object.values(links));
    throw e;
  }
  // From here on a process runs on `memory`: a failure kills and reaps it (and its helper, which
  // also runs there) before the memory goes.
  let proc: AsyncChildProcess | undefined;
  let helper: AsyncChildProcess | undefined;
  try {
    if (ownNamespace)
      [cloned.pidfd] = (await (parent as ChildThread).passToRoot([cloned.parentPidfd!])) as [FileDescriptor];
    else cloned.pidfd ??= await root.task.pidfdOpen(cloned.pid);
    const pidfd = cloned.pidfd!;
    proc = new AsyncChildProcess(cloned.pid, await AsyncFileDescriptor.make(root.epoller, root.ram, pidfd), root.ram, {
      parentPidfd: cloned.parentPidfd,
      server: true,
      // A child of a child in a pid namespace of its own has its pid from that namespace.
      pidIsOurs: !ownNamespace,
    });
    helper = await startHelper(root, memory);
    return await assemble(parent, root, flags, links, memory, proc, helper, sharesFiles);
  } catch (e) {
    await killAndReap(cloned, proc);
    await helper?.[Symbol.asyncDispose]().catch(() => {});
    await memory.recycle().catch(() => {});
    await closeAll(Object.values(links));
    throw e;
  }
}

/** The clone syscall itself, three ways: from the Node process, from a child, from a child that is init of a pid namespace. */
async function cloneServer(
  parent: Thread,
  root: Thread,
  flags: number,
  links: Links,
  memory: ChildMemory,
  how: { nested: boolean; ownNamespace: boolean; sharesFiles: boolean },
): Promise<Cloned> {
  // In a new pid namespace (made by this clone, or by the parent's unshare) the parent is outside
  // it, and getppid says 0. A nested child is made with CLONE_PARENT, so that the Node process is
  // its parent too and can wait for it.
  const newNamespace = flags & gen.CLONE.NEWPID || parent.task.pidnsForChildren !== parent.task.pidns;
  const expectedParent = newNamespace ? 0 : how.ownNamespace ? await parent.task.getpid() : process.pid;
  // The server closes its copy of our end, unless the tables are shared (it is our end then) or
  // our end was never in the parent's table (nested).
  const closeOurs = !how.nested && !how.sharesFiles;
  const serverFlags = closeOurs ? SERVER_FLAGS : SERVER_FLAGS & ~native.serverFlags.CLOSE_FD;
  const theirs = links.theirs.near;
  const sp = memory.mainFrame(native.serverAddress, [
    theirs,
    theirs,
    serverFlags,
    closeOurs ? links.ours.near : -1,
    expectedParent,
    0,
  ]);
  if (how.ownNamespace) {
    const ownFlags = ALWAYS | gen.CLONE.PIDFD | gen.SIG.CHLD | flags;
    const pid = await raw.clone(
      parent.task.sysif,
      ownFlags,
      asAddress(sp),
      asAddress(memory.pidfdOut),
      asAddress(memory.ctid),
      0,
    );
    return { pid, parentPidfd: parent.task.makeFd(asFd(memory.readPidfd())) };
  }
  if (how.nested) {
    // The parent's server reset every handler, so no Node handler can run in the new child. The
    // kernel stores its pid in our memory before the clone returns (CLONE_PARENT_SETTID): if the
    // parent dies before it answers, we still know whether there is a child, ours (CLONE_PARENT)
    // to kill and reap before its memory goes.
    const nestedFlags = ALWAYS | gen.CLONE.PARENT | gen.CLONE.PARENT_SETTID | gen.SIG.CHLD | flags;
    try {
      return {
        pid: await raw.clone(
          parent.task.sysif,
          nestedFlags,
          asAddress(sp),
          asAddress(memory.tidOut),
          asAddress(memory.ctid),
          0,
        ),
      };
    } catch (e) {
      const pid = memory.readTid();
      if (pid > 0) {
        rawSyscall(SYS.kill, pid, SIG.KILL);
        rawSyscall(SYS.waitid, P.PID, pid, 0, W.EXITED, 0);
      }
      throw e;
    }
  }
  // All signals blocked, so no handler of Node's runs in the child before the server resets them;
  // Node's thread named like a server meanwhile, so that the child bears that name from its first
  // instruction (see AsyncChildProcess.diedBeforeExec: it may be killed before the server runs).
  const pid = withSignalsBlocked(memory.masks, () =>
    namedLike(memory.childName, memory.savedName, () =>
      cloneRaw(ALWAYS | gen.CLONE.PIDFD | gen.SIG.CHLD | flags, sp, memory.pidfdOut, memory.ctid),
    ),
  );
  return { pid, pidfd: root.task.makeFd(asFd(memory.readPidfd())) };
}

/** Kills a child that failed to start, and waits until it is reaped. */
async function killAndReap(cloned: Cloned, proc: AsyncChildProcess | undefined): Promise<void> {
  if (proc) {
    await proc[Symbol.asyncDispose]().catch(() => {});
    if (proc.dead) return;
  }
  if (cloned.parentPidfd?.valid) {
    // Its parent is one of our children, in a pid namespace of its own: it kills and reaps.
    const parentPidfd = cloned.parentPidfd;
    await parentPidfd.pidfdSendSignal(SIG.KILL).catch(() => {});
    await parentPidfd.task.sysif.syscall(SYS.waitid, P.PIDFD, parentPidfd.near, 0, W.EXITED, 0).catch(() => {});
    await parentPidfd.invalidate().catch(() => {});
  }
  if (cloned.pidfd?.valid) {
    await killAndReapNow(cloned.pidfd);
  } else if (!cloned.parentPidfd) {
    // Made with CLONE_PARENT and no pidfd yet: it is our unreaped child, so its pid is its own.
    rawSyscall(SYS.kill, cloned.pid, SIG.KILL);
    rawSyscall(SYS.waitid, P.PID, cloned.pid, 0, W.EXITED, 0);
  }
}

/** Builds the ChildThread around a started child, and watches for its exec or exit. */
async function assemble(
  parent: Thread,
  root: Thread,
  flags: number,
  links: Links,
  memory: ChildMemory,
  proc: AsyncChildProcess,
  helper: AsyncChildProcess,
  sharesFiles: boolean,
): Promise<ChildThread> {
  const connection = new SyscallConnection(await root.makeAfd(links.ours, true), root.ram);
  const pid = proc.pid;
  const childTask = new Task(connection, asPid(pid), {
    fdTable: sharesFiles ? parent.task.fdTable : new FileDescriptorTable(pid, parent.task.fdTable),
    addressSpace: root.task.addressSpace,
    pidns: flags & gen.CLONE.NEWPID ? new PidNamespace(pid) : parent.task.pidnsForChildren,
    mountns: flags & gen.CLONE.NEWNS ? new MountNamespace(pid) : parent.task.mountns,
  });
  const childRam = new RAM(childTask, root.ram.gateway, root.ram.allocator);
  const environ = new Environment(childTask, childRam, parent.environ.toObject());
  const stdio = [parent.stdin, parent.stdout, parent.stderr].map((fd) => childTask.inheritFd(fd)) as [
    FileDescriptor,
    FileDescriptor,
    FileDescriptor,
  ];
  const thread = new Thread(childTask, childRam, environ, ...stdio, root.epoller);
  const passing = { ours: links.passingOurs, theirs: childTask.inheritFd(links.passingTheirs) };
  // The child's ends are its own now: the parent's handles go. In a table they share, the child's
  // ends are the same fds: the table keeps them (not the child's task, which may move to a table of
  // its own) until the child is gone, then whichever task of that table collects next closes them.
  const shared = sharesFiles
    ? { table: childTask.fdTable, ends: [links.theirs.near, links.passingTheirs.near], theirs: passing.theirs }
    : undefined;
  if (shared) for (const n of shared.ends) shared.table.keepOpen(n);
  await closeAll([links.theirs, links.passingTheirs]);
  const child = new ChildThread(thread, proc, connection, root, passing, shared?.table);
  const life: Life = { gone: false };
  abandoned.register(connection, { process: proc, life });
  void watchExecOrExit(root, memory, helper, whenGone(life, connection, memory, links.passingOurs, shared));
  return child;
}
