// Thread.clone: making a ChildThread (src/tasks/child.ts), a process made with clone(CLONE_VM)
// that runs the freestanding syscall server (native/server.c) on a socket until it execs. See
// docs/architecture.md.
//
// How a child starts: we write a frame [trampoline, six arguments, server] at the top of a stack
// in a mapping of its own (ChildMemory, with guard pages) and call clone with CLONE_VM |
// CLONE_CHILD_CLEARTID | CLONE_PIDFD. The child returns from the raw syscall entry onto that
// stack, its `ret` pops the trampoline, and the trampoline calls the server, which resets signal
// dispositions and the mask, arms the parent-death signal, closes its copy of our end of the
// socket and serves. All signals are blocked around the clone, so no Node handler can run in the
// child before that reset.
//
// How we learn it exec'd or exited: the futex helper (src/tasks/helper.ts); the connection then
// hangs up, and the memory it ran on goes back for another child.
//
// Lifetime: once the clone syscall succeeded, every later failure kills and reaps the child
// before its memory goes. A child is reaped when it dies (src/monitor.ts). One whose thread, task
// and connection were all dropped before it exec'd can never be driven again: it is killed.
import { isMainThread } from "node:worker_threads";
import { describe } from "../args.js";
import { Environment } from "../environ.js";
import { AsyncFileDescriptor } from "../epoller.js";
import { AddressSpace, MountNamespace, PidNamespace } from "../far.js";
import { F, O } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { SYS } from "../gen/sys.js";
import { FileDescriptorTable } from "../handle/fd.js";
import type { MemoryGateway } from "../handle/pointer.js";
import { Allocator } from "../memory/allocator.js";
import { RAM } from "../memory/ram.js";
import { SharedWindowGateway, StreamMemoryGateway } from "../memory/transport.js";
import { AsyncChildProcess, SERVER_COMM } from "../monitor.js";
import { native } from "../native.js";
import { SyscallHangupError } from "../near/errors.js";
import { asAddress, asFd, asPid } from "../near/ids.js";
import { LocalSyscall, rawSyscall } from "../near/local.js";
import * as raw from "../near/syscalls.js";
import type { CLONE } from "../sched.js";
import { SIG } from "../signal.js";
import { EPOLL } from "../sys/epoll.js";
import { AF, SOCK } from "../sys/socket/index.js";
import { P, W } from "../sys/wait.js";
import { type FileDescriptor, Task } from "../task.js";
import { Thread, writeUserMappings } from "../thread.js";
import { ChildThread } from "./child.js";
import { type ConnectedThread, canPass, closeAll, rootOf, routeOf, setRoute } from "./connected.js";
import { SyscallConnection } from "./connection.js";
import { entriesOf, setEntries } from "./entries.js";
import { ForeignChildMemory, startForeignHelper, watchChildOf } from "./foreign.js";
import { ChildMemory, cloneRaw, namedLike, withSignalsBlocked } from "./frame.js";
import { FutexRing } from "./futex-ring.js";
import {
  clearTidWord,
  type ExecOrExitWord,
  killAndReapNow,
  robustWord,
  startHelper,
  watchExecOrExit,
} from "./helper.js";
import { windowRam } from "./window.js";

