/**
 * Remote hosts over the real OpenSSH client, with nothing installed on them but sh.
 *
 * ```js
 * import { SSHHost } from "rsyscall/tasks/ssh";
 * const host = new SSHHost(new Command("/usr/bin/ssh", ["ssh", "-F", "/path/config", "myhost"], {}));
 * const [sshProcess, remote] = await host.ssh(thr);
 * const [[ours, theirs]] = await remote.openChannels(1);   // a connected pair across hosts
 * const [, further] = await new SSHHost(otherCommand).ssh(remote);   // a second hop, from there
 * ```
 *
 * `command` is `ssh [options...] HOST`, the host last, so the user's config, keys, agent and jump
 * hosts all apply. The server program travels over ssh's stdin as it does for stdinBootstrap; ssh
 * joins the arguments after the host into one command line for the remote shell, so the script
 * goes as one argument, quoted for sh.
 *
 * The link is not a socket of ours (sshd makes its own pipes), so fds cannot cross it: memory
 * travels in the syscall stream. Channels go through unix-socket forwarding on the same ssh
 * (`-L OURS:THEIRS`): we connect to a socket in a fresh directory only we can enter, on the host
 * ssh runs on; ssh carries the connection to a socket the remote thread listens on, in a fresh
 * remote directory only it can enter, and the remote thread accepts it, checking that its peer
 * (sshd) is its own user. A child of the remote thread gets its link the same way.
 *
 * ssh runs as its own control master (a socket in that same directory), so that more forwards can
 * be added to it later (`ssh -O forward`): that is how a socket on a host two hops away is reached
 * from here, through a forward on each ssh along the way (HostRoute, src/tasks/connected.ts).
 *
 * @module rsyscall/tasks/ssh
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe } from "../args.js";
import { Command, shellQuote } from "../command.js";
import { AsyncFileDescriptor } from "../epoller.js";
import type { Pointer } from "../handle/pointer.js";
import type { AsyncChildProcess } from "../monitor.js";
import { SyscallError, SyscallSendError } from "../near/errors.js";
import { SIG } from "../signal.js";
import { AF, SO, SOCK, SOL } from "../sys/socket/index.js";
import { Timeval } from "../sys/time.js";
import { SockaddrUn } from "../sys/un.js";
import { W } from "../sys/wait.js";
import type { FileDescriptor } from "../task.js";
import { checkCount, type Thread } from "../thread.js";
import { ConnectedThread, closeAll, type HostRoute, type Passing, reachFrom, setRoute } from "./connected.js";
import type { SyscallConnection } from "./connection.js";
import { within } from "./program.js";
import { bootstrapThrough } from "./stdin-bootstrap.js";
import { peerCredentials } from "./stub.js";

/** How many connections that are not ours an openChannels call skips before it gives up. */
const STALE_MAX = 8;

/** How long ssh may take to end by itself after its remote thread exited. */
const SSH_GRACE_MS = 500;

/** Where a channel is forwarded from (the host ssh runs on) and to (the remote host). */
interface Forward {
  /** A directory on the host ssh runs on, made by the thread that runs it: ssh's control socket, and the listening ends of its forwards. */
  local: { dir: string; socket: string; master: string; forwards: number };
  /** `local.socket` as the Node process reaches it. */
  reachable: string;
  remote: { dir: string; socket: string };
  /** The remote thread's listening socket, once it listens. */
  listening?: FileDescriptor;
}

/**
 * The route to a remote thread's host: a socket there is forwarded, by the control master of the
 * ssh that reached it, to a new socket in that ssh's directory on the host it runs on (`via`'s),
 * which is reached from the Node process in turn.
 */
class SSHRoute implements HostRoute {
  constructor(
    readonly via: Thread,
    readonly executable: string,
    readonly forward: Forward,
  ) {}

  /** Forwards made, by the path they lead to: one each, however often it is reached. */
  readonly #reached = new Map<string, Promise<string>>();

