// Remote hosts over the real OpenSSH client, with nothing installed on them but sh.
//
//   import { SSHHost } from "rsyscall/tasks/ssh";
//   const host = new SSHHost(new Command("/usr/bin/ssh", ["ssh", "-F", "/path/config", "myhost"], {}));
//   const [sshProc, remote] = await host.ssh(thr);
//   const [[ours, theirs]] = await remote.openChannels(1);   // a connected pair across hosts
//
// `command` is `ssh [options...] HOST`, the host last, so the user's config, keys, agent, jump
// hosts and control masters all apply. The server program travels over ssh's stdin as it does for
// stdinBootstrap; ssh joins the arguments after the host into one command line for the remote
// shell, so the script goes as one argument, quoted for sh.
//
// The link is not a socket of ours (sshd makes its own pipes), so fds cannot cross it: memory
// travels in the syscall stream. Channels go through unix-socket forwarding on the same ssh
// (`-L OURS:THEIRS`): we connect to a socket in a fresh local directory only we can enter; ssh
// carries the connection to a socket the remote thread listens on, in a fresh remote directory
// only it can enter, and the remote thread accepts it, checking that its peer (sshd) is its own
// user.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe } from "../args.js";
import { Command, shellQuote } from "../command.js";
import type { AsyncChildProcess } from "../monitor.js";
import { SyscallSendError } from "../near/errors.js";
import { SIG } from "../signal.js";
import { AF, SOCK } from "../sys/socket/index.js";
import { SockaddrUn } from "../sys/un.js";
import { W } from "../sys/wait.js";
import type { FileDescriptor } from "../task.js";
import { checkCount, type Thread } from "../thread.js";
import { ConnectedThread, closeAll, type Passing, rootOf } from "./connected.js";
import type { SyscallConnection } from "./connection.js";
import { within } from "./program.js";
import { bootstrapThrough } from "./stdin-bootstrap.js";
import { peerCredentials } from "./stub.js";

/** How long ssh may take to end by itself after its remote thread exited. */
const SSH_GRACE_MS = 500;

/** Where a channel is forwarded from (here) and to (there). */
interface Forward {
  local: { dir: string; socket: string };
  remote: { dir: string; socket: string };
  /** The remote thread's listening socket, once it listens. */
  listening?: FileDescriptor;
}

/** A thread on another host, reached over ssh. */
export class SSHThread extends ConnectedThread {
  /** The ssh process the thread is reached through (set once ssh() has it). */
  sshProcess: AsyncChildProcess | undefined;

  constructor(
    thread: Thread,
    connection: SyscallConnection,
    root: Thread,
    passing: Passing | undefined,
    readonly forward: Forward,
  ) {
    super(thread, connection, root, passing);
  }

  /** Internal: makes the remote end of the forward, in a directory only this thread's user can enter. */
  async listen(): Promise<void> {
    const { dir, socket } = this.forward.remote;
    await this.mkdir(dir, 0o700);
    const sock = await this.socket(AF.UNIX, SOCK.STREAM);
    try {
      await sock.bind(await this.ptr(new SockaddrUn(socket)));
      await sock.listen(64);
    } catch (e) {
      await sock.close().catch(() => {});
      throw e;
    }
    this.forward.listening = sock;
  }

  /**
   * `count` connected socket pairs between the Node process and this remote thread: [our end, its
   * end]. Each is a connection through ssh's forward: ours connects here, the remote thread accepts
   * there.
   */
  override async openChannels(count: number): Promise<[FileDescriptor, FileDescriptor][]> {
    checkCount(count);
    const listening = this.forward.listening;
    if (this.connection.closed || !listening)
      throw new SyscallSendError("openChannels", "the link to the host is down");
    const uid = await this.task.getuid();
    const pairs: [FileDescriptor, FileDescriptor][] = [];
    try {
      for (let i = 0; i < count; i++) {
        // Connected without blocking Node (the AFD is only for the connect; dropped, it gives
        // up its registration, and the fd stays ours).
        const ours = await this.root.socket(AF.UNIX, SOCK.of(SOCK.STREAM, SOCK.NONBLOCK));
        const connecting = this.root
          .makeAfd(ours)
          .then(async (afd) => afd.connect(await this.root.ptr(new SockaddrUn(this.forward.local.socket))))
          .catch(async (e: unknown) => {
            await ours.close().catch(() => {});
            throw e;
          });
        const theirs = await listening.accept();
        await connecting;
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
    // keeps ssh, and so our link, up), then ssh is told to.
    const both = Promise.all([exiting, ssh.waitpid(W.EXITED, { keepAlive: false })]).then(
      () => true,
      () => true,
    );
    const inTime = await within(both, SSH_GRACE_MS);
    if (!inTime && !ssh.dead) await ssh.kill(SIG.TERM).catch(() => {});
    await exiting;
  }
}

export class SSHHost {
  /** `command`: `ssh [options...] HOST`, the host last. */
  constructor(readonly command: Command) {
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
    const root = rootOf(thread);
    const token = randomBytes(8).toString("hex");
    const localDir = join(root.environ.get("TMPDIR") ?? "/tmp", `rsyscall-ssh-${token}`);
    await root.mkdir(localDir, 0o700);
    const remoteDir = `/tmp/rsyscall-remote-${token}`;
    const forward: Forward = {
      local: { dir: localDir, socket: join(localDir, "channels") },
      remote: { dir: remoteDir, socket: `${remoteDir}/channels` },
    };
    const args = [...this.command.arguments];
    const host = args.pop()!;
    const withForward = new Command(
      this.command.executablePath,
      [...args, "-o", "ExitOnForwardFailure=yes", "-L", `${forward.local.socket}:${forward.remote.socket}`, host],
      this.command.envUpdates,
    );
    try {
      const [proc, remote] = await bootstrapThrough(
        thread,
        withForward,
        (script) => [`sh -c ${shellQuote(script)}`],
        (t, connection, r, passing) => new SSHThread(t, connection, r, passing, forward),
      );
      remote.sshProcess = proc;
      // Our end of the forward goes with the link.
      void remote.connection.hungUp.then(() => rmSync(localDir, { recursive: true, force: true }));
      try {
        await remote.listen();
      } catch (e) {
        await remote.exit(0).catch(() => {});
        throw e;
      }
      return [proc, remote];
    } catch (e) {
      rmSync(localDir, { recursive: true, force: true });
      throw e;
    }
  }
}
