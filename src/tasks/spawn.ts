// Thread.spawn and Thread.run: a child that execs at once, started the way posix_spawn does it:
// clone(CLONE_VM | CLONE_VFORK) into the exec stub (native/server.c), with no syscall server.
//
//   const proc = await thr.spawn(new Command("/bin/true", ["true"], {}));
//   await proc.check();
//   await thr.run(command);   // spawn, then check
import { isMainThread } from "node:worker_threads";
import type { Command } from "../command.js";
import { AsyncFileDescriptor } from "../epoller.js";
import * as gen from "../gen/constants.js";
import { AsyncChildProcess } from "../monitor.js";
import { native } from "../native.js";
import { SyscallError } from "../near/errors.js";
import { asFd } from "../near/ids.js";
import { LocalSyscall } from "../near/local.js";
import { stringSerializer } from "../struct.js";
import { type ChildState, W } from "../sys/wait.js";
import { Thread } from "../thread.js";
import { ArgList } from "../unistd/exec.js";
import "./clone.js";
import { environmentArgList } from "./envp.js";
import { ChildMemory, cloneRaw, withSignalsBlocked } from "./frame.js";
import { killAndReapNow } from "./helper.js";

declare module "../thread.js" {
  interface Thread {
    /**
     * Starts `command` in a new child, the way posix_spawn does: clone(CLONE_VM | CLONE_VFORK) into
     * a tiny exec stub (no syscall server), this thread paused until the exec. A failed exec
     * rejects with SyscallError. Signal dispositions and mask are reset, fds 0-2 inherited, the
     * rest of a local thread's fds are close-on-exec. From a child thread: clone, then exec.
     */
    spawn(command: Command): Promise<AsyncChildProcess>;
    /** Runs `command` in a new child to its end; rejects with CalledProcessError on failure unless `check` is false. */
    run(command: Command, options?: { check?: boolean }): Promise<ChildState>;
  }
}

Thread.prototype.run = async function run(this: Thread, command: Command, options: { check?: boolean } = {}) {
  const proc = await this.spawn(command);
  return options.check === false ? proc.waitpid(W.EXITED) : proc.check();
};

Thread.prototype.spawn = async function spawn(this: Thread, command: Command): Promise<AsyncChildProcess> {
  if (!(this.task.sysif instanceof LocalSyscall)) return (await this.clone()).exec(command);
  if (!isMainThread) throw new Error("spawn: only from Node's main thread (a worker's children would die with it)");
  const ram = this.ram;
  const argvList = new ArgList(command.arguments); // checks the strings before anything runs
  const owned: { free(): void }[] = [];
  try {
    const path = await ram.ptr(stringSerializer, command.executablePath);
    owned.push(path);
    const argv = await ram.ptr(argvList.getSelfSerializer(this.task), argvList);
    owned.push(argv);
    const { envp, release } = await environmentArgList(this.environ, command.envUpdates, ram);
    owned.push({ free: release });
    const memory = await spawnMemory(this);
    memory.reset();
    const sp = memory.mainFrame(native.execStubAddress, [
      path.near,
      argv.near,
      envp.near,
      memory.result,
      process.pid,
      0,
    ]);
    const flags = gen.CLONE.VM | gen.CLONE.VFORK | gen.CLONE.PIDFD | gen.SIG.CHLD;
    // CLONE_VFORK: this returns once the child exec'd or exited, so the stack is free again; what it
    // left in the memory is read before any await lets another spawn reuse it.
    const pid = withSignalsBlocked(memory.masks, () => cloneRaw(flags, sp, memory.pidfdOut, 0));
    const pidfd = this.task.makeFd(asFd(memory.readPidfd()));
    const errno = -memory.readResult();
    let proc: AsyncChildProcess;
    try {
      proc = new AsyncChildProcess(pid, await AsyncFileDescriptor.make(this.epoller, ram, pidfd), ram);
    } catch (e) {
      // A child we cannot watch would be a zombie nobody reaps.
      await killAndReapNow(pidfd);
      throw e;
    }
    if (errno > 0) {
      await proc.waitpid(W.EXITED);
      throw new SyscallError(errno, "execve", { path: command.executablePath });
    }
    proc.didExec(command);
    return proc;
  } finally {
    for (const p of owned) p.free();
  }
};

/**
 * One stack serves every spawn of the Node process: CLONE_VFORK keeps the main thread (the only
 * one that spawns) stopped until the child has left it.
 */
let spawnStack: Promise<ChildMemory> | undefined;
function spawnMemory(thread: Thread): Promise<ChildMemory> {
  spawnStack ??= ChildMemory.map(thread.task).catch((e: unknown) => {
    spawnStack = undefined;
    throw e;
  });
  return spawnStack;
}