  reach(path: string): Promise<string> {
    let here = this.#reached.get(path);
    if (!here) {
      here = this.#forward(path);
      this.#reached.set(path, here);
      here.catch(() => this.#reached.delete(path));
    }
    return here;
  }

  async #forward(path: string): Promise<string> {
    const here = join(this.forward.local.dir, `forward-${this.forward.local.forwards++}`);
    const argv = [
      "ssh",
      "-F",
      "/dev/null",
      "-S",
      this.forward.local.master,
      "-O",
      "forward",
      "-L",
      `${here}:${path}`,
      "rsyscall-master",
    ];
    try {
      await this.via.run(new Command(this.executable, argv, {}));
    } catch (e) {
      throw new Error(
        `ssh: forwarding ${path} to ${here} through ${this.forward.local.master}: ${(e as Error).message}`,
      );
    }
    return reachFrom(this.via, here);
  }
}

/** A thread on another host, reached over ssh. */
export class SSHThread extends ConnectedThread {
  /** The ssh process the thread is reached through (set once ssh() has it). */
  sshProcess: AsyncChildProcess | undefined;

  /** @internal SSH threads come from `SSHHost.ssh`. */
  constructor(
    thread: Thread,
    connection: SyscallConnection,
    root: Thread,
    passing: Passing | undefined,
    /** @internal Where channels are forwarded from and to. */
    readonly forward: Forward,
  ) {
    super(thread, connection, root, passing);
  }

  /**
   * Internal: makes the remote end of the forward, in a directory only this thread's user can enter.
   * @internal
   */
  async listen(): Promise<void> {
    const { dir, socket } = this.forward.remote;
    if (!this.forward.listening) await this.mkdir(dir, 0o700);
    const sock = await this.socket(AF.UNIX, SOCK.STREAM);
    try {
      await this.#limitAccept(sock);
      await sock.bind(await this.ptr(new SockaddrUn(socket)));
      await sock.listen(64);
    } catch (e) {
      await sock.close().catch(() => {});
      throw e;
    }
    this.forward.listening = sock;
  }

  /** Seconds a channel may take to come through ssh's forward. */
  channelTimeout = 10;
  #acceptTimeout: number | undefined;

