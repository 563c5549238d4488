/**
 * stdinBootstrap: a thread in whatever process a command leads to, with nothing of ours installed
 * there but what we send.
 *
 * ```js
 * import { stdinBootstrap } from "rsyscall/tasks/stdin-bootstrap";
 * const [proc, root] = await stdinBootstrap(thr, new Command("/usr/bin/sudo", ["sudo", "-n"], {}));
 * ```
 *
 * The command runs `sh -c SCRIPT` appended to it, with a unix socket of ours as its stdin and
 * stdout and another as its stderr. The script reads exactly the rsyscall-server program from
 * stdin into a file in the first place it can write and exec (it probes each), opens it, removes
 * it and execs it through /proc/self/fd; the program moves the link above fd 2 and says hello
 * (src/tasks/program.ts). What the command prints on stderr before that is the error a failure
 * rejects with; after it, the process's stderr is the parent thread's (passed over the link when
 * the link is still our socket), and anything still written to the first one is copied there.
 *
 * @module rsyscall/tasks/stdin-bootstrap
 */
import { randomBytes } from "node:crypto";
import { describe } from "../args.js";
import { Command } from "../command.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import type { AsyncChildProcess } from "../monitor.js";
import { native } from "../native.js";
import { bytesSerializer } from "../struct.js";
import { W } from "../sys/wait.js";
import type { FileDescriptor } from "../task.js";
import type { Thread } from "../thread.js";
import { type ConnectedThread, canPass, closeAll, type Passing, rootOf, routeOf, setRoute } from "./connected.js";
import type { SyscallConnection } from "./connection.js";
import {
  attachProgram,
  ByteReader,
  fileIdentity,
  type Hello,
  linkIsOurs,
  readHello,
  serverProgram,
  within,
} from "./program.js";

/**
 * The script `sh -c` runs: write exactly `size` bytes of stdin to a new file (noclobber: O_EXCL)
 * in the first place it can write and exec in, and exec it through /proc/self/fd, telling it to
 * remove the file. Each external command costs a fork and exec, so there are few: head, chmod and
 * the probe (is the place mounted noexec?). stdin is read once: a place that cannot hold it (the
 * file cannot be made) is skipped before reading; a read that fails midway is the end. The
 * exclusive create is `true >`, not `: >`: a redirection that fails on a special builtin such as
 * `:` ends a POSIX shell. The name has a random part: a file a killed bootstrap left behind, under
 * a pid used again, must not stand in the way. (No umask: the server and what it execs keep the
 * command's; chmod makes the file ours alone before it runs.)
 */
export function bootstrapScript(size: number, token = randomBytes(6).toString("hex")): string {
  return `n=${size}
s=
set -C
for d in "\${TMPDIR:-/tmp}" /dev/shm /var/tmp /tmp \${HOME:+"$HOME"}; do
  f="$d/.rsyscall-server.$$.${token}"
  { true >"$f"; } 2>/dev/null || continue
  if [ -z "$s" ]; then
    s=$f
    head -c $n >>"$f" || { rm -f "$f"; echo "rsyscall: reading the server program from stdin failed" >&2; exit 97; }
  else
    cat "$s" >>"$f" || { rm -f "$f"; continue; }
  fi
  if chmod 700 "$f" && "$f" --probe </dev/null >/dev/null 2>&1; then
    exec 3<"$f"
    exec /proc/self/fd/3 --close-fd 3 --unlink "$f" --unlink "$s"
  fi
  [ "$f" = "$s" ] || rm -f "$f"
done
[ -z "$s" ] || rm -f "$s"
echo "rsyscall: the server program arrived cut short, or no directory would let it be written and run" >&2
exit 98`;
}

