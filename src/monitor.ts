// Child monitoring: AsyncChildProcess, a child we can wait for without blocking, through its
// pidfd in the epoller. We never wait for "any child" and never block SIGCHLD, so children of
// `child_process` keep working beside ours.
//
// A child is reaped as soon as it dies, as child_process does it: its pidfd waits in the epoller
// (without keeping Node alive), and at the exit one waitid(P_PIDFD) takes its state, which
// `waitpid` then reports as often as asked. So no zombie waits for a caller who dropped the
// handle, and no pidfd or registration outlives the process. (Stops and continues are reported
// while it lives; pidfds only signal exits.)
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { checkInt } from "./args.js";
import type { Command } from "./command.js";
import type { AsyncFileDescriptor } from "./epoller.js";
import { ERRNO } from "./gen/errno.js";
import type { RAM } from "./memory/ram.js";
import { native } from "./native.js";
import { SyscallError } from "./near/errors.js";
import { SIG } from "./signal.js";
import { EPOLL } from "./sys/epoll.js";
import { CalledProcessError, type ChildState, Siginfo, W } from "./sys/wait.js";
import type { FileDescriptor } from "./task.js";

/** The name (comm) a syscall server gives itself: exec gives a process a name without a slash. */
export const SERVER_COMM = "rsyscall/server";

/** How a child was made, for its AsyncChildProcess. */
export interface ChildOptions {
  /** For a child of another process of ours (in its own pid namespace): that parent's pidfd. */
  parentPidfd?: FileDescriptor;
  /** The child runs a syscall server until it execs: note at its death whether it had exec'd. */
  server?: boolean;
  /** `pid` is the child's pid in our own pid namespace too (not so for a child of a child in a pid namespace of its own). */
  pidIsOurs?: boolean;
  /** The child runs on the Node process's memory until it execs (CLONE_VM: not a fork, nor another address space's child). */
  sharesOurMemory?: boolean;
}

/**
 * A child process we can wait for and signal without blocking: `thr.spawn` returns one, and so does
 * `child.exec`. Its pidfd waits in the epoller, and the child is reaped the moment it dies, so
 * `waitpid` can be asked again and again, and no zombie waits for a caller who dropped it.
 */
export class AsyncChildProcess {
  #death: ChildState | undefined;
  #command: Command | undefined;
  readonly #died: Promise<ChildState>;
  /** The reaper has asked for its state: its pid may be gone (or another's) any moment now. */
  #reaping = false;
  /** Its state can no longer be had: the process that had to reap it (init of its pid namespace) went away. */
  #lost = false;
  /** For a server child that died: whether it was still the server (it never exec'd). */
  #diedAsServer = false;
  /** Still a syscall server, as far as we know (see diedBeforeExec). */
  #server: boolean;
  readonly #pidIsOurs: boolean;
  readonly #sharesOurMemory: boolean;

  /** The pidfd waitid and pidfd_send_signal go through: the parent's (our own unless given). */
  readonly #parentPidfd: FileDescriptor;

  /** @internal Children come from `thr.spawn`, `child.exec` and the like. */
  constructor(
    /** The child's pid, in the pid namespace of the process that made it. */
    readonly pid: number,
    /** Our pidfd for the child, registered with the epoller: it says when the child exits. */
    readonly pidfd: AsyncFileDescriptor,
    /** The memory waitid's siginfo is read through. */
    readonly ram: RAM,
    options: ChildOptions = {},
  ) {
    this.#parentPidfd = options.parentPidfd ?? pidfd.handle;
    this.#server = options.server ?? false;
    this.#pidIsOurs = options.pidIsOurs ?? false;
    this.#sharesOurMemory = options.sharesOurMemory ?? false;
    // A registration starts out assuming its fd ready, to try it at once; for a pidfd, almost never
    // so (a waitid and a look in /proc wasted per child). A pidfd already readable when registered
    // brings an edge all the same: epoll reports an entry ready as it is added.
    pidfd.epolled.negedge(EPOLL.IN | EPOLL.OUT, 0);
    this.#died = this.#reapAtDeath();
    // Nobody needs to await the reaper; a failure to reap is reported to waitpid's callers.
    this.#died.catch(() => {});
  }

  /** Our end of the child's stdin, when `thr.spawn` made it a pipe (`stdio: "pipe"`). */
  stdin: AsyncFileDescriptor | undefined;
  /** Our end of the child's stdout, when `thr.spawn` made it a pipe. */
  stdout: AsyncFileDescriptor | undefined;
  /** Our end of the child's stderr, when `thr.spawn` made it a pipe. */
  stderr: AsyncFileDescriptor | undefined;

  /**
   * Internal: our ends of the pipes `thr.spawn` made for fds 0, 1 and 2.
   * @internal
   */
  attachPipes(pipes: readonly (AsyncFileDescriptor | undefined)[]): void {
    [this.stdin, this.stdout, this.stderr] = pipes;
  }

  /** The command the child exec'd, once it has. */
  get command(): Command | undefined {
    return this.#command;
  }

  /** Whether the child died and was reaped. */
  get dead(): boolean {
    return this.#death !== undefined;
  }