const ALWAYS = gen.CLONE.VM | gen.CLONE.CHILD_CLEARTID;
/** What every server child does at start-up (ROBUST is for forks: see forkFlags). */
const SERVER_FLAGS =
  native.serverFlags.RESET_SIGNALS |
  native.serverFlags.UNBLOCK_ALL |
  native.serverFlags.PDEATHSIG |
  native.serverFlags.CLOEXEC_SOCKET |
  native.serverFlags.CLOSE_FD;

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
     * @example
     * ```js
     * import { Command, localThread as thr } from "rsyscall";
     * import { CLONE } from "rsyscall/sched";
     *
     * const child = await thr.clone(CLONE.of(CLONE.NEWUSER, CLONE.NEWUTS));
     * await child.sethostname("sandbox"); // its own UTS namespace: ours is untouched
     * const proc = await child.exec(new Command("/bin/uname", ["uname", "-n"], {}));
     * await proc.check(); // uname printed "sandbox"
     * ```
     */
    clone(flags?: CLONE, options?: CloneOptions): Promise<ChildThread>;
    /**
     * `clone(flags | CLONE_CHILD_CLEARTID | CLONE_PIDFD | SIGCHLD)` without `CLONE_VM`, as fork(2)
     * makes a child: a copy-on-write copy of this thread's memory, in an address space of its own.
     * Our pointers are not its pointers; its memory is written through its /proc/PID/mem (a child
     * of the Node process) or through its link. Otherwise it is a ChildThread like any: it execs,
     * clones and forks. `flags` as for `clone`.
     * @see https://man7.org/linux/man-pages/man2/fork.2.html
     */
    fork(flags?: CLONE, options?: CloneOptions): Promise<ChildThread>;
  }
}

/** What `thr.clone` and `thr.fork` take besides the flags: how a new user namespace's ids map. */
export interface CloneOptions {
  /** With CLONE.NEWUSER: write uid and gid maps (our ids, to `inNamespaceUid`/`Gid`). Default true. */
  writeUserMappings?: boolean;
  /**
   * With CLONE.NEWUSER: the uid our own uid is inside (by default, itself). 0 makes the child root
   * in its namespace, with every capability over what that namespace owns, even when we are not root.
   */
  inNamespaceUid?: number;
  /** With CLONE.NEWUSER: the gid our own gid is inside (by default, itself). */
  inNamespaceGid?: number;
}

/**
 * What to do once a child exec'd or exited. Made here, apart from the code that built the child,
 * so that the closure holds nothing of that scope: it must not hold the child's task or connection
 * strongly, or a child nobody can reach would never be collected (see `abandoned`).
 */
function whenGone(
  life: Life,
  connection: SyscallConnection,
  memory: { recycle(): Promise<void> },
  passingOurs: FileDescriptor | undefined,
  shared: { table: FileDescriptorTable; ends: number[]; theirs: FileDescriptor | undefined } | undefined,
  releaseWindows: (() => void) | undefined,
) {
  // Weakly: the connection and the child's handles hold its task.
  const weakConnection = new WeakRef(connection);
  const weakTheirs = shared?.theirs ? new WeakRef(shared.theirs) : undefined;
  const table = shared?.table;
  const ends = shared?.ends ?? [];
  return () => {
    life.gone = true;
    releaseWindows?.();
    weakConnection.deref()?.hangup("the process exec'd or exited");
    void memory.recycle().catch(() => {});
    // Our end of the fd-passing socket serves only until the child execs or exits; the child's ends
    // in a table it shared with us go at that table's next collection.
    for (const n of ends) table?.releaseKept(n);
    void closeAll([passingOurs, weakTheirs?.deref()]);
  };
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

Thread.prototype.clone = function clone(this: Thread, flags: CLONE = 0 as CLONE, options: CloneOptions = {}) {
  return cloneThread(this, flags, options, false);
};

Thread.prototype.fork = function fork(this: Thread, flags: CLONE = 0 as CLONE, options: CloneOptions = {}) {
  return cloneThread(this, flags, options, true);
};

async function cloneThread(thread: Thread, flags: CLONE, options: CloneOptions, fork: boolean): Promise<ChildThread> {
  const checked = checkCloneFlags(flags);
  if (options === null || typeof options !== "object")
    throw new TypeError(`clone: options must be an object, got ${describe(options)}`);
  if (options.writeUserMappings !== undefined && typeof options.writeUserMappings !== "boolean") {
    throw new TypeError(`clone: writeUserMappings must be a boolean, got ${describe(options.writeUserMappings)}`);
  }
  for (const key of ["inNamespaceUid", "inNamespaceGid"] as const) {
    const id = options[key];
    if (id === undefined) continue;
    if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe)
      throw new TypeError(`clone: ${key} must be an id from 0 to 4294967294, got ${describe(id)}`);
    if (!(checked & gen.CLONE.NEWUSER) || options.writeUserMappings === false)
      throw new TypeError(`clone: ${key} needs CLONE.NEWUSER with the mappings written`);
  }
  // The parent-death signal belongs to the thread that clones: a child made from a worker thread
  // would die with the worker, not with Node.
  if (!isMainThread) throw new Error("clone: only from Node's main thread (a worker's children would die with it)");
  const previous = cloning.get(thread) ?? Promise.resolve();
  const made = previous.then(() => cloneChild(thread, checked, fork));
  // Holds no child: the chain must not keep the last child alive.
  cloning.set(
    thread,
    made.then(
      () => {},
      () => {},
    ),
  );
  const child = await made;
  if (checked & gen.CLONE.NEWUSER && options.writeUserMappings !== false) {
    try {
      const [uid, gid] = await Promise.all([thread.task.getuid(), thread.task.getgid()]);
      await writeUserMappings(child, uid, gid, options.inNamespaceUid ?? uid, options.inNamespaceGid ?? gid);
    } catch (e) {
      await child[Symbol.asyncDispose]().catch(() => {});
      throw e;
    }
  }
  return child;
}

