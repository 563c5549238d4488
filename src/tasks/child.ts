// ChildThread: a process made by Thread.clone (src/tasks/clone.ts), which runs the freestanding
// syscall server (native/server.c) on a socket until it execs. See docs/architecture.md.
//
//   const child = await thr.clone();
//   await child.task.getpid();
//   const proc = await child.exec(await child.environ.which("true"));
//   await proc.check();
import { Command } from "../command.js";
import type { FDTable } from "../far.js";
import { F } from "../fcntl.js";
import type { AsyncChildProcess } from "../monitor.js";
import { SyscallHangupError } from "../near/errors.js";
import { CLONE } from "../sched.js";
import { stringSerializer } from "../struct.js";
import type { Thread } from "../thread.js";
import { ArgList } from "../unistd/exec.js";
import { ConnectedThread, type Passing } from "./connected.js";
import type { SyscallConnection } from "./connection.js";
import { environmentArgList } from "./envp.js";

export { closeAll } from "./connected.js";

/** What `exec` rejects with when the child died before it could exec. */
function diedBeforeExec(cmd: Command, cause?: unknown): SyscallHangupError {
  const error = new SyscallHangupError("execve", "died", `the child died before it could exec ${cmd.executablePath}`);
  if (cause !== undefined) error.cause = cause;
  return error;
}

/** A child process made by `Thread.clone`, serving syscalls until it execs or exits. */
export class ChildThread extends ConnectedThread {
  /** The program an exec under way is for. */
  #execing: string | undefined;

  /** @internal Children come from `thr.clone` and `thr.fork`. */
  constructor(
    thread: Thread,
    /** The child, for waiting and signalling. */
    readonly process: AsyncChildProcess,
    connection: SyscallConnection,
    /** The Node process's thread, which made this child (maybe through other children). */
    root: Thread,
    /** A socket pair for passing fds: our end, and the child's (none for a remote host's child). */
    passing: Passing | undefined,
    /** With CLONE_FILES: the table shared with the parent (until the child unshares it). */
    sharedTable?: FDTable,
  ) {
    super(thread, connection, root, passing, sharedTable);
  }

  /**
   * Replaces the child's program with `command`: `execve` with the Command's path, argv and
   * environment updates. Resolves once the exec happened, with the process to wait for.
   * @example
   * ```js
   * import { localThread as thr } from "rsyscall";
   *
   * const child = await thr.clone();
   * await child.task.chdir(await child.ptr("/tmp")); // the child's working directory, not ours
   * const proc = await child.exec(await child.environ.which("pwd"));
   * await proc.check(); // pwd printed "/tmp"
   * ```
   */
  exec(command: Command): Promise<AsyncChildProcess> {
    return this.execve(command.executablePath, [...command.arguments], command.envUpdates, command);
  }

  /** Replaces the child's program, with the child's environment as it is. */
  execv(path: string, argv: string[]): Promise<AsyncChildProcess> {
    return this.execve(path, argv);
  }

  /**
   * `int execve(const char *pathname, char *const argv[], char *const envp[])`, as
   * `execve(path, argv, environ + envUpdates)`: replaces the child's program. Its stdio (fds 0-2)
   * is made inheritable first (Node marks them close-on-exec). Resolves once the exec happened;
   * a failed exec rejects with SyscallError and leaves the child usable; a child that died before
   * it could exec (killed, say) rejects with SyscallHangupError (`syscall` "execve").
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
      const shared = this.task.addressSpace === this.root.task.addressSpace;
      const { envp, release } = await environmentArgList(
        this.environ,
        envUpdates,
        shared ? this.root.ram : this.ram,
        shared,
      );
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
    } catch (e) {
      // A child that died before it could exec may fail any step on the way (a hang-up, a call not
      // sent, EPIPE passing a fork the memory it is reached through): it says so one way, whichever
      // step met the death.
      if (this.process.diedBeforeExec()) throw diedBeforeExec(cmd, e);
      throw e;
    } finally {
      // Either the exec failed (the child goes on) or the child is gone: nothing reads these now.
      for (const p of owned) p.free();
      this.#execing = undefined;
    }
    // The process went away under the execve: it exec'd, or it died first (it was killed, say).
    if (this.process.diedBeforeExec()) throw diedBeforeExec(cmd);
    this.process.didExec(cmd);
    return this.process;
  }

  /** For `await using`: a child that has not exec'd is killed and reaped. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.connection.closed) await this.process[Symbol.asyncDispose]();
  }
}