  /**
   * Internal: the child exec'd `command`.
   * @internal
   */
  didExec(command: Command | undefined): void {
    this.#command = command;
    this.#server = false;
  }

  /**
   * Internal, for a server child whose syscall stream hung up: whether it died without having
   * exec'd. The hang-up means its CLONE_CHILD_CLEARTID word was cleared or its end of the socket
   * closed, which happens past the point of no return of an exec, or in an exit (do_exit sets
   * PF_EXITING before either). So a process that is not exiting exec'd; one that is exiting had
   * exec'd if it bears its program's name (which has no slash), not SERVER_COMM.
   * @internal
   */
  diedBeforeExec(): boolean {
    if (this.#death || this.#reaping) return this.#diedAsServer;
    const pid = this.#pidHere();
    if (pid === undefined) return false;
    // The common case, without /proc (whose open and read took 150 us here): a child that ran on
    // our memory and now has an address space without an address of ours has a new program's. Not
    // for a fork (a dying fork's memory can be reaped, and then faults) nor another process's child
    // (its memory never held ours). Like the read of /proc, this waits while an exec holds the
    // child's exec_update_lock (a close-on-exec file's flush, say).
    if (this.#sharesOurMemory && native.peekOurMemory(pid) === ERRNO.EFAULT) return false;
    const stat = readStat(pid);
    return stat !== undefined && (stat.flags & PF_EXITING) !== 0 && stat.comm === SERVER_COMM;
  }

  /**
   * Waits for a state change in `options` (W.EXITED, W.STOPPED, W.CONTINUED; W.NOWAIT changes
   * nothing here: the child is reaped at its death anyway). Once the child has died, W.EXITED
   * returns its death, as often as asked. Stops and continues are reported when they are already
   * there. The wait keeps Node running unless `keepAlive` is false.
   */
  async waitpid(options: W, { keepAlive = true }: { keepAlive?: boolean } = {}): Promise<ChildState> {
    checkInt("options", options);
    if (this.#death && options & W.EXITED) return this.#death;
    if (options & (W.STOPPED | W.CONTINUED) && !this.#death) {
      const infop = await this.ram.malloc(Siginfo.getSerializer(), Siginfo.sizeof);
      const change = W.from((options & (W.STOPPED | W.CONTINUED)) | W.NOHANG | (options & W.NOWAIT));
      // ECHILD: the child is dead already (a zombie is no child to a wait without W.EXITED), or the
      // reaper took it meanwhile (its pidfd may be closed by then): its death, below, is the answer.
      const state = await this.#parentPidfd.waitid(change, infop).catch((e: unknown) => {
        if (this.#death || this.#reaping || (e instanceof SyscallError && e.code === "ECHILD")) return undefined;
        throw e;
      });
      if (state) return state;
    }
    const epoller = this.pidfd.epolled.epoller;
    if (keepAlive) epoller.waiterAdded(true);
    try {
      const death = await this.#died;
      if (options & W.EXITED) return death;
      throw new SyscallError(ERRNO.ECHILD, "waitid", { fd: this.pidfd.handle.near });
    } finally {
      if (keepAlive) epoller.waiterRemoved(true);
    }
  }

  /** `waitpid(W.EXITED | W.STOPPED | W.CONTINUED)`. */
  wait(): Promise<ChildState> {
    return this.waitpid(W.of(W.EXITED, W.STOPPED, W.CONTINUED));
  }

  /** Waits for the child to die; rejects with CalledProcessError unless it exited with status 0. */
  async check(): Promise<ChildState> {
    const state = await this.waitpid(W.EXITED);
    if (!state.clean()) throw new CalledProcessError(state, this.#command);
    return state;
  }

  /**
   * Sends `sig` (SIGKILL by default) through the pidfd, so never to a process that reused the pid.
   * Resolves true when the signal was sent, false when the child was already reaped (as Node's
   * `subprocess.kill()` returns false when it cannot deliver).
   */
  async kill(sig: SIG = SIG.KILL): Promise<boolean> {
    checkInt("sig", sig);
    if (this.#death || this.#lost) return false;
    try {
      await this.#parentPidfd.pidfdSendSignal(sig);
      return true;
    } catch (e) {
      if (e instanceof SyscallError && e.code === "ESRCH") return false;
      if (this.#death) return false; // reaped while the signal was on its way
      throw e;
    }
  }

  /**
   * Sends `sig` to the child's process group. Resolves false, sending nothing, once the child was
   * reaped: its process group id may belong to someone else by then. Refuses a group the child's
   * parent is in too (a child starts in Node's own group: give it one of its own with setpgid
   * first), and one its parent cannot see (kill(0) would mean the caller's own group).
   */
  async killpg(sig: SIG = SIG.KILL): Promise<boolean> {
    checkInt("sig", sig);
    if (this.#death || this.#lost) return false;
    const task = this.#parentPidfd.task;
    const [group, parentsGroup] = await Promise.all([task.getpgid(this.pid), task.getpgid()]);
    if (group === 0 || group === parentsGroup) {
      throw new Error(
        `killpg: ${this} is in ${group === 0 ? "a process group its parent cannot see" : "its parent's own process group"}; signalling it would signal the parent too (setpgid the child first)`,
      );
    }
    await task.kill(-group, sig);
    return true;
  }

  /** Kills the child if it is alive and waits until it was reaped. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#death) {
      await this.kill().catch(() => {});
      await this.waitpid(W.EXITED);
    }
  }

  /** Waits (without holding Node open) for the exit, reaps, and closes the pidfds. */
  async #reapAtDeath(): Promise<ChildState> {
    const epolled = this.pidfd.epolled;
    try {
      for (;;) {
        await epolled.waitFor(EPOLL.IN | EPOLL.HUP | EPOLL.ERR, false);
        const generation = epolled.generation;
        if (this.#server) this.#noteWhetherServer();
        // From here its pid may be gone (the waitid may reap it before we hear back): ask no more of /proc.
        this.#reaping = true;
        const state = await this.#waitidThroughParent().catch((e: unknown) => {
          // A real answer from the parent (ECHILD, say) is the caller's to hear; anything else means
          // the parent, which alone may wait for it, cannot be reached (its link or its memory is
          // gone with it).
          if (e instanceof SyscallError) throw e;
          // Its parent, which alone may wait for it, is gone (exec'd or exited). If the child
          // lives on, wait on (only its death, without its state, can be reported then).
          if (this.#alive()) return "alive" as const;
          // It is dead too: whoever inherits it reaps it, and its state never reaches us.
          this.#lost = true;
          throw new Error(`${this}: its parent went away before it could be waited for: its exit state is lost`);
        });
        if (state === "alive") {
          this.#reaping = false;
          epolled.negedge(EPOLL.IN, generation);
          continue;
        }
        if (state) {
          this.#death = state;
          return state;
        }
        this.#reaping = false;
        epolled.negedge(EPOLL.IN, generation);
      }
    } finally {
      await this.pidfd.close().catch(() => {});
      if (this.#parentPidfd !== this.pidfd.handle && this.#parentPidfd.valid)
        await this.#parentPidfd.close().catch(() => {});
    }
  }

  /** waitid(P_PIDFD, WEXITED | WNOHANG) through the process that may reap the child. */
  async #waitidThroughParent(): Promise<ChildState | undefined> {
    const infop = await this.ram.malloc(Siginfo.getSerializer(), Siginfo.sizeof);
    return this.#parentPidfd.waitid(W.of(W.EXITED, W.NOHANG), infop);
  }

  /**
   * Whether the child has not exited yet (a zombie has): its state in /proc, under the pid our own
   * pidfd says it has, read again after to be sure that pid was not reaped and reused meanwhile.
   */
  #alive(): boolean {
    const pid = this.#pidHere();
    if (pid === undefined) return false;
    const state = readStat(pid)?.state;
    return state !== undefined && state !== "Z" && state !== "X" && this.#pidHere() === pid;
  }

  /** Before reaping a server child: was it still the server when it died? (see diedBeforeExec) */
  #noteWhetherServer(): void {
    const pid = this.#pidHere();
    this.#diedAsServer = pid !== undefined && readStat(pid)?.comm === SERVER_COMM;
  }

  /** The child's pid in our pid namespace (read from our pidfd unless known), while it is not reaped. */
  #pidHere(): number | undefined {
    if (!this.pidfd.handle.valid || this.#death) return undefined;
    if (this.#pidIsOurs) return this.pid;
    try {
      const info = readFileSync(`/proc/self/fdinfo/${this.pidfd.handle.near}`, "utf8");
      const pid = Number(/^Pid:\s*(-?\d+)/m.exec(info)?.[1]);
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** For messages: `AsyncChildProcess(pid 1234)`. */
  toString(): string {
    return `AsyncChildProcess(pid ${this.pid})`;
  }
}

/** The kernel's PF_EXITING task flag (include/linux/sched.h), set as do_exit begins. */
const PF_EXITING = 0x4;

/** Room for a /proc/PID/stat line (52 numbers and a name of 15 bytes take well under 1 KiB). */
const statBuffer = Buffer.alloc(4096);

/**
 * A process's name, state and task flags, all from one read of /proc/PID/stat, into a buffer we keep
 * (every exec asks: readFileSync's fstat, second read and new buffer tripled the time it took).
 */
function readStat(pid: number): { comm: string; state: string; flags: number } | undefined {
  try {
    const fd = openSync(`/proc/${pid}/stat`, "r");
    let length: number;
    try {
      length = readSync(fd, statBuffer, 0, statBuffer.length, null);
    } finally {
      closeSync(fd);
    }
    const stat = statBuffer.toString("latin1", 0, length);
    const close = stat.lastIndexOf(")");
    // After "pid (comm) ": state, ppid, pgrp, session, tty_nr, tpgid, flags.
    const fields = stat.slice(close + 2).split(" ");
    return { comm: stat.slice(stat.indexOf("(") + 1, close), state: fields[0] ?? "", flags: Number(fields[6]) };
  } catch {
    return undefined;
  }
}
