// ConnectedThread: a process that runs the syscall server on a link to the Node process, wherever
// it came from: a clone child (ChildThread, src/tasks/child.ts), a process reached through a
// command (src/tasks/stdin-bootstrap.ts), a persistent or a stub process. What they share: the
// SyscallConnection, a second socket for passing fds (absent where the link is not a unix socket
// of ours), channels, and exit.
import { checkInt } from "../args.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import type { FDTable } from "../far.js";
import { ERRNO } from "../gen/errno.js";
import { SYS } from "../gen/sys.js";
import { SyscallError, SyscallHangupError, SyscallSendError } from "../near/errors.js";
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
import type { SyscallConnection } from "./connection.js";

/** A socket pair for passing fds between the Node process and a connected thread. */
export interface Passing {
  /** Our end, in the Node process. */
  ours: FileDescriptor;
  /** The thread's end, in its fd table. */
  theirs: FileDescriptor;
}

/**
 * How the Node process reaches a unix socket on another host: `reach(path)`, a path there, gives a
 * path here that leads to it (through ssh's forwards, hop by hop). A thread on the Node process's
 * own host has none.
 */
export interface HostRoute {
  reach(path: string): Promise<string>;
}

const routes = new WeakMap<Thread, HostRoute>();

/** Internal: says `thread` is on the host `route` leads to (its children and bootstraps are too). */
export function setRoute(thread: Thread, route: HostRoute | undefined): void {
  if (route) routes.set(thread, route);
  else routes.delete(thread);
}

/** Internal: the route to `thread`'s host, if it is not ours. */
export function routeOf(thread: Thread): HostRoute | undefined {
  return routes.get(thread);
}

/** The path, on the Node process's host, that leads to the unix socket `path` on `thread`'s host. */
export function reachFrom(thread: Thread, path: string): Promise<string> {
  return routes.get(thread)?.reach(path) ?? Promise.resolve(path);
}

/** Whether fds can cross between `thread` and the Node process (not so over ssh, or a pipe relay). */
export function canPass(thread: Thread): boolean {
  return !(thread instanceof ConnectedThread) || thread.currentPassing !== undefined;
}

/** A process serving syscalls over a link to the Node process. */
export class ConnectedThread extends Thread {
  #connection: SyscallConnection;

  /** @internal Connected threads come from clone, fork, stdinBootstrap, stubs and ssh. */
  constructor(
    thread: Thread,
    connection: SyscallConnection,
    /** The Node process's thread, at the other end of the link (maybe through other threads). */
    readonly root: Thread,
    /** The fd-passing socket; undefined where the link is a pipe (channels cannot reach it). */
    protected passing: Passing | undefined,
    /** With CLONE_FILES: the table shared with the parent (until the child unshares it). */
    protected readonly sharedTable?: FDTable,
  ) {
    super(thread.task, thread.ram, thread.environ, thread.stdin, thread.stdout, thread.stderr, thread.epoller);
    this.#connection = connection;
  }

  /** The link syscalls travel over. */
  get connection(): SyscallConnection {
    return this.#connection;
  }

  /**
   * Internal: the fd-passing socket as it is now (it changes when a persistent thread reconnects).
   * @internal
   */
  get currentPassing(): Passing | undefined {
    return this.passing;
  }

  /** Internal: the process is reached over a new link now (a persistent thread that reconnected). */
  protected relink(connection: SyscallConnection, passing: Passing | undefined): void {
    this.#connection = connection;
    this.task.sysif = connection;
    this.passing = passing;
  }

