// Thread.spawn and Thread.run: a child that execs at once, started the way posix_spawn does it:
// clone(CLONE_VM | CLONE_VFORK) into the exec stub (native/server.c), with no syscall server.
//
//   const proc = await thr.spawn(new Command("/bin/true", ["true"], {}));
//   await proc.check();
//   await thr.run(command);   // spawn, then check
//   const { stdout } = await thr.run("ls", ["-l"], { stdio: ["inherit", "pipe", "inherit"], cwd: "/etc" });
import { isMainThread } from "node:worker_threads";
import { Command } from "../command.js";
import { AsyncFileDescriptor } from "../epoller.js";
import { F } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { AsyncChildProcess } from "../monitor.js";
import { native } from "../native.js";
import { SyscallError } from "../near/errors.js";
import { asFd } from "../near/ids.js";
import { LocalSyscall } from "../near/local.js";
import { bytesSerializer, stringSerializer } from "../struct.js";
import { CalledProcessError, type ChildState, W } from "../sys/wait.js";
import type { FileDescriptor } from "../task.js";
import { Thread } from "../thread.js";
import { ArgList } from "../unistd/exec.js";
import "./clone.js";
import { closeAll } from "./connected.js";
import { environmentArgList } from "./envp.js";
import { ChildMemory, cloneRaw, withSignalsBlocked } from "./frame.js";
import { killAndReapNow } from "./helper.js";
import {
  checkOptions,
  closePlan,
  closeTheirs,
  copiesAbove,
  makePlan,
  type RunOptions,
  resolveProgram,
  type SpawnOptions,
  type SpawnPlan,
} from "./spawn-options.js";

declare module "../thread.js" {
  interface Thread {
    /**
     * Starts a program in a new child, the way posix_spawn does: clone(CLONE_VM | CLONE_VFORK) into
     * a tiny exec stub (no syscall server), this thread paused until the exec. `file` is a Command,
     * or a program (a bare name is looked up through PATH) with `args`. A failed exec, chdir or fd
     * move rejects with SyscallError. Signal dispositions and mask are reset, fds 0-2 inherited
     * unless `stdio` says otherwise, the rest of a local thread's fds are close-on-exec. Pipes asked
     * for are on the returned process (`proc.stdout`). From a child or remote thread: clone, then exec.
     * @example
     * ```js
     * import { localThread as thr } from "rsyscall";
     * import { W } from "rsyscall/sys/wait";
     *
     * const proc = await thr.spawn("sleep", ["10"]); // looked up in PATH
     * await proc.kill();
     * console.log((await proc.waitpid(W.EXITED)).signal); // "SIGKILL"
     * ```
     */
    spawn(command: Command, options?: SpawnOptions): Promise<AsyncChildProcess>;
    /** `spawn` of a program by name or path, with its arguments (argv[0] is `file`). */
    spawn(file: string, args?: readonly string[], options?: SpawnOptions): Promise<AsyncChildProcess>;
    /**
     * Runs a program (as `spawn` takes it) to its end. Rejects with CalledProcessError unless it
     * exits 0 (`check: false` resolves all the same). The output of a stdout or stderr given as
     * `"pipe"` is read, and is on the state returned (and on the error).
     * @example
     * ```js
     * import { localThread as thr } from "rsyscall";
     *
     * const { stdout } = await thr.run("uname", ["-r"], { stdio: ["inherit", "pipe", "inherit"] });
     * console.log(`kernel ${stdout.trim()}`);
     * const { exitCode } = await thr.run("sh", ["-c", "exit 3"], { check: false }); // no CalledProcessError
     * console.log(exitCode); // 3
     * ```
     */
    run<E extends "utf8" | "buffer" = "utf8">(
      command: Command,
      options?: RunOptions<E>,
    ): Promise<ChildState<Output<E>>>;
    /** `run` of a program by name or path, with its arguments (argv[0] is `file`). */
    run<E extends "utf8" | "buffer" = "utf8">(
      file: string,
      args?: readonly string[],
      options?: RunOptions<E>,
    ): Promise<ChildState<Output<E>>>;
  }
}

/** What captured output is, for an encoding. */
export type Output<E extends "utf8" | "buffer"> = E extends "buffer" ? Buffer : string;