/** Whether a child exec'd or exited yet (its memory may serve another child after that). */
interface Life {
  gone: boolean;
}

/** Kills a child whose thread, task and connection were all dropped before it exec'd. */
const abandoned = new FinalizationRegistry<{ process: AsyncChildProcess; life: Life }>(({ process, life }) => {
  if (!life.gone) process.kill(SIG.KILL).catch(() => {});
});

/**
 * The links to a new child: its syscall socket and its fd-passing socket, our ends and its ends.
 * A child of a parent whose own link cannot carry fds (a remote host's) has no fd-passing socket:
 * its channels reach it as its parent's do, and nothing of it is ever passed to us.
 */
interface Links {
  ours: FileDescriptor;
  theirs: FileDescriptor;
  passingOurs?: FileDescriptor;
  passingTheirs?: FileDescriptor;
}

async function makeLinks(parent: Thread, root: Thread, nested: boolean): Promise<Links> {
  // Our ends stay in the Node process; theirs must be in the parent's table when it clones.
  if (nested) {
    const pairs = await parent.openChannels(canPass(parent) ? 2 : 1);
    const [[ours, theirs], passing] = pairs as [[FileDescriptor, FileDescriptor], [FileDescriptor, FileDescriptor]?];
    return { ours, theirs, passingOurs: passing?.[0], passingTheirs: passing?.[1] };
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

/** A child right after its clone syscall: what it takes to kill and reap it. */
interface Cloned {
  pid: number;
  /** Our pidfd for it, once we have one. */
  pidfd?: FileDescriptor;
  /** For a child of a child in a pid namespace of its own: that parent's pidfd for it. */
  parentPidfd?: FileDescriptor;
}

async function cloneChild(parent: Thread, flags: number, fork: boolean): Promise<ChildThread> {
  const root = rootOf(parent);
  if (!(root.task.sysif instanceof LocalSyscall)) throw new Error("clone: the root thread must be the Node process");
  if (parent.task.addressSpace !== root.task.addressSpace) {
    return cloneForeign(parent as ConnectedThread, root, flags, fork);
  }
  const nested = parent !== root;
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
    cloned = await cloneServer(parent, root, flags, links, memory, { nested, ownNamespace, sharesFiles, fork });
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
      sharesOurMemory: !fork,
    });
    const word = fork
      ? robustWord(
          memory.robustWord,
          () => memory.readRobustWord(),
          (expected, desired) => memory.casRobustWord(expected, desired),
        )
      : clearTidWord(memory.ctid, () => memory.readCtid());
    // Watched by a futex wait in our io_uring where there is one (the words are ours, shared
    // with a fork), else by a helper.
    const ring = await FutexRing.of(root);
    if (!ring) helper = await startHelper(root, memory, word);
    const started: Started = {
      word,
      restart: () => startHelper(root, memory, word),
      memory,
      space: fork ? forkedSpace(root, cloned.pid) : undefined,
      ring,
    };
    return await assemble(parent, root, flags, links, proc, helper, sharesFiles, started);
  } catch (e) {
    await killAndReap(cloned, proc);
    await helper?.[Symbol.asyncDispose]().catch(() => {});
    await memory.recycle().catch(() => {});
    await closeAll(Object.values(links));
    throw e;
  }
}

