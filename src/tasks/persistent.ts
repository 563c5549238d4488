/**
 * Persistent threads: a process running the rsyscall-server program that listens on a unix socket,
 * so that it can outlive the Node process that made it and be reattached to, from that process or
 * from another.
 *
 * ```js
 * import { clonePersistent, PersistentThread } from "rsyscall/tasks/persistent";
 * const per = await clonePersistent(thr, "/run/user/1000/worker.sock");
 * await per.makePersistent();          // no parent-death signal, a session of its own, stdio on /dev/null
 * // ... Node exits, or is SIGKILLed; later, from any Node process:
 * const again = await PersistentThread.connect(thr, "/run/user/1000/worker.sock");
 * ```
 *
 * The server is a process of its own (the program exec'd from a clone), never a CLONE_VM child of
 * Node: that would keep Node's whole memory alive after Node died. When its link ends it goes back
 * to accept on its socket, and takes the next connection from its own user or root (SO_PEERCRED)
 * as its new link. Who can reach the socket can drive the server: its directory must be ours and
 * closed to everyone else (mode 0700), which clonePersistent checks before making anything.
 *
 * A new client knows the process, its environment and its entry points, and nothing of what an
 * earlier client held: the fds and memory it made are still there, unknown (numbers it kept
 * elsewhere can be named with `task.fdAt`). A call outstanding when a link breaks rejects with
 * SyscallHangupError (it may have run); calls made while disconnected reject with SyscallSendError
 * until `reconnect`.
 *
 * @module rsyscall/tasks/persistent
 */
import { dirname } from "node:path";
import { describe } from "../args.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import { O } from "../fcntl.js";
import type { AsyncChildProcess } from "../monitor.js";
import { serverProgramPath } from "../native.js";
import { asFd } from "../near/ids.js";
import { PR } from "../sys/prctl.js";
import { AF, SOCK } from "../sys/socket/index.js";
import { S_IF, Stat } from "../sys/stat.js";
import { SockaddrUn } from "../sys/un.js";
import type { FileDescriptor } from "../task.js";
import type { Thread } from "../thread.js";
import { ConnectedThread, canPass, closeAll, type Passing, reachFrom, rootOf, routeOf, setRoute } from "./connected.js";
import type { SyscallConnection } from "./connection.js";
import { entriesOf, localEntries } from "./entries.js";
import { type AttachOptions, attachProgram, ByteReader, fileIdentity, openLink, readHello } from "./program.js";

/**
 * A thread in a persistent server process, reachable through the unix socket at `path`.
 * @example
 * ```js
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { localThread as thr } from "rsyscall";
 * import { O } from "rsyscall/fcntl";
 * import { clonePersistent } from "rsyscall/tasks/persistent";
 *
 * const worker = await clonePersistent(thr, join(mkdtempSync(join(tmpdir(), "worker-")), "sock"));
 * const fd = await worker.task.open(await worker.ptr("/dev/null"), O.RDONLY);
 * worker.disconnect(); // calls made now reject with SyscallSendError
 * await worker.reconnect(); // the same thread again, its fds as they were
 * await fd.close();
 * await worker.exit(0);
 * ```
 */
export class PersistentThread extends ConnectedThread {
  /** The server process, when this Node process made it (clonePersistent). */
  process: AsyncChildProcess | undefined;
  /** Unmaps our side of its memory windows: once its link breaks other than by disconnect. */
  #releaseWindows: (() => void) | undefined;
  /** The current link was dropped on purpose (disconnect): its windows wait for a reconnect. */
  #disconnected = false;