/** The (file, args, options) or (command, options) a spawn was called with. */
function parseCall(
  file: Command | string,
  argsOrOptions: readonly string[] | RunOptions | undefined,
  maybeOptions: RunOptions | undefined,
): { args: readonly string[] | undefined; options: RunOptions | undefined } {
  if (file instanceof Command || !Array.isArray(argsOrOptions)) {
    if (maybeOptions !== undefined) throw new TypeError("spawn: too many arguments (a Command takes options only)");
    return { args: undefined, options: argsOrOptions as RunOptions | undefined };
  }
  return { args: argsOrOptions as readonly string[], options: maybeOptions };
}

Thread.prototype.run = async function run(
  this: Thread,
  file: Command | string,
  argsOrOptions?: readonly string[] | RunOptions,
  maybeOptions?: RunOptions,
) {
  const { args, options } = parseCall(file, argsOrOptions, maybeOptions);
  if (options === undefined) return (await spawnWith(this, file, args, undefined)).check();
  checkOptions(this, options);
  const proc = await spawnWith(this, file, args, options);
  const [stdinPipe, stdoutPipe, stderrPipe] = [proc.stdin, proc.stdout, proc.stderr];
  const feeding = stdinPipe ? feed(stdinPipe, options.input) : undefined;
  const reading = Promise.all([stdoutPipe?.readToEof(), stderrPipe?.readToEof()]);
  try {
    const [[out, err], state] = await Promise.all([reading, proc.waitpid(W.EXITED), feeding]).then(
      ([r, s]) => [r, s] as const,
    );
    const decode = (b: Buffer | undefined) =>
      b === undefined || options.encoding === "buffer" ? b : b.toString("utf8");
    const full = state.withOutput(decode(out), decode(err));
    if (options.check !== false && !full.clean()) throw new CalledProcessError(full, proc.command);
    return full;
  } finally {
    await Promise.all([stdinPipe?.close(), stdoutPipe?.close(), stderrPipe?.close()].map((p) => p?.catch(() => {})));
  }
} as Thread["run"];

/** Writes `input` (if any) to the child's stdin and closes it; a child that stops reading early is no error. */
async function feed(stdin: AsyncFileDescriptor, input: string | Uint8Array | undefined): Promise<void> {
  try {
    if (input !== undefined && input.length > 0) await stdin.writeAllBytes(Buffer.from(input));
  } catch (e) {
    if (!(e instanceof SyscallError && e.code === "EPIPE")) throw e;
  } finally {
    await stdin.close().catch(() => {});
  }
}

Thread.prototype.spawn = function spawn(
  this: Thread,
  file: Command | string,
  argsOrOptions?: readonly string[] | SpawnOptions,
  maybeOptions?: SpawnOptions,
): Promise<AsyncChildProcess> {
  const { args, options } = parseCall(file, argsOrOptions, maybeOptions);
  if (options !== undefined) checkOptions(this, options);
  return spawnWith(this, file, args, options);
} as Thread["spawn"];

async function spawnWith(
  thread: Thread,
  file: Command | string,
  args: readonly string[] | undefined,
  options: SpawnOptions | undefined,
): Promise<AsyncChildProcess> {
  const command = await resolveProgram(thread, file, args, options?.env);
  if (!isMainThread) throw new Error("spawn: only from Node's main thread (a worker's children would die with it)");
  // The common case stays as it was: no plan, nothing opened.
  const plan = options === undefined ? undefined : await makePlan(thread, options);
  let proc: AsyncChildProcess;
  try {
    proc =
      thread.task.sysif instanceof LocalSyscall
        ? await spawnLocal(thread, command, plan)
        : await cloneAndExec(thread, command, plan);
  } catch (e) {
    if (plan) await closePlan(plan);
    throw e;
  }
  if (plan) {
    await closeTheirs(plan);
    proc.attachPipes(plan.pipes);
  }
  return proc;
}

/** From a thread that is not the Node process: a child that does the plan's moves and chdir through syscalls, then execs. */
async function cloneAndExec(thread: Thread, command: Command, plan: SpawnPlan | undefined): Promise<AsyncChildProcess> {
  const child = await thread.clone();
  try {
    if (plan) {
      const above = copiesAbove(plan);
      // Copies first, above every target, so that no move clobbers the source of another; then our
      // handles to the sources go, so that a target number has no other handle in the child.
      const sources = plan.moves.map((move) => child.inheritFd(move.from));
      const copies: FileDescriptor[] = [];
      for (const source of sources) copies.push(child.task.makeFd(asFd(await source.fcntl(F.DUPFD_CLOEXEC, above))));
      await closeAll(sources);
      const std = [child.stdin, child.stdout, child.stderr];
      for (const [i, move] of plan.moves.entries()) await copies[i]!.dup2(std[move.to] ?? child.task.fdAt(move.to));
      await closeAll(copies);
      if (plan.cwd !== undefined) await child.task.chdir(await child.ptr(plan.cwd));
    }
    return await child.exec(command);
  } catch (e) {
    await child[Symbol.asyncDispose]().catch(() => {});
    throw e;
  }
}

