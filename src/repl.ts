// `rsyscall repl`: Node's REPL with `thr` and every header module at hand, to try syscalls one at a
// time. Top-level await and tab completion are the REPL's own. `thr` is the Node process, or the
// thread the options attach to:
//
//   rsyscall repl                          thr: this Node process
//   rsyscall repl --ssh "-F conf host"     thr: a thread on host, over ssh (its options, the host last)
//   rsyscall repl --bootstrap "sudo -n"    thr: a thread in whatever process the command leads to
//   rsyscall repl --persistent PATH        thr: the persistent thread listening at PATH
import { readFileSync } from "node:fs";
import * as nodeRepl from "node:repl";
import { Command } from "./command.js";
import { W } from "./sys/wait.js";
import { localThread } from "./tasks/local.js";
import type { Thread } from "./thread.js";

/** How the REPL was asked to attach, from its arguments. */
type Attach = { how: "local" } | { how: "ssh" | "bootstrap" | "persistent"; arg: string };

const USAGE = 'usage: rsyscall repl [--ssh "SSH-OPTIONS... HOST" | --bootstrap "COMMAND..." | --persistent PATH]';

/** Parses `rsyscall repl`'s arguments; throws a usage message for anything else. */
export function parseReplArgs(args: readonly string[]): Attach {
  if (args.length === 0) return { how: "local" };
  const [flag, arg, ...rest] = args;
  const how = ({ "--ssh": "ssh", "--bootstrap": "bootstrap", "--persistent": "persistent" } as const)[
    flag as "--ssh" | "--bootstrap" | "--persistent"
  ];
  if (!how || !arg || rest.length > 0) throw new Error(USAGE);
  return { how, arg };
}

/** The thread to give the REPL, and how to let it go at the end. */
async function attach(to: Attach): Promise<{ thread: Thread; release: () => Promise<void>; about: string }> {
  if (to.how === "local")
    return { thread: localThread, release: async () => {}, about: `this Node process (pid ${process.pid})` };
  if (to.how === "persistent") {
    const { PersistentThread } = await import("./tasks/persistent.js");
    const thread = await PersistentThread.connect(localThread, to.arg);
    // Only our connection goes: the persistent process lives on for the next one.
    return {
      thread,
      release: async () => thread.disconnect(),
      about: `the persistent thread at ${to.arg}`,
    };
  }
  const words = to.arg.split(/\s+/).filter(Boolean);
  if (to.how === "ssh") {
    const { SSHHost } = await import("./tasks/ssh.js");
    const ssh = await localThread.environ.which("ssh");
    const [, thread] = await new SSHHost(new Command(ssh.executablePath, ["ssh", ...words])).ssh(localThread);
    return { thread, release: () => thread.exit(0), about: `a thread on ${words.at(-1)} over ssh` };
  }
  const { stdinBootstrap } = await import("./tasks/stdin-bootstrap.js");
  const program = await localThread.environ.which(words[0]!);
  const [proc, thread] = await stdinBootstrap(localThread, program.args(...words.slice(1)));
  return {
    thread,
    release: async () => {
      await thread.exit(0).catch(() => {});
      await proc.waitpid(W.EXITED).catch(() => {});
    },
    about: `a thread reached through \`${to.arg}\``,
  };
}

/** Every module the package exports, loaded: name (as in `rsyscall/sys/socket`) to its exports. */
async function headerModules(): Promise<Map<string, Record<string, unknown>>> {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    exports: Record<string, { default: string }>;
  };
  const modules = new Map<string, Record<string, unknown>>();
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const name = subpath === "." ? "rsyscall" : `rsyscall/${subpath.slice(2)}`;
    modules.set(name, await import(new URL(`../${target.default}`, import.meta.url).href));
  }
  return modules;
}

/** Starts the REPL; resolves when it ends. */
export async function repl(args: readonly string[]): Promise<void> {
  const to = parseReplArgs(args);
  const modules = await headerModules();
  const { thread, release, about } = await attach(to);
  const server = nodeRepl.start({ prompt: "rsyscall> ", useGlobal: false, ignoreUndefined: true });
  const context = server.context as Record<string, unknown>;
  // Each module's exports, unless an earlier module took the name (the main module comes first).
  const taken = new Map<string, string>();
  for (const [name, exports] of modules) {
    for (const [key, value] of Object.entries(exports)) {
      if (taken.has(key)) continue;
      taken.set(key, name);
      context[key] = value;
    }
  }
  context.modules = Object.fromEntries(modules);
  context.localThread = localThread;
  context.thr = thread;
  server.output.write(
    `thr is ${about}. Every export of rsyscall's modules is in scope (modules["rsyscall/sys/socket"] has them by module); await works at the top level.\n`,
  );
  server.displayPrompt();
  await new Promise<void>((resolve) => server.on("exit", resolve));
  await release();
}
