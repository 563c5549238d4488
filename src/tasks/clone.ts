// Child threads: processes made with clone(CLONE_VM) that run the freestanding syscall server
// (native/server.c) on a socket until they exec. See ../shared/DESIGN.md section 4.
//
//   const child = await thr.clone();
//   await child.task.getpid();
//   const proc = await child.exec(await child.environ.which("true"));
//   await proc.check();
//
// How a child starts: we write a frame [trampoline, six arguments, server] at the top of a stack
// in our arenas and call clone with CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_PIDFD. The child
// returns from the raw syscall entry onto that stack, its `ret` pops the trampoline, and the
// trampoline calls the server, which resets signal dispositions and the mask, arms the
// parent-death signal, closes its copy of our end of the socket and serves. All signals are blocked
// around the clone, so no Node handler can run in the child before that reset.
//
// How we learn it exec'd or exited: the kernel clears the CLONE_CHILD_CLEARTID word then. A second
// tiny CLONE_VM child (the futex helper) waits on that word and exits; its pidfd, in the epoller,
// tells us, and the connection hangs up. EOF on the socket is not enough: a grandchild or sibling
// holding a copy of the child's end keeps the socket open.
import { isMainThread } from "node:worker_threads";
import { Command } from "../command.js";
import { Environment } from "../environ.js";
import { AsyncFileDescriptor } from "../epoller.js";
import { MountNamespace, PidNamespace } from "../far.js";
import { F } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { SYS } from "../gen/sys.js";
import { FileDescriptorTable } from "../handle/fd.js";
import { RAM } from "../memory/ram.js";
import { AsyncChildProcess } from "../monitor.js";
import { native } from "../native.js";
import { asAddress, asFd, asPid } from "../near/ids.js";
import { LocalSyscall } from "../near/local.js";
import * as raw from "../near/syscalls.js";
import { CLONE } from "../sched.js";
import { bytesSerializer, Int32, stringSerializer } from "../struct.js";
import { AF, CmsgList, CmsgSCMRights, RecvMsghdr, SendMsghdr, SOCK } from "../sys/socket/index.js";
import { IovecList } from "../sys/uio.js";
import { W } from "../sys/wait.js";
import { type FileDescriptor, Task } from "../task.js";
import { checkCount, Thread, writeUserMappings } from "../thread.js";
import { ArgList } from "../unistd/exec.js";
import { SyscallConnection } from "./connection.js";
import { environmentArgList } from "./envp.js";
import { cloneRaw, STACK_SIZE, withSignalsBlocked, writeFrame } from "./frame.js";

const HELPER_STACK_SIZE = 4096;
const ALWAYS = gen.CLONE.VM | gen.CLONE.CHILD_CLEARTID | gen.CLONE.PIDFD;
const SERVER_FLAGS = Object.values(native.serverFlags).reduce((a, b) => a | b, 0);

declare module "../thread.js" {
  interface Thread {
    /**
     * `clone(flags | CLONE_VM | CLONE_CHILD_CLEARTID | CLONE_PIDFD | SIGCHLD)`: a child process that
     * runs syscalls for us until it execs. Its fd table is a copy of this thread's (claim fds with
     * `child.inheritFd`); it shares our memory.
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
  constructor(
    thread: Thread,
    /** The child, for waiting and signalling. */
    readonly process: AsyncChildProcess,
    readonly connection: SyscallConnection,
    /** The Node process's thread, which made this child (maybe through other children). */
    readonly root: Thread,
    /** A socket pair for passing fds: our end, and the child's. */
    private readonly passing: { ours: FileDescriptor; theirs: FileDescriptor },
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
    const pairs = [];
    for (let i = 0; i < count; i++) pairs.push(await this.root.socketpair(AF.UNIX, SOCK.STREAM));
    const received = await passFds(
      this.root,
      this.passing.ours,
      this,
      this.passing.theirs,
      pairs.map((p) => p.second),
    );
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
    const owned: { free(): void }[] = [];
    try {
      const pathPtr = await this.ram.ptr(stringSerializer, path);
      owned.push(pathPtr);
      const argvPtr = await this.ram.ptr(argvList.getSelfSerializer(this.task), argvList);
      owned.push(argvPtr);
      const { envp, release } = await environmentArgList(this, envUpdates);
      owned.push({ free: release });
      // Queued right before the execve and not awaited first: they run in the child ahead of it,
      // in the same round trip. A closed stdio fd (EBADF) is not an error here.
      const stdioInheritable = Promise.all(
        [this.stdin, this.stdout, this.stderr].map((fd) =>
          fd.valid ? fd.fcntl(F.SETFD, 0).catch(() => {}) : undefined,
        ),
      );
      await this.task.execve(pathPtr, argvPtr, envp);
      await stdioInheritable;
    } finally {
      // Either the exec failed (the child goes on) or the child is gone: nothing reads these now.
      for (const p of owned) p.free();
    }
    this.process.didExec(cmd);
    return this.process;
  }

