// What thr.spawn and thr.run take besides the program (stdio, fds at given numbers, cwd, env, a
// bare name looked up through PATH), checked before any syscall, and the plan made of it: pipes
// and /dev/null opened in the spawning thread, and which of its fds go at which numbers in the child.
//
//   const { stdout } = await thr.run("ls", ["-l"], { stdio: ["inherit", "pipe", "inherit"], cwd: "/etc" });
import { describe } from "../args.js";
import { Command } from "../command.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import { O } from "../fcntl.js";
import type { FileDescriptor } from "../task.js";
import type { Thread } from "../thread.js";
import { closeAll } from "./connected.js";

/**
 * What one of the child's fds 0, 1, 2 is: the spawning thread's own (`"inherit"`), a new pipe to us
 * (`"pipe"`), /dev/null (`"ignore"`), or an fd of the spawning thread.
 */
export type Stdio = "inherit" | "pipe" | "ignore" | FileDescriptor;

/** What `thr.spawn` takes besides the program: every option is checked before any syscall. */
export interface SpawnOptions {
  /** The child's fds 0, 1 and 2: one setting for all three, or one each; `"inherit"` by default. */
  stdio?: Stdio | readonly [Stdio?, Stdio?, Stdio?];
  /** More fds of the spawning thread to hand the child, at the numbers given (3 and up): `{ 3: listener }`. */
  fds?: Readonly<Record<number, FileDescriptor>>;
  /** The directory the program starts in (a relative program path is taken from there). */
  cwd?: string;
  /** Environment variables set on top of the thread's, as `Command.env` does. */
  env?: Readonly<Record<string, string>>;
}

/** What `thr.run` takes: `spawn`'s options, and what to do with the child's output and status. */
export interface RunOptions<E extends "utf8" | "buffer" = "utf8" | "buffer"> extends SpawnOptions {
  /** Reject with CalledProcessError unless the child exits 0 (default true). */
  check?: boolean;
  /** Written to the child's stdin, which is then closed; stdin must be `"pipe"` (the default with `input`). */
  input?: string | Uint8Array;
  /** Captured output as strings (`"utf8"`, the default) or Buffers (`"buffer"`). */
  encoding?: E;
}

/** What the child is given, once made: fds of the spawning thread at numbers, and our ends of its pipes. */
export interface SpawnPlan {
  /** Each fd (of the spawning thread) to put at a number in the child; sources are copied first, so order does not matter. */
  moves: { from: FileDescriptor; to: number }[];
  cwd: string | undefined;
  /** Our ends of the pipes, for fds 0, 1, 2 set to `"pipe"` (made async in the spawning thread). */
  pipes: [AsyncFileDescriptor?, AsyncFileDescriptor?, AsyncFileDescriptor?];
  /** The child's ends and /dev/null, closed in the spawning thread once the child holds its copies. */
  theirs: FileDescriptor[];
}

const MAX_FD = 2 ** 31 - 1;

/** The program: a Command as given, or `file` (a bare name is looked up through PATH) with `args`. */
export async function resolveProgram(
  thread: Thread,
  file: Command | string,
  args: readonly string[] | undefined,
  env: Readonly<Record<string, string>> | undefined,
): Promise<Command> {
  let command: Command;
  if (file instanceof Command) {
    if (args !== undefined) throw new TypeError("spawn: a Command takes no separate arguments (use command.args())");
    command = file;
  } else {
    if (typeof file !== "string" || file === "") throw new TypeError(`spawn: not a program: ${describe(file)}`);
    if (args !== undefined && (!Array.isArray(args) || args.some((a) => typeof a !== "string")))
      throw new TypeError(`spawn: args must be an array of strings, got ${describe(args)}`);
    const base = file.includes("/") ? new Command(file, [file]) : await thread.environ.which(file, env?.PATH);
    command = base.args(...(args ?? []));
  }
  return env === undefined ? command : command.env(env);
}