/** The address space of a child forked from one that shares ours (Node's): its own, with the entry points where ours are. */
function forkedSpace(root: Thread, pid: number): AddressSpace {
  const space = new AddressSpace(pid);
  setEntries(space, entriesOf(root.task.addressSpace));
  return space;
}

/** What assemble needs of how a child was started: its word, its helper, its memory, a new address space. */
interface Started {
  word: ExecOrExitWord;
  restart: () => Promise<AsyncChildProcess>;
  memory: { recycle(): Promise<void> };
  /** For a fork: its address space. */
  space: AddressSpace | undefined;
  /** The io_uring its word is watched in, if not by helpers. */
  ring?: FutexRing;
}

/**
 * Clones from a parent in another address space than Node's (a forked child, a process running
 * the server program): the child's memory and its helper are in that address space, made through
 * the parent; the parent is the child's parent (CLONE_PARENT would hand it to whoever made the
 * parent) and reaps it, and passes us a copy of its pidfd to watch.
 */
async function cloneForeign(parent: ConnectedThread, root: Thread, flags: number, fork: boolean): Promise<ChildThread> {
  const entries = entriesOf(parent.task.addressSpace);
  const sharesFiles = (flags & gen.CLONE.FILES) !== 0;
  const links = await makeLinks(parent, root, true);
  let memory: ForeignChildMemory;
  try {
    memory = await ForeignChildMemory.map(parent);
  } catch (e) {
    await closeAll(Object.values(links));
    throw e;
  }
  let cloned: Cloned;
  let parentPid: number;
  try {
    parentPid = await parent.task.getpid();
    const childNamespace = flags & gen.CLONE.NEWPID || parent.task.pidnsForChildren !== parent.task.pidns;
    const theirs = links.theirs.near;
    // As for a fork of ours (see cloneServer): a fork's word is its robust one.
    const robust = fork ? native.serverFlags.ROBUST : 0;
    const serverFlags = (SERVER_FLAGS & ~native.serverFlags.CLOSE_FD) | robust;
    const sp = await memory.mainFrame(entries, [
      theirs,
      theirs,
      serverFlags,
      -1,
      childNamespace ? 0 : parentPid,
      robust ? memory.robustHead : 0,
    ]);
    const base = fork ? gen.CLONE.CHILD_SETTID : ALWAYS;
    const pid = await raw.clone(
      parent.task.sysif,
      base | gen.CLONE.PIDFD | gen.SIG.CHLD | flags,
      asAddress(sp),
      asAddress(memory.pidfdOut),
      asAddress(fork ? memory.robustWord : memory.ctid),
      0,
    );
    cloned = { pid, parentPidfd: parent.task.makeFd(asFd(await memory.readPidfd())) };
  } catch (e) {
    await memory.release();
    await closeAll(Object.values(links));
    throw e;
  }
  let proc: AsyncChildProcess | undefined;
  let helper: AsyncChildProcess | undefined;
  try {
    proc = await watchChildOf(parent, root, cloned.pid, cloned.parentPidfd!, true, (ours) => {
      cloned.pidfd = ours;
    });
    // The helper is in the parent's pid namespace for its children.
    const helperSeesParentAs = parent.task.pidnsForChildren !== parent.task.pidns ? 0 : parentPid;
    const word = fork
      ? robustWord(memory.robustWord, () => memory.readRobustWord())
      : clearTidWord(memory.ctid, () => memory.readCtid());
    const restart = () => startForeignHelper(parent, root, memory, entries, helperSeesParentAs, word);
    helper = await restart();
    const space = fork ? new AddressSpace(cloned.pid) : undefined;
    if (space) setEntries(space, entries);
    const started: Started = { word, restart, memory: { recycle: () => memory.release() }, space };
    return await assemble(parent, root, flags, links, proc, helper, sharesFiles, started);
  } catch (e) {
    await killAndReap(cloned, proc);
    await helper?.[Symbol.asyncDispose]().catch(() => {});
    await memory.release();
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
  how: { nested: boolean; ownNamespace: boolean; sharesFiles: boolean; fork: boolean },
): Promise<Cloned> {
  // A fork shares no memory with us, only the page of words it has in common with us. The kernel
  // would not clear a CLEARTID word there (its memory has no other user): it gets its tid written
  // to its robust word instead, and arms its robust list.
  const base = how.fork ? gen.CLONE.CHILD_SETTID : ALWAYS;
  const ctid = how.fork ? memory.robustWord : memory.ctid;
  const robust = how.fork ? native.serverFlags.ROBUST : 0;
  // In a new pid namespace (made by this clone, or by the parent's unshare) the parent is outside
  // it, and getppid says 0. A nested child is made with CLONE_PARENT, so that the Node process is
  // its parent too and can wait for it.
  const newNamespace = flags & gen.CLONE.NEWPID || parent.task.pidnsForChildren !== parent.task.pidns;
  const expectedParent = newNamespace ? 0 : how.ownNamespace ? await parent.task.getpid() : process.pid;
  // The server closes its copy of our end, unless the tables are shared (it is our end then) or
  // our end was never in the parent's table (nested).
  const closeOurs = !how.nested && !how.sharesFiles;
  const serverFlags = (closeOurs ? SERVER_FLAGS : SERVER_FLAGS & ~native.serverFlags.CLOSE_FD) | robust;
  const theirs = links.theirs.near;
  const sp = memory.mainFrame(native.serverAddress, [
    theirs,
    theirs,
    serverFlags,
    closeOurs ? links.ours.near : -1,
    expectedParent,
    robust ? memory.robustHead : 0,
  ]);
  if (how.ownNamespace) {
    const ownFlags = base | gen.CLONE.PIDFD | gen.SIG.CHLD | flags;
    const pid = await raw.clone(
      parent.task.sysif,
      ownFlags,
      asAddress(sp),
      asAddress(memory.pidfdOut),
      asAddress(ctid),
      0,
    );
    return { pid, parentPidfd: parent.task.makeFd(asFd(memory.readPidfd())) };
  }
  if (how.nested) {
    // The parent's server reset every handler, so no Node handler can run in the new child. The
    // kernel stores its pid in our memory before the clone returns (CLONE_PARENT_SETTID): if the
    // parent dies before it answers, we still know whether there is a child, ours (CLONE_PARENT)
    // to kill and reap before its memory goes.
    const nestedFlags = base | gen.CLONE.PARENT | gen.CLONE.PARENT_SETTID | gen.SIG.CHLD | flags;
    try {
      return {
        pid: await raw.clone(
          parent.task.sysif,
          nestedFlags,
          asAddress(sp),
          asAddress(memory.tidOut),
          asAddress(ctid),
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
      cloneRaw(base | gen.CLONE.PIDFD | gen.SIG.CHLD | flags, sp, memory.pidfdOut, ctid),
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

/**
 * How a child sharing its parent's memory reaches it: as the parent does, except through the
 * stream, where it must be the child's own link, or its writes would not be ordered with its calls.
 */
function sharedGateway(parent: Thread, child: Task): MemoryGateway {
  const gateway = parent.ram.gateway;
  if (gateway instanceof SharedWindowGateway) return gateway.sharing(new StreamMemoryGateway(child));
  return gateway instanceof StreamMemoryGateway ? new StreamMemoryGateway(child) : gateway;
}

/** Builds the ChildThread around a started child, and watches for its exec or exit. */
async function assemble(
  parent: Thread,
  root: Thread,
  flags: number,
  links: Links,
  proc: AsyncChildProcess,
  helper: AsyncChildProcess | undefined,
  sharesFiles: boolean,
  started: Started,
): Promise<ChildThread> {
  // Our end is a socket just made, with no other status flag to keep.
  await links.ours.fcntl(F.SETFL, O.NONBLOCK);
  const link = await AsyncFileDescriptor.make(root.epoller, root.ram, links.ours);
  // Nothing comes from the child before our first request: no read needs trying at once (as a
  // registration's first is). A hang-up meanwhile still brings an edge: epoll reports an entry
  // ready as it is added.
  link.epolled.negedge(EPOLL.IN, 0);
  const connection = new SyscallConnection(link, root.ram);
  const pid = proc.pid;
  const forked = started.space;
  const childTask = new Task(connection, asPid(pid), {
    fdTable: sharesFiles ? parent.task.fdTable : new FileDescriptorTable(pid, parent.task.fdTable),
    addressSpace: forked ?? parent.task.addressSpace,
    pidns: flags & gen.CLONE.NEWPID ? new PidNamespace(pid) : parent.task.pidnsForChildren,
    mountns: flags & gen.CLONE.NEWNS ? new MountNamespace(pid) : parent.task.mountns,
  });
  const passing =
    links.passingOurs && links.passingTheirs
      ? { ours: links.passingOurs, theirs: childTask.inheritFd(links.passingTheirs) }
      : undefined;
  // A forked child's memory is its own: an allocator of its own, over windows shared with us.
  const stdio = [parent.stdin, parent.stdout, parent.stderr].map((fd) => childTask.inheritFd(fd)) as [
    FileDescriptor,
    FileDescriptor,
    FileDescriptor,
  ];
  const childRam = !forked
    ? new RAM(childTask, sharedGateway(parent, childTask), parent.ram.allocator)
    : passing
      ? windowRam(root, childTask, new StreamMemoryGateway(childTask), () => passing, stdio, root.epoller)
      : new RAM(childTask, new StreamMemoryGateway(childTask), new Allocator(childTask));
  // Our side of the windows serves the fork and its CLONE_VM children, which outlive its exec.
  const releaseWindows = childRam.gateway instanceof SharedWindowGateway ? childRam.gateway.releaser() : undefined;
  const environ = new Environment(childTask, childRam, parent.environ);
  // Its fds are watched where its parent's are: the table it starts with is a copy of the parent's,
  // so it holds the parent's epoll fd too (the Node process's own, for a child of ours).
  const thread = new Thread(childTask, childRam, environ, ...stdio, parent.epoller);
  // The child's ends are its own now: the parent's handles go. In a table they share, the child's
  // ends are the same fds: the table keeps them (not the child's task, which may move to a table of
  // its own) until the child is gone, then whichever task of that table collects next closes them.
  const shared = sharesFiles
    ? {
        table: childTask.fdTable,
        ends: [links.theirs, links.passingTheirs].flatMap((fd) => (fd ? [fd.near] : [])),
        theirs: passing?.theirs,
      }
    : undefined;
  if (shared) for (const n of shared.ends) shared.table.keepOpen(n);
  await closeAll([links.theirs, links.passingTheirs]);
  const child = new ChildThread(thread, proc, connection, root, passing, shared?.table);
  setRoute(child, routeOf(parent));
  const life: Life = { gone: false };
  abandoned.register(connection, { process: proc, life });
  const gone = whenGone(life, connection, started.memory, links.passingOurs, shared, releaseWindows);
  void watchExecOrExit(started.word, helper, started.restart, proc, gone, started.ring);
  return child;
}