  /**
   * Internal: watch `connection` (the current link) for a break that ends the windows' use.
   * @internal
   */
  watchLink(connection: SyscallConnection, releaseWindows: (() => void) | undefined): void {
    this.#releaseWindows = releaseWindows ?? this.#releaseWindows;
    const weak = new WeakRef(this);
    void connection.hungUp.then(() => {
      const per = weak.deref();
      if (per && per.connection === connection && !per.#disconnected) per.#releaseWindows?.();
    });
  }

  /** @internal Persistent threads come from `clonePersistent` and `PersistentThread.connect`. */
  constructor(
    thread: Thread,
    connection: SyscallConnection,
    root: Thread,
    passing: Passing | undefined,
    /** Where it listens for new links. */
    readonly path: string,
  ) {
    super(thread, connection, root, passing);
  }

  /**
   * Attaches to the persistent server listening at `path` (connecting from the Node process, in its
   * mount namespace), as a new client: see the module's comment for what it does not know.
   */
  static async connect(thread: Thread, path: string): Promise<PersistentThread> {
    checkPath(path);
    const root = rootOf(thread);
    const { link, reader, hello, theirEnd } = await dial(thread, path);
    try {
      const { thread: per, releaseWindows } = await attachProgram(
        root,
        { link, reader, hello, theirEnd },
        (t, connection, r, passing) => new PersistentThread(t, connection, r, passing, path),
        true,
      );
      setRoute(per, routeOf(thread));
      per.watchLink(per.connection, releaseWindows);
      return per;
    } catch (e) {
      await link.close().catch(() => {});
      throw e;
    }
  }

  /**
   * Makes the server independent of the Node process: no parent-death signal, a session of its
   * own (no terminal's signals), and fds 0-2 on /dev/null (as daemon(3) does: it must not hold a
   * pipe someone waits to see closed). From now on it outlives Node; end it with `exit`.
   */
  async makePersistent(): Promise<void> {
    const task = this.task;
    await task.prctl(PR.SET_PDEATHSIG, 0);
    await task.setsid().catch((e: unknown) => {
      // Already a session leader (made persistent before): nothing to do.
      if (!(e instanceof Error && "code" in e && e.code === "EPERM")) throw e;
    });
    const nul = await task.open(await this.ptr("/dev/null"), O.RDWR);
    for (const fd of [this.stdin, this.stdout, this.stderr]) await nul.dup2(fd);
    await nul.close();
  }

  /**
   * Drops the current link (calls outstanding on it reject with SyscallHangupError; later ones
   * with SyscallSendError): the server goes back to waiting for a connection.
   */
  disconnect(): void {
    this.#disconnected = true;
    this.connection.hangup("disconnected");
  }

  /**
   * Makes a new link to the server (dropping the current one if it is still up), through which
   * this same thread goes on: its fds and memory are as they were. AsyncFileDescriptors made
   * before end with the old link; make them again. The socket is reached from `thread`'s host: a
   * thread on the server's host (over a new ssh, for a remote one whose ssh went away), or by
   * default the way it was reached before.
   */
  async reconnect(thread: Thread = this): Promise<void> {
    const root = rootOf(thread);
    if (!this.connection.closed) this.disconnect();
    const stalePassing = this.passing;
    const { link, reader, hello, theirEnd } = await dial(thread, this.path);
    try {
      if (hello.pid !== this.task.pid) {
        throw new Error(`reconnect: ${this.path} now leads to process ${hello.pid}, not ${this.task.pid}`);
      }
      const { connection, passingOurs, gifts } = await openLink(root, { link, reader, hello, theirEnd });
      const passing = passingOurs ? { ours: passingOurs, theirs: this.task.makeFd(asFd(gifts[0]!)) } : undefined;
      this.relink(connection, passing);
      if (thread !== this) setRoute(this, routeOf(thread));
      this.#disconnected = false;
      this.watchLink(connection, undefined);
    } catch (e) {
      await link.close().catch(() => {});
      throw e;
    }
    // The old fd-passing socket's end in the server is known to us: it goes.
    if (stalePassing?.theirs.valid) await stalePassing.theirs.close().catch(() => {});
  }
}

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== "string" || path.length === 0 || path.includes("\0")) {
    throw new TypeError(`persistent: path must be a non-empty string without NUL, got ${describe(path)}`);
  }
}

/**
 * Connects from the Node process to `path` on `thread`'s host (through ssh's forwards to a remote
 * one) and reads the server's hello. Fds can cross the link only when it is our own connection to
 * the server's socket.
 */
async function dial(thread: Thread, path: string) {
  const root = rootOf(thread);
  const reached = await reachFrom(thread, path);
  const sock = await root.socket(AF.UNIX, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK));
  let link: AsyncFileDescriptor | undefined;
  try {
    link = await root.makeAfd(sock);
    await link.connect(await root.ptr(new SockaddrUn(reached)));
    const reader = new ByteReader(link);
    const hello = await readHello(reader).catch((e: unknown) => {
      throw new Error(
        `persistent: ${path} accepted the connection but said no hello (is it ours, and are we its user?): ${(e as Error).message}`,
      );
    });
    const theirEnd: AttachOptions["theirEnd"] = routeOf(thread) ? undefined : "direct";
    return { link, reader, hello, theirEnd };
  } catch (e) {
    if (link) await link.close().catch(() => {});
    else await sock.close().catch(() => {});
    throw e;
  }
}

