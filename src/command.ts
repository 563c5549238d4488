// Command: an executable path, its argv, and environment updates; what exec takes.
//
//   const cmd = new Command("/bin/sh", ["sh", "-c", "echo $X"], {}).env({ X: "1" });
//   cmd.inShellForm();   // "X=1 /bin/sh -c 'echo $X'"

/**
 * The arguments to execve, built up immutably. `argv[0]` is the program's name for itself.
 * @example
 * ```js
 * import { Command, localThread as thr } from "rsyscall";
 *
 * const hello = new Command("/bin/echo", ["echo", "hello"], {});
 * const cmd = hello.args("world").env({ LANG: "C" }); // new Commands; `hello` is unchanged
 * console.log(cmd.inShellForm()); // "LANG=C /bin/echo hello world"
 * await thr.run(cmd); // prints "hello world"
 * ```
 */
export class Command {
  /** The file execve runs: a path, not looked up in PATH (`thr.environ.which` does that). */
  readonly executablePath: string;
  /** argv, `argv[0]` included. */
  readonly arguments: readonly string[];
  /** Variables set on top of the environment of the thread that execs. */
  readonly envUpdates: Readonly<Record<string, string>>;

  constructor(executablePath: string, argv: readonly string[], envUpdates: Readonly<Record<string, string>> = {}) {
    if (typeof executablePath !== "string") throw new TypeError("Command: the executable path must be a string");
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === "string")) {
      throw new TypeError("Command: argv must be an array of strings");
    }
    for (const [k, v] of Object.entries(envUpdates)) {
      if (k === "" || k.includes("=") || typeof v !== "string") {
        throw new TypeError(`Command: bad environment update ${JSON.stringify(k)}=${JSON.stringify(v)}`);
      }
    }
    this.executablePath = executablePath;
    this.arguments = Object.freeze([...argv]);
    this.envUpdates = Object.freeze({ ...envUpdates });
  }

  /** A new Command with more arguments. */
  args(...more: string[]): Command {
    return new Command(this.executablePath, [...this.arguments, ...more], this.envUpdates);
  }

  /** A new Command with more environment updates (later ones win). */
  env(updates: Readonly<Record<string, string>>): Command {
    return new Command(this.executablePath, this.arguments, { ...this.envUpdates, ...updates });
  }

  /** The command as a line for a POSIX shell: updates, the path, then argv without argv[0]. */
  inShellForm(): string {
    const env = Object.entries(this.envUpdates).map(([k, v]) => `${k}=${shellQuote(v)}`);
    return [...env, shellQuote(this.executablePath), ...this.arguments.slice(1).map(shellQuote)].join(" ");
  }

  /** For messages: `Command(X=1 /bin/sh -c 'echo $X')`. */
  toString(): string {
    return `Command(${this.inShellForm()})`;
  }
}

/** Quotes `word` for a POSIX shell when it has anything but safe characters. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