/** The posix_spawn way, for the Node process: CLONE_VFORK into the exec stub, the plan done there. */
async function spawnLocal(thread: Thread, command: Command, plan: SpawnPlan | undefined): Promise<AsyncChildProcess> {
  const ram = thread.ram;
  const argvList = new ArgList(command.arguments); // checks the strings before anything runs
  const owned: { free(): void }[] = [];
  try {
    const path = await ram.ptr(stringSerializer, command.executablePath);
    owned.push(path);
    const argv = await ram.ptr(argvList.getSelfSerializer(thread.task), argvList);
    owned.push(argv);
    const { envp, release } = await environmentArgList(thread.environ, command.envUpdates, ram);
    owned.push({ free: release });
    const actions = plan ? await spawnActions(thread, plan, owned) : undefined;
    const memory = await spawnMemory(thread);
    memory.reset();
    const sp = memory.mainFrame(native.execStubAddress, [
      path.near,
      argv.near,
      envp.near,
      memory.result,
      process.pid,
      actions?.address ?? 0,
    ]);
    const flags = gen.CLONE.VM | gen.CLONE.VFORK | gen.CLONE.PIDFD | gen.SIG.CHLD;
    // CLONE_VFORK: this returns once the child exec'd or exited, so the stack is free again; what it
    // left in the memory is read before any await lets another spawn reuse it.
    const pid = withSignalsBlocked(memory.masks, () => cloneRaw(flags, sp, memory.pidfdOut, 0));
    const pidfd = thread.task.makeFd(asFd(memory.readPidfd()));
    const errno = -memory.readResult();
    const failed = actions?.failed() ?? FAILED.EXEC;
    let proc: AsyncChildProcess;
    try {
      proc = new AsyncChildProcess(pid, await AsyncFileDescriptor.make(thread.epoller, ram, pidfd), ram);
    } catch (e) {
      // A child we cannot watch would be a zombie nobody reaps.
      await killAndReapNow(pidfd);
      throw e;
    }
    if (errno > 0) {
      await proc.waitpid(W.EXITED);
      if (failed === FAILED.CHDIR) throw new SyscallError(errno, "chdir", { path: plan?.cwd });
      if (failed === FAILED.DUP) throw new SyscallError(errno, "dup3");
      throw new SyscallError(errno, "execve", { path: command.executablePath });
    }
    proc.didExec(command);
    return proc;
  } finally {
    for (const p of owned) p.free();
  }
}

/** Which step of the exec stub failed (RSYS_SPAWN_FAILED_* in native/rsyscall.h). */
const FAILED = { EXEC: 0, CHDIR: 1, DUP: 2 } as const;

/**
 * struct rsys_spawn_actions (native/rsyscall.h), in our memory, which the stub shares:
 * cwd (a pointer), failed, count, above, then (from, to) pairs of int32.
 */
async function spawnActions(
  thread: Thread,
  plan: SpawnPlan,
  owned: { free(): void }[],
): Promise<{ address: number; failed: () => number }> {
  const cwd = plan.cwd === undefined ? undefined : await thread.ram.ptr(stringSerializer, plan.cwd);
  if (cwd) owned.push(cwd);
  const bytes = Buffer.alloc(32 + 8 * plan.moves.length);
  bytes.writeBigUInt64LE(BigInt(cwd?.near ?? 0), 0);
  bytes.writeBigInt64LE(BigInt(FAILED.EXEC), 8);
  bytes.writeBigInt64LE(BigInt(plan.moves.length), 16);
  bytes.writeBigInt64LE(BigInt(copiesAbove(plan)), 24);
  for (const [i, move] of plan.moves.entries()) {
    bytes.writeInt32LE(move.from.near, 32 + 8 * i);
    bytes.writeInt32LE(move.to, 36 + 8 * i);
  }
  const block = await thread.ram.ptr(bytesSerializer, bytes);
  owned.push(block);
  const view = Buffer.from(native.view(block.near, bytes.length));
  return { address: block.near, failed: () => Number(view.readBigInt64LE(8)) };
}

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
