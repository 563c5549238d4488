// Thread: everything needed to work with one process (its Task, memory, environment, stdio),
// with helpers for the common patterns.
//
//   import { localThread as thr } from "rsyscall";
//   const { read, write } = await thr.pipe();
//   await thr.spit("/tmp/x", "text");
import { checkChunkSize, checkFd, describe } from "./args.js";
import type { Environment } from "./environ.js";
import { AsyncFileDescriptor, type Epoller, setNonblock as setNonblockFlag } from "./epoller.js";
import { F, O } from "./fcntl.js";
import { GidList } from "./grp.js";
import type { Pointer, WrittenPointer } from "./handle/pointer.js";
import { CLOSE_RANGE } from "./linux/close_range.js";
import type { RAM } from "./memory/ram.js";
import { CLONE } from "./sched.js";
import { type FixedSizeClass, type SerializableClass, serializerOf, serializerOfClass, sizeofClass } from "./struct.js";
import { MNT, type MS } from "./sys/mount.js";
import { AF, type CmsgList, SOCK, type Sockaddr, Sockbuf, Socketpair } from "./sys/socket/index.js";
import type { FileDescriptor, Task } from "./task.js";
import { Pipe, UTS_NAME_MAX } from "./unistd/index.js";

/**
 * Everything needed to work with one process: its Task (every syscall), its memory, environment,
 * stdio and epoller, with helpers for what is done often (allocating, pipes, sockets, children).
 * `localThread` is the Node process; the others come from `clone`, `fork`, `stdinBootstrap`, stubs,
 * persistent servers and ssh, and are used the same way.
 * @example
 * ```js
 * import { localThread as thr } from "rsyscall";
 * import { CLONE } from "rsyscall/sched";
 *
 * const child = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWPID));
 * // The same calls, made in the Node process and in the child (pid 1 of its own namespace).
 * console.log(await thr.task.getpid(), await child.task.getpid()); // process.pid, 1
 * await child.exit(0);
 * ```
 */
export class Thread {
  /** @internal Threads come from `localThread`, `clone`, `fork` and the other ways to reach a process. */
  constructor(
    /** The Task: every syscall of this process is a method on it. */
    readonly task: Task,
    /** Allocation and memory access in this process. */
    readonly ram: RAM,
    /** This process's environment variables. */
    readonly environ: Environment,
    /** fd 0. */
    readonly stdin: FileDescriptor,
    /** fd 1. */
    readonly stdout: FileDescriptor,
    /** fd 2. */
    readonly stderr: FileDescriptor,
    /** The epoll loop AsyncFileDescriptors of this thread wait in. */
    readonly epoller: Epoller,
  ) {
    epoller.servesThread();
  }

  /**
   * Makes an AsyncFileDescriptor of `fd`, registered with this thread's epoller. The fd must be
   * O_NONBLOCK (checked: a blocking read would stall its whole process, and a remote one for good);
   * pass `setNonblock` true to have that set first.
   * @example
   * ```js
   * import { localThread as thr } from "rsyscall";
   *
   * const { read, write } = await thr.pipe();
   * const afd = await thr.makeAfd(read, true); // true: set O_NONBLOCK first
   * const reading = afd.readToEof(); // waits in the event loop, not in read(2)
   * await thr.spit(write, "written later"); // writes, then closes the write end
   * console.log((await reading).toString()); // "written later"
   * await afd.close();
   * ```
   */
  async makeAfd(fd: FileDescriptor, setNonblock = false): Promise<AsyncFileDescriptor> {
    checkFd("fd", fd);
    if (setNonblock) await setNonblockFlag(fd);
    else if (!((await fd.fcntl(F.GETFL)) & O.NONBLOCK)) {
      throw new TypeError(`makeAfd: ${fd} is not O_NONBLOCK; its reads and writes would block (pass setNonblock true)`);
    }
    return AsyncFileDescriptor.make(this.epoller, this.ram, fd);
  }