  /**
   * `count` connected socket pairs between the Node process and this thread: [our end, its end].
   * Made in the Node process; the thread's ends travel over a socket with SCM_RIGHTS.
   */
  override async openChannels(count: number): Promise<[FileDescriptor, FileDescriptor][]> {
    checkCount(count);
    if (count === 0) return [];
    if (this.connection.closed) throw new SyscallSendError("openChannels", "the process exec'd or exited");
    const passing = this.#passing("openChannels");
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
        passing.ours,
        this,
        passing.theirs,
        pairs.map((p) => p.second),
      );
    } catch (e) {
      await closePairs();
      throw e;
    }
    for (const p of pairs) await p.second.close();
    return pairs.map((p, i) => [p.first, received[i] as FileDescriptor]);
  }

  /** Copies of this thread's `fds` in the Node process (sent with SCM_RIGHTS). */
  passToRoot(fds: FileDescriptor[]): Promise<FileDescriptor[]> {
    const passing = this.#passing("passToRoot");
    return passFds(this, passing.theirs, this.root, passing.ours, fds);
  }

  /** Copies of the Node process's `fds` in this thread (sent with SCM_RIGHTS). */
  passFromRoot(fds: FileDescriptor[]): Promise<FileDescriptor[]> {
    const passing = this.#passing("passFromRoot");
    return passFds(this.root, passing.ours, this, passing.theirs, fds);
  }

  #passing(what: string): Passing {
    if (!this.passing) {
      throw new Error(
        `${what}: ${this} is linked to us by pipes, not by a unix socket of ours, so fds cannot be passed to or from it`,
      );
    }
    return this.passing;
  }

  protected override localAfd(fd: FileDescriptor): Promise<AsyncFileDescriptor> {
    return this.root.makeAfd(fd, true);
  }

  /**
   * `void _exit(int status)`, as `exit(status)`: ends the process (exit(2) of its only thread).
   * Rejects with SyscallSendError if it had already exec'd or exited.
   * @see https://man7.org/linux/man-pages/man2/_exit.2.html
   */
  async exit(status = 0): Promise<void> {
    checkInt("status", status);
    const exited = this.task.sysif.syscall(SYS.exit, status);
    if (this.task.sysif === this.connection) this.connection.finish();
    await exited.catch((e: unknown) => {
      // The hang-up is the success: the process went away under the call.
      if (!(e instanceof SyscallHangupError)) throw e;
    });
  }

  /** For messages: the class and the task, `ChildThread(Task(pid 1234))`. */
  override toString(): string {
    return `${this.constructor.name}(${this.task})`;
  }
}

/** The Node process's thread, at the root of `thread`'s links. */
export function rootOf(thread: Thread): Thread {
  return thread instanceof ConnectedThread ? thread.root : thread;
}

/** Sends `fds` of `from` over `sock` with SCM_RIGHTS, with one byte of data. */
export async function sendFds(from: Thread, sock: FileDescriptor, fds: FileDescriptor[]): Promise<void> {
  await (await rightsSender(from, fds))(sock);
}

/**
 * The message that carries `fds`, written in `from`'s memory now, and what sends it (once) over a
 * socket later: for a caller that must not allocate at the moment it sends.
 */
async function rightsSender(from: Thread, fds: FileDescriptor[]): Promise<(sock: FileDescriptor) => Promise<void>> {
  const data = await from.ptr(new IovecList([await from.ptr(Buffer.from([0]))]));
  const rights = await from.ptr(new CmsgList([new CmsgSCMRights(fds)]));
  const header = await from.ptr(new SendMsghdr(data, rights));
  return async (sock) => {
    const [sent] = await sock.sendmsg(header);
    for (const p of [...sent, header, rights]) p.free();
  };
}

/** The lock of each fd-passing socket pair (both ends map to it): one passing at a time per pair. */
const pairLocks = new WeakMap<FileDescriptor, { tail: Promise<unknown> }>();

/**
 * Sends `fds` of `from` over `fromSock` with SCM_RIGHTS; `to` receives them on `toSock`, the other
 * end. Passings over one pair run one after another, so that a receive takes its own message; the
 * memory they need is found first, outside that turn (finding it may itself pass fds over the
 * pair: a window for a thread's allocator, src/tasks/window.ts).
 */
export async function passFds(
  from: Thread,
  fromSock: FileDescriptor,
  to: Thread,
  toSock: FileDescriptor,
  fds: FileDescriptor[],
): Promise<FileDescriptor[]> {
  const send = await rightsSender(from, fds);
  const room = await to.ptr(new IovecList([await to.malloc(Buffer, 1)]));
  const msg = await to.ptr(new RecvMsghdr(room, await to.malloc(CmsgList, 64 + 4 * fds.length)));
  const lock = pairLocks.get(fromSock) ?? pairLocks.get(toSock) ?? { tail: Promise.resolve() };
  pairLocks.set(fromSock, lock);
  pairLocks.set(toSock, lock);
  const turn = lock.tail.then(async () => {
    await send(fromSock);
    return toSock.recvmsg(msg);
  });
  // Holding nothing of this passing: the lock lives as long as the sockets, and must not keep a
  // thread alive (a dropped child is only killed once nothing reaches its connection).
  lock.tail = turn.then(
    () => {},
    () => {},
  );
  const { control, filled, flags } = await turn;
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
