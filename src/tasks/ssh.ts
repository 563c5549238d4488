// Remote hosts over the real OpenSSH client, with nothing installed on them but sh.
//
//   import { SSHHost } from "rsyscall/tasks/ssh";
//   const host = new SSHHost(new Command("/usr/bin/ssh", ["ssh", "-F", "/path/config", "myhost"], {}));
//   const [sshProc, remote] = await host.ssh(thr);
//   await remote.task.getpid();
//
// `command` is `ssh [options...] HOST`, the host last, so the user's config, keys, agent, jump
// hosts and control masters all apply. The server program travels over ssh's stdin as it does for
// stdinBootstrap; ssh joins the arguments after the host into one command line for the remote
// shell, so the script goes as one argument, quoted for sh.
//
// Over ssh the link is not a socket of ours (sshd makes its own pipes), so fds cannot cross it:
// memory travels in the syscall stream, and what needs fd passing (channels, clone, an epoll of
// its own) is not there yet (see docs/not-implemented.md).
import { describe } from "../args.js";
import { Command } from "../command.js";
import type { AsyncChildProcess } from "../monitor.js";
import type { Thread } from "../thread.js";
import type { ConnectedThread } from "./connected.js";
import { bootstrapThrough } from "./stdin-bootstrap.js";

/** `s` quoted for sh: one word, whatever it holds. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export class SSHHost {
  /** `command`: `ssh [options...] HOST`, the host last. */
  constructor(readonly command: Command) {
    if (!(command instanceof Command))
      throw new TypeError(`SSHHost: command must be a Command, got ${describe(command)}`);
  }

  /**
   * A thread on the host: runs `command` with the bootstrap script as its remote command, from
   * `thread`, and returns the ssh process and the thread. A host that refuses us rejects with
   * what ssh said.
   */
  ssh(thread: Thread): Promise<[AsyncChildProcess, ConnectedThread]> {
    return bootstrapThrough(thread, this.command, (script) => [`sh -c ${shellQuote(script)}`]);
  }
}