  /**
   * Allocates memory for a type: `malloc(Int32)` for a fixed-size type, `malloc(Buffer, n)`,
   * `malloc(String, n)` or `malloc(cls, n)` otherwise. The contents are unspecified.
   * @example
   * ```js
   * import { localThread as thr } from "rsyscall";
   * import { O } from "rsyscall/fcntl";
   *
   * const fd = await thr.task.open(await thr.ptr("/proc/version"), O.RDONLY);
   * const [valid, rest] = await fd.read(await thr.malloc(Buffer, 4096)); // a partial read splits
   * console.log((await valid.read()).toString());
   * valid.merge(rest).free();
   * await fd.close();
   * ```
   */
  malloc(cls: BufferConstructor, size: number): Promise<Pointer<Buffer>>;
  malloc(cls: StringConstructor, size: number): Promise<Pointer<string>>;
  malloc(cls: typeof Pipe): Promise<Pointer<Pipe<FileDescriptor>>>;
  malloc(cls: typeof Socketpair): Promise<Pointer<Socketpair<FileDescriptor>>>;
  malloc(cls: typeof CmsgList, size: number): Promise<Pointer<CmsgList<FileDescriptor>>>;
  malloc<T>(cls: FixedSizeClass<T, Task>, size?: number): Promise<Pointer<T>>;
  malloc<T>(cls: SerializableClass<T, Task>, size: number): Promise<Pointer<T>>;
  async malloc<T>(cls: unknown, size?: number): Promise<Pointer<T>> {
    const serializer = serializerOfClass<T>(cls, this.task);
    const fixed = sizeofClass(cls);
    if (size === undefined) {
      if (fixed === undefined) throw new TypeError(`malloc(${describe(cls)}) needs a size: its values vary in size`);
      size = fixed;
    } else if (fixed !== undefined && size < fixed) {
      throw new TypeError(`malloc(${describe(cls)}, ${size}): it needs at least ${fixed} bytes`);
    }
    return this.ram.malloc(serializer, size);
  }

