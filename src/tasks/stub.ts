/**
 * Stubs: an executable that, when any program runs it, hands us the process it runs in as a
 * thread, with the caller's stdio as its stdio and its exit status going back to the caller.
 *
 * ```js
 * import { StubServer } from "rsyscall/tasks/stub";
 * const stub = await StubServer.make(thr, "/tmp/dir", "sendmail");   // writes /tmp/dir/sendmail
 * // ... some program runs /tmp/dir/sendmail -t
 * const [argv, caught] = await stub.accept();   // argv: ["-t"]; caught.stdin: the program's pipe
 * await caught.exit(0);                          // sendmail "succeeded"
 * ```
 *
 * The executable is a two-line sh script that execs the rsyscall-server program in stub mode
 * (`--connect SOCKET -- "$0" "$@"`): it connects to our listening socket and serves there,
 * leaving stdio alone. The socket is in a fresh directory only we can enter (mode 0700), and
 * every connection's peer must be our user or root (SO_PEERCRED); the server checks the same of
 * us. The script is written with O_EXCL | O_NOFOLLOW: it never replaces a file, nor writes
 * through a symlink someone put there.
 *
 * @module rsyscall/tasks/stub
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe } from "../args.js";
import { shellQuote } from "../command.js";
import type { AsyncFileDescriptor } from "../epoller.js";
import { O } from "../fcntl.js";
import { serverProgramPath } from "../native.js";
import { AF, SO, SOCK, SOL, Sockbuf, Ucred } from "../sys/socket/index.js";
import { SockaddrUn } from "../sys/un.js";
import type { FileDescriptor } from "../task.js";
import type { Thread } from "../thread.js";
import { type ConnectedThread, rootOf } from "./connected.js";
import { attachProgram, ByteReader, readHello, within } from "./program.js";

/** How long a connection may take to say hello before the next one is taken instead. */
const HELLO_TIMEOUT_MS = 5000;

/** Who is at the other end of unix socket `sock` of `thread`. */
export async function peerCredentials(thread: Thread, sock: FileDescriptor): Promise<Ucred> {
  const room = await thread.malloc(Ucred);
  const got = await (await sock.getsockopt(SOL.SOCKET, SO.PEERCRED, await thread.ptr(new Sockbuf(room)))).read();
  return got.buf.read();
}

/**
 * A stub executable and the socket it connects back to: each program that runs the stub becomes a
 * thread of ours (`accept`), so a test or a tool can stand in for a program that something else
 * runs (a sendmail, an editor) and act in that program's own process.
 */
export class StubServer {
  private constructor(
    /** The Node process's thread: the listening socket is its. */
    readonly root: Thread,
    /** The socket stubs connect to, read without blocking. */
    readonly listening: AsyncFileDescriptor,
    /** The private directory the socket is in. */
    readonly socketDir: string,
    /** The stub executable. */
    readonly path: string,
    /** Our uid: a stub run by another user (root aside) is turned away. */
    readonly uid: number,
  ) {}

  /**
   * Writes an executable `dir/name` (it must not exist) that hands us whatever process runs it.
   * The socket it connects to is made in a fresh directory of the Node process's temp dir.
   */
  static async make(thread: Thread, dir: string, name: string): Promise<StubServer> {
    for (const [what, value] of [
      ["dir", dir],
      ["name", name],
    ] as const) {
      if (typeof value !== "string" || value.length === 0 || value.includes("\0"))
        throw new TypeError(`StubServer.make: ${what} must be a non-empty string, got ${describe(value)}`);
    }
    if (name.includes("/"))
      throw new TypeError(`StubServer.make: name must have no slash, got ${JSON.stringify(name)}`);
    const root = rootOf(thread);
    const uid = await root.task.getuid();
    const socketDir = join(root.environ.get("TMPDIR") ?? "/tmp", `rsyscall-stub-${randomBytes(8).toString("hex")}`);
    await root.mkdir(socketDir, 0o700);
    const socketPath = join(socketDir, "sock");
    const path = join(dir, name);
    let listening: AsyncFileDescriptor | undefined;
    try {
      const sock = await root.socket(AF.UNIX, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK));
      listening = await root.makeAfd(sock);
      await sock.bind(await root.ptr(new SockaddrUn(socketPath)));
      await sock.listen(64);
      const script = `#!/bin/sh\nexec ${shellQuote(serverProgramPath)} --connect ${shellQuote(socketPath)} -- "$0" "$@"\n`;
      const fd = await thread.task.open(await thread.ptr(path), O.of(O.WRONLY, O.CREAT, O.EXCL, O.NOFOLLOW), 0o755);
      await thread.spit(fd, script);
      return new StubServer(root, listening, socketDir, path, uid);
    } catch (e) {
      await listening?.close().catch(() => {});
      rmSync(socketDir, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Waits for a program to run the stub; returns the arguments it was run with (after argv[0])
   * and a thread in its process. Connections from other users are refused and not returned.
   */
  async accept(): Promise<[string[], ConnectedThread]> {
    const root = this.root;
    for (;;) {
      const conn = await this.listening.accept(SOCK.NONBLOCK);
      const peer = await peerCredentials(root, conn).catch(() => undefined);
      if (!peer || (peer.uid !== this.uid && peer.uid !== 0)) {
        await conn.close();
        continue;
      }
      const link = await root.makeAfd(conn);
      try {
        const reader = new ByteReader(link);
        // A peer that connects and says nothing (stopped, or not a stub) must not hold up the rest.
        const hello = await within(readHello(reader), HELLO_TIMEOUT_MS);
        if (!hello) throw new Error("no hello");
        const { thread } = await attachProgram(root, { link, reader, hello, theirEnd: "direct" });
        return [hello.argv.slice(1), thread];
      } catch {
        // A process that went away before its hello: wait for the next.
        await link.close().catch(() => {});
      }
    }
  }

  /** Stops listening and removes the socket's directory and the stub executable. */
  async close(): Promise<void> {
    await this.listening.close().catch(() => {});
    rmSync(this.socketDir, { recursive: true, force: true });
    rmSync(this.path, { force: true });
  }

  /** For `await using`: `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
