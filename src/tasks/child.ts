// ChildThread: a process made by Thread.clone (src/tasks/clone.ts), which runs the freestanding
// syscall server (native/server.c) on a socket until it execs. See docs/architecture.md.
//
//   const child = await thr.clone();
//   await child.task.getpid();
//   const proc = await child.exec(await child.environ.which("true"));
//   await proc.check();
import { checkInt } from "../args.js";
import { Command } from "../command.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import type { FDTable } from "../far.js";
import { F } from "../fcntl.js";
import { ERRNO } from "../gen/errno.js";
import { SYS } from "../gen/sys.js";
import type { AsyncChildProcess } from "../monitor.js";
import { SyscallError, SyscallHangupError, SyscallSendError } from "../near/errors.js";
import { CLONE } from "../sched.js";
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
import type { FileDescriptor } from "../task.js";
import { checkCount, Thread } from "../thread.js";
import { ArgList } from "../unistd/exec.js";
import type { SyscallConnection } from "./connection.js";
import { environmentArgList } from "./envp.js";

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

/** Closes (or drops, where other handles remain) what it is given, whatever fails. */
export async function closeAll(fds: (FileDescriptor | undefined)[]): Promise<void> {
  await Promise.all(fds.map((fd) => (fd?.valid ? fd.invalidate().catch(() => {}) : undefined)));
}