  /**
   * Allocates memory for `data` and writes it there: a string (NUL-terminated), a Buffer
   * (bytes as they are), or any value with a serializer (`new Int32(7)`, a Sockaddr).
   * @example
   * ```js
   * import { localThread as thr } from "rsyscall";
   * import { Int32 } from "rsyscall/struct";
   *
   * const path = await thr.ptr("/tmp"); // a WrittenPointer<string>, what path arguments take
   * const seven = await thr.ptr(new Int32(7));
   * console.log((await seven.read()).value); // 7, read back from memory
   * path.free();
   * seven.free();
   * ```
   */
  ptr(data: string): Promise<WrittenPointer<string>>;
  ptr(data: Buffer): Promise<WrittenPointer<Buffer>>;
  ptr<T extends object>(data: T): Promise<WrittenPointer<T>>;
  ptr<T>(data: T): Promise<WrittenPointer<T>> {
    try {
      return this.ram.ptr(serializerOf(data, this.task), data);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Makes a pipe: `{ read, write }`, both close-on-exec.
   * @example
   * ```js
   * import { localThread as thr } from "rsyscall";
   *
   * const { read, write } = await thr.pipe();
   * await thr.spit(write, "through the pipe"); // writes, then closes the write end
   * console.log((await thr.readToEof(read)).toString()); // "through the pipe"
   * await read.close();
   * ```
   */
  async pipe(): Promise<Pipe<FileDescriptor>> {
    return (await this.task.pipe(await this.malloc(Pipe))).read();
  }

  /** Makes a connected pair of sockets: `{ first, second }`, both close-on-exec. */
  async socketpair(domain: AF, type: SOCK, protocol = 0): Promise<Socketpair<FileDescriptor>> {
    return (await this.task.socketpair(domain, type, protocol, await this.malloc(Socketpair))).read();
  }

  /** Makes a socket (close-on-exec). */
  socket(domain: AF, type: SOCK, protocol = 0): Promise<FileDescriptor> {
    return this.task.socket(domain, type, protocol);
  }

  /**
   * Binds `sock` to `addr`, then asks what address it got: the way to learn the port the kernel
   * picked for port 0.
   */
  async bindGetsockname<T extends Sockaddr>(sock: FileDescriptor, addr: T): Promise<T> {
    checkFd("sock", sock);
    await sock.bind(await this.ptr(addr));
    const room = await this.ram.malloc(addr.getSelfSerializer(), 128);
    const sockbuf = await (await sock.getsockname(await this.ptr(new Sockbuf(room)))).read();
    return sockbuf.buf.read();
  }

  /**
   * Writes `text` to the file at `path` (created or truncated, `mode` when created), or to an fd,
   * which is then closed. Returns the path, if one was given.
   */
  async spit(path: string | FileDescriptor, text: string | Buffer, mode = 0o644): Promise<string | undefined> {
    const fd =
      typeof path === "string"
        ? await this.task.open(await this.ptr(path), O.of(O.WRONLY, O.CREAT, O.TRUNC), mode)
        : checkFd<FileDescriptor>("path", path);
    try {
      let rest: Pointer<Buffer> = await this.ptr(typeof text === "string" ? Buffer.from(text) : text);
      while (rest.size() > 0) {
        const [written, unwritten] = await fd.write(rest);
        written.free();
        rest = unwritten;
      }
      rest.free();
    } finally {
      await fd.close();
    }
    return typeof path === "string" ? path : undefined;
  }

  /** Makes a directory; returns its path. */
  async mkdir(path: string, mode = 0o755): Promise<string> {
    const ptr = await this.ptr(path);
    await this.task.mkdir(ptr, mode);
    ptr.free();
    return path;
  }

  /** Reads `fd` until end of file; returns everything read. (Blocks the thread while waiting.) */
  async readToEof(fd: FileDescriptor, chunkSize = 65536): Promise<Buffer> {
    checkFd("fd", fd);
    checkChunkSize("chunkSize", chunkSize);
    const chunks: Buffer[] = [];
    let buf: Pointer<Buffer> = await this.malloc(Buffer, chunkSize);
    try {
      for (;;) {
        const [valid, rest] = await fd.read(buf);
        if (valid.size() === 0) {
          buf = valid.merge(rest);
          return Buffer.concat(chunks);
        }
        chunks.push(await valid.read());
        buf = valid.merge(rest);
      }
    } finally {
      buf.free();
    }
  }

  /** This thread's copy of `fd`, a handle of the thread it was cloned from (see Task.inheritFd). */
  inheritFd(fd: FileDescriptor): FileDescriptor {
    return this.task.inheritFd(checkFd("fd", fd));
  }

  /** `mount(2)` with strings; empty strings pass as they are (the kernel ignores what the flags say it may). */
  async mount(source: string, target: string, fstype: string, flags: MS, data: string): Promise<void> {
    const [src, tgt, fs, dat] = await Promise.all([source, target, fstype, data].map((s) => this.ptr(s)));
    try {
      await this.task.mount(src!, tgt!, fs!, flags, dat!);
    } finally {
      for (const p of [src, tgt, fs, dat]) p?.free();
    }
  }

  /**
   * `unshare(flags)`; `CLONE.NEWUSER` goes through `unshareUser`, so that the new user namespace
   * gets its id mappings.
   */
  async unshare(flags: CLONE): Promise<void> {
    if (flags & CLONE.NEWUSER) {
      await this.unshareUser();
      flags = CLONE.from(flags & ~CLONE.NEWUSER);
    }
    if (flags) await this.task.unshare(flags);
  }

  /**
   * `unshare(CLONE_NEWUSER | CLONE_FS)` and id mappings for it: this process's uid and gid map to
   * `inNamespaceUid`/`inNamespaceGid` inside (by default, the same ids). (Not for the Node process,
   * which has threads: the kernel refuses.)
   */
  async unshareUser(options: { inNamespaceUid?: number; inNamespaceGid?: number } = {}): Promise<void> {
    const [uid, gid] = await Promise.all([this.task.getuid(), this.task.getgid()]);
    await this.task.unshare(CLONE.of(CLONE.NEWUSER, CLONE.FS));
    await writeUserMappings(this, uid, gid, options.inNamespaceUid ?? uid, options.inNamespaceGid ?? gid);
  }

  /**
   * `count` connected socket pairs between the Node process and this thread: [our end, its end].
   * For the Node process itself both ends are ours.
   */
  async openChannels(count: number): Promise<[FileDescriptor, FileDescriptor][]> {
    checkCount(count);
    const pairs = [];
    for (let i = 0; i < count; i++) pairs.push(await this.socketpair(AF.UNIX, SOCK.STREAM));
    return pairs.map((p) => [p.first, p.second]);
  }

  /** Like openChannels, with our ends as AsyncFileDescriptors. */
  async openAsyncChannels(count: number): Promise<[AsyncFileDescriptor, FileDescriptor][]> {
    const channels = await this.openChannels(count);
    return Promise.all(
      channels.map(
        async ([ours, theirs]) => [await this.localAfd(ours), theirs] as [AsyncFileDescriptor, FileDescriptor],
      ),
    );
  }

  /** Internal: an AsyncFileDescriptor for one of the Node process's fds (a channel end). */
  protected localAfd(fd: FileDescriptor): Promise<AsyncFileDescriptor> {
    return this.makeAfd(fd, true);
  }

  /**
   * `unshare(CLONE_FILES)`, then close-on-exec on every fd without a handle in this thread's table,
   * so that an exec keeps exactly the fds this code claimed (stray copies from the parent go).
   */
  async unshareFiles(): Promise<void> {
    await this.task.unshare(CLONE.FILES);
    let next = 0;
    for (const n of [...this.task.fdTable.liveNumbers(), 2 ** 31 - 1]) {
      if (n > next) await this.task.closeRange(next, n - 1, CLOSE_RANGE.CLOEXEC);
      next = n + 1;
    }
  }

  /** Changes the root directory. */
  async chroot(path: string): Promise<void> {
    await this.task.chroot(await this.ptr(path));
  }

  /**
   * Makes the mount at `newRoot` the root, then leaves the old root: pivot_root with the old root
   * put at a fresh directory under `newRoot`, chdir("/"), and that directory unmounted (lazily)
   * and removed. `newRoot` must be a mount point (bind-mount a directory onto itself to make one),
   * in a mount namespace of this thread's own.
   */
  async pivotRoot(newRoot: string): Promise<void> {
    if (typeof newRoot !== "string" || !newRoot.startsWith("/"))
      throw new TypeError(`pivotRoot: newRoot must be an absolute path, got ${describe(newRoot)}`);
    // Where the old root goes, as seen before the pivot and after it.
    const inside = `/.old-root-${process.pid}-${oldRoots++}`;
    const putOld = `${newRoot.replace(/\/+$/, "")}${inside}`;
    await this.mkdir(putOld, 0o700);
    await this.task.pivotRoot(await this.ptr(newRoot), await this.ptr(putOld));
    await this.task.chdir(await this.ptr("/"));
    await this.task.umount(await this.ptr(inside), MNT.DETACH);
    await this.task.rmdir(await this.ptr(inside));
  }

  /** Sets the hostname of this thread's UTS namespace (at most 64 bytes). */
  async sethostname(name: string): Promise<void> {
    await this.task.sethostname(await this.ptr(utsName("sethostname", name)));
  }

  /** Sets the NIS domain name of this thread's UTS namespace (at most 64 bytes). */
  async setdomainname(name: string): Promise<void> {
    await this.task.setdomainname(await this.ptr(utsName("setdomainname", name)));
  }

  /** Sets this thread's supplementary groups (`[]` drops them all). */
  async setgroups(gids: Iterable<number>): Promise<void> {
    await this.task.setgroups(await this.ptr(new GidList(gids)));
  }

  /** For messages: `Thread(Task(pid 1234))`. */
  toString(): string {
    return `Thread(${this.task})`;
  }
}

/** Numbers the directories pivotRoot puts old roots at. */
let oldRoots = 0;

/** A host or domain name's bytes, checked before the syscall. */
function utsName(what: string, name: string): Buffer {
  if (typeof name !== "string") throw new TypeError(`${what}: the name must be a string, got ${describe(name)}`);
  const bytes = Buffer.from(name);
  if (bytes.length > UTS_NAME_MAX || bytes.includes(0))
    throw new TypeError(`${what}: ${JSON.stringify(name)} is not a name of at most ${UTS_NAME_MAX} bytes without NUL`);
  return bytes;
}

export function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 0 || count > 253)
    throw new TypeError(`channel count must be 0 to 253, got ${count}`);
}

/**
 * Maps `outsideUid`/`outsideGid` to `uid`/`gid` in `thr`'s new user namespace, the way an
 * unprivileged process may: one line each, and setgroups denied first.
 */
export async function writeUserMappings(
  thr: Thread,
  outsideUid: number,
  outsideGid: number,
  uid = outsideUid,
  gid = outsideGid,
): Promise<void> {
  await thr.spit("/proc/self/uid_map", `${uid} ${outsideUid} 1\n`);
  await thr.spit("/proc/self/setgroups", "deny");
  await thr.spit("/proc/self/gid_map", `${gid} ${outsideGid} 1\n`);
}