  /**
   * An accept waits `channelTimeout` at most (SO_RCVTIMEO): a connection that never arrives must
   * not hold the thread's link forever.
   */
  async #limitAccept(sock: FileDescriptor): Promise<void> {
    const seconds = this.channelTimeout;
    await sock.setsockopt(SOL.SOCKET, SO.RCVTIMEO, await this.ptr(Timeval.fromSeconds(seconds)));
    this.#acceptTimeout = seconds;
  }

  /** Channels are made one at a time: each connection ssh forwards is paired with the next accept. */
  #channelTurn: Promise<unknown> = Promise.resolve();

  /**
   * `count` connected socket pairs between the Node process and this remote thread: [our end, its
   * end]. Each is a connection through ssh's forward: ours connects here, the remote thread accepts
   * there. A connection that does not arrive in `channelTimeout` seconds rejects, and the remote
   * end listens afresh (one arriving late must not be paired with a later call).
   */
  override openChannels(count: number): Promise<[FileDescriptor, FileDescriptor][]> {
    checkCount(count);
    const turn = this.#channelTurn.then(() => this.#openChannels(count));
    this.#channelTurn = turn.catch(() => {});
    return turn;
  }

  async #openChannels(count: number): Promise<[FileDescriptor, FileDescriptor][]> {
    const listening = this.forward.listening;
    if (this.connection.closed || !listening?.valid)
      throw new SyscallSendError("openChannels", "the link to the host is down");
    if (this.#acceptTimeout !== this.channelTimeout) await this.#limitAccept(listening);
    const uid = await this.task.getuid();
    const pairs: [FileDescriptor, FileDescriptor][] = [];
    try {
      for (let i = 0; i < count; i++) {
        // Connected without blocking Node (the AFD is only for the connect; dropped, it gives
        // up its registration, and the fd stays ours).
        const ours = await this.root.socket(AF.UNIX, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK));
        const connecting = AsyncFileDescriptor.make(this.root.epoller, this.root.ram, ours)
          .then(async (afd) => afd.connect(await this.root.ptr(new SockaddrUn(this.forward.reachable))))
          .catch(async (e: unknown) => {
            await ours.close().catch(() => {});
            throw e;
          });
        connecting.catch(() => {});
        const accept = () =>
          listening.accept().catch(async (e: unknown) => {
            if (!(e instanceof SyscallError && e.code === "EAGAIN")) throw e;
            await ours.close().catch(() => {});
            await this.#relisten(listening);
            const why = await connecting.then(
              () => "",
              (c: unknown) => ` (connecting to ${this.forward.reachable}: ${(c as Error).message})`,
            );
            throw new Error(`openChannels: no connection came through ssh's forward in ${this.channelTimeout} s${why}`);
          });
        let theirs = await accept();
        // Paired by a token sent through ours: a connection that came too late for an earlier call
        // (its end here long closed) may be the one accepted, and must not stand in for this one.
        const token = randomBytes(16);
        try {
          await connecting;
          await ours.write(await this.root.ptr(token));
          for (let stale = 0; !(await this.#carries(theirs, token)); stale++) {
            await theirs.close();
            if (stale === STALE_MAX)
              throw new Error("openChannels: connections through ssh's forward keep coming unpaired");
            theirs = await accept();
          }
        } catch (e) {
          await closeAll([ours, theirs]);
          throw e;
        }
        const peer = await peerCredentials(this, theirs);
        if (peer.uid !== uid && peer.uid !== 0) {
          await closeAll([ours, theirs]);
          throw new Error(`openChannels: the forwarded connection came from uid ${peer.uid}, not ${uid}`);
        }
        pairs.push([ours, theirs]);
      }
    } catch (e) {
      await closeAll(pairs.flat());
      throw e;
    }
    return pairs;
  }

  /** Whether `theirs` (accepted here) is the connection that carries `token` (EOF or a timeout: not). */
  async #carries(theirs: FileDescriptor, token: Buffer): Promise<boolean> {
    const buf = await this.malloc(Buffer, token.length);
    try {
      let got = Buffer.alloc(0);
      let rest: Pointer<Buffer> = buf;
      while (got.length < token.length) {
        const [filled, left] = await theirs.read(rest).catch(() => [undefined, rest] as const);
        if (!filled || filled.size() === 0) return false;
        got = Buffer.concat([got, await filled.read()]);
        rest = left;
      }
      return got.equals(token);
    } finally {
      buf.free();
    }
  }

  /** A new listening socket at the forward's remote end, in place of `stale` (a late connection to it is refused). */
  async #relisten(stale: FileDescriptor): Promise<void> {
    await this.task.unlink(await this.ptr(this.forward.remote.socket)).catch(() => {});
    await stale.close().catch(() => {});
    await this.listen();
  }

  /**
   * Ends the remote thread, removing its end of the forward first, and then ssh: ssh would wait
   * for every forwarded connection to close, and those lead to a thread that is gone.
   */
  override async exit(status = 0): Promise<void> {
    if (!this.connection.closed && this.forward.listening?.valid) {
      const { dir, socket } = this.forward.remote;
      await this.task.unlink(await this.ptr(socket)).catch(() => {});
      await this.task.rmdir(await this.ptr(dir)).catch(() => {});
    }
    const exiting = super.exit(status);
    const ssh = this.sshProcess;
    if (!ssh || ssh.dead) return exiting;
    // A moment for both to end by themselves (they usually do; a forwarded connection still open
    // keeps ssh, and so our link, up), then ssh is told to. Waits that hold Node: an ssh run from a
    // remote thread is watched by that thread's epoller, which waits only while someone must.
    const sshGone = ssh.waitpid(W.EXITED).then(
      () => true,
      () => true,
    );
    const inTime = await within(Promise.all([exiting.catch(() => {}), sshGone]), SSH_GRACE_MS);
    if (!inTime && !ssh.dead) {
      await ssh.kill(SIG.TERM).catch(() => {});
      if (!(await within(sshGone, SSH_GRACE_MS))) await ssh.kill(SIG.KILL).catch(() => {});
      await sshGone;
    }
    await exiting;
  }
}