/** Checks everything an options object says, before any syscall. */
export function checkOptions(thread: Thread, options: RunOptions): void {
  if (options === null || typeof options !== "object")
    throw new TypeError(`spawn: options must be an object, got ${describe(options)}`);
  const stdio = stdioOf(options);
  for (const [i, s] of stdio.entries()) {
    if (s === "inherit" || s === "pipe" || s === "ignore") continue;
    checkOwnFd(thread, `stdio[${i}]`, s);
  }
  if (options.fds !== undefined) {
    if (options.fds === null || typeof options.fds !== "object")
      throw new TypeError(`spawn: fds must be an object, got ${describe(options.fds)}`);
    for (const [key, fd] of Object.entries(options.fds)) {
      const n = Number(key);
      if (!Number.isInteger(n) || n < 3 || n > MAX_FD)
        throw new TypeError(`spawn: fds: ${key} is not an fd number of 3 or more (0-2 are set by stdio)`);
      checkOwnFd(thread, `fds[${key}]`, fd);
    }
  }
  if (
    options.cwd !== undefined &&
    (typeof options.cwd !== "string" || options.cwd === "" || options.cwd.includes("\0"))
  )
    throw new TypeError(`spawn: cwd must be a non-empty path without NUL, got ${describe(options.cwd)}`);
  if (options.env !== undefined) new Command("/", ["/"], options.env); // checks the names and values
  if (options.check !== undefined && typeof options.check !== "boolean")
    throw new TypeError(`run: check must be a boolean, got ${describe(options.check)}`);
  if (options.encoding !== undefined && options.encoding !== "utf8" && options.encoding !== "buffer")
    throw new TypeError(`run: encoding must be "utf8" or "buffer", got ${describe(options.encoding)}`);
  if (options.input !== undefined) {
    if (typeof options.input !== "string" && !(options.input instanceof Uint8Array))
      throw new TypeError(`run: input must be a string or a Uint8Array, got ${describe(options.input)}`);
    if (stdio[0] !== "pipe") throw new TypeError(`run: input needs stdin to be "pipe", not ${describe(stdio[0])}`);
  }
}

function checkOwnFd(thread: Thread, what: string, fd: unknown): void {
  const f = fd as FileDescriptor;
  if (f === null || typeof f !== "object" || typeof f.near !== "number" || !("task" in f))
    throw new TypeError(`spawn: ${what} must be "inherit", "pipe", "ignore" or a FileDescriptor, got ${describe(fd)}`);
  if (!f.valid) throw new TypeError(`spawn: ${what}: ${f} is closed`);
  if (f.task.fdTable !== thread.task.fdTable)
    throw new TypeError(`spawn: ${what}: ${f} is not in the spawning thread's fd table`);
}

/** The three stdio settings, with `input` making stdin a pipe unless said otherwise. */
function stdioOf(options: RunOptions): [Stdio, Stdio, Stdio] {
  const given = options.stdio;
  const all = Array.isArray(given) ? given : [given, given, given];
  const stdin = all[0] ?? (options.input !== undefined ? "pipe" : "inherit");
  return [stdin, all[1] ?? "inherit", all[2] ?? "inherit"];
}

/** Opens the pipes and /dev/null the options ask for, in `thread`. On failure nothing is left open. */
export async function makePlan(thread: Thread, options: RunOptions): Promise<SpawnPlan> {
  const plan: SpawnPlan = { moves: [], cwd: options.cwd, pipes: [], theirs: [] };
  const ours: FileDescriptor[] = [];
  try {
    let devNull: FileDescriptor | undefined;
    for (const [i, s] of stdioOf(options).entries()) {
      if (s === "inherit") continue;
      if (s === "ignore") {
        devNull ??= await openDevNull(thread);
        plan.moves.push({ from: devNull, to: i });
      } else if (s === "pipe") {
        const { read, write } = await thread.pipe();
        const [mine, child] = i === 0 ? [write, read] : [read, write];
        ours.push(mine);
        plan.theirs.push(child);
        plan.moves.push({ from: child, to: i });
        plan.pipes[i] = await thread.makeAfd(mine, true);
      } else {
        plan.moves.push({ from: s, to: i });
      }
    }
    if (devNull) plan.theirs.push(devNull);
    for (const [key, fd] of Object.entries(options.fds ?? {})) plan.moves.push({ from: fd, to: Number(key) });
    return plan;
  } catch (e) {
    await closeAll([...plan.pipes.map((p) => p?.handle), ...ours, ...plan.theirs]);
    throw e;
  }
}

async function openDevNull(thread: Thread): Promise<FileDescriptor> {
  const path = await thread.ptr("/dev/null");
  try {
    return await thread.task.open(path, O.RDWR);
  } finally {
    path.free();
  }
}

/** The number every temporary copy goes at or above: past every target. */
export function copiesAbove(plan: SpawnPlan): number {
  return Math.max(3, ...plan.moves.map((m) => m.to + 1));
}

/** Closes what the plan opened for the child (our ends of its pipes stay: they are the caller's). */
export async function closeTheirs(plan: SpawnPlan): Promise<void> {
  await closeAll(plan.theirs);
}

/** Closes everything the plan opened: for a spawn that failed. */
export async function closePlan(plan: SpawnPlan): Promise<void> {
  await closeAll([...plan.theirs, ...plan.pipes.map((p) => p?.handle)]);
}
