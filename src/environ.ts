// Environment: a thread's environment variables, and looking up executables in its PATH.
//
//   const cat = await thr.environ.which("cat");   // Command("/usr/bin/cat", ["cat"])
//   thr.environ.get("HOME");
import { Command } from "./command.js";
import { O } from "./fcntl.js";
import type { RAM } from "./memory/ram.js";
import { SyscallError } from "./near/errors.js";
import { stringSerializer } from "./struct.js";
import { Stat } from "./sys/stat.js";
import type { Task } from "./task.js";
import { OK } from "./unistd/index.js";

/** `which` found no executable file of that name in PATH. */
export class ExecutableNotFoundError extends Error {
  /** The class's name, which Node shows before the message. */
  override name = "ExecutableNotFoundError";
  constructor(
    /** The name that was looked up. */
    readonly executable: string,
    /** The PATH it was looked up in. */
    readonly path: string,
  ) {
    super(`${executable}: no executable file of that name in PATH=${path}`);
  }
}

/**
 * A thread's environment variables: what an exec from that thread passes on (with the Command's
 * updates on top), and the PATH `which` searches, checked with that thread's own syscalls.
 */
export class Environment {
  readonly #vars: Map<string, string>;
  readonly #found = new Map<string, string>();

  /**
   * `vars` may be another thread's Environment: nothing changes one, so the variables are shared, not copied.
   * @internal Each thread comes with its Environment (`thr.environ`).
   */
  constructor(
    /** The task `which` checks files through: PATH is searched where the thread is. */
    readonly task: Task,
    /** The memory `which` passes paths in. */
    readonly ram: RAM,
    vars: Readonly<Record<string, string>> | Environment,
  ) {
    this.#vars = vars instanceof Environment ? vars.#vars : new Map(Object.entries(vars));
  }

  /**
   * Internal: an object standing for these variables, the same for every Environment that shares
   * them (a child's shares its parent's): a key to cache what is made from them.
   * @internal
   */
  get variablesKey(): object {
    return this.#vars;
  }

  /** The value of `key`, or `fallback` when it is unset. */
  get(key: string): string | undefined;
  get(key: string, fallback: string): string;
  get(key: string, fallback?: string): string | undefined {
    return this.#vars.get(key) ?? fallback;
  }

  /** Whether `key` is set (maybe to the empty string). */
  has(key: string): boolean {
    return this.#vars.has(key);
  }

  /** All variables, as `KEY=value` strings: an envp. */
  toEnvp(): string[] {
    return [...this.#vars].map(([k, v]) => `${k}=${v}`);
  }

  /** A copy of the variables as an object. */
  toObject(): Record<string, string> {
    return Object.fromEntries(this.#vars);
  }

  /** `$TMPDIR`, or `/tmp`. */
  get tmpdir(): string {
    return this.get("TMPDIR") || "/tmp";
  }

  /** A Command running `/bin/sh`. */
  get sh(): Command {
    return new Command("/bin/sh", ["sh"], {});
  }

  /**
   * The first executable regular file called `name` in PATH, as a Command with argv `[name]`.
   * Throws ExecutableNotFoundError when there is none. A `name` containing a slash is used as it is.
   * Results are cached per name. `path` searches another PATH instead (not cached).
   */
  async which(name: string, path?: string): Promise<Command> {
    if (typeof name !== "string" || name === "") throw new TypeError("which: the name must be a non-empty string");
    if (path !== undefined && typeof path !== "string") throw new TypeError("which: path must be a string");
    const own = path === undefined;
    const cached = own ? this.#found.get(name) : undefined;
    if (cached) return new Command(cached, [name], {});
    const search = path ?? this.get("PATH", "");
    const candidates = name.includes("/") ? [name] : search.split(":").map((dir) => `${dir || "."}/${name}`);
    for (const candidate of candidates) {
      if (await this.#isExecutableFile(candidate)) {
        if (own) this.#found.set(name, candidate);
        return new Command(candidate, [name], {});
      }
    }
    throw new ExecutableNotFoundError(name, search);
  }

  async #isExecutableFile(path: string): Promise<boolean> {
    const pathPtr = await this.ram.ptr(stringSerializer, path);
    try {
      await this.task.access(pathPtr, OK.X);
      const fd = await this.task.open(pathPtr, O.PATH);
      try {
        const stat = await (await fd.fstat(await this.ram.malloc(Stat.getSerializer(), Stat.sizeof))).read();
        return stat.isFile();
      } finally {
        await fd.close();
      }
    } catch (e) {
      if (e instanceof SyscallError) return false;
      throw e;
    } finally {
      pathPtr.free();
    }
  }
}