/**
 * A host reached with the real OpenSSH client: the Command that runs ssh, with the user's options
 * and the host last. Each `ssh(thread)` starts a new ssh and returns a thread on the host.
 * @example
 * ```js
 * import { Command, localThread as thr } from "rsyscall";
 * import { SSHHost } from "rsyscall/tasks/ssh";
 *
 * const config = "/path/to/ssh_config"; // any ssh options go in the command, the host last
 * const host = new SSHHost(new Command("/usr/bin/ssh", ["ssh", "-F", config, "build-box"], {}));
 * const [, remote] = await host.ssh(thr);
 * const { stdout } = await remote.run("uname", ["-sr"], { stdio: ["inherit", "pipe", "inherit"] });
 * console.log(`remote: ${stdout.trim()}`); // run there: clone, then exec, on build-box
 * await remote.exit(0); // ends ssh too
 * ```
 */
export class SSHHost {
  /** `command`: `ssh [options...] HOST`, the host last. */
  constructor(
    /** The ssh command, run as it is with the bootstrap script appended after the host. */
    readonly command: Command,
  ) {
    if (!(command instanceof Command))
      throw new TypeError(`SSHHost: command must be a Command, got ${describe(command)}`);
    if (command.arguments.length < 2) throw new TypeError("SSHHost: the command must end with the host");
  }

  /**
   * A thread on the host: runs ssh with a unix-socket forward for channels and the bootstrap
   * script as its remote command, from `thread`; returns the ssh process and the thread. A host
   * that refuses us rejects with what ssh said.
   */
  async ssh(thread: Thread): Promise<[AsyncChildProcess, SSHThread]> {
    const token = randomBytes(8).toString("hex");
    const localDir = join(thread.environ.get("TMPDIR") ?? "/tmp", `rsyscall-ssh-${token}`);
    await thread.mkdir(localDir, 0o700);
    const remoteDir = `/tmp/rsyscall-remote-${token}`;
    const local = { dir: localDir, socket: join(localDir, "channels"), master: join(localDir, "master"), forwards: 0 };
    const forward: Forward = {
      local,
      reachable: local.socket,
      remote: { dir: remoteDir, socket: `${remoteDir}/channels` },
    };
    const [argv0, ...args] = this.command.arguments;
    const host = args.pop()!;
    // Ours first: ssh keeps the first value it is given for an option.
    const master = ["-o", "ControlMaster=yes", "-o", `ControlPath=${local.master}`, "-o", "ControlPersist=no"];
    const withForward = new Command(
      this.command.executablePath,
      [
        argv0!,
        ...master,
        ...args,
        "-o",
        "ExitOnForwardFailure=yes",
        "-L",
        `${local.socket}:${forward.remote.socket}`,
        host,
      ],
      this.command.envUpdates,
    );
    const removeLocal = () => removeDirectory(thread, local);
    try {
      const [proc, remote] = await bootstrapThrough(
        thread,
        withForward,
        (script) => [`sh -c ${shellQuote(script)}`],
        (t, connection, r, passing) => new SSHThread(t, connection, r, passing, forward),
      );
      remote.sshProcess = proc;
      setRoute(remote, new SSHRoute(thread, this.command.executablePath, forward));
      // Our end of the forward goes with the link.
      void remote.connection.hungUp.then(removeLocal);
      try {
        forward.reachable = await reachFrom(thread, local.socket);
        await remote.listen();
      } catch (e) {
        await remote.exit(0).catch(() => {});
        throw e;
      }
      return [proc, remote];
    } catch (e) {
      await removeLocal();
      throw e;
    }
  }
}

/** Removes the directory ssh() made for `forward`'s local end, through `thread`, as far as it can still be reached. */
async function removeDirectory(thread: Thread, local: Forward["local"]): Promise<void> {
  const names = ["channels", "master", ...Array.from({ length: local.forwards }, (_, i) => `forward-${i}`)];
  try {
    for (const name of names) await thread.task.unlink(await thread.ptr(join(local.dir, name))).catch(() => {});
    await thread.task.rmdir(await thread.ptr(local.dir));
  } catch {
    // Gone already, or so is the thread (a hop that went away takes its files' fate with it).
  }
}