/**
 * Runs `command` with `sh -c SCRIPT` appended, from `parent`, sends it the rsyscall-server program
 * over its stdin, and returns the command's process and a thread in the process the server runs
 * in. `command` must end up running the arguments appended to it with its stdin, stdout and stderr
 * (`sudo -n`, `unshare -r`, `setpriv ...`, `nsenter -t PID -a`, `sh -c 'exec "$@"' sh`). The target
 * needs sh, head and mktemp, a mounted /proc, and a directory it may write and exec in. A command
 * that fails first rejects with what it printed on stderr.
 * @example
 * ```js
 * import { Command, localThread as thr } from "rsyscall";
 * import { W } from "rsyscall/sys/wait";
 * import { stdinBootstrap } from "rsyscall/tasks/stdin-bootstrap";
 *
 * const unshare = new Command("/usr/bin/unshare", ["unshare", "-r"], {}); // a new user namespace
 * const [proc, root] = await stdinBootstrap(thr, unshare);
 * console.log(`uid ${await root.task.getuid()} in there`); // "uid 0 in there"
 * await root.exit(0);
 * await proc.waitpid(W.EXITED);
 * ```
 */
export function stdinBootstrap(parent: Thread, command: Command): Promise<[AsyncChildProcess, ConnectedThread]> {
  if (!(command instanceof Command))
    return Promise.reject(new TypeError(`stdinBootstrap: command must be a Command, got ${describe(command)}`));
  return bootstrapThrough(parent, command, (script) => ["sh", "-c", script]);
}

/**
 * stdinBootstrap's work, with the arguments that run the script made by `append`: as they are for
 * a command that execs its arguments, or as one quoted command line for ssh.
 */
export async function bootstrapThrough<T extends ConnectedThread = ConnectedThread>(
  parent: Thread,
  command: Command,
  append: (script: string) => string[],
  make?: (thread: Thread, connection: SyscallConnection, root: Thread, passing: Passing | undefined) => T,
): Promise<[AsyncChildProcess, T]> {
  const root = rootOf(parent);
  const program = serverProgram();
  const [[linkOurs, linkTheirs], [errOurs, errTheirs]] = (await parent.openChannels(2)) as [
    [FileDescriptor, FileDescriptor],
    [FileDescriptor, FileDescriptor],
  ];
  const ours = [linkOurs, errOurs];
  let proc: AsyncChildProcess | undefined;
  try {
    // Fds cross only a link that is a socket pair of ours (a remote thread's channels are not).
    const theirEnd = canPass(parent) ? await fileIdentity(parent, linkTheirs) : undefined;
    const child = await parent.clone();
    try {
      const link = child.inheritFd(linkTheirs);
      await link.dup2(child.stdin);
      await link.dup2(child.stdout);
      await child.inheritFd(errTheirs).dup2(child.stderr);
    } catch (e) {
      await child[Symbol.asyncDispose]();
      throw e;
    } finally {
      await closeAll([linkTheirs, errTheirs]);
    }
    proc = await child.exec(command.args(...append(bootstrapScript(program.length))));
    const linkAfd = await root.makeAfd(linkOurs, true);
    const errAfd = await root.makeAfd(errOurs, true);
    const stderr = collect(root, errAfd);
    const reader = new ByteReader(linkAfd);
    const sending = linkAfd.writeAllBytes(program);
    // A command that fails first closes its stdin under the write: its stderr says why, below.
    sending.catch(() => {});
    const hello = await helloOrFailure(reader, proc, stderr, command);
    // A write still going means the server did not read all of its program: it would not have said hello.
    await sending;
    const gift = await stderrGift(parent, root, hello, theirEnd);
    const { thread, gifts: given } = await attachProgram(
      root,
      { link: linkAfd, reader, hello, theirEnd, gifts: gift ? [gift.fd] : [] },
      make,
    );
    // It runs on the host its parent is on (a hop further for ssh, whose route the caller sets).
    setRoute(thread, routeOf(parent));
    if (gift?.copy) await gift.fd.close();
    const [stderrThere] = given;
    if (stderrThere) {
      await stderrThere.dup2(thread.stderr);
      await stderrThere.close();
    }
    stderr.forward();
    // A command that ended has nothing left to relay: whatever still holds the link (a relay's
    // other half) would keep a dead server's calls waiting.
    const connection = new WeakRef(thread.connection);
    const hangup = () => connection.deref()?.hangup("the bootstrap command exited");
    // Its state may be lost (its parent thread went away first): the command is gone all the same.
    void proc.waitpid(W.EXITED, { keepAlive: false }).then(hangup, hangup);
    return [proc, thread];
  } catch (e) {
    if (proc) await proc[Symbol.asyncDispose]().catch(() => {});
    await closeAll(ours);
    throw e;
  }
}

