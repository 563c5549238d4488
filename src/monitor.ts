// Child monitoring: AsyncChildProcess, a child we can wait for without blocking, through its
// pidfd in the epoller. We never wait for "any child" and never block SIGCHLD, so children of
// `child_process` keep working beside ours.
import { checkInt } from "./args.js";
import type { Command } from "./command.js";
import type { AsyncFileDescriptor } from "./epoller.js";
import type { RAM } from "./memory/ram.js";
import { SyscallError } from "./near/errors.js";
import { SIG } from "./signal.js";
import { EPOLL } from "./sys/epoll.js";
import { CalledProcessError, type ChildState, Siginfo, W } from "./sys/wait.js";
import type { FileDescriptor } from "./task.js";

export class AsyncChildProcess {
  #death: ChildState | undefined;
  #command: Command | undefined;

  /** The pidfd waitid and pidfd_send_signal go through: the parent's (our own unless given). */
  readonly #parentPidfd: FileDescriptor;

  constructor(
    /** The child's pid, in the pid namespace of the process that made it. */
    readonly pid: number,
    /** Our pidfd for the child, registered with the epoller: it says when the child exits. */
    readonly pidfd: AsyncFileDescriptor,
    readonly ram: RAM,
    /** For a child of another process of ours (in its own pid namespace): that parent's pidfd. */
    parentPidfd?: FileDescriptor,
  ) {
    this.#parentPidfd = parentPidfd ?? pidfd.handle;
  }

  /** The command the child exec'd, once it has. */
  get command(): Command | undefined {
    return this.#command;
  }

  /** Internal: the child exec'd `command`. */
  didExec(command: Command | undefined): void {
    this.#command = command;
  }

  /**
   * Waits for a state change in `options` (W.EXITED, W.STOPPED, W.CONTINUED; W.NOWAIT leaves it
   * to be waited for again). Exits are waited for through the pidfd; stops and continues are
   * reported when they are already there. Once the child has died, W.EXITED returns its death again.
   * The wait keeps Node running unless `keepAlive` is false.
   */
  async waitpid(options: W, { keepAlive = true }: { keepAlive?: boolean } = {}): Promise<ChildState> {
    if (this.#death && options & W.EXITED) return this.#death;
    for (;;) {
      const infop = await this.ram.malloc(Siginfo.getSerializer(), Siginfo.sizeof);
      const generation = this.pidfd.epolled.generation;
      const state = await this.#parentPidfd.waitid(W.of(options, W.NOHANG), infop);
      if (state) {
        if (state.died() && !(options & W.NOWAIT)) await this.#reaped(state);
        return state;
      }
      this.pidfd.epolled.negedge(EPOLL.IN, generation);
      await this.pidfd.epolled.waitFor(EPOLL.IN | EPOLL.HUP | EPOLL.ERR, keepAlive);
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
    if (this.#death) return false;
    try {
      await this.#parentPidfd.pidfdSendSignal(sig);
      return true;
    } catch (e) {
      if (e instanceof SyscallError && e.code === "ESRCH") return false;
      throw e;
    }
  }

  /**
   * Sends `sig` to the child's process group. Resolves false, sending nothing, once the child was
   * reaped: its process group id may belong to someone else by then.
   */
  async killpg(sig: SIG = SIG.KILL): Promise<boolean> {
    checkInt("sig", sig);
    if (this.#death) return false;
    const task = this.#parentPidfd.task;
    await task.kill(-(await task.getpgid(this.pid)), sig);
    return true;
  }

  /** Kills the child if it is alive and reaps it. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#death) {
      await this.kill().catch(() => {});
      await this.waitpid(W.EXITED);
    }
  }

  async #reaped(state: ChildState): Promise<void> {
    this.#death = state;
    await this.pidfd.close();
    if (this.#parentPidfd !== this.pidfd.handle && this.#parentPidfd.valid)
      await this.#parentPidfd.close().catch(() => {});
  }

  toString(): string {
    return `AsyncChildProcess(pid ${this.pid})`;
  }
}