/**
 * Refuses a socket path whose directory others could enter: whoever connects first gets the
 * server. The directory, as `thread` sees it, must be owned by `uid` and closed to group and others.
 */
async function checkPrivateDirectory(thread: Thread, path: string, uid: number): Promise<void> {
  const dir = dirname(path);
  const buf = await thread.malloc(Stat);
  try {
    const fd = await thread.task.open(await thread.ptr(dir), O.of(O.PATH, O.NOFOLLOW, O.CLOEXEC));
    const st = await (await fd.fstat(buf).finally(() => fd.close())).read();
    const isDirectory = st.type === S_IF.DIR;
    if (!isDirectory || st.uid !== uid || (st.mode & 0o077) !== 0) {
      throw new Error(
        `clonePersistent: ${dir} must be a directory owned by uid ${uid} with mode 0700 (it is ${isDirectory ? `owned by ${st.uid}, mode 0${(st.mode & 0o777).toString(8)}` : "not a directory"}): whoever can reach the socket can drive the server`,
      );
    }
  } finally {
    buf.free();
  }
}

/** The server program as `thread` can exec it: our file, or, in a process running it already (a remote host's), its own. */
function serverProgramFor(thread: Thread): string {
  return entriesOf(thread.task.addressSpace) === localEntries ? serverProgramPath : "/proc/self/exe";
}

/**
 * Starts a persistent server from `thread`: the rsyscall-server program, exec'd in a child of
 * `thread`, listening on a new unix socket at `path` (in a directory of ours closed to others,
 * checked first). Returns a thread in it, linked to us; it dies with `thread` until
 * `makePersistent`.
 * @example
 * ```js
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { localThread as thr } from "rsyscall";
 * import { clonePersistent, PersistentThread } from "rsyscall/tasks/persistent";
 *
 * const path = join(mkdtempSync(join(tmpdir(), "worker-")), "sock"); // mkdtemp: mode 0700, ours
 * const worker = await clonePersistent(thr, path);
 * await worker.makePersistent(); // now it would outlive this Node process
 * const pid = await worker.task.getpid();
 * worker.disconnect();
 * // Later, from this Node process or another one of the same user:
 * const again = await PersistentThread.connect(thr, path);
 * console.log((await again.task.getpid()) === pid); // true: the same process
 * await again.exit(0);
 * ```
 */
export async function clonePersistent(thread: Thread, path: string): Promise<PersistentThread> {
  checkPath(path);
  const root = rootOf(thread);
  await checkPrivateDirectory(thread, path, await thread.task.getuid());
  const listening = await thread.socket(AF.UNIX, SOCK.STREAM);
  const [[linkOurs, linkTheirs]] = (await thread.openChannels(1)) as [[FileDescriptor, FileDescriptor]];
  const child = await thread.clone().catch(async (e: unknown) => {
    await closeAll([listening, linkOurs, linkTheirs]);
    throw e;
  });
  let proc: AsyncChildProcess | undefined;
  try {
    await listening.bind(await thread.ptr(new SockaddrUn(path)));
    await listening.listen(16);
    // Fds cross only a link that is a socket pair of ours (a remote thread's channels are not).
    const theirEnd = canPass(thread) ? await fileIdentity(thread, linkTheirs) : undefined;
    const link = child.inheritFd(linkTheirs);
    const listen = child.inheritFd(listening);
    await closeAll([linkTheirs, listening]);
    const argv = ["rsyscall-server", "--link-fd", String(link.near), "--listen-fd", String(listen.near)];
    for (const fd of [link, listen]) await fd.disableCloexec();
    proc = await child.execv(serverProgramFor(thread), argv);
    const linkAfd = await root.makeAfd(linkOurs, true);
    const reader = new ByteReader(linkAfd);
    const hello = await readHello(reader);
    const { thread: per, releaseWindows } = await attachProgram(
      root,
      { link: linkAfd, reader, hello, theirEnd },
      (t, connection, r, passing) => new PersistentThread(t, connection, r, passing, path),
      true,
    );
    setRoute(per, routeOf(thread));
    per.watchLink(per.connection, releaseWindows);
    per.process = proc;
    return per;
  } catch (e) {
    if (proc) await proc[Symbol.asyncDispose]().catch(() => {});
    else await child[Symbol.asyncDispose]().catch(() => {});
    await closeAll([listening, linkOurs, linkTheirs]);
    throw e;
  }
}