/** Reads the hello, unless the command ends first: then rejects with what it said on stderr. */
async function helloOrFailure(
  reader: ByteReader,
  proc: AsyncChildProcess,
  stderr: Collected,
  command: Command,
): Promise<Hello> {
  // Not holding Node open: once the hello is in, this wait has nothing to do with the caller.
  const exited = proc.waitpid(W.EXITED, { keepAlive: false }).then((state) => ({ state }));
  const hello = readHello(reader).then(
    (h) => ({ hello: h }),
    (e: unknown) => ({ error: e as Error }),
  );
  const first = await Promise.race([hello, exited]);
  if ("hello" in first) return first.hello;
  // The command ended (or the link broke): give its exit and its stderr a moment to arrive (a
  // moment that holds Node open: nothing else may), then report them.
  const state =
    "state" in first
      ? first.state
      : await within(
          exited.then((x) => x.state),
          1000,
        );
  await within(stderr.ended, 1000);
  const said = stderr.text().trim();
  const how = state ? ` (${state})` : "";
  const why = "error" in first ? `: ${first.error.message}` : "";
  throw new Error(
    `${command.executablePath} ended before the rsyscall server started${how}${why}${said ? `\n${said}` : ""}`,
  );
}

/**
 * The parent's stderr, as an fd of the Node process, to hand to the server: where the link is our
 * socket still (otherwise fds cannot cross it). `copy` says the fd is ours to close.
 */
async function stderrGift(
  parent: Thread,
  root: Thread,
  hello: Hello,
  theirEnd: { dev: bigint; ino: bigint } | undefined,
): Promise<{ fd: FileDescriptor; copy: boolean } | undefined> {
  if (!linkIsOurs(hello, theirEnd)) return undefined;
  if (!parent.stderr.valid) return undefined;
  if (parent === root) return { fd: root.stderr, copy: false };
  const [copy] = await (parent as ConnectedThread).passToRoot([parent.stderr]);
  return copy ? { fd: copy, copy: true } : undefined;
}

interface Collected {
  /** Settles at EOF. */
  ended: Promise<void>;
  text(): string;
  /** From now on, copy what comes to Node's stderr instead of keeping it. */
  forward(): void;
}

/** Keeps what arrives on `afd` (up to 64 KiB), without keeping Node alive, until EOF. */
function collect(root: Thread, afd: AsyncFileDescriptor): Collected {
  const chunks: Buffer[] = [];
  let kept = 0;
  let forwarding = false;
  const ended = (async () => {
    const room = await root.ram.malloc(bytesSerializer, 4096);
    const view = Buffer.from(native.view(room.near, 4096));
    try {
      for (;;) {
        // Not taken for drained when short: the writer is any program, which may write packets.
        const n = await afd.readInto(room, false, false);
        if (n === 0) return;
        const chunk = Buffer.from(view.subarray(0, n));
        if (forwarding) process.stderr.write(chunk);
        else if (kept < 65536) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      }
    } catch {
      // The fd was closed under us: nothing more to collect.
    } finally {
      room.free();
      await afd.close().catch(() => {});
    }
  })();
  return {
    ended,
    text: () => Buffer.concat(chunks).toString(),
    forward: () => {
      forwarding = true;
      for (const c of chunks.splice(0)) process.stderr.write(c);
    },
  };
}