  /** `exit(status)`: ends the child (exit(2) of its only thread). */
  async exit(status = 0): Promise<void> {
    await this.task.sysif.syscall(SYS.exit, status).catch((e: unknown) => {
      if (!this.connection.closed) throw e;
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
  const { control, filled } = await toSock.recvmsg(msg);
  for (const p of [...filled, msg]) p.free();
  const received = (await control!.read()).messages.flatMap((m) => (m instanceof CmsgSCMRights ? m.fds : []));
  if (received.length !== fds.length) throw new Error(`passing fds: ${received.length} of ${fds.length} arrived`);
  return received as FileDescriptor[];
}

/** Serializes clones from one thread: making the socket and cloning must not interleave. */
const cloning = new WeakMap<Thread, Promise<unknown>>();

Thread.prototype.clone = async function clone(
  this: Thread,
  flags: CLONE = 0 as CLONE,
  options: CloneOptions = {},
): Promise<ChildThread> {
  const previous = cloning.get(this) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(() => cloneChild(this, flags));
  cloning.set(this, next);
  const child = await next;
  if (flags & CLONE.NEWUSER && options.writeUserMappings !== false) {
    const [uid, gid] = await Promise.all([this.task.getuid(), this.task.getgid()]);
    await writeUserMappings(child, uid, gid);
  }
  return child;
};

/** The Node process's thread, from which every child is ultimately made. */
function rootOf(thread: Thread): Thread {
  return thread instanceof ChildThread ? thread.root : thread;
}

async function cloneChild(parent: Thread, flags: CLONE): Promise<ChildThread> {
  if (typeof flags !== "number" || flags & (ALWAYS | gen.CLONE.PARENT)) {
    throw new TypeError(`clone: bad flags ${CLONE.describe(flags)}`);
  }
  // The parent-death signal belongs to the thread that clones: a child made from a worker thread
  // would die with the worker, not with Node.
  if (!isMainThread) throw new Error("clone: only from Node's main thread (a worker's children would die with it)");
  const root = rootOf(parent);
  const nested = parent !== root;
  if (!(root.task.sysif instanceof LocalSyscall)) throw new Error("clone: the root thread must be the Node process");
  // A parent in a pid namespace of its own cannot use CLONE_PARENT (its init may not), so its
  // children are its own: it reaps them through its connection, and we watch a copy of the pidfd.
  const ownNamespace = nested && parent.task.pidns !== root.task.pidns;
  // Our ends stay in the Node process; theirs must be in the parent's table when it clones.
  const [[ours, theirs], [passingOurs, passingTheirs]] = nested
    ? ((await parent.openChannels(2)) as [FileDescriptor, FileDescriptor][])
    : await Promise.all(
        [0, 1].map(async () => {
          const pair = await root.socketpair(AF.UNIX, SOCK.STREAM);
          return [pair.first, pair.second] as [FileDescriptor, FileDescriptor];
        }),
      );
  const ram = root.ram;
  const stack = await ram.malloc(bytesSerializer, STACK_SIZE);
  const helperStack = await ram.malloc(bytesSerializer, HELPER_STACK_SIZE);
  const ctid = await ram.ptr(Int32.getSerializer(), new Int32(1));
  const pidfdOut = await ram.malloc(Int32.getSerializer(), Int32.sizeof);
  const helperPidfdOut = await ram.malloc(Int32.getSerializer(), Int32.sizeof);
  const masks = await ram.ptr(bytesSerializer, Buffer.alloc(16, 0xff));
  const release = () => {
    for (const p of [stack, helperStack, ctid, pidfdOut, helperPidfdOut, masks]) p.free();
  };
  let pid: number;
  let helperPid: number;
  let pidfd: FileDescriptor;
  let parentPidfd: FileDescriptor | undefined;
  try {
    // In a new pid namespace the parent is outside it, and getppid says 0. A nested child is
    // made with CLONE_PARENT, so that the Node process is its parent too and can wait for it.
    const expectedParent = flags & CLONE.NEWPID ? 0 : ownNamespace ? await parent.task.getpid() : process.pid;
    const serverFlags = nested ? SERVER_FLAGS & ~native.serverFlags.CLOSE_FD : SERVER_FLAGS;
    const serverArgs = [theirs!.near, theirs!.near, serverFlags, nested ? -1 : ours!.near, expectedParent, 0];
    const sp = writeFrame(stack, native.serverAddress, serverArgs);
    const helperSp = writeFrame(helperStack, native.futexHelperAddress, [ctid.near, 1, process.pid, 0, 0, 0]);
    // The helper shares our fd table, so it holds no copies of our fds.
    const helperFlags = gen.CLONE.VM | gen.CLONE.FILES | gen.CLONE.PIDFD | gen.SIG.CHLD;
    if (ownNamespace) {
      const ownFlags = gen.CLONE.VM | gen.CLONE.CHILD_CLEARTID | gen.CLONE.PIDFD | gen.SIG.CHLD | flags;
      pid = await raw.clone(
        parent.task.sysif,
        ownFlags,
        asAddress(sp),
        pidfdOut.borrow(parent.task),
        ctid.borrow(parent.task),
        0,
      );
      parentPidfd = parent.task.makeFd(asFd((await pidfdOut.read()).value));
      [pidfd] = (await (parent as ChildThread).passToRoot([parentPidfd])) as [FileDescriptor];
      helperPid = withSignalsBlocked(masks.near, () => cloneRaw(helperFlags, helperSp, helperPidfdOut.near, 0));
    } else if (nested) {
      // The parent's server reset every handler, so no Node handler can run in the new child.
      const nestedFlags = gen.CLONE.VM | gen.CLONE.CHILD_CLEARTID | gen.CLONE.PARENT | gen.SIG.CHLD | flags;
      pid = await raw.clone(parent.task.sysif, nestedFlags, asAddress(sp), 0, ctid.borrow(parent.task), 0);
      pidfd = await root.task.pidfdOpen(pid);
      helperPid = withSignalsBlocked(masks.near, () => cloneRaw(helperFlags, helperSp, helperPidfdOut.near, 0));
    } else {
      [pid, helperPid] = withSignalsBlocked(masks.near, () => [
        cloneRaw(ALWAYS | gen.SIG.CHLD | flags, sp, pidfdOut.near, ctid.near),
        cloneRaw(helperFlags, helperSp, helperPidfdOut.near, 0),
      ]);
      pidfd = root.task.makeFd(asFd((await pidfdOut.read()).value));
    }
  } catch (e) {
    release();
    await Promise.all([ours!, theirs!, passingOurs!, passingTheirs!].map((fd) => fd.close().catch(() => {})));
    throw e;
  }
  const helperPidfd = root.task.makeFd(asFd((await helperPidfdOut.read()).value));

  const connection = new SyscallConnection(await root.makeAfd(ours!, true), ram);
  const childTask = new Task(connection, asPid(pid), {
    fdTable: new FileDescriptorTable(pid, parent.task.fdTable),
    addressSpace: root.task.addressSpace,
    pidns: flags & CLONE.NEWPID ? new PidNamespace(pid) : parent.task.pidns,
    mountns: flags & CLONE.NEWNS ? new MountNamespace(pid) : parent.task.mountns,
  });
  const childRam = new RAM(childTask, ram.gateway, ram.allocator);
  const proc = new AsyncChildProcess(pid, await AsyncFileDescriptor.make(root.epoller, ram, pidfd), ram, parentPidfd);
  // When the helper exits, the child exec'd or exited: hang up, reap the helper, free the stacks.
  const cleanup = () => {
    release();
    // Our end of the fd-passing socket serves only until the child execs or exits.
    if (passingOurs!.valid) passingOurs!.close().catch(() => {});
  };
  void watchHelper(await AsyncFileDescriptor.make(root.epoller, ram, helperPidfd), helperPid, connection, cleanup);

  const environ = new Environment(childTask, childRam, parent.environ.toObject());
  const stdio = [parent.stdin, parent.stdout, parent.stderr].map((fd) => childTask.inheritFd(fd)) as [
    FileDescriptor,
    FileDescriptor,
    FileDescriptor,
  ];
  const thread = new Thread(childTask, childRam, environ, ...stdio, root.epoller);
  const passing = { ours: passingOurs!, theirs: childTask.inheritFd(passingTheirs!) };
  // The parent's copies of the child's ends: the child has its own now.
  await Promise.all([theirs!.close(), passingTheirs!.close()]);
  return new ChildThread(thread, proc, connection, root, passing);
}

async function watchHelper(
  helper: AsyncFileDescriptor,
  helperPid: number,
  connection: SyscallConnection,
  release: () => void,
) {
  const helperProcess = new AsyncChildProcess(helperPid, helper, helper.ram);
  try {
    // Bookkeeping only: an idle child does not hold Node open (it dies with Node anyway).
    await helperProcess.waitpid(W.EXITED, { keepAlive: false });
  } catch {
    // Nobody awaits this: if the helper cannot be waited for (its pidfd was closed under us),
    // treat the child as gone rather than leave the connection open forever.
  } finally {
    connection.hangup("the process exec'd or exited");
    release();
  }
}
